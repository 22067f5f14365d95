//! The FUSE adapter: [`EncryptedFs`] implements `fuser::Filesystem`, each
//! method converting its arguments, calling the core (`fs::ops`) and
//! replying. The only fuser user with `mount`; no logic of its own.

mod convert;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, BsdFileFlags, Errno, FileHandle, Filesystem, FopenFlags, Generation, INodeNo,
    InitFlags, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite,
    ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use crate::kms::Kms;
use crate::volume::Volume;

use super::backing::{self, RenameMode};
use super::caller::Requester;
use super::error::FsError;
use super::mount::StatusProbe;
use super::ops::{FsCore, FsOptions};
use super::types::{Attr, SetAttr};
use convert::{errno, file_attr, file_type, time_set};

/// How long the kernel may keep names and attributes without asking again.
/// kmsfs is the only writer of its backing directory while mounted.
const TTL: Duration = Duration::from_secs(1);
const GENERATION: Generation = Generation(0);
/// How open regular files are served: no FLUSH request at each close(2).
/// kmsfs has nothing to flush (a write reaches the backing file before it is
/// answered) and no error to report there, so the round trip would be empty.
const FILE_OPEN: FopenFlags = FopenFlags::FOPEN_NOFLUSH;

/// A volume served as a FUSE filesystem.
pub struct EncryptedFs {
    core: Arc<FsCore>,
}

impl EncryptedFs {
    /// Serves `volume`, asking `kms` for the data key of each file opened.
    pub fn new(volume: Volume, kms: Kms, options: FsOptions) -> Result<EncryptedFs, FsError> {
        Ok(EncryptedFs {
            core: Arc::new(FsCore::new(volume, kms, options)?),
        })
    }

    /// The daemon's status line (handles, data keys, nodes) for SIGUSR1.
    pub fn status_probe(&self) -> StatusProbe {
        let core = Arc::clone(&self.core);
        StatusProbe::new(move || core.status().to_string())
    }
}

/// Extended attributes are refused: their names and values would have to be
/// encrypted too, and ENOTSUP makes cp, tar and rsync skip them quietly.
/// The daemon answers ENOSYS, which the kernel remembers for the mount and
/// answers as ENOTSUP itself from then on: otherwise every write(2) would cost
/// a GETXATTR round trip first (the kernel's security.capability check).
const NO_XATTRS: Errno = Errno::ENOSYS;

fn requester(req: &Request) -> Requester {
    Requester {
        uid: req.uid(),
        gid: req.gid(),
        pid: req.pid(),
    }
}

/// The errno of `error`, logged for the debugging reader.
fn failed(op: &str, error: &FsError) -> Errno {
    log::debug!("{op}: {error}");
    errno(error)
}

fn reply_entry(op: &str, reply: ReplyEntry, result: Result<Attr, FsError>) {
    match result {
        Ok(attr) => reply.entry(&TTL, &file_attr(&attr), GENERATION),
        Err(e) => reply.error(failed(op, &e)),
    }
}

fn reply_attr(op: &str, reply: ReplyAttr, result: Result<Attr, FsError>) {
    match result {
        Ok(attr) => reply.attr(&TTL, &file_attr(&attr)),
        Err(e) => reply.error(failed(op, &e)),
    }
}

fn reply_empty(op: &str, reply: ReplyEmpty, result: Result<(), FsError>) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(failed(op, &e)),
    }
}

fn reply_opened(op: &str, reply: ReplyOpen, result: Result<u64, FsError>, flags: FopenFlags) {
    match result {
        Ok(fh) => reply.opened(FileHandle(fh), flags),
        Err(e) => reply.error(failed(op, &e)),
    }
}

fn rename_mode(flags: RenameFlags) -> Result<RenameMode, FsError> {
    // As most Linux filesystems answer a flag they do not implement.
    if flags.contains(RenameFlags::RENAME_WHITEOUT) {
        return Err(FsError::Invalid("kmsfs makes no whiteouts"));
    }
    match (
        flags.contains(RenameFlags::RENAME_EXCHANGE),
        flags.contains(RenameFlags::RENAME_NOREPLACE),
    ) {
        (false, false) => Ok(RenameMode::Replace),
        (false, true) => Ok(RenameMode::NoReplace),
        (true, false) => Ok(RenameMode::Exchange),
        (true, true) => Err(FsError::Invalid("RENAME_EXCHANGE with RENAME_NOREPLACE")),
    }
}

