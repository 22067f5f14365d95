//! [`Object`]: one ciphertext object opened with its key, a stateless view over
//! a backing file (pread/pwrite through `FileExt`), and the chunk opening that
//! reads and writes share.

use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::crypto::{ContentKey, TAG_LEN};
use crate::format::object::ObjectHeader;

use super::header::{plain_len_in, HeaderLock};
use super::layout::Layout;
use super::{IntegrityFailure, ObjectError};

/// Plaintext bytes one read or write moves with a single pread/pwrite (at
/// least one chunk): bounds the scratch buffer of a large request.
const BATCH_PLAIN_BYTES: u64 = 256 * 1024;

/// The page size the backing file's cache is assumed to have.
pub(super) const PAGE: u64 = 4096;
/// The aligned span of the backing file read from the disk around a small
/// read or write that is not in the page cache: one read whose neighbours
/// nearby requests then find cached (as 32 KiB chunks were read whole).
pub(super) const READ_AROUND: u64 = 32 * 1024;

/// A ciphertext object: `file` holds `header` followed by chunks sealed with
/// `key`. Holds no state of its own, so it is cheap to make per request.
///
/// Callers serialize: [`Object::write_at`] and [`Object::set_len`] need the
/// object to themselves (no other write, truncate or read of the same file
/// meanwhile); reads may run concurrently with each other. A read that
/// overlaps a write could see a half-written chunk and fail authentication.
pub struct Object<'a> {
    pub(super) file: &'a File,
    pub(super) header: &'a ObjectHeader,
    pub(super) key: &'a ContentKey,
    pub(super) layout: Layout,
}

impl<'a> Object<'a> {
    /// The object in `file`, whose header (as read by
    /// [`read_header`](super::read_header)) is `header`; `key` is the DEK
    /// unwrapped from it, prepared for `header.cipher`.
    pub fn new(file: &'a File, header: &'a ObjectHeader, key: &'a ContentKey) -> Object<'a> {
        assert_eq!(
            key.cipher(),
            header.cipher,
            "BUG: content key prepared for another cipher than the object's"
        );
        Object {
            file,
            header,
            key,
            layout: Layout::for_header(header),
        }
    }

    /// Makes `file` an empty object with `header` (a new file, or an old one
    /// given a fresh DEK by O_TRUNC). The header is written, under the
    /// exclusive [`HeaderLock`], before the old content is cut, so the file
    /// always starts with a whole header.
    pub fn create(
        file: &'a File,
        header: &'a ObjectHeader,
        key: &'a ContentKey,
    ) -> Result<Object<'a>, ObjectError> {
        let object = Object::new(file, header, key);
        let _replacing = HeaderLock::exclusive(file)?;
        file.write_all_at(&header.encode(), 0)?;
        file.set_len(object.layout.header_len())?;
        Ok(object)
    }

    /// The plaintext size, from the file's size on disk.
    pub fn plain_len(&self) -> Result<u64, ObjectError> {
        plain_len_in(&self.layout, self.file)
    }

    /// How many chunks one pread/pwrite may cover.
    pub(super) fn batch_chunks(&self) -> u64 {
        (BATCH_PLAIN_BYTES / self.layout.chunk_size()).max(1)
    }

    /// Opens chunk `chunk_no`'s `frame` in place and returns its plaintext.
    pub(super) fn open_chunk<'f>(
        &self,
        chunk_no: u64,
        last: bool,
        frame: &'f mut [u8],
    ) -> Result<&'f [u8], ObjectError> {
        if self.is_hole(chunk_no, last, frame)? {
            let body = self.header.cipher.nonce_len()..frame.len() - TAG_LEN;
            return Ok(&frame[body]);
        }
        let aad = self.header.chunk_aad(chunk_no, last);
        self.key
            .open_frame(&aad, frame)
            .map(|plain| &*plain)
            .map_err(|_| authentication_failure(chunk_no))
    }

    /// Opens chunk `chunk_no`'s `frame` into `out`, as long as its body,
    /// leaving the frame as it is.
    pub(super) fn open_chunk_into(
        &self,
        chunk_no: u64,
        last: bool,
        frame: &[u8],
        out: &mut [u8],
    ) -> Result<(), ObjectError> {
        if self.is_hole(chunk_no, last, frame)? {
            out.fill(0);
            return Ok(());
        }
        let aad = self.header.chunk_aad(chunk_no, last);
        self.key
            .open_frame_into(&aad, frame, out)
            .map_err(|_| authentication_failure(chunk_no))
    }

    /// Whether `frame` is a hole: all zeros, read as zeros, unless it is the
    /// last chunk, which kmsfs always seals.
    fn is_hole(&self, chunk_no: u64, last: bool, frame: &[u8]) -> Result<bool, ObjectError> {
        if !frame.iter().all(|&b| b == 0) {
            return Ok(false);
        }
        if last {
            return Err(ObjectError::Integrity {
                chunk_no,
                reason: IntegrityFailure::HoleAtEnd,
            });
        }
        Ok(true)
    }
}

fn authentication_failure(chunk_no: u64) -> ObjectError {
    ObjectError::Integrity {
        chunk_no,
        reason: IntegrityFailure::Authentication,
    }
}
