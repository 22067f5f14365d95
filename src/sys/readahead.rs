//! The kernel's read-ahead for a mounted FUSE filesystem. Its backing device
//! info (bdi) starts at 128 KiB, and FUSE's INIT can only lower it, so a
//! sequential read reaches the daemon as 128 KiB requests: eight round trips
//! per MiB. Root may raise it through sysfs.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Sets the read-ahead of the filesystem mounted at `mountpoint` to `kib`
/// KiB (`/sys/class/bdi/MAJOR:MINOR/read_ahead_kb`). Needs root.
pub fn set_read_ahead_kib(mountpoint: &Path, kib: u32) -> io::Result<()> {
    let dev = std::fs::metadata(mountpoint)?.dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    std::fs::write(
        format!("/sys/class/bdi/{major}:{minor}/read_ahead_kb"),
        kib.to_string(),
    )
}
