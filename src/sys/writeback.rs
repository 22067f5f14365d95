//! Writes that go to disk at once and leave the page cache behind them.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once the kernel has refused an uncached write: it is not asked again.
static UNCACHED_REFUSED: AtomicBool = AtomicBool::new(false);

/// Writes all of `buf` at `offset` of `file`, starts its write-out at once,
/// and has the kernel drop the written pages from the page cache when they
/// are on disk (pwritev2(2) with RWF_DONTCACHE, Linux 6.14 on, on ext4, XFS,
/// btrfs and others). For a stream of large writes: a later fsync finds most
/// of it on disk, and the ciphertext, which the reader never sees, does not
/// crowd other files out of the cache. Where the kernel or the filesystem
/// refuses, writes through the cache and only starts the write-out
/// (sync_file_range(2) with SYNC_FILE_RANGE_WRITE).
pub fn write_all_at_uncached(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    if !UNCACHED_REFUSED.load(Ordering::Relaxed) {
        match write_all_uncached(file, buf, offset) {
            // Refused at the first call, for the flag, before anything is written.
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                UNCACHED_REFUSED.store(true, Ordering::Relaxed);
                log::debug!("no uncached writes here (RWF_DONTCACHE refused)");
            }
            done => return done,
        }
    }
    file.write_all_at(buf, offset)?;
    if let Err(e) = start_writeback(file, offset, buf.len() as u64) {
        log::debug!("early write-out not started: {e}");
    }
    Ok(())
}

fn write_all_uncached(file: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match pwrite_uncached(file, buf, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn pwrite_uncached(file: &File, buf: &[u8], offset: u64) -> io::Result<usize> {
    let iov = libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let offset = libc::off_t::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: one iovec over `buf`, which outlives the call; the kernel only
    // reads from it.
    let n = unsafe { libc::pwritev2(file.as_raw_fd(), &iov, 1, offset, libc::RWF_DONTCACHE) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Starts write-out of the dirty pages of `len` bytes at `offset` of `file`
/// without waiting for it; blocks only when the device's queue is full.
fn start_writeback(file: &File, offset: u64, len: u64) -> io::Result<()> {
    let (Ok(offset), Ok(len)) = (
        libc::off64_t::try_from(offset),
        libc::off64_t::try_from(len),
    ) else {
        return Err(io::ErrorKind::InvalidInput.into());
    };
    // SAFETY: plain syscall on a valid descriptor.
    let rc = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many of the first `len` bytes' pages of `file` are in the page
    /// cache (mincore(2) over a shared mapping of it).
    fn resident_pages(file: &File, len: usize) -> usize {
        let page = 4096;
        // SAFETY: a read-only shared mapping of `len` bytes of an open file,
        // never dereferenced, unmapped before returning.
        unsafe {
            let map = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            );
            assert_ne!(map, libc::MAP_FAILED, "{}", io::Error::last_os_error());
            let mut vec = vec![0u8; len.div_ceil(page)];
            let rc = libc::mincore(map, len, vec.as_mut_ptr());
            libc::munmap(map, len);
            assert_eq!(rc, 0, "{}", io::Error::last_os_error());
            vec.iter().filter(|&&v| v & 1 == 1).count()
        }
    }

    #[test]
    fn a_stream_written_uncached_is_on_disk_and_mostly_out_of_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stream");
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        let piece: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        let pieces = 16;
        for n in 0..pieces {
            write_all_at_uncached(&file, &piece, n * piece.len() as u64).unwrap();
        }
        file.sync_all().unwrap();
        let len = pieces as usize * piece.len();
        let mut back = vec![0u8; piece.len()];
        if UNCACHED_REFUSED.load(Ordering::Relaxed) {
            eprintln!("uncached writes refused here: only the content is checked");
        } else {
            // Written out by the fsync at the latest, and dropped on the way.
            let resident = resident_pages(&file, len);
            assert!(
                resident <= len / 4096 / 4,
                "{resident} of {} pages still cached",
                len / 4096
            );
        }
        for n in 0..pieces {
            file.read_exact_at(&mut back, n * piece.len() as u64)
                .unwrap();
            assert!(back == piece, "piece {n} reads back different");
        }
    }
}
