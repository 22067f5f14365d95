//! Unmounting: umount2(2) as root, `fusermount3 -u` otherwise. Used by
//! `kmsfs umount` and by the daemon when it is told to stop. Must not import
//! fuser, the KMS or the CLI.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::mountinfo::{self, KMSFS_FS_TYPE};
use crate::sys;

#[derive(Debug)]
pub enum UnmountError {
    /// The mount table could not be read, or the path not resolved.
    Lookup { path: PathBuf, source: io::Error },
    /// Nothing, or not a kmsfs filesystem, is mounted there.
    NotKmsfs(PathBuf),
    /// Files are open or a process works inside.
    Busy(PathBuf),
    /// umount2 refused for another reason.
    Failed { path: PathBuf, source: io::Error },
    /// fusermount3 is missing or refused; its message.
    Helper { path: PathBuf, message: String },
}

impl fmt::Display for UnmountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnmountError::Lookup { path, source } => {
                write!(f, "cannot look up the mount at {}: {source}", path.display())
            }
            UnmountError::NotKmsfs(path) => write!(f, "{} is not a kmsfs mount", path.display()),
            UnmountError::Busy(path) => write!(
                f,
                "{} is busy (a file is open or a process works inside); close it, or detach lazily with --lazy",
                path.display()
            ),
            UnmountError::Failed { path, source } => {
                write!(f, "cannot unmount {}: {source}", path.display())
            }
            UnmountError::Helper { path, message } => {
                write!(f, "cannot unmount {}: {message}", path.display())
            }
        }
    }
}

impl std::error::Error for UnmountError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UnmountError::Lookup { source, .. } | UnmountError::Failed { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }
}

/// Unmounts the kmsfs filesystem at `mountpoint`, refusing any other kind of
/// mount; returns the absolute mount point. `lazy` detaches a busy mount at once
/// (it goes away when its last user does).
pub fn unmount_kmsfs(mountpoint: &Path, lazy: bool) -> Result<PathBuf, UnmountError> {
    let lookup = |source| UnmountError::Lookup {
        path: mountpoint.to_path_buf(),
        source,
    };
    let path = mountinfo::absolute_mount_point(mountpoint).map_err(lookup)?;
    match mountinfo::mount_at(&path).map_err(lookup)? {
        Some(entry) if entry.fs_type == KMSFS_FS_TYPE => {}
        _ => return Err(UnmountError::NotKmsfs(path)),
    }
    unmount(&path, lazy)?;
    Ok(path)
}

/// Unmounts whatever is mounted at the absolute path `path`.
pub fn unmount(path: &Path, lazy: bool) -> Result<(), UnmountError> {
    if sys::effective_uid() != 0 {
        return fusermount_unmount(path, lazy);
    }
    sys::unmount(path, lazy).map_err(|source| {
        if sys::is_busy(&source) {
            UnmountError::Busy(path.to_path_buf())
        } else {
            UnmountError::Failed {
                path: path.to_path_buf(),
                source,
            }
        }
    })
}

/// Unmounting as an ordinary user goes through the setuid helper of fuse3.
fn fusermount_unmount(path: &Path, lazy: bool) -> Result<(), UnmountError> {
    let mut command = Command::new("fusermount3");
    command.arg("-u");
    if lazy {
        command.arg("-z");
    }
    let output = command.arg("--").arg(path).output().map_err(|e| {
        let message = if e.kind() == io::ErrorKind::NotFound {
            "unmounting as an ordinary user needs fusermount3 (package fuse3)".to_string()
        } else {
            format!("cannot run fusermount3: {e}")
        };
        UnmountError::Helper {
            path: path.to_path_buf(),
            message,
        }
    })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("busy") {
        return Err(UnmountError::Busy(path.to_path_buf()));
    }
    let message = stderr
        .lines()
        .next()
        .unwrap_or("fusermount3 failed")
        .trim()
        .to_string();
    Err(UnmountError::Helper {
        path: path.to_path_buf(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_directory_is_not_a_kmsfs_mount() {
        let dir = tempfile::tempdir().unwrap();
        let err = unmount_kmsfs(dir.path(), false).unwrap_err();
        assert!(matches!(err, UnmountError::NotKmsfs(_)), "{err}");
        assert!(err.to_string().ends_with("is not a kmsfs mount"), "{err}");
    }

    #[test]
    fn another_kind_of_mount_is_refused() {
        let err = unmount_kmsfs(Path::new("/proc"), true).unwrap_err();
        assert!(matches!(err, UnmountError::NotKmsfs(_)), "{err}");
    }

    #[test]
    fn a_missing_parent_is_a_lookup_error() {
        let err = unmount_kmsfs(Path::new("/no/such/dir/mnt"), false).unwrap_err();
        assert!(matches!(err, UnmountError::Lookup { .. }), "{err}");
    }
}
