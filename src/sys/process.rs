//! Process-wide settings (umask) and process plumbing for the mount daemon:
//! pipes and inherited descriptors, sessions, termination signals, mount(2)
//! and umount(2).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Sets the process umask and returns the previous one. The umask is per
/// process: every thread's new files get it.
pub fn set_umask(mask: u32) -> u32 {
    // SAFETY: umask(2) only swaps an integer in the process; it cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) as u32 }
}

/// A pipe `(read end, write end)`, both close-on-exec.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Whether `fd` survives exec (a child process inherits it) or is closed on exec.
pub fn set_inheritable(fd: BorrowedFd<'_>, inheritable: bool) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: fcntl on a borrowed, open descriptor.
    let flags = check(unsafe { libc::fcntl(raw, libc::F_GETFD) })?;
    let flags = if inheritable {
        flags & !libc::FD_CLOEXEC
    } else {
        flags | libc::FD_CLOEXEC
    };
    // SAFETY: as above.
    check(unsafe { libc::fcntl(raw, libc::F_SETFD, flags) })?;
    Ok(())
}

/// Takes ownership of descriptor `raw` that a parent process left open for us,
/// and makes it close-on-exec. Fails if `raw` is not an open descriptor above stderr.
pub fn adopt_inherited_fd(raw: RawFd) -> io::Result<OwnedFd> {
    if raw <= 2 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: F_GETFD only checks that the descriptor is open.
    check(unsafe { libc::fcntl(raw, libc::F_GETFD) })?;
    // SAFETY: the descriptor is open and was handed to this process for it alone;
    // nothing else in the process refers to it by number.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    set_inheritable(fd.as_fd(), false)?;
    Ok(fd)
}

/// Starts a new session (setsid): no controlling terminal, no terminal signals.
pub fn new_session() -> io::Result<()> {
    // SAFETY: setsid has no memory effects.
    check(unsafe { libc::setsid() })?;
    Ok(())
}

/// The effective uid of this process.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// The real uid and gid of this process.
pub fn real_ids() -> (u32, u32) {
    // SAFETY: getuid/getgid cannot fail.
    unsafe { (libc::getuid(), libc::getgid()) }
}

/// mount(2) of a FUSE filesystem: `data` names the open /dev/fuse descriptor
/// (`fd=N,rootmode=...`); always nosuid and nodev.
pub fn mount_fuse(
    source: &str,
    target: &Path,
    fs_type: &str,
    read_only: bool,
    data: &str,
) -> io::Result<()> {
    let c =
        |bytes: &[u8]| CString::new(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL));
    let (source, target) = (c(source.as_bytes())?, c(target.as_os_str().as_bytes())?);
    let (fs_type, data) = (c(fs_type.as_bytes())?, c(data.as_bytes())?);
    let mut flags = libc::MS_NOSUID | libc::MS_NODEV;
    if read_only {
        flags |= libc::MS_RDONLY;
    }
    // SAFETY: every pointer is a valid C string for the duration of the call.
    check(unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fs_type.as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    })?;
    Ok(())
}

/// Detaches the filesystem mounted at `path` (umount2). `lazy` detaches it
/// even while busy; the kernel finishes the unmount once the last user is gone.
pub fn unmount(path: &Path, lazy: bool) -> io::Result<()> {
    let cpath = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let flags = if lazy { libc::MNT_DETACH } else { 0 };
    // UMOUNT_NOFOLLOW: a symlink planted at the mountpoint must not redirect us.
    // SAFETY: cpath is a valid C string for the duration of the call.
    check(unsafe { libc::umount2(cpath.as_ptr(), flags | libc::UMOUNT_NOFOLLOW) })?;
    Ok(())
}

/// Whether `err` is EBUSY (a mount in use, for example).
pub fn is_busy(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::EBUSY)
}

/// The signal that asks the mount daemon for its status line (SIGUSR1).
pub const STATUS_SIGNAL: i32 = libc::SIGUSR1;

/// The signals the mount daemon handles in one thread: SIGINT, SIGTERM and
/// SIGHUP (unmount) and [`STATUS_SIGNAL`], blocked so that one thread can wait
/// for them (see [`DaemonSignals::block`]).
pub struct DaemonSignals {
    set: libc::sigset_t,
}

impl DaemonSignals {
    /// Blocks the daemon's signals in the calling thread and in every thread it
    /// starts afterwards. Call it before any thread exists, so that no thread is
    /// left where the default action (death without unmounting) could strike.
    pub fn block() -> io::Result<DaemonSignals> {
        // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialize it.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: set is a valid sigset_t for these calls.
        unsafe {
            libc::sigemptyset(&mut set);
            for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, STATUS_SIGNAL] {
                libc::sigaddset(&mut set, signal);
            }
        }
        // SAFETY: set is initialized; the old mask is not needed.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(DaemonSignals { set })
    }

    /// Waits up to `timeout` for one of the signals; returns its number.
    pub fn wait(&self, timeout: Duration) -> Option<i32> {
        let timeout = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: set and timeout are valid; the siginfo pointer may be null.
        let signal = unsafe { libc::sigtimedwait(&self.set, std::ptr::null_mut(), &timeout) };
        (signal > 0).then_some(signal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn pipe_carries_bytes_and_is_close_on_exec() {
        let (read, write) = pipe().unwrap();
        // SAFETY: test-only probe of the descriptor flags.
        let flags = unsafe { libc::fcntl(read.as_raw_fd(), libc::F_GETFD) };
        assert_ne!(flags & libc::FD_CLOEXEC, 0);
        std::fs::File::from(write).write_all(b"ok\n").unwrap();
        let mut got = String::new();
        std::fs::File::from(read).read_to_string(&mut got).unwrap();
        assert_eq!(got, "ok\n");
    }

    #[test]
    fn inheritable_clears_and_sets_close_on_exec() {
        let (read, _write) = pipe().unwrap();
        let flags = |fd: &OwnedFd| {
            // SAFETY: test-only probe of the descriptor flags.
            unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) }
        };
        set_inheritable(read.as_fd(), true).unwrap();
        assert_eq!(flags(&read) & libc::FD_CLOEXEC, 0);
        set_inheritable(read.as_fd(), false).unwrap();
        assert_ne!(flags(&read) & libc::FD_CLOEXEC, 0);
    }

    #[test]
    fn adopting_refuses_stdio_and_closed_descriptors() {
        assert!(adopt_inherited_fd(2).is_err());
        // Far above any descriptor a test process has open.
        assert!(adopt_inherited_fd(1 << 20).is_err());
    }

    #[test]
    fn unmount_of_a_plain_directory_fails() {
        let dir = tempfile::tempdir().unwrap();
        let err = unmount(dir.path(), false).unwrap_err();
        // EINVAL (not a mount point) as root, EPERM otherwise.
        assert!(matches!(
            err.raw_os_error(),
            Some(libc::EINVAL | libc::EPERM)
        ));
    }
}
