//! Directories and names: lookup, listings, mkdir, mknod, unlink, rmdir and
//! rename. Each plaintext name is one backing entry named by its encryption
//! under the parent's directory id, so a rename re-encrypts the one name it
//! moves; a directory's own entries keep their names (its id moves with it).

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, Mutex};

use crate::fs::backing::{self, BackingKey, Kind, RenameMode};
use crate::fs::caller::Requester;
use crate::fs::error::FsError;
use crate::fs::handle::HandleId;
use crate::fs::inode::NodeId;
use crate::fs::node::Node;
use crate::fs::types::{Attr, DirEntry};
use crate::volume::names::{self, CipherName, DirId, DIR_ID_FILE};

use super::{requested_perm, temp_name, FsCore, PreparedEntry, SET_GID};

/// An open directory: the listing its readdir calls page through, read
/// again from the start at offset 0.
pub struct OpenDir {
    node: Arc<Node>,
    id: NodeId,
    entries: Mutex<Arc<Vec<DirEntry>>>,
}

impl FsCore {
    pub fn lookup(&self, parent: NodeId, name: &OsStr) -> Result<Attr, FsError> {
        let (dir, dir_id) = self.dir(parent)?;
        let cipher = self.cipher_name(&dir_id, name)?;
        let fd = backing::open_entry(dir.fd(), cipher.entry())?;
        Ok(self.remember(&dir, name, fd)?.1)
    }

    /// The kernel dropped `count` lookups of node `id`.
    pub fn forget(&self, id: NodeId, count: u64) {
        self.nodes.forget(id, count);
    }

    pub fn opendir(&self, id: NodeId) -> Result<HandleId, FsError> {
        let (node, _) = self.dir(id)?;
        Ok(self.dirs.insert(OpenDir {
            node,
            id,
            entries: Mutex::new(Arc::new(Vec::new())),
        }))
    }

    /// Hands the entries of listing `fh` from `offset` on to `add`, each with
    /// the offset of the entry after it, until `add` says the reply is full
    /// (that entry did not fit: the kernel asks again from its offset).
    pub fn readdir(
        &self,
        fh: HandleId,
        offset: u64,
        mut add: impl FnMut(&DirEntry, u64) -> bool,
    ) -> Result<(), FsError> {
        let handle = self.dirs.get(fh).ok_or(FsError::BadHandle)?;
        let entries = {
            let mut entries = handle.entries.lock().unwrap_or_else(|e| e.into_inner());
            if offset == 0 {
                *entries = Arc::new(self.list(handle.id, &handle.node)?);
            }
            Arc::clone(&entries)
        };
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        for (index, entry) in entries.iter().enumerate().skip(start) {
            if add(entry, index as u64 + 1) {
                break;
            }
        }
        Ok(())
    }

    /// As [`FsCore::readdir`], each entry with its attributes, so that a
    /// listing followed by a stat of every entry (`ls -l`, `find`, `git
    /// status`) is one request per page instead of one per entry. Every entry
    /// but `.` and `..` counts as a lookup of its node, which the kernel
    /// forgets later; the entry that did not fit is not counted. An entry
    /// gone since the listing was read is left out; another failure ends the
    /// page before that entry, or is the answer if it is the first.
    pub fn readdirplus(
        &self,
        fh: HandleId,
        offset: u64,
        mut add: impl FnMut(&DirEntry, &Attr, u64) -> bool,
    ) -> Result<(), FsError> {
        let dir_node = Arc::clone(&self.dirs.get(fh).ok_or(FsError::BadHandle)?.node);
        let mut added = false;
        let mut failure = None;
        self.readdir(fh, offset, |entry, next| {
            let counted = !matches!(entry.name.as_bytes(), b"." | b"..");
            let attr = if counted {
                self.lookup_listed(&dir_node, entry)
            } else {
                self.getattr(entry.id)
            };
            match attr {
                Ok(attr) => {
                    let full = add(entry, &attr, next);
                    if full && counted {
                        self.forget(attr.id, 1);
                    }
                    added |= !full;
                    full
                }
                Err(e) if e.is_not_found() => false,
                Err(e) => {
                    failure = Some(e);
                    true
                }
            }
        })?;
        match failure {
            Some(e) if !added => Err(e),
            _ => Ok(()),
        }
    }

