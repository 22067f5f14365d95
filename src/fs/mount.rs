//! Serving a filesystem at a mount point: the checks before mounting, the
//! multi-threaded fuser session, readiness once the mount is live, a clean
//! unmount on SIGINT, SIGTERM or SIGHUP, and a status line on SIGUSR1. Knows nothing of volumes, keys or the
//! CLI: must not import `kms`, `vault`, `volume` or `cli`.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use fuser::{Config, Filesystem, MountOption, Session, SessionACL};

use super::mountinfo::{self, KMSFS_FS_TYPE};
use super::unmount;
use crate::sys::{self, DaemonSignals, STATUS_SIGNAL};

/// What the daemon says about itself on SIGUSR1 (docs/OPERATIONS.md): one
/// line, logged as `kmsfs status: <line>`.
pub struct StatusProbe(Box<dyn Fn() -> String + Send>);

impl StatusProbe {
    pub fn new(line: impl Fn() -> String + Send + 'static) -> StatusProbe {
        StatusProbe(Box::new(line))
    }
}

/// How to mount.
#[derive(Debug, Clone)]
pub struct MountOptions {
    /// The backing directory: named in the mount table (`kmsfs:<backing>`) and
    /// kept apart from the mount point.
    pub backing: PathBuf,
    pub read_only: bool,
    /// Let every user reach the mount (`allow_other`); the key policy and the
    /// mode bits still decide what each may do.
    pub allow_other: bool,
    /// Let the kernel check mode bits (`default_permissions`).
    pub default_permissions: bool,
}

/// Called once, when the mount is live (a stat of the mount point answers from it).
pub struct ReadySignal(Box<dyn FnOnce() + Send>);

impl ReadySignal {
    pub fn new(on_ready: impl FnOnce() + Send + 'static) -> ReadySignal {
        ReadySignal(Box::new(on_ready))
    }
}

#[derive(Debug)]
pub enum MountError {
    MountpointMissing(PathBuf),
    NotADirectory(PathBuf),
    AlreadyMounted(PathBuf),
    /// A mount whose daemon is gone (ENOTCONN) still sits there.
    DeadMount(PathBuf),
    /// The mount point is inside the backing directory or contains it.
    Overlap {
        mountpoint: PathBuf,
        backing: PathBuf,
    },
    Inaccessible {
        path: PathBuf,
        source: io::Error,
    },
    Mount {
        path: PathBuf,
        source: io::Error,
    },
    /// Mounted, but the mount point never answered from the new filesystem.
    NotLive {
        path: PathBuf,
        reason: String,
    },
    Session(io::Error),
}

impl fmt::Display for MountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MountError::MountpointMissing(path) => {
                write!(f, "mountpoint {} does not exist", path.display())
            }
            MountError::NotADirectory(path) => {
                write!(f, "mountpoint {} is not a directory", path.display())
            }
            MountError::AlreadyMounted(path) => {
                write!(f, "mountpoint {} is busy: something is already mounted there", path.display())
            }
            MountError::DeadMount(path) => write!(
                f,
                "mountpoint {0} is a mount whose daemon is gone; clean it up with `kmsfs umount {0}`",
                path.display()
            ),
            MountError::Overlap { mountpoint, backing } => write!(
                f,
                "mountpoint {} and backing directory {} must not contain one another",
                mountpoint.display(),
                backing.display()
            ),
            MountError::Inaccessible { path, source } => {
                write!(f, "cannot use {}: {source}", path.display())
            }
            MountError::Mount { path, source } => {
                write!(f, "cannot mount on {}: {source}", path.display())
            }
            MountError::NotLive { path, reason } => {
                write!(f, "the mount on {} did not come up: {reason}", path.display())
            }
            MountError::Session(source) => write!(f, "the filesystem session failed: {source}"),
        }
    }
}

impl std::error::Error for MountError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MountError::Inaccessible { source, .. }
            | MountError::Mount { source, .. }
            | MountError::Session(source) => Some(source),
            _ => None,
        }
    }
}

/// A directory fit to mount on: absolute, existing, not a mount yet.
#[derive(Debug)]
pub struct Mountpoint {
    pub path: PathBuf,
    /// The device of the directory before mounting: a different one means live.
    device_before: u64,
    /// Its mode, the root's mode until the filesystem answers.
    mode: u32,
    /// The backing directory, absolute and without symlinks.
    backing: PathBuf,
}

