//! Starting the backing filesystem's write-out of a file early.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Starts write-out of every dirty page of `file` not already being written,
/// without waiting for it (sync_file_range(2) with SYNC_FILE_RANGE_WRITE): a
/// later fsync then finds most of the file on disk already. Blocks only when
/// the device's queue is full.
pub fn start_writeback(file: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain syscall on a valid descriptor; offset 0 and length 0 mean
    // the whole file.
    let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