    /// [`FsCore::lookup`] of `entry` of a listing of `dir_node`: straight
    /// from the entry's node when the listing found one that still goes by
    /// that name and is linked, without opening the entry again (a warm `ls
    /// -l` or `git status` asks this of every entry); else by the backing
    /// entry the listing read, without encrypting the name again. Like the
    /// listing itself, this is as of the listing.
    fn lookup_listed(&self, dir_node: &Arc<Node>, entry: &DirEntry) -> Result<Attr, FsError> {
        let key = BackingKey {
            dev: dir_node.key().dev,
            ino: entry.ino,
        };
        if let Some(node) = self.nodes.count_lookup(entry.id, &key) {
            if node.is_named(dir_node, &entry.name) {
                if let Ok(attr) = self.attr(entry.id, &node) {
                    if attr.nlink > 0 {
                        return Ok(attr);
                    }
                }
            }
            self.forget(entry.id, 1);
        }
        let fd = backing::open_entry(dir_node.fd(), &entry.entry)?;
        Ok(self.remember(dir_node, &entry.name, fd)?.1)
    }

    pub fn releasedir(&self, fh: HandleId) -> Result<(), FsError> {
        self.dirs.remove(fh).map(|_| ()).ok_or(FsError::BadHandle)
    }

    pub fn fsyncdir(&self, id: NodeId) -> Result<(), FsError> {
        backing::sync_dir(self.node(id)?.fd())?;
        Ok(())
    }

    /// The plaintext listing of directory `dir` (node `id`): `.`, `..`, and
    /// each backing entry that decrypts, without kmsfs's own files. An entry
    /// that does not decrypt (a foreign file) is left out and logged.
    fn list(&self, id: NodeId, dir: &Arc<Node>) -> Result<Vec<DirEntry>, FsError> {
        let dir_id = dir.dir_id()?;
        let parent_id = dir
            .parent()
            .and_then(|parent| self.nodes.id_of(&parent.key()))
            .unwrap_or(id);
        let mut entries = vec![
            DirEntry {
                id,
                kind: Kind::Directory,
                name: OsString::from("."),
                ino: dir.key().ino,
                entry: String::new(),
            },
            DirEntry {
                id: parent_id,
                kind: Kind::Directory,
                name: OsString::from(".."),
                ino: dir
                    .parent()
                    .map_or(dir.key().ino, |parent| parent.key().ino),
                entry: String::new(),
            },
        ];
        let mut unknown_subdirs = Vec::new();
        for raw in backing::list_dir(dir.fd())? {
            if names::is_internal_name(&raw.name) {
                continue;
            }
            let Some(name) = self.plain_name(dir, &dir_id, &raw.name) else {
                continue;
            };
            let kind = match raw.kind {
                Some(kind) => kind,
                None => match self.entry_kind(dir, &raw.name) {
                    Some(kind) => kind,
                    None => continue,
                },
            };
            let key = BackingKey {
                dev: dir.key().dev,
                ino: raw.ino,
            };
            let id = match self.nodes.id_of(&key) {
                Some(id) => id,
                None => {
                    if kind == Kind::Directory {
                        // Not known yet: most likely not in the cache either.
                        unknown_subdirs.push(raw.name.clone());
                    }
                    raw.ino
                }
            };
            entries.push(DirEntry {
                id,
                kind,
                name,
                ino: raw.ino,
                // Decrypted, so it is one of the volume's (ASCII) names.
                entry: raw.name.to_string_lossy().into_owned(),
            });
        }
        self.prefetch.subdirectories(dir, unknown_subdirs);
        Ok(entries)
    }

    /// The plaintext name of backing entry `cipher_entry` of `dir`, or `None`
    /// (logged) if it is not one of this volume's names.
    fn plain_name(&self, dir: &Node, dir_id: &DirId, cipher_entry: &OsStr) -> Option<OsString> {
        let decrypted = cipher_entry
            .to_str()
            .ok_or(names::NameError::NotEncrypted)
            .and_then(|entry| {
                names::decrypt_name(self.volume.name_key(), dir_id, entry, |sidecar| {
                    let bytes = backing::read_small(dir.fd(), sidecar)?;
                    String::from_utf8(bytes)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
                })
            });
        match decrypted {
            Ok(name) => Some(name),
            Err(e) => {
                log::warn!(
                    "{}: skipping backing entry {cipher_entry:?}: {e}",
                    dir.path()
                );
                None
            }
        }
    }

    /// The kind of an entry whose type getdents did not report.
    fn entry_kind(&self, dir: &Node, cipher_entry: &OsStr) -> Option<Kind> {
        let fd = backing::open_entry(dir.fd(), cipher_entry.to_str()?).ok()?;
        backing::stat(fd.as_fd()).ok().map(|stat| stat.kind)
    }

