//! The backing directory, reached through file descriptors. Each node holds an
//! `O_PATH` descriptor of its backing inode and every operation is relative to
//! one (`openat`, `renameat2`, `linkat`, ...), so a node keeps naming the same
//! backing inode across renames and after it is unlinked. What the `*at` calls
//! cannot do on an `O_PATH` descriptor goes through its `/proc/self/fd/N`
//! link, which the kernel resolves to the inode itself, even a symlink.
//! The only rustix user; must not import fuser, the KMS, or the object and
//! name layers: it moves the bytes and names it is given.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, RenameFlags, Timespec, Timestamps, CWD};
use rustix::process::{self as rproc, Resource};

/// A backing inode: its device and inode number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BackingKey {
    pub dev: u64,
    pub ino: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Directory,
    RegularFile,
    Symlink,
    NamedPipe,
    Socket,
    CharDevice,
    BlockDevice,
}

impl Kind {
    fn from_rustix(file_type: rfs::FileType) -> Option<Kind> {
        Some(match file_type {
            rfs::FileType::Directory => Kind::Directory,
            rfs::FileType::RegularFile => Kind::RegularFile,
            rfs::FileType::Symlink => Kind::Symlink,
            rfs::FileType::Fifo => Kind::NamedPipe,
            rfs::FileType::Socket => Kind::Socket,
            rfs::FileType::CharacterDevice => Kind::CharDevice,
            rfs::FileType::BlockDevice => Kind::BlockDevice,
            rfs::FileType::Unknown => return None,
        })
    }

    fn to_rustix(self) -> rfs::FileType {
        match self {
            Kind::Directory => rfs::FileType::Directory,
            Kind::RegularFile => rfs::FileType::RegularFile,
            Kind::Symlink => rfs::FileType::Symlink,
            Kind::NamedPipe => rfs::FileType::Fifo,
            Kind::Socket => rfs::FileType::Socket,
            Kind::CharDevice => rfs::FileType::CharacterDevice,
            Kind::BlockDevice => rfs::FileType::BlockDevice,
        }
    }

    /// The kind of the file type bits (`S_IFMT`) of a mode.
    pub fn from_mode(mode: u32) -> Option<Kind> {
        Kind::from_rustix(rfs::FileType::from_raw_mode(mode))
    }
}

/// What `stat` says about a backing inode, in plain types.
#[derive(Clone, Copy, Debug)]
pub struct BackingStat {
    pub key: BackingKey,
    pub kind: Kind,
    /// Permission bits with setuid, setgid and sticky (`mode & 0o7777`).
    pub perm: u16,
    pub nlink: u64,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    /// Bytes on disk: ciphertext for a regular file.
    pub size: u64,
    pub blocks: u64,
    pub blksize: u32,
    pub atime: SystemTime,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
}

/// A time to set: the current time or a given one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSet {
    Now,
    At(SystemTime),
}

/// How a rename treats an existing target (renameat2 flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenameMode {
    Replace,
    NoReplace,
    Exchange,
}

/// What an open(2) asks for, from its raw flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenFlags {
    pub writable: bool,
    pub append: bool,
    pub truncate: bool,
    pub exclusive: bool,
}

impl OpenFlags {
    pub fn from_raw(flags: i32) -> OpenFlags {
        let flags = OFlags::from_bits_retain(flags as u32);
        let access = flags & (OFlags::RDONLY | OFlags::WRONLY | OFlags::RDWR);
        OpenFlags {
            writable: access == OFlags::WRONLY || access == OFlags::RDWR,
            append: flags.contains(OFlags::APPEND),
            truncate: flags.contains(OFlags::TRUNC),
            exclusive: flags.contains(OFlags::EXCL),
        }
    }
}

/// Block counts of the backing filesystem (statvfs).
#[derive(Clone, Copy, Debug)]
pub struct FsStats {
    pub blocks: u64,
    pub blocks_free: u64,
    pub blocks_available: u64,
    pub files: u64,
    pub files_free: u64,
    pub block_size: u32,
    pub fragment_size: u32,
}