/// Checks that `mountpoint` is an existing directory with nothing mounted on it,
/// apart from `backing`.
pub fn check_mountpoint(mountpoint: &Path, backing: &Path) -> Result<Mountpoint, MountError> {
    let inaccessible = |path: &Path| {
        let path = path.to_path_buf();
        move |source| MountError::Inaccessible { path, source }
    };
    let path = mountinfo::absolute_mount_point(mountpoint).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            MountError::MountpointMissing(mountpoint.to_path_buf())
        } else {
            inaccessible(mountpoint)(e)
        }
    })?;
    let meta = match path.metadata() {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(MountError::MountpointMissing(path))
        }
        Err(e) if is_dead_mount(&e) => return Err(MountError::DeadMount(path)),
        Err(e) => return Err(inaccessible(&path)(e)),
    };
    if !meta.is_dir() {
        return Err(MountError::NotADirectory(path));
    }
    if mountinfo::mount_at(&path)
        .map_err(inaccessible(Path::new("/proc/self/mountinfo")))?
        .is_some()
    {
        // The kernel may answer a stat of a dead FUSE mount from its cache, but
        // an open always reaches the daemon.
        return Err(match std::fs::read_dir(&path) {
            Err(e) if is_dead_mount(&e) => MountError::DeadMount(path),
            _ => MountError::AlreadyMounted(path),
        });
    }
    let backing = backing.canonicalize().map_err(inaccessible(backing))?;
    if path.starts_with(&backing) || backing.starts_with(&path) {
        return Err(MountError::Overlap {
            mountpoint: path,
            backing,
        });
    }
    Ok(Mountpoint {
        path,
        device_before: meta.dev(),
        mode: meta.mode(),
        backing,
    })
}

/// The read-ahead a mount asks for: four `max_read`s (1 MiB each), so that a
/// sequential read comes as 1 MiB requests instead of 128 KiB ones and up
/// to four of them are in flight, decrypted by as many daemon threads; 4 MiB
/// read a cold file faster here than 1, 8 or 16 (docs/PERFORMANCE.md).
/// Random reads are not changed by it.
const READ_AHEAD_KIB: u32 = 4096;

/// Raises the mount's read-ahead when allowed (root); a refusal only costs speed.
fn raise_read_ahead(mountpoint: &Path) {
    if let Err(e) = crate::sys::set_read_ahead_kib(mountpoint, READ_AHEAD_KIB) {
        log::debug!(
            "{}: read-ahead left at the kernel's default: {e}",
            mountpoint.display()
        );
    }
}

/// What the kernel answers on a FUSE mount whose daemon is gone: ENOTCONN, or
/// ECONNABORTED for requests caught in the abort.
fn is_dead_mount(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotConnected | io::ErrorKind::ConnectionAborted
    )
}

/// Mounts `fs` on `mountpoint` and serves it with several threads until it is
/// unmounted (`kmsfs umount`, umount(8), or a termination signal, which
/// unmounts, lazily if busy). `ready` runs once the mount answers; `status`
/// at each SIGUSR1.
///
/// Blocks SIGINT, SIGTERM, SIGHUP and SIGUSR1 in the calling thread; a caller
/// that starts threads before calling this must call [`block_daemon_signals`] first.
pub fn serve<F: Filesystem>(
    fs: F,
    mountpoint: &Path,
    options: &MountOptions,
    ready: ReadySignal,
    status: StatusProbe,
) -> Result<(), MountError> {
    let signals = block_daemon_signals()?;
    let target = check_mountpoint(mountpoint, &options.backing)?;
    let options = &MountOptions {
        backing: target.backing.clone(),
        ..options.clone()
    };
    let session = start_session(fs, &target, options)?;
    log::info!(
        "mounted {} on {}",
        options.backing.display(),
        target.path.display()
    );

    let ended = Arc::new(AtomicBool::new(false));
    let not_live = Arc::new(Mutex::new(None));
    let watcher = {
        let (path, device_before) = (target.path.clone(), target.device_before);
        let (ended, not_live) = (ended.clone(), not_live.clone());
        thread::Builder::new()
            .name("kmsfs-ready".into())
            .spawn(
                move || match wait_until_live(&path, device_before, &ended) {
                    Ok(()) => {
                        raise_read_ahead(&path);
                        (ready.0)()
                    }
                    Err(reason) => {
                        stop(&path);
                        *not_live.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
                    }
                },
            )
            .map_err(|e| unmount_after(&target.path, e))?
    };
    let stopper = {
        let (path, ended) = (target.path.clone(), ended.clone());
        thread::Builder::new()
            .name("kmsfs-signals".into())
            .spawn(move || stop_on_signal(&signals, &path, &ended, &status))
            .map_err(|e| unmount_after(&target.path, e))?
    };

    let result = session.run();
    ended.store(true, Ordering::SeqCst);
    for helper in [watcher, stopper] {
        if helper.join().is_err() {
            log::error!("BUG: a mount helper thread panicked");
        }
    }
    log::info!("unmounted {}", target.path.display());
    if let Some(reason) = not_live.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Err(MountError::NotLive {
            path: target.path,
            reason,
        });
    }
    result.map_err(MountError::Session)
}

/// A session that cannot be served must not stay mounted (fuser does not
/// unmount a mount it did not make).
fn unmount_after(path: &Path, error: io::Error) -> MountError {
    stop(path);
    MountError::Session(error)
}

/// Blocks SIGINT, SIGTERM, SIGHUP and SIGUSR1 in this thread and the threads
/// it starts, so that [`serve`] can turn them into an unmount or a status
/// line. Safe to call again.
pub fn block_daemon_signals() -> Result<DaemonSignals, MountError> {
    DaemonSignals::block().map_err(MountError::Session)
}

