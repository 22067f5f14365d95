//! Whole-file advisory locks (flock(2)). The audit writer holds the exclusive
//! lock for exactly one record; whoever moves the active log away (the roller)
//! takes the same lock, so it never splits a record.

use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockKind {
    Shared,
    Exclusive,
}

/// A held flock, released on drop.
pub struct FileLock<'a> {
    file: &'a File,
}

impl<'a> FileLock<'a> {
    /// Blocks until the lock is granted.
    pub fn acquire(file: &'a File, kind: LockKind) -> io::Result<FileLock<'a>> {
        let operation = match kind {
            LockKind::Shared => libc::LOCK_SH,
            LockKind::Exclusive => libc::LOCK_EX,
        };
        loop {
            // SAFETY: flock only reads the descriptor number, which `file` keeps open.
            if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
                return Ok(FileLock { file });
            }
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
    }
}

impl Drop for FileLock<'_> {
    fn drop(&mut self) {
        // SAFETY: as in `acquire`. Unlocking an flock we hold cannot fail in a
        // way we could act on; closing the file would release it anyway.
        unsafe {
            libc::flock(self.file.as_raw_fd(), libc::LOCK_UN);
        }
    }
}