/// An entry of a backing directory as getdents reports it.
pub struct RawEntry {
    pub name: OsString,
    pub ino: u64,
    /// `None` when the backing filesystem does not report types.
    pub kind: Option<Kind>,
}

const PATH_FLAGS: OFlags = OFlags::PATH.union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

fn system_time(secs: i64, nanos: u64) -> SystemTime {
    let nanos = Duration::from_nanos(nanos);
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs()) + nanos
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + nanos
    }
}

fn timespec(time: Option<TimeSet>) -> Timespec {
    match time {
        None => Timespec {
            tv_sec: 0,
            tv_nsec: rfs::UTIME_OMIT,
        },
        Some(TimeSet::Now) => Timespec {
            tv_sec: 0,
            tv_nsec: rfs::UTIME_NOW,
        },
        Some(TimeSet::At(time)) => match time.duration_since(UNIX_EPOCH) {
            Ok(after) => Timespec {
                tv_sec: after.as_secs() as i64,
                tv_nsec: after.subsec_nanos().into(),
            },
            Err(before) => {
                // Before the epoch: whole seconds down, nanoseconds up.
                let before = before.duration();
                let nanos = before.subsec_nanos();
                let secs = -(before.as_secs() as i64) - i64::from(nanos > 0);
                let tv_nsec = if nanos > 0 { 1_000_000_000 - nanos } else { 0 };
                Timespec {
                    tv_sec: secs,
                    tv_nsec: tv_nsec.into(),
                }
            }
        },
    }
}