/// Mounts and answers the kernel's INIT.
fn start_session<F: Filesystem>(
    fs: F,
    target: &Mountpoint,
    options: &MountOptions,
) -> Result<Session<F>, MountError> {
    let config = session_config(options);
    let mount_error = |source| MountError::Mount {
        path: target.path.clone(),
        source,
    };
    if sys::effective_uid() != 0 {
        // An ordinary user mounts through fusermount3, inside fuser.
        return Session::new(fs, &target.path, &config).map_err(mount_error);
    }
    // Root mounts by itself so that fuser holds no mount handle: fuser 0.18
    // unmounts the path again when its session ends (its liveness probe reads
    // POLLERR backwards), which could take down a newer mount at the same place.
    let device = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .map_err(mount_error)?;
    let data = kernel_mount_data(&device, target, options);
    sys::mount_fuse(
        &fs_name(options),
        &target.path,
        KMSFS_FS_TYPE,
        options.read_only,
        &data,
    )
    .map_err(mount_error)?;
    Session::from_fd(fs, device.into(), config.acl, config).map_err(|source| {
        stop(&target.path);
        mount_error(source)
    })
}

/// The source column of the mount table: `kmsfs:<backing>`.
fn fs_name(options: &MountOptions) -> String {
    format!("kmsfs:{}", options.backing.display())
}

/// The FUSE mount data for mount(2): the device, the root's mode, the mounting
/// user, and the access options.
fn kernel_mount_data(device: &File, target: &Mountpoint, options: &MountOptions) -> String {
    let (uid, gid) = sys::real_ids();
    let mut data = format!(
        "fd={},rootmode={:o},user_id={uid},group_id={gid}",
        device.as_raw_fd(),
        target.mode & FILE_TYPE_AND_PERMISSIONS
    );
    if options.default_permissions {
        data.push_str(",default_permissions");
    }
    if options.allow_other {
        data.push_str(",allow_other");
    }
    data
}

/// The file type and permission bits of a mode (S_IFMT | 07777).
const FILE_TYPE_AND_PERMISSIONS: u32 = 0o177_777;

fn session_config(options: &MountOptions) -> Config {
    let mut mount_options = vec![
        MountOption::FSName(fs_name(options)),
        // As a kernel option: fuser's Subtype only reaches fusermount3, not a
        // direct mount(2) by root; fusermount3 understands this form too.
        MountOption::CUSTOM("subtype=kmsfs".into()),
        MountOption::NoDev,
        MountOption::NoSuid,
    ];
    if options.default_permissions {
        mount_options.push(MountOption::DefaultPermissions);
    }
    if options.read_only {
        mount_options.push(MountOption::RO);
    }
    let mut config = Config::default();
    config.mount_options = mount_options;
    config.acl = if options.allow_other {
        SessionACL::All
    } else {
        SessionACL::Owner
    };
    // Requests block on disk, KMS and audit I/O, not only on the CPU.
    let cpus = thread::available_parallelism().map_or(2, |n| n.get());
    config.n_threads = Some(cpus.clamp(4, 16));
    config.clone_fd = true;
    config
}

/// How long a new mount may take to answer its first stat.
const LIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Waits until a stat of `path` answers from the new filesystem (another device).
fn wait_until_live(path: &Path, device_before: u64, ended: &AtomicBool) -> Result<(), String> {
    let deadline = Instant::now() + LIVE_TIMEOUT;
    loop {
        if ended.load(Ordering::SeqCst) {
            return Err("it was unmounted before it answered".into());
        }
        match path.metadata() {
            Ok(meta) if meta.dev() != device_before => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(format!("stat of the mount point failed: {e}")),
        }
        if Instant::now() > deadline {
            return Err(format!("no answer within {} s", LIVE_TIMEOUT.as_secs()));
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Unmounts at the first termination signal, until the session has ended;
/// logs the status line at each SIGUSR1 (at warning level, so that the
/// default log level shows it).
fn stop_on_signal(signals: &DaemonSignals, path: &Path, ended: &AtomicBool, status: &StatusProbe) {
    let mut stopping = false;
    while !ended.load(Ordering::SeqCst) {
        let Some(signal) = signals.wait(Duration::from_millis(200)) else {
            continue;
        };
        if signal == STATUS_SIGNAL {
            log::warn!("kmsfs status: {}", (status.0)());
            continue;
        }
        if stopping {
            log::warn!("signal {signal}: already unmounting {}", path.display());
            continue;
        }
        log::info!("signal {signal}: unmounting {}", path.display());
        stopping = true;
        stop(path);
    }
}

/// Unmounts `path`; if it is busy, detaches it lazily so that it disappears at once
/// and the session ends when the last open file is closed.
fn stop(path: &Path) {
    match unmount::unmount(path, false) {
        Ok(()) => {}
        Err(unmount::UnmountError::Busy(_)) => {
            log::warn!(
                "{} is busy: detaching it; the daemon exits once the last file is closed",
                path.display()
            );
            if let Err(e) = unmount::unmount(path, true) {
                log::error!("{e}");
            }
        }
        Err(e) => log::error!("{e}"),
    }
}

#[cfg(test)]
mod tests;