impl Filesystem for EncryptedFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // O_TRUNC then comes with the open, which gives the file a fresh key
        // in one request instead of a Decrypt followed by a truncate.
        if let Err(missing) = config.add_capabilities(InitFlags::FUSE_ATOMIC_O_TRUNC) {
            log::warn!("the kernel does not offer {missing:?}: O_TRUNC opens will be two requests");
        }
        // Listings carry attributes: a stat after readdir needs no lookup.
        let plus = InitFlags::FUSE_DO_READDIRPLUS | InitFlags::FUSE_READDIRPLUS_AUTO;
        if let Err(missing) = config.add_capabilities(plus) {
            log::warn!("the kernel does not offer {missing:?}: listings come without attributes");
        }
        // Large files read past the page cache stay mappable (Linux 6.6 on).
        match config.add_capabilities(InitFlags::FUSE_DIRECT_IO_ALLOW_MMAP) {
            Ok(()) => self.core.allow_uncached_reads(),
            Err(missing) => {
                log::info!("the kernel does not offer {missing:?}: every file is read through its page cache")
            }
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        reply_entry("lookup", reply, self.core.lookup(parent.0, name));
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.core.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        reply_attr("getattr", reply, self.core.getattr(ino.0));
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let changes = SetAttr {
            mode,
            uid,
            gid,
            size,
            atime: atime.map(time_set),
            mtime: mtime.map(time_set),
        };
        let fh = fh.map(|fh| fh.0);
        let result = self.core.setattr(&requester(req), ino.0, fh, &changes);
        reply_attr("setattr", reply, result);
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.core.readlink(ino.0) {
            Ok(target) => reply.data(target.as_bytes()),
            Err(e) => reply.error(failed("readlink", &e)),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let result = self
            .core
            .mknod(&requester(req), parent.0, name, mode, umask, rdev.into());
        reply_entry("mknod", reply, result);
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let result = self
            .core
            .mkdir(&requester(req), parent.0, name, mode, umask);
        reply_entry("mkdir", reply, result);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty("unlink", reply, self.core.unlink(parent.0, name));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty("rmdir", reply, self.core.rmdir(parent.0, name));
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let result = self
            .core
            .symlink(&requester(req), parent.0, link_name, target);
        reply_entry("symlink", reply, result);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let result = rename_mode(flags)
            .and_then(|mode| self.core.rename(parent.0, name, newparent.0, newname, mode));
        reply_empty("rename", reply, result);
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply_entry("link", reply, self.core.link(ino.0, newparent.0, newname));
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let flags = backing::OpenFlags::from_raw(flags.0);
        match self.core.open(&requester(req), ino.0, flags) {
            Ok(opened) if opened.uncached => reply.opened(
                FileHandle(opened.handle),
                FILE_OPEN | FopenFlags::FOPEN_DIRECT_IO,
            ),
            Ok(opened) => reply.opened(FileHandle(opened.handle), FILE_OPEN),
            Err(e) => reply.error(failed("open", &e)),
        }
    }

    fn read(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.core.read(&requester(req), fh.0, offset, size) {
            // Plaintext: wiped once fuser has copied it out.
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(failed("read", &e)),
        }
    }

    fn write(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.core.write(&requester(req), fh.0, offset, data) {
            Ok(written) => reply.written(written),
            Err(e) => reply.error(failed("write", &e)),
        }
    }

    /// Only from kernels older than FOPEN_NOFLUSH (Linux 5.16), which ignore it.
    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply_empty("flush", reply, self.core.flush(fh.0));
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty("release", reply, self.core.release(fh.0));
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty("fsync", reply, self.core.fsync(fh.0, datasync));
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let result = self.core.opendir(ino.0);
        reply_opened("opendir", reply, result, FopenFlags::empty());
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let result = self.core.readdir(fh.0, offset, |entry, next| {
            reply.add(INodeNo(entry.id), next, file_type(entry.kind), &entry.name)
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(failed("readdir", &e)),
        }
    }

    fn readdirplus(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let result = self.core.readdirplus(fh.0, offset, |entry, attr, next| {
            let attr_out = file_attr(attr);
            reply.add(
                INodeNo(attr.id),
                next,
                &entry.name,
                &TTL,
                &attr_out,
                GENERATION,
            )
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(failed("readdirplus", &e)),
        }
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        reply_empty("releasedir", reply, self.core.releasedir(fh.0));
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty("fsyncdir", reply, self.core.fsyncdir(ino.0));
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match self.core.statfs() {
            Ok(fs) => reply.statfs(
                fs.stats.blocks,
                fs.stats.blocks_free,
                fs.stats.blocks_available,
                fs.stats.files,
                fs.stats.files_free,
                fs.stats.block_size,
                fs.max_name_len,
                fs.stats.fragment_size,
            ),
            Err(e) => reply.error(failed("statfs", &e)),
        }
    }

    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(NO_XATTRS);
    }

    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        reply.error(NO_XATTRS);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, _size: u32, reply: ReplyXattr) {
        reply.error(NO_XATTRS);
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(NO_XATTRS);
    }

    fn access(&self, req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        let mask = mask.bits() as u32;
        reply_empty(
            "access",
            reply,
            self.core.access(&requester(req), ino.0, mask),
        );
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let flags = backing::OpenFlags::from_raw(flags);
        let result = self
            .core
            .create(&requester(req), parent.0, name, mode, umask, flags);
        match result {
            Ok((attr, fh)) => reply.created(
                &TTL,
                &file_attr(&attr),
                GENERATION,
                FileHandle(fh),
                FILE_OPEN,
            ),
            Err(e) => reply.error(failed("create", &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_flags_choose_the_mode_and_refuse_whiteouts_and_both_at_once() {
        let mode = |flags| rename_mode(flags).map_err(|e| e.to_string());
        assert_eq!(mode(RenameFlags::empty()), Ok(RenameMode::Replace));
        assert_eq!(
            mode(RenameFlags::RENAME_NOREPLACE),
            Ok(RenameMode::NoReplace)
        );
        assert_eq!(mode(RenameFlags::RENAME_EXCHANGE), Ok(RenameMode::Exchange));
        let both = RenameFlags::RENAME_EXCHANGE | RenameFlags::RENAME_NOREPLACE;
        for refused in [RenameFlags::RENAME_WHITEOUT, both] {
            let err = rename_mode(refused).unwrap_err();
            assert_eq!(errno(&err), Errno::EINVAL, "{refused:?}");
        }
    }
}