/// The `/proc/self/fd/N` link of `fd`.
pub fn proc_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// An `O_PATH` descriptor of the backing root directory.
pub fn open_root(path: &Path) -> io::Result<OwnedFd> {
    Ok(rfs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// An `O_PATH` descriptor of entry `name` of `dir`, not following a symlink.
pub fn open_entry(dir: BorrowedFd<'_>, name: &str) -> io::Result<OwnedFd> {
    Ok(rfs::openat(dir, name, PATH_FLAGS, Mode::empty())?)
}

/// An `O_PATH` descriptor of the inode `file` is open on.
pub fn path_fd_of(file: &File) -> io::Result<OwnedFd> {
    Ok(rfs::open(
        proc_path(std::os::fd::AsFd::as_fd(file)),
        PATH_FLAGS.difference(OFlags::NOFOLLOW),
        Mode::empty(),
    )?)
}

/// `stat` of the inode `fd` names (a symlink itself, not its target).
pub fn stat(fd: BorrowedFd<'_>) -> io::Result<BackingStat> {
    let st = rfs::statat(fd, "", AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW)?;
    let kind = Kind::from_mode(st.st_mode as u32)
        .ok_or_else(|| io::Error::new(io::ErrorKind::Unsupported, "unknown backing file type"))?;
    Ok(BackingStat {
        key: BackingKey {
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
        },
        kind,
        perm: (st.st_mode & 0o7777) as u16,
        nlink: st.st_nlink as u64,
        uid: st.st_uid,
        gid: st.st_gid,
        rdev: st.st_rdev as u64,
        size: st.st_size.max(0) as u64,
        blocks: st.st_blocks.max(0) as u64,
        blksize: u32::try_from(st.st_blksize).unwrap_or(4096),
        atime: system_time(st.st_atime as i64, st.st_atime_nsec as u64),
        mtime: system_time(st.st_mtime as i64, st.st_mtime_nsec as u64),
        ctime: system_time(st.st_ctime as i64, st.st_ctime_nsec as u64),
    })
}

/// Brings the inode of entry `name` of `dir` into the cache (a stat whose
/// answer is not needed).
pub fn read_inode(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}

/// Starts reading the first `len` bytes of regular file `name` of `dir`
/// into the cache, without waiting for them (POSIX_FADV_WILLNEED).
pub fn read_ahead_start(dir: BorrowedFd<'_>, name: &OsStr, len: u64) -> io::Result<()> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NOATIME | OFlags::CLOEXEC;
    let file = File::from(rfs::openat(dir, name, flags, Mode::empty())?);
    crate::sys::will_need(&file, 0, len)
}

/// Opens the regular file `fd` names for reading, and writing if `writable`.
pub fn reopen_file(fd: BorrowedFd<'_>, writable: bool) -> io::Result<File> {
    let access = if writable {
        OFlags::RDWR
    } else {
        OFlags::RDONLY
    };
    let file = rfs::open(proc_path(fd), access | OFlags::CLOEXEC, Mode::empty())?;
    Ok(File::from(file))
}

/// Opens the regular file `fd` names for reading past the page cache
/// (O_DIRECT), or through it where the filesystem does not allow that.
pub fn reopen_uncached(fd: BorrowedFd<'_>) -> io::Result<File> {
    let flags = OFlags::RDONLY | OFlags::CLOEXEC;
    match rfs::open(proc_path(fd), flags | OFlags::DIRECT, Mode::empty()) {
        Err(rustix::io::Errno::INVAL) => reopen_file(fd, false),
        direct => Ok(File::from(direct?)),
    }
}

/// Creates the regular file `name` in `dir` (it must not exist), open read-write.
pub fn create_file(dir: BorrowedFd<'_>, name: &str, perm: u32) -> io::Result<File> {
    let flags = OFlags::CREATE | OFlags::EXCL | OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let file = rfs::openat(dir, name, flags, Mode::from_raw_mode(perm))?;
    Ok(File::from(file))
}

/// The content of the small regular file `name` in `dir`.
pub fn read_small(dir: BorrowedFd<'_>, name: &str) -> io::Result<Vec<u8>> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut file = File::from(rfs::openat(dir, name, flags, Mode::empty())?);
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Writes the new file `name` in `dir` holding `bytes`, read-only for all;
/// keeps an existing file of that name as it is.
pub fn write_small(dir: BorrowedFd<'_>, name: &str, bytes: &[u8]) -> io::Result<()> {
    let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rfs::openat(dir, name, flags, Mode::from_raw_mode(0o444)) {
        Ok(file) => File::from(file).write_all(bytes),
        Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The entries of directory `dir`, without `.` and `..`.
pub fn list_dir(dir: BorrowedFd<'_>) -> io::Result<Vec<RawEntry>> {
    list_dir_opened(dir, OFlags::empty())
}

/// As [`list_dir`], without moving the directory's access time (O_NOATIME:
/// root, or the directory's owner), for reads nobody asked for.
pub fn list_dir_unseen(dir: BorrowedFd<'_>) -> io::Result<Vec<RawEntry>> {
    list_dir_opened(dir, OFlags::NOATIME)
}

fn list_dir_opened(dir: BorrowedFd<'_>, extra: OFlags) -> io::Result<Vec<RawEntry>> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | extra;
    let listing = rfs::Dir::new(rfs::openat(dir, ".", flags, Mode::empty())?)?;
    let mut entries = Vec::new();
    for entry in listing {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        entries.push(RawEntry {
            name: OsString::from_vec(name.to_vec()),
            ino: entry.ino(),
            kind: Kind::from_rustix(entry.file_type()),
        });
    }
    Ok(entries)
}

pub fn make_dir(dir: BorrowedFd<'_>, name: &str, perm: u32) -> io::Result<()> {
    Ok(rfs::mkdirat(dir, name, Mode::from_raw_mode(perm))?)
}

/// Creates a named pipe, socket or device node.
pub fn make_special(
    dir: BorrowedFd<'_>,
    name: &str,
    kind: Kind,
    perm: u32,
    rdev: u64,
) -> io::Result<()> {
    Ok(rfs::mknodat(
        dir,
        name,
        kind.to_rustix(),
        Mode::from_raw_mode(perm),
        rdev,
    )?)
}

pub fn make_symlink(dir: BorrowedFd<'_>, name: &str, target: &str) -> io::Result<()> {
    Ok(rfs::symlinkat(target, dir, name)?)
}

/// The target of the symlink `fd` names.
pub fn read_link(fd: BorrowedFd<'_>) -> io::Result<OsString> {
    let target = rfs::readlinkat(fd, "", Vec::new())?;
    Ok(OsString::from_vec(target.into_bytes()))
}

/// A new hard link `name` in `dir` to the inode `fd` names.
pub fn link(fd: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &str) -> io::Result<()> {
    Ok(rfs::linkat(
        CWD,
        proc_path(fd),
        dir,
        name,
        AtFlags::SYMLINK_FOLLOW,
    )?)
}

pub fn rename(
    old_dir: BorrowedFd<'_>,
    old_name: &str,
    new_dir: BorrowedFd<'_>,
    new_name: &str,
    mode: RenameMode,
) -> io::Result<()> {
    let flags = match mode {
        RenameMode::Replace => RenameFlags::empty(),
        RenameMode::NoReplace => RenameFlags::NOREPLACE,
        RenameMode::Exchange => RenameFlags::EXCHANGE,
    };
    Ok(rfs::renameat_with(
        old_dir, old_name, new_dir, new_name, flags,
    )?)
}

/// Removes entry `name` of `dir`: a directory (which must be empty) if
/// `directory`, else any other kind.
pub fn remove(dir: BorrowedFd<'_>, name: &str, directory: bool) -> io::Result<()> {
    let flags = if directory {
        AtFlags::REMOVEDIR
    } else {
        AtFlags::empty()
    };
    Ok(rfs::unlinkat(dir, name, flags)?)
}

/// Changes the owner and/or group of the inode `fd` names (a symlink itself).
pub fn set_owner(fd: BorrowedFd<'_>, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let uid = uid.map(rfs::Uid::from_raw);
    let gid = gid.map(rfs::Gid::from_raw);
    Ok(rfs::chownat(
        fd,
        "",
        uid,
        gid,
        AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

/// Sets the permission bits (with setuid, setgid, sticky) of the inode `fd`
/// names. Linux has no modes for symlinks: EOPNOTSUPP for one.
pub fn set_mode(fd: BorrowedFd<'_>, perm: u32) -> io::Result<()> {
    Ok(rfs::chmod(
        proc_path(fd),
        Mode::from_raw_mode(perm & 0o7777),
    )?)
}

/// Sets the access and/or modification time of the inode `fd` names.
pub fn set_times(
    fd: BorrowedFd<'_>,
    atime: Option<TimeSet>,
    mtime: Option<TimeSet>,
) -> io::Result<()> {
    let times = Timestamps {
        last_access: timespec(atime),
        last_modification: timespec(mtime),
    };
    Ok(rfs::utimensat(
        CWD,
        proc_path(fd),
        &times,
        AtFlags::empty(),
    )?)
}

/// statvfs of the filesystem holding the inode `fd` names.
pub fn fs_stats(fd: BorrowedFd<'_>) -> io::Result<FsStats> {
    let st = rfs::fstatvfs(fd)?;
    Ok(FsStats {
        blocks: st.f_blocks,
        blocks_free: st.f_bfree,
        blocks_available: st.f_bavail,
        files: st.f_files,
        files_free: st.f_ffree,
        block_size: u32::try_from(st.f_bsize).unwrap_or(4096),
        fragment_size: u32::try_from(st.f_frsize).unwrap_or(4096),
    })
}

/// fsync of the directory `dir` names.
pub fn sync_dir(dir: BorrowedFd<'_>) -> io::Result<()> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    Ok(rfs::fsync(rfs::openat(dir, ".", flags, Mode::empty())?)?)
}

/// Whether this process runs as root (and so can give files to their users).
pub fn running_as_root() -> bool {
    rproc::geteuid().is_root()
}

/// Raises the limit of open files as far as allowed: a mounted volume holds
/// one descriptor per inode the kernel knows. Root may go up to the system's
/// `fs.nr_open`; others up to their hard limit.
pub fn raise_open_file_limit() -> io::Result<()> {
    let hard = rproc::getrlimit(Resource::Nofile).maximum;
    let system = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok());
    let wanted = match (hard, system) {
        (Some(hard), Some(system)) => Some(hard.max(system)),
        (hard, _) => hard,
    };
    let raise = |limit| {
        rproc::setrlimit(
            Resource::Nofile,
            rproc::Rlimit {
                current: limit,
                maximum: limit,
            },
        )
    };
    // Beyond the hard limit needs privilege; without it, the hard limit.
    Ok(raise(wanted).or_else(|_| raise(hard))?)
}
