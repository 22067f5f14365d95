//! Reading plaintext from an object: whole chunks are read (several per
//! pread), authenticated, and only then copied out.

use std::os::unix::fs::FileExt;

use super::handle::Object;
use super::plain_buf::PlainBuf;
use super::ObjectError;

impl Object<'_> {
    /// Reads up to `buf.len()` plaintext bytes at `plain_off`; returns how many
    /// (fewer only at the end of the file, 0 at or past it). Every chunk it
    /// touches is authenticated first: a failure returns an error, never bytes.
    pub fn read_at(&self, plain_off: u64, buf: &mut [u8]) -> Result<usize, ObjectError> {
        let plain_len = self.plain_len()?;
        if buf.is_empty() || plain_off >= plain_len {
            return Ok(0);
        }
        let layout = self.layout;
        let end = plain_len.min(plain_off.saturating_add(buf.len() as u64));
        let last_chunk = layout.chunk_no(plain_len - 1);
        let final_wanted = layout.chunk_no(end - 1);
        let mut scratch = PlainBuf::default();
        let mut done = 0usize;
        let mut first = layout.chunk_no(plain_off);
        while first <= final_wanted {
            let batch_end = final_wanted.min(first + self.batch_chunks() - 1);
            let cipher_start = layout.cipher_off(first);
            let cipher_end = layout.cipher_off(batch_end)
                + layout.frame_len(layout.chunk_len(batch_end, plain_len));
            let scratch = scratch.resized((cipher_end - cipher_start) as usize);
            self.file.read_exact_at(scratch, cipher_start)?;
            for chunk_no in first..=batch_end {
                let frame_start = (layout.cipher_off(chunk_no) - cipher_start) as usize;
                let frame_len = layout.frame_len(layout.chunk_len(chunk_no, plain_len)) as usize;
                let frame = &mut scratch[frame_start..frame_start + frame_len];
                let plain = self.open_chunk(chunk_no, chunk_no == last_chunk, frame)?;
                let chunk_start = layout.plain_off(chunk_no);
                let from = (plain_off + done as u64 - chunk_start) as usize;
                let to = (end - chunk_start).min(plain.len() as u64) as usize;
                buf[done..done + to - from].copy_from_slice(&plain[from..to]);
                done += to - from;
            }
            first = batch_end + 1;
        }
        Ok(done)
    }
}
