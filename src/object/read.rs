//! Reading plaintext from an object: whole chunks are read (several per
//! pread), authenticated, and decrypted straight into the caller's buffer.

use std::cell::RefCell;
use std::os::unix::fs::FileExt;

use super::handle::{Object, READ_AROUND};
use super::plain_buf::PlainBuf;
use super::ObjectError;
use crate::sys;

thread_local! {
    /// The ciphertext of the batch a read is at, kept per thread: a read
    /// neither allocates nor zeroes it, and it never holds plaintext, so it
    /// needs no wiping (chunks are opened out of it, into the reader's buffer).
    static CIPHERTEXT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Object<'_> {
    /// Reads up to `buf.len()` plaintext bytes at `plain_off`; returns how many
    /// (fewer only at the end of the file, 0 at or past it). Every chunk it
    /// touches is authenticated first: a failure returns an error, never bytes.
    pub fn read_at(&self, plain_off: u64, buf: &mut [u8]) -> Result<usize, ObjectError> {
        self.read_at_from(plain_off, buf, &mut |batch, at| {
            self.read_ciphertext_at(batch, at)
        })
    }

    /// Fills `batch` with the object's bytes at `at`. A small batch that is
    /// not all in the page cache is read with the READ_AROUND-aligned span
    /// around it, in one read.
    pub fn read_ciphertext_at(&self, batch: &mut [u8], at: u64) -> std::io::Result<()> {
        if batch.len() as u64 >= READ_AROUND {
            return self.file.read_exact_at(batch, at);
        }
        if sys::read_cached_at(self.file, batch, at)? {
            return Ok(());
        }
        let from = at / READ_AROUND * READ_AROUND;
        let to = (at + batch.len() as u64).div_ceil(READ_AROUND) * READ_AROUND;
        // Ciphertext only: no wiping needed.
        let mut span = vec![0u8; (to - from) as usize];
        let mut filled = 0;
        while filled < span.len() {
            match self.file.read_at(&mut span[filled..], from + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let start = (at - from) as usize;
        let wanted = span
            .get(start..start + batch.len())
            .filter(|_| start + batch.len() <= filled)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        batch.copy_from_slice(wanted);
        Ok(())
    }

    /// [`Object::read_at`], with the ciphertext read by `read_exact_at`
    /// (which fills its buffer with the object's bytes at an offset) instead
    /// of from the object's file: for ciphertext already read ahead.
    pub fn read_at_from(
        &self,
        plain_off: u64,
        buf: &mut [u8],
        read_exact_at: &mut dyn FnMut(&mut [u8], u64) -> std::io::Result<()>,
    ) -> Result<usize, ObjectError> {
        let plain_len = self.plain_len()?;
        if buf.is_empty() || plain_off >= plain_len {
            return Ok(0);
        }
        let layout = self.layout;
        let end = plain_len.min(plain_off.saturating_add(buf.len() as u64));
        let last_chunk = layout.chunk_no(plain_len - 1);
        let final_wanted = layout.chunk_no(end - 1);
        // Chunks the read wants only part of (at most the first and the last).
        let mut partial = PlainBuf::default();
        let mut done = 0usize;
        let mut first = layout.chunk_no(plain_off);
        CIPHERTEXT.with_borrow_mut(|ciphertext| {
            while first <= final_wanted {
                let batch_end = final_wanted.min(first + self.batch_chunks() - 1);
                let cipher_start = layout.cipher_off(first);
                let cipher_end = layout.cipher_off(batch_end)
                    + layout.frame_len(layout.chunk_len(batch_end, plain_len));
                let batch_len = (cipher_end - cipher_start) as usize;
                if ciphertext.len() < batch_len {
                    ciphertext.resize(batch_len, 0);
                }
                let batch = &mut ciphertext[..batch_len];
                read_exact_at(batch, cipher_start)?;
                for chunk_no in first..=batch_end {
                    let frame_start = (layout.cipher_off(chunk_no) - cipher_start) as usize;
                    let chunk_len = layout.chunk_len(chunk_no, plain_len) as usize;
                    let frame = &batch
                        [frame_start..frame_start + layout.frame_len(chunk_len as u64) as usize];
                    let last = chunk_no == last_chunk;
                    let chunk_start = layout.plain_off(chunk_no);
                    let from = (plain_off + done as u64 - chunk_start) as usize;
                    let to = ((end - chunk_start) as usize).min(chunk_len);
                    let out = &mut buf[done..done + to - from];
                    if from == 0 && to == chunk_len {
                        self.open_chunk_into(chunk_no, last, frame, out)?;
                    } else {
                        let plain = partial.resized(chunk_len);
                        self.open_chunk_into(chunk_no, last, frame, plain)?;
                        out.copy_from_slice(&plain[from..to]);
                    }
                    done += to - from;
                }
                first = batch_end + 1;
            }
            Ok(done)
        })
    }
}