    pub fn mkdir(
        &self,
        req: &Requester,
        parent: NodeId,
        name: &OsStr,
        mode: u32,
        umask: u32,
    ) -> Result<Attr, FsError> {
        self.check_writable()?;
        let (dir, dir_id) = self.dir(parent)?;
        let cipher = self.cipher_name(&dir_id, name)?;
        let dir_stat = backing::stat(dir.fd())?;
        let mut perm = requested_perm(mode, umask);
        if dir_stat.perm & SET_GID != 0 {
            // A set-group-id directory passes the bit on to its subdirectories.
            perm |= u32::from(SET_GID);
        }
        // Prepared under a temporary name, so the name never shows a
        // directory without its id.
        let temp = temp_name()?;
        backing::make_dir(dir.fd(), &temp, 0o700)?;
        let placed = (|| -> Result<OwnedFd, FsError> {
            let fd = backing::open_entry(dir.fd(), &temp)?;
            DirId::create_in(&backing::proc_path(fd.as_fd()))?;
            let entry = PreparedEntry {
                temp: &temp,
                fd: fd.as_fd(),
                perm,
            };
            self.publish_entry(req, &dir, &dir_stat, entry, &cipher)?;
            Ok(fd)
        })();
        match placed {
            Ok(fd) => Ok(self.remember(&dir, name, fd)?.1),
            Err(e) => {
                if let Err(cleanup) = self.remove_backing_dir(&dir, &temp) {
                    log::warn!("cannot remove the unfinished directory {temp}: {cleanup}");
                }
                Err(e)
            }
        }
    }

    /// Creates a regular file (with its header and key, not opened), a named
    /// pipe, a socket or a device node.
    pub fn mknod(
        &self,
        req: &Requester,
        parent: NodeId,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u64,
    ) -> Result<Attr, FsError> {
        self.check_writable()?;
        let (dir, dir_id) = self.dir(parent)?;
        let cipher = self.cipher_name(&dir_id, name)?;
        let perm = requested_perm(mode, umask);
        let fd = match Kind::from_mode(mode) {
            Some(Kind::RegularFile) => {
                let content = self.fresh_content(req, &dir.child_path(name))?;
                let file = self.place_object(req, &dir, &cipher, &content, perm)?;
                backing::path_fd_of(&file)?
            }
            Some(
                kind @ (Kind::NamedPipe | Kind::Socket | Kind::CharDevice | Kind::BlockDevice),
            ) => {
                let dir_stat = backing::stat(dir.fd())?;
                self.write_sidecar(&dir, &cipher)?;
                backing::make_special(dir.fd(), cipher.entry(), kind, perm, rdev)?;
                let fd = backing::open_entry(dir.fd(), cipher.entry())?;
                self.give_to_requester(req, &dir_stat, fd.as_fd())?;
                // The daemon's umask applied to the node it made.
                backing::set_mode(fd.as_fd(), perm)?;
                fd
            }
            _ => {
                return Err(FsError::Invalid(
                    "mknod makes files, pipes, sockets and devices",
                ))
            }
        };
        Ok(self.remember(&dir, name, fd)?.1)
    }

    pub fn unlink(&self, parent: NodeId, name: &OsStr) -> Result<(), FsError> {
        self.check_writable()?;
        let (dir, dir_id) = self.dir(parent)?;
        let cipher = self.cipher_name(&dir_id, name)?;
        // A node still open keeps its backing inode through its descriptors.
        backing::remove(dir.fd(), cipher.entry(), false)?;
        self.remove_sidecar(&dir, &cipher);
        Ok(())
    }

    pub fn rmdir(&self, parent: NodeId, name: &OsStr) -> Result<(), FsError> {
        self.check_writable()?;
        let (dir, dir_id) = self.dir(parent)?;
        let cipher = self.cipher_name(&dir_id, name)?;
        self.remove_backing_dir(&dir, cipher.entry())?;
        self.remove_sidecar(&dir, &cipher);
        Ok(())
    }

