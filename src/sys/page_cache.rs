//! Asking the page cache about a file without waiting for the disk.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};

/// Asks the kernel to start reading `len` bytes at `offset` of `file` into
/// the page cache (POSIX_FADV_WILLNEED), without waiting for them.
pub fn will_need(file: &File, offset: u64, len: u64) -> io::Result<()> {
    // SAFETY: plain system call on a descriptor the `&File` keeps open.
    let rc = unsafe {
        libc::posix_fadvise(
            file.as_raw_fd(),
            offset as libc::off_t,
            len as libc::off_t,
            libc::POSIX_FADV_WILLNEED,
        )
    };
    match rc {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// Set once a filesystem has refused a read that must not wait: not asked again.
static NOWAIT_REFUSED: AtomicBool = AtomicBool::new(false);

/// Fills `buf` from `offset` of `file` if the page cache holds all of it
/// (preadv2(2) with RWF_NOWAIT) and returns true; returns false, with `buf`
/// in any state, when some of it would have to come from the disk, the file
/// ends before, or the filesystem does not take such reads.
pub fn read_cached_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<bool> {
    if NOWAIT_REFUSED.load(Ordering::Relaxed) {
        return Ok(false);
    }
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `iov` describes `buf`, which the `&mut` lets nothing else use
    // meanwhile; the descriptor is kept open by the `&File`.
    let n = unsafe {
        libc::preadv2(
            file.as_raw_fd(),
            &iov,
            1,
            offset as libc::off_t,
            libc::RWF_NOWAIT,
        )
    };
    if n >= 0 {
        return Ok(n as usize == buf.len());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(false),
        Some(libc::EOPNOTSUPP) | Some(libc::EINVAL) => {
            NOWAIT_REFUSED.store(true, Ordering::Relaxed);
            log::debug!("no reads without waiting here (RWF_NOWAIT refused)");
            Ok(false)
        }
        _ => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_cached_range_is_read_and_a_range_past_the_end_is_not() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&[7u8; 10_000]).unwrap();
        let mut buf = [0u8; 4000];
        // Just written, so in the page cache.
        assert!(read_cached_at(&file, &mut buf, 5000).unwrap());
        assert_eq!(buf, [7u8; 4000]);
        assert!(!read_cached_at(&file, &mut buf, 8000).unwrap());
        assert!(will_need(&file, 0, 10_000).is_ok());
    }
}
