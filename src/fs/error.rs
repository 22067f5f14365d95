//! Why a filesystem operation failed, in the core's own terms (no fuser
//! types). The adapter turns each into an errno in one place
//! (`adapter::errno`).

use std::fmt;
use std::io;

use crate::kms::KmsError;
use crate::object::ObjectError;
use crate::volume::names::NameError;
use crate::volume::VolumeError;

#[derive(Debug)]
pub enum FsError {
    /// The backing directory refused an operation; its errno passes through.
    Io(io::Error),
    /// No such node, entry or handle.
    NotFound,
    /// A handle the kernel was never given, or a read-only one asked to write.
    BadHandle,
    NotDirectory,
    IsDirectory,
    /// rmdir of a directory that still has entries.
    NotEmpty,
    Exists,
    /// Mode bits refuse the access (only asked without default_permissions).
    PermissionDenied,
    /// The volume is mounted read-only.
    ReadOnly,
    /// A request that makes no sense for its node (readlink of a file, ...).
    Invalid(&'static str),
    /// A name or symlink target that cannot be stored, or a backing name
    /// that does not decrypt (the backing directory changed behind kmsfs).
    Name(NameError),
    /// The KMS refused or failed a data key request (its record is written).
    Kms(KmsError),
    /// A ciphertext object failed: integrity (recorded), size, or header.
    Object(ObjectError),
    /// The volume could not be opened.
    Volume(VolumeError),
}

impl FsError {
    /// Whether the node or backing entry asked for does not exist (any more).
    pub fn is_not_found(&self) -> bool {
        match self {
            FsError::NotFound => true,
            FsError::Io(e) => e.kind() == io::ErrorKind::NotFound,
            _ => false,
        }
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsError::Io(e) => write!(f, "backing directory: {e}"),
            FsError::NotFound => f.write_str("no such file, directory or handle"),
            FsError::BadHandle => f.write_str("bad file handle"),
            FsError::NotDirectory => f.write_str("not a directory"),
            FsError::IsDirectory => f.write_str("is a directory"),
            FsError::NotEmpty => f.write_str("directory not empty"),
            FsError::Exists => f.write_str("file exists"),
            FsError::PermissionDenied => f.write_str("permission denied by mode bits"),
            FsError::ReadOnly => f.write_str("the volume is mounted read-only"),
            FsError::Invalid(why) => f.write_str(why),
            FsError::Name(e) => write!(f, "name: {e}"),
            FsError::Kms(e) => write!(f, "kms: {e}"),
            FsError::Object(e) => write!(f, "object: {e}"),
            FsError::Volume(e) => write!(f, "volume: {e}"),
        }
    }
}

impl std::error::Error for FsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FsError::Io(e) => Some(e),
            FsError::Name(e) => Some(e),
            FsError::Object(e) => Some(e),
            FsError::Volume(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for FsError {
    fn from(e: io::Error) -> Self {
        FsError::Io(e)
    }
}

impl From<NameError> for FsError {
    fn from(e: NameError) -> Self {
        FsError::Name(e)
    }
}

impl From<KmsError> for FsError {
    fn from(e: KmsError) -> Self {
        FsError::Kms(e)
    }
}

impl From<ObjectError> for FsError {
    fn from(e: ObjectError) -> Self {
        FsError::Object(e)
    }
}

impl From<VolumeError> for FsError {
    fn from(e: VolumeError) -> Self {
        FsError::Volume(e)
    }
}
