//! Object headers on a backing file: reading one (with or without its wrapped
//! DEK), the keyless plaintext size for stat, and the lock that keeps a
//! header replacement whole for other processes. No key needed.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::format::object::{FileId, FixedHeader, ObjectHeader, FILE_ID_OFFSET, FIXED_LEN};
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
fn read_header_bytes(file: &File, buf: &mut [u8], offset: u64) -> Result<(), ObjectError> {
    file.read_exact_at(buf, offset).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => ObjectError::Header(FormatError::Truncated {
            what: "object header",
        }),
        _ => ObjectError::Io(e),
    })
}

/// Bytes read at once for a header: a header as kmsfs writes it (a data key
/// wrapped in a KMS blob of about a hundred bytes) fits, so one pread finds it
/// whole; a longer one takes a second.
const USUAL_HEADER_LEN: usize = 512;

/// The header of the object in `file` and its length in bytes.
pub fn read_header(file: &File) -> Result<(ObjectHeader, u64), ObjectError> {
    let mut bytes = vec![0u8; USUAL_HEADER_LEN];
    let mut got = 0;
    while got < bytes.len() {
        match file.read_at(&mut bytes[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ObjectError::Io(e)),
        }
    }
    bytes.truncate(got);
    let header_len = FixedHeader::read(&bytes)?.header_len();
    if header_len > got && got == USUAL_HEADER_LEN {
        bytes.resize(header_len, 0);
        read_header_bytes(file, &mut bytes, 0)?;
    }
    let (header, header_len) = ObjectHeader::read(&bytes)?;
    Ok((header, header_len as u64))
}

/// The file id of the object in `file`, as its header holds it.
pub fn read_file_id(file: &File) -> Result<FileId, ObjectError> {
    let mut id = [0u8; 16];
    read_header_bytes(file, &mut id, FILE_ID_OFFSET)?;
    Ok(FileId(id))
}

/// The plaintext size of the object in `file`, from its fixed header and its
/// size on disk; needs no key (stat, readdir).
pub fn plain_len_of(file: &File) -> Result<u64, ObjectError> {
    let mut fixed = [0u8; FIXED_LEN];
    read_header_bytes(file, &mut fixed, 0)?;
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
