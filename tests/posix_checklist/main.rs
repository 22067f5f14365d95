//! The POSIX checklist of docs/POSIX.md on real kmsfs mounts: open flags,
//! O_APPEND and O_EXCL under concurrency, rename corner cases, link counts,
//! the times each call updates, mode bits and sticky directories for several
//! uids, readdir of a changing directory, statfs, a sparse file past 4 GiB,
//! and the clear refusals of fallocate and extended attributes. The raw calls
//! the std library lacks (renameat2, fallocate, xattrs, O_NOFOLLOW, ...) go
//! through rustix, so each refusal is seen as the errno a program gets.

#[path = "../common/mod.rs"]
mod common;

mod concurrency;
mod open_flags;
mod rename;
mod space;
mod times;
mod users;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The errno of a call that must fail.
fn errno_of<T: std::fmt::Debug>(result: rustix::io::Result<T>) -> rustix::io::Errno {
    result.expect_err("expected the call to fail")
}

/// `lstat(path)`.
fn meta(path: &Path) -> std::fs::Metadata {
    std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("lstat {}: {e}", path.display()))
}

/// The link count of `path`.
fn nlink(path: &Path) -> u64 {
    meta(path).nlink()
}
