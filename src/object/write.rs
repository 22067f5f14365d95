//! Writing and truncating an object. Each chunk is rewritten whole, with a
//! fresh nonce, by one pwrite: a crash at any point leaves every chunk either
//! its old frame, its new frame, or a mix that fails authentication, never
//! bytes that decrypt wrongly (docs/FORMAT.md, "Writes and crashes").

use std::os::unix::fs::FileExt;

use super::handle::{Object, PAGE, READ_AROUND};
use super::plain_buf::PlainBuf;
use super::ObjectError;
use crate::sys;

/// The bytes a write puts into one chunk: `bytes` at offset `at` of its plaintext.
#[derive(Clone, Copy)]
struct Patch<'d> {
    at: usize,
    bytes: &'d [u8],
}

const NO_PATCH: Patch<'static> = Patch { at: 0, bytes: &[] };

/// The spans to read into the page cache before writing ciphertext bytes
/// `start..end`: the READ_AROUND-aligned span around each edge that ends
/// inside a page (one span when they meet). Frames are not page-aligned, so
/// the kernel must read the page under such an edge before it can write part
/// of it, one page at a time and waiting for each; asked for first, they come
/// in one read, with their neighbours, which nearby writes then find cached.
/// Pages wholly in between are not read: they are overwritten.
fn read_around(start: u64, end: u64) -> impl Iterator<Item = (u64, u64)> {
    let head = (start % PAGE != 0).then(|| {
        let from = start / READ_AROUND * READ_AROUND;
        (from, from + READ_AROUND)
    });
    let tail = (end % PAGE != 0).then(|| {
        let to = end.div_ceil(READ_AROUND) * READ_AROUND;
        (to - READ_AROUND, to)
    });
    match (head, tail) {
        (Some((from, head_end)), Some((tail_start, to))) if tail_start <= head_end => {
            [Some((from, to)), None]
        }
        (head, tail) => [head, tail],
    }
    .into_iter()
    .flatten()
}

/// What the page cache keeps of the chunks a write puts in the backing file.
#[derive(Clone, Copy)]
enum Caching {
    Keep,
    DropBehind,
}

