//! Object headers on a backing file: reading one (with or without its wrapped
//! DEK), the keyless plaintext size for stat, and the lock that keeps a
//! header replacement whole for other processes. No key needed.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::format::object::{FixedHeader, ObjectHeader, FIXED_LEN};
use crate::format::FormatError;

use super::layout::Layout;
use super::{IntegrityFailure, ObjectError};
use crate::sys::{FileLock, LockKind};

/// The inter-process lock on an object's header: flock(2) on the backing
/// file. Whoever replaces a header (the filesystem giving a file a fresh key,
/// a rewrap in another process giving it a re-wrapped one) holds it
/// exclusively, for as long as the old header must not change under it;
/// whoever reads a header to unwrap its key holds it shared, so it never sees
/// half of a replacement. flock belongs to the open file description: never
/// take it twice through one `File` (the second call converts the first).
pub struct HeaderLock<'a> {
    _lock: FileLock<'a>,
}

impl<'a> HeaderLock<'a> {
    pub fn shared(file: &'a File) -> Result<HeaderLock<'a>, ObjectError> {
        Self::acquire(file, LockKind::Shared)
    }

    pub fn exclusive(file: &'a File) -> Result<HeaderLock<'a>, ObjectError> {
        Self::acquire(file, LockKind::Exclusive)
    }

    fn acquire(file: &'a File, kind: LockKind) -> Result<HeaderLock<'a>, ObjectError> {
        Ok(HeaderLock {
            _lock: FileLock::acquire(file, kind)?,
        })
    }
}

/// Reads `buf.len()` bytes at `offset`; a file too short for them has a
/// truncated header.
fn read_header_bytes(file: &File, buf: &mut [u8]) -> Result<(), ObjectError> {
    file.read_exact_at(buf, 0).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => ObjectError::Header(FormatError::Truncated {
            what: "object header",
        }),
        _ => ObjectError::Io(e),
    })
}

/// The header of the object in `file` and its length in bytes.
pub fn read_header(file: &File) -> Result<(ObjectHeader, u64), ObjectError> {
    let mut fixed = [0u8; FIXED_LEN];
    read_header_bytes(file, &mut fixed)?;
    let mut bytes = vec![0u8; FixedHeader::read(&fixed)?.header_len()];
    read_header_bytes(file, &mut bytes)?;
    let (header, header_len) = ObjectHeader::read(&bytes)?;
    Ok((header, header_len as u64))
}

/// The plaintext size of the object in `file`, from its fixed header and its
/// size on disk; needs no key (stat, readdir).
pub fn plain_len_of(file: &File) -> Result<u64, ObjectError> {
    let mut fixed = [0u8; FIXED_LEN];
    read_header_bytes(file, &mut fixed)?;
    let fixed = FixedHeader::read(&fixed)?;
    let layout = Layout::new(fixed.header_len() as u64, fixed.cipher, fixed.chunk_size);
    plain_len_in(&layout, file)
}

/// The plaintext size of `file` laid out as `layout`.
pub(super) fn plain_len_in(layout: &Layout, file: &File) -> Result<u64, ObjectError> {
    let cipher_len = file.metadata()?.len();
    layout.plain_len(cipher_len).ok_or(ObjectError::Integrity {
        chunk_no: layout.cipher_chunk_no(cipher_len),
        reason: IntegrityFailure::ImpossibleLength { cipher_len },
    })
}
