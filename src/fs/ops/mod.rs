//! The filesystem without FUSE: every operation of a mounted volume, on node
//! ids and handle numbers, returning `Result<T, FsError>`. Split by family:
//! `dir` (lookup, listing, mkdir, mknod, unlink, rmdir, rename), `file`
//! (create, open, read, write, truncate, sync, release), `keys` (their KMS
//! requests and integrity records), `attr` (getattr, setattr, statfs,
//! access), `link` (symlinks and hard links), `status` (what the daemon
//! holds, for its SIGUSR1 status line).
//!
//! Locking: the inode and handle tables lock for a map operation only; a
//! file's read/write lock is held across its object's crypto and I/O and
//! never across a KMS request; the KMS mutex is held for the KMS call alone.
//! Namespace changes (create, unlink, rename, ...) of one directory are
//! serialized by the kernel, which holds the directory's lock around them.
//! Must not import fuser.

mod attr;
mod dir;
mod file;
mod keys;
mod link;
mod status;
#[cfg(test)]
mod tests;

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::crypto::{random_bytes, DataKey, NameKey};
use crate::format::object::FIXED_LEN;
use crate::kms::{Kms, KmsError};
use crate::object::layout::Layout;
use crate::object::ObjectError;
use crate::volume::names::{self, CipherName, DirId};
use crate::volume::Volume;

use super::backing::{self, BackingStat, Kind, RenameMode};
use super::caller::Requester;
use super::error::FsError;
use super::handle::HandleTable;
use super::inode::{InodeTable, NodeId};
use super::node::Node;
use super::prefetch::Prefetcher;
use super::types::Attr;

pub use dir::OpenDir;
pub use file::OpenFile;

/// A new entry made under a temporary name of its directory, to be moved
/// into place whole (see `FsCore::publish_entry`).
struct PreparedEntry<'a> {
    temp: &'a str,
    fd: BorrowedFd<'a>,
    perm: u32,
}

/// How a volume is served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FsOptions {
    /// Refuse every change (EROFS), as the `ro` mount option.
    pub read_only: bool,
}

pub struct FsCore {
    volume: Volume,
    kms: Mutex<Kms>,
    nodes: InodeTable<Node>,
    files: HandleTable<OpenFile>,
    dirs: HandleTable<OpenDir>,
    options: FsOptions,
    /// Only root can give new files to their creators.
    as_root: bool,
    /// The chunk layout of this volume's objects: stat maps a size on disk
    /// to the plaintext size with it, without reading the object's header.
    usual_layout: Layout,
    /// Reads the subdirectories a listing shows ahead of a walk into them.
    prefetch: Prefetcher,
    /// Whether the kernel lets files be read past its page cache and still
    /// be mapped shared (FUSE_DIRECT_IO_ALLOW_MMAP), set once it says so.
    uncached_reads: AtomicBool,
}

impl FsCore {
    pub fn new(volume: Volume, kms: Kms, options: FsOptions) -> Result<FsCore, FsError> {
        if let Err(e) = backing::raise_open_file_limit() {
            log::warn!("cannot raise the open file limit: {e}");
        }
        let root_fd = backing::open_root(volume.root())?;
        let stat = backing::stat(root_fd.as_fd())?;
        if stat.kind != Kind::Directory {
            return Err(FsError::NotDirectory);
        }
        let root = Node::new(root_fd, stat.key, Kind::Directory, None, OsString::new());
        // A volume without its root directory id cannot name anything.
        root.dir_id()?;
        let config = volume.config();
        // Every object of the volume has this layout: its header wraps a data
        // key under the volume's key, as the config wraps the (longer) name key.
        let wrapped_dek_len =
            config.wrapped_name_key.len().saturating_sub(NameKey::LEN) + DataKey::LEN;
        let usual_layout = Layout::new(
            (FIXED_LEN + wrapped_dek_len) as u64,
            config.cipher,
            config.chunk_size,
        );
        Ok(FsCore {
            usual_layout,
            volume,
            kms: Mutex::new(kms),
            nodes: InodeTable::new(stat.key, root),
            files: HandleTable::new(),
            dirs: HandleTable::new(),
            options,
            as_root: backing::running_as_root(),
            prefetch: Prefetcher::start(),
            uncached_reads: AtomicBool::new(false),
        })
    }

    fn node(&self, id: NodeId) -> Result<Arc<Node>, FsError> {
        self.nodes.get(id).ok_or(FsError::NotFound)
    }

    /// Node `id`, which must be a directory, and its directory id.
    fn dir(&self, id: NodeId) -> Result<(Arc<Node>, DirId), FsError> {
        let node = self.node(id)?;
        if node.kind() != Kind::Directory {
            return Err(FsError::NotDirectory);
        }
        let dir_id = node.dir_id()?;
        Ok((node, dir_id))
    }