impl Object<'_> {
    /// Writes `data` at `plain_off`, growing the file if it ends past the end
    /// (a gap becomes holes that read as zeros). Partial chunks are read,
    /// authenticated, patched and resealed. On error, some of the chunks may
    /// already be written, each whole.
    pub fn write_at(&self, plain_off: u64, data: &[u8]) -> Result<(), ObjectError> {
        self.write_chunks(plain_off, data, Caching::Keep)
    }

    /// Writes like [`write_at`](Self::write_at), for a stream of large writes:
    /// the new chunks go to disk at once and leave the page cache once there
    /// (see [`sys::write_all_at_uncached`]).
    pub fn write_through_at(&self, plain_off: u64, data: &[u8]) -> Result<(), ObjectError> {
        self.write_chunks(plain_off, data, Caching::DropBehind)
    }

    fn write_chunks(
        &self,
        plain_off: u64,
        data: &[u8],
        caching: Caching,
    ) -> Result<(), ObjectError> {
        if data.is_empty() {
            return Ok(());
        }
        let end = self.check_len(plain_off.checked_add(data.len() as u64))?;
        let layout = self.layout;
        let old_len = self.plain_len()?;
        let new_len = old_len.max(end);
        let first = layout.chunk_no(plain_off);
        let final_chunk = layout.chunk_no(end - 1);
        let mut scratch = PlainBuf::default();
        // Growing turns the old last chunk into a full, non-last chunk: when
        // the write does not touch it, it is resealed on its own.
        if old_len > 0 && new_len > old_len && layout.chunk_no(old_len - 1) < first {
            self.rewrite_chunk(layout.chunk_no(old_len - 1), old_len, new_len, &mut scratch)?;
        }
        let mut batch_first = first;
        while batch_first <= final_chunk {
            let batch_end = final_chunk.min(batch_first + self.batch_chunks() - 1);
            let cipher_start = layout.cipher_off(batch_first);
            let cipher_end = layout.cipher_off(batch_end)
                + layout.frame_len(layout.chunk_len(batch_end, new_len));
            for (from, to) in read_around(cipher_start, cipher_end) {
                if let Err(e) = sys::will_need(self.file, from, to - from) {
                    log::debug!("no read-around for a write: {e}");
                }
            }
            let scratch = scratch.resized((cipher_end - cipher_start) as usize);
            for chunk_no in batch_first..=batch_end {
                let frame_start = (layout.cipher_off(chunk_no) - cipher_start) as usize;
                let frame_len = layout.frame_len(layout.chunk_len(chunk_no, new_len)) as usize;
                let chunk_start = layout.plain_off(chunk_no);
                let from = plain_off.max(chunk_start);
                let to = end.min(chunk_start + layout.chunk_size());
                let patch = Patch {
                    at: (from - chunk_start) as usize,
                    bytes: &data[(from - plain_off) as usize..(to - plain_off) as usize],
                };
                let slot = &mut scratch[frame_start..frame_start + frame_len];
                self.reseal(chunk_no, old_len, new_len, patch, slot)?;
            }
            // The file's last chunk stays cached even in a stream: the next
            // write reads it back to reseal it as a full, non-last chunk.
            let cached_from = match caching {
                Caching::Keep => 0,
                Caching::DropBehind if batch_end == layout.chunk_no(new_len - 1) => {
                    (layout.cipher_off(batch_end) - cipher_start) as usize
                }
                Caching::DropBehind => scratch.len(),
            };
            let (dropped, cached) = scratch.split_at(cached_from);
            if !dropped.is_empty() {
                sys::write_all_at_uncached(self.file, dropped, cipher_start)?;
            }
            if !cached.is_empty() {
                self.file
                    .write_all_at(cached, cipher_start + cached_from as u64)?;
            }
            batch_first = batch_end + 1;
        }
        Ok(())
    }

    /// Sets the plaintext size (truncate). Growing reseals the old last chunk
    /// as full and non-last, leaves the chunks in between as holes, and seals
    /// the new last chunk; shrinking reseals the new last chunk as last and
    /// cuts the file after it.
    pub fn set_len(&self, new_len: u64) -> Result<(), ObjectError> {
        self.check_len(Some(new_len))?;
        let layout = self.layout;
        let old_len = self.plain_len()?;
        let mut scratch = PlainBuf::default();
        if new_len > old_len {
            let new_last = layout.chunk_no(new_len - 1);
            if old_len > 0 && layout.chunk_no(old_len - 1) < new_last {
                self.rewrite_chunk(layout.chunk_no(old_len - 1), old_len, new_len, &mut scratch)?;
            }
            // Writing the last chunk extends the file; the gap stays sparse.
            self.rewrite_chunk(new_last, old_len, new_len, &mut scratch)?;
        } else if new_len == 0 {
            self.file.set_len(layout.header_len())?;
        } else if new_len < old_len {
            // The new last chunk is read before the cut and written after it.
            let new_last = layout.chunk_no(new_len - 1);
            let slot = scratch.resized(layout.frame_len(layout.chunk_size()) as usize);
            let frame_len = self.reseal(new_last, old_len, new_len, NO_PATCH, slot)?;
            self.file.set_len(layout.cipher_len(new_len))?;
            self.file
                .write_all_at(&slot[..frame_len], layout.cipher_off(new_last))?;
        }
        Ok(())
    }

    /// `plain_len` if an object can hold that many bytes, else `TooLarge`.
    fn check_len(&self, plain_len: Option<u64>) -> Result<u64, ObjectError> {
        let max = self.layout.max_plain_len();
        match plain_len {
            Some(len) if len <= max => Ok(len),
            _ => Err(ObjectError::TooLarge {
                plain_len: plain_len.unwrap_or(u64::MAX),
                max,
            }),
        }
    }

    /// Reseals chunk `chunk_no` for the change from `old_len` to `new_len`
    /// (no new data) and writes it.
    fn rewrite_chunk(
        &self,
        chunk_no: u64,
        old_len: u64,
        new_len: u64,
        scratch: &mut PlainBuf,
    ) -> Result<(), ObjectError> {
        let slot = scratch.resized(self.layout.frame_len(self.layout.chunk_size()) as usize);
        let frame_len = self.reseal(chunk_no, old_len, new_len, NO_PATCH, slot)?;
        self.file
            .write_all_at(&slot[..frame_len], self.layout.cipher_off(chunk_no))?;
        Ok(())
    }

    /// Builds in `slot` the new frame of chunk `chunk_no` as the file goes from
    /// `old_len` to `new_len` plaintext bytes: its old plaintext (read and
    /// authenticated, unless `patch` replaces all of it), cut or zero-extended
    /// to its new length, `patch` applied, sealed with a fresh nonce and its
    /// new last flag. `slot` holds at least the larger of the old and the new
    /// frame; returns the new frame's length (its start of `slot`).
    fn reseal(
        &self,
        chunk_no: u64,
        old_len: u64,
        new_len: u64,
        patch: Patch<'_>,
        slot: &mut [u8],
    ) -> Result<usize, ObjectError> {
        let layout = self.layout;
        let nonce_len = self.header.cipher.nonce_len();
        let old_chunk_len = layout.chunk_len(chunk_no, old_len) as usize;
        let new_chunk_len = layout.chunk_len(chunk_no, new_len) as usize;
        assert!(
            new_chunk_len > 0 && patch.at + patch.bytes.len() <= new_chunk_len,
            "BUG: resealing chunk {chunk_no} beyond the end of the file"
        );
        let whole_chunk_replaced = patch.bytes.len() == new_chunk_len;
        if !whole_chunk_replaced {
            let kept = if old_chunk_len > 0 {
                let old_frame = &mut slot[..layout.frame_len(old_chunk_len as u64) as usize];
                self.file
                    .read_exact_at(old_frame, layout.cipher_off(chunk_no))?;
                let was_last = chunk_no == layout.chunk_no(old_len - 1);
                // Leaves the old plaintext in place, right after the nonce slot.
                self.open_chunk(chunk_no, was_last, old_frame)?;
                old_chunk_len
            } else {
                0
            };
            if new_chunk_len > kept {
                slot[nonce_len + kept..nonce_len + new_chunk_len].fill(0);
            }
        }
        slot[nonce_len + patch.at..][..patch.bytes.len()].copy_from_slice(patch.bytes);
        let frame = &mut slot[..layout.frame_len(new_chunk_len as u64) as usize];
        let is_last = chunk_no == layout.chunk_no(new_len - 1);
        self.key
            .seal_frame(&self.header.chunk_aad(chunk_no, is_last), frame)
            .map_err(ObjectError::Random)?;
        Ok(frame.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(start: u64, end: u64) -> Vec<(u64, u64)> {
        read_around(start, end).collect()
    }

    #[test]
    fn a_small_write_reads_the_span_around_it_once() {
        // The frame of chunk 10 of 4 KiB chunks (4124 bytes after a 116-byte header).
        let start = 116 + 10 * 4124;
        assert_eq!(spans(start, start + 4124), [(32768, 65536)]);
        // Across a span boundary: both spans, in one request.
        assert_eq!(spans(32000, 33000), [(0, 65536)]);
    }

    #[test]
    fn page_aligned_edges_are_not_read() {
        assert_eq!(spans(8192, 16384), []);
        assert_eq!(spans(8192, 9000), [(0, 32768)]);
        assert_eq!(spans(9000, 16384), [(0, 32768)]);
    }

    #[test]
    fn a_long_write_reads_only_around_its_edges() {
        let (start, end) = (100_000, 100_000 + 256 * 1024 + 7000);
        assert_eq!(spans(start, end), [(98304, 131072), (360448, 393216)]);
    }
}