    /// Removes the backing directory `entry` of `parent` if it holds no
    /// volume entry: kmsfs's own files go first, its id last, and the id is
    /// put back if the directory cannot be removed after all.
    fn remove_backing_dir(&self, parent: &Node, entry: &str) -> Result<(), FsError> {
        let fd = backing::open_entry(parent.fd(), entry)?;
        if backing::stat(fd.as_fd())?.kind != Kind::Directory {
            return Err(FsError::NotDirectory);
        }
        let entries = backing::list_dir(fd.as_fd())?;
        if entries.iter().any(|e| !names::is_internal_name(&e.name)) {
            return Err(FsError::NotEmpty);
        }
        let dir_id = backing::read_small(fd.as_fd(), DIR_ID_FILE).ok();
        for internal in &entries {
            let Some(name) = internal.name.to_str() else {
                continue;
            };
            if name == DIR_ID_FILE {
                continue;
            }
            match internal.kind {
                // A directory left by an interrupted mkdir.
                Some(Kind::Directory) => self.remove_leftover_dir(fd.as_fd(), name),
                _ => backing::remove(fd.as_fd(), name, false),
            }
            .or_else(ignore_missing)?;
        }
        backing::remove(fd.as_fd(), DIR_ID_FILE, false).or_else(ignore_missing)?;
        if let Err(e) = backing::remove(parent.fd(), entry, true) {
            if let Some(id) = dir_id {
                if let Err(restore) = backing::write_small(fd.as_fd(), DIR_ID_FILE, &id) {
                    log::error!("{}: cannot restore {DIR_ID_FILE}: {restore}", parent.path());
                }
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// Removes a leftover temporary directory holding only kmsfs files.
    fn remove_leftover_dir(&self, dir: std::os::fd::BorrowedFd<'_>, name: &str) -> io::Result<()> {
        let fd = backing::open_entry(dir, name)?;
        for inner in backing::list_dir(fd.as_fd())? {
            if let Some(inner) = inner.name.to_str() {
                if names::is_internal_name(OsStr::new(inner)) {
                    backing::remove(fd.as_fd(), inner, false)?;
                }
            }
        }
        backing::remove(dir, name, true)
    }

    pub fn rename(
        &self,
        parent: NodeId,
        name: &OsStr,
        new_parent: NodeId,
        new_name: &OsStr,
        mode: RenameMode,
    ) -> Result<(), FsError> {
        self.check_writable()?;
        let (from_dir, from_dir_id) = self.dir(parent)?;
        let (to_dir, to_dir_id) = self.dir(new_parent)?;
        let from = self.cipher_name(&from_dir_id, name)?;
        let to = self.cipher_name(&to_dir_id, new_name)?;
        if mode == RenameMode::Replace {
            self.clear_directory_target(&from_dir, &from, &to_dir, &to)?;
        }
        self.write_sidecar(&to_dir, &to)?;
        backing::rename(from_dir.fd(), from.entry(), to_dir.fd(), to.entry(), mode)?;
        self.note_place(&to_dir, &to, new_name);
        if mode == RenameMode::Exchange {
            // Both names stay; each now names the other's inode.
            self.note_place(&from_dir, &from, name);
        } else {
            self.remove_sidecar(&from_dir, &from);
        }
        Ok(())
    }

    /// A directory may replace an empty directory; a backing directory is
    /// never empty (its id), so an empty target is removed first.
    fn clear_directory_target(
        &self,
        from_dir: &Node,
        from: &CipherName,
        to_dir: &Node,
        to: &CipherName,
    ) -> Result<(), FsError> {
        let kind_of =
            |dir: &Node, cipher: &CipherName| -> Result<Option<(Kind, BackingKey)>, FsError> {
                match backing::open_entry(dir.fd(), cipher.entry()) {
                    Ok(fd) => {
                        let stat = backing::stat(fd.as_fd())?;
                        Ok(Some((stat.kind, stat.key)))
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e.into()),
                }
            };
        let Some((Kind::Directory, source)) = kind_of(from_dir, from)? else {
            return Ok(());
        };
        match kind_of(to_dir, to)? {
            Some((Kind::Directory, target)) if target != source => {
                self.remove_backing_dir(to_dir, to.entry())
            }
            _ => Ok(()),
        }
    }

    /// Records where the node now at `cipher` in `dir` lives, if the kernel knows it.
    fn note_place(&self, dir: &Arc<Node>, cipher: &CipherName, name: &OsStr) {
        let Ok(fd) = backing::open_entry(dir.fd(), cipher.entry()) else {
            return;
        };
        let Ok(stat) = backing::stat(fd.as_fd()) else {
            return;
        };
        if let Some(node) = self
            .nodes
            .id_of(&stat.key)
            .and_then(|id| self.nodes.get(id))
        {
            node.move_to(dir, name);
        }
    }
}

fn ignore_missing(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}