    fn cipher_name(&self, dir_id: &DirId, name: &OsStr) -> Result<CipherName, FsError> {
        Ok(names::encrypt_name(self.volume.name_key(), dir_id, name)?)
    }

    /// Lets large files opened read-only be read past the kernel's page
    /// cache: for a kernel that maps such files shared all the same.
    pub fn allow_uncached_reads(&self) {
        self.uncached_reads.store(true, Ordering::Relaxed);
    }

    fn check_writable(&self) -> Result<(), FsError> {
        if self.options.read_only {
            return Err(FsError::ReadOnly);
        }
        Ok(())
    }

    /// Runs one KMS request, holding the KMS for that call only.
    fn kms<T>(&self, request: impl FnOnce(&Kms) -> Result<T, KmsError>) -> Result<T, FsError> {
        let kms = self.kms.lock().unwrap_or_else(|e| e.into_inner());
        request(&kms).map_err(FsError::Kms)
    }

    /// Counts a lookup of the backing inode `fd` (an `O_PATH` descriptor),
    /// found as `name` in `dir`, and returns its node and attributes.
    fn remember(
        &self,
        dir: &Arc<Node>,
        name: &OsStr,
        fd: OwnedFd,
    ) -> Result<(Arc<Node>, Attr), FsError> {
        let stat = backing::stat(fd.as_fd())?;
        let candidate = Node::new(
            fd,
            stat.key,
            stat.kind,
            Some(Arc::clone(dir)),
            name.to_os_string(),
        );
        let (id, node) = self.nodes.remember(stat.key, candidate);
        // Found again (another hard link, or after a rename): that is its name now.
        node.move_to(dir, name);
        let attr = self.attr_of(id, &node, &stat)?;
        Ok((node, attr))
    }

    /// Moves an entry prepared under a temporary name of `dir` (whose stat is
    /// `dir_stat`) into place as `cipher`, after giving it to the requester
    /// with its mode; fails rather than replace an entry of that name.
    fn publish_entry(
        &self,
        req: &Requester,
        dir: &Node,
        dir_stat: &BackingStat,
        entry: PreparedEntry<'_>,
        cipher: &CipherName,
    ) -> Result<(), FsError> {
        self.give_to_requester(req, dir_stat, entry.fd)?;
        backing::set_mode(entry.fd, entry.perm)?;
        self.write_sidecar(dir, cipher)?;
        backing::rename(
            dir.fd(),
            entry.temp,
            dir.fd(),
            cipher.entry(),
            RenameMode::NoReplace,
        )?;
        Ok(())
    }

    /// Gives the new backing inode `fd`, made by the daemon in `dir`, to the
    /// requester, as creating it themselves would have: their uid, and their
    /// gid unless `dir` is set-group-id (then the backing filesystem already
    /// gave it the directory's group).
    fn give_to_requester(
        &self,
        req: &Requester,
        dir: &BackingStat,
        fd: BorrowedFd<'_>,
    ) -> Result<(), FsError> {
        if !self.as_root {
            return Ok(());
        }
        let gid = (dir.perm & SET_GID == 0).then_some(req.gid);
        backing::set_owner(fd, Some(req.uid), gid)?;
        Ok(())
    }

    /// Writes the sidecar of a long name before its entry is created.
    fn write_sidecar(&self, dir: &Node, cipher: &CipherName) -> Result<(), FsError> {
        if let Some((sidecar, full)) = cipher.sidecar() {
            backing::write_small(dir.fd(), &sidecar, full.as_bytes())?;
        }
        Ok(())
    }

    /// Removes the sidecar of a long name whose entry is gone from `dir`.
    fn remove_sidecar(&self, dir: &Node, cipher: &CipherName) {
        let Some((sidecar, _)) = cipher.sidecar() else {
            return;
        };
        match backing::open_entry(dir.fd(), cipher.entry()) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Err(e) = backing::remove(dir.fd(), &sidecar, false) {
                    log::warn!("cannot remove the long name sidecar {sidecar}: {e}");
                }
            }
            // Still there (a rename onto another link of the same file).
            _ => {}
        }
    }
}

/// The set-group-id bit of a mode.
const SET_GID: u16 = 0o2000;

/// A fresh name for an entry being prepared in a backing directory before it
/// is renamed into place: kmsfs's own (hidden), and unique.
fn temp_name() -> Result<String, FsError> {
    let mut random = [0u8; 12];
    random_bytes(&mut random).map_err(|e| FsError::Object(ObjectError::Random(e)))?;
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("kmsfs.tmp.{hex}"))
}

/// The permission bits a create asks for: `mode` without the `umask` bits.
fn requested_perm(mode: u32, umask: u32) -> u32 {
    mode & !umask & 0o7777
}
