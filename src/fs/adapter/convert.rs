//! Conversions between the core's types and fuser's: attributes, file types,
//! and every [`FsError`] to its errno, in this one place.

use fuser::{Errno, FileAttr, FileType, INodeNo, TimeOrNow};

use crate::fs::backing::{Kind, TimeSet};
use crate::fs::error::FsError;
use crate::fs::types::Attr;
use crate::kms::ErrorCode;
use crate::object::ObjectError;
use crate::volume::names::NameError;

pub fn errno(error: &FsError) -> Errno {
    match error {
        FsError::Io(e) => io_errno(e),
        FsError::NotFound => Errno::ENOENT,
        FsError::BadHandle => Errno::EBADF,
        FsError::NotDirectory => Errno::ENOTDIR,
        FsError::IsDirectory => Errno::EISDIR,
        FsError::NotEmpty => Errno::ENOTEMPTY,
        FsError::Exists => Errno::EEXIST,
        FsError::PermissionDenied => Errno::EACCES,
        FsError::ReadOnly => Errno::EROFS,
        FsError::Invalid(_) => Errno::EINVAL,
        FsError::Name(e) => match e {
            NameError::TooLong { .. } | NameError::TargetTooLong { .. } => Errno::ENAMETOOLONG,
            NameError::Empty | NameError::Dot | NameError::Slash | NameError::Nul => Errno::EINVAL,
            // A backing name that does not decrypt, or a directory without its id.
            _ => Errno::EIO,
        },
        FsError::Kms(e) => match e.code {
            // Refused for this caller, or the key is disabled, pending deletion or gone.
            ErrorCode::AccessDenied
            | ErrorCode::Disabled
            | ErrorCode::InvalidState
            | ErrorCode::NotFound => Errno::EACCES,
            // A wrapped key that does not open, or the vault or audit log failing: fail closed.
            _ => Errno::EIO,
        },
        FsError::Object(e) => match e {
            ObjectError::Io(e) => io_errno(e),
            ObjectError::TooLarge { .. } => Errno::EFBIG,
            ObjectError::Integrity { .. } | ObjectError::Header(_) | ObjectError::Random(_) => {
                Errno::EIO
            }
        },
        FsError::Volume(_) => Errno::EIO,
    }
}

/// The errno of an OS error; EIO for an error that carries none.
fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_i32(e.raw_os_error().unwrap_or(0))
}

pub fn file_type(kind: Kind) -> FileType {
    match kind {
        Kind::Directory => FileType::Directory,
        Kind::RegularFile => FileType::RegularFile,
        Kind::Symlink => FileType::Symlink,
        Kind::NamedPipe => FileType::NamedPipe,
        Kind::Socket => FileType::Socket,
        Kind::CharDevice => FileType::CharDevice,
        Kind::BlockDevice => FileType::BlockDevice,
    }
}

pub fn file_attr(attr: &Attr) -> FileAttr {
    FileAttr {
        ino: INodeNo(attr.id),
        size: attr.size,
        blocks: attr.blocks,
        atime: attr.atime,
        mtime: attr.mtime,
        ctime: attr.ctime,
        crtime: attr.ctime,
        kind: file_type(attr.kind),
        perm: attr.perm,
        nlink: attr.nlink,
        uid: attr.uid,
        gid: attr.gid,
        rdev: attr.rdev,
        blksize: attr.blksize,
        flags: 0,
    }
}

pub fn time_set(time: TimeOrNow) -> TimeSet {
    match time {
        TimeOrNow::Now => TimeSet::Now,
        TimeOrNow::SpecificTime(time) => TimeSet::At(time),
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;
    use crate::crypto::CryptoError;
    use crate::kms::KmsError;
    use crate::object::IntegrityFailure;

    #[test]
    fn key_refusals_are_eacces_and_failures_eio() {
        for code in [
            ErrorCode::AccessDenied,
            ErrorCode::Disabled,
            ErrorCode::InvalidState,
            ErrorCode::NotFound,
        ] {
            let refused = FsError::Kms(KmsError::new(code, "refused"));
            assert_eq!(errno(&refused), Errno::EACCES, "{code:?}");
        }
        for code in [ErrorCode::InvalidCiphertext, ErrorCode::Internal] {
            let failed = FsError::Kms(KmsError::new(code, "failed"));
            assert_eq!(errno(&failed), Errno::EIO, "{code:?}");
        }
    }

    #[test]
    fn integrity_failures_are_eio_and_oversized_files_efbig() {
        let integrity = ObjectError::Integrity {
            chunk_no: 3,
            reason: IntegrityFailure::Authentication,
        };
        assert_eq!(errno(&FsError::Object(integrity)), Errno::EIO);
        let random = ObjectError::Random(CryptoError::Random);
        assert_eq!(errno(&FsError::Object(random)), Errno::EIO);
        let large = ObjectError::TooLarge {
            plain_len: u64::MAX,
            max: 1,
        };
        assert_eq!(errno(&FsError::Object(large)), Errno::EFBIG);
    }

    #[test]
    fn backing_errors_keep_their_errno_and_others_become_eio() {
        let gone = io::Error::from_raw_os_error(Errno::ENOENT.code());
        assert_eq!(errno(&FsError::Io(gone)), Errno::ENOENT);
        let full = io::Error::from_raw_os_error(Errno::ENOSPC.code());
        assert_eq!(
            errno(&FsError::Object(ObjectError::Io(full))),
            Errno::ENOSPC
        );
        assert_eq!(
            errno(&FsError::Io(io::Error::other("no errno"))),
            Errno::EIO
        );
    }

    #[test]
    fn names_too_long_and_malformed_names_differ_from_corrupt_ones() {
        let long = FsError::Name(NameError::TooLong { len: 300 });
        assert_eq!(errno(&long), Errno::ENAMETOOLONG);
        assert_eq!(errno(&FsError::Name(NameError::Slash)), Errno::EINVAL);
        assert_eq!(errno(&FsError::Name(NameError::Authentication)), Errno::EIO);
    }

    #[test]
    fn plain_refusals_have_their_own_errno() {
        let cases = [
            (FsError::NotFound, Errno::ENOENT),
            (FsError::BadHandle, Errno::EBADF),
            (FsError::NotDirectory, Errno::ENOTDIR),
            (FsError::IsDirectory, Errno::EISDIR),
            (FsError::NotEmpty, Errno::ENOTEMPTY),
            (FsError::Exists, Errno::EEXIST),
            (FsError::PermissionDenied, Errno::EACCES),
            (FsError::ReadOnly, Errno::EROFS),
            (FsError::Invalid("no"), Errno::EINVAL),
        ];
        for (error, expected) in cases {
            assert_eq!(errno(&error), expected, "{error}");
        }
    }
}
