//! A node: one backing inode the kernel knows, and what kmsfs keeps about it:
//! its `O_PATH` descriptor, its kind, its last known place in the plaintext
//! tree (the path audit records show), a directory's id, and a regular file's
//! open state behind the read/write lock that serializes its writes.
//! Must not import fuser or the KMS.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::crypto::ContentKey;
use crate::object::layout::Layout;
use crate::object::ObjectHeader;
use crate::volume::names::{DirId, NameError};

use super::backing::{self, BackingKey, Kind};

pub struct Node {
    fd: OwnedFd,
    key: BackingKey,
    kind: Kind,
    place: Mutex<Place>,
    dir_id: OnceLock<DirId>,
    state: RwLock<FileState>,
    /// A directory whose files' starts were read ahead (`fs::prefetch`).
    files_read_ahead: AtomicBool,
}

/// Where the node was last seen: the root has no parent.
struct Place {
    parent: Option<Arc<Node>>,
    name: OsString,
}

/// A regular file's state. Reads of the object hold the read lock, writes and
/// truncates the write lock (the object layer needs writes to be alone).
/// Invariant: `handles > 0` implies `open.is_some()`.
#[derive(Default)]
pub struct FileState {
    /// The header and prepared data key, while handles are open.
    pub open: Option<OpenContent>,
    /// Open handles of this file.
    pub handles: usize,
    /// The chunk layout from the header: maps the size on disk to the
    /// plaintext size without reading the header again.
    pub layout: Option<Layout>,
    /// Counts the times the state was taken for a change (a write, a
    /// truncate, a new key, an open or a release): what was read ahead at an
    /// older generation may be out of date.
    pub generation: u64,
}

/// An object's header and its unwrapped, prepared data key.
pub struct OpenContent {
    pub header: ObjectHeader,
    pub key: ContentKey,
}

impl FileState {
    /// Makes `content` the file's current header and key (for this and every
    /// other open handle).
    pub fn install(&mut self, content: OpenContent) {
        self.layout = Some(Layout::for_header(&content.header));
        self.open = Some(content);
    }

    /// The content every open handle uses.
    pub fn content(&self) -> &OpenContent {
        self.open
            .as_ref()
            .expect("BUG: an open handle on a file without its data key")
    }
}

impl Node {
    /// The node of the backing inode `fd` (an `O_PATH` descriptor) whose key
    /// and kind are given, found as `name` in `parent` (`None` for the root).
    pub fn new(
        fd: OwnedFd,
        key: BackingKey,
        kind: Kind,
        parent: Option<Arc<Node>>,
        name: OsString,
    ) -> Node {
        Node {
            fd,
            key,
            kind,
            place: Mutex::new(Place { parent, name }),
            dir_id: OnceLock::new(),
            state: RwLock::new(FileState::default()),
            files_read_ahead: AtomicBool::new(false),
        }
    }

    /// Whether this is the first call for this directory: its files are then
    /// read ahead, once per node.
    pub fn first_to_read_files_ahead(&self) -> bool {
        !self.files_read_ahead.swap(true, Ordering::Relaxed)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn key(&self) -> BackingKey {
        self.key
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    fn place(&self) -> std::sync::MutexGuard<'_, Place> {
        // A place is two fields replaced together: never half-written.
        self.place.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that the node is now `name` in `parent` (rename, or found
    /// through another hard link).
    pub fn move_to(&self, parent: &Arc<Node>, name: &OsStr) {
        let mut place = self.place();
        place.parent = Some(Arc::clone(parent));
        place.name = name.to_os_string();
    }

    /// Whether the node was last seen as `name` in `parent`.
    pub fn is_named(&self, parent: &Node, name: &OsStr) -> bool {
        let place = self.place();
        place.name == name
            && place
                .parent
                .as_deref()
                .is_some_and(|p| std::ptr::eq(p, parent))
    }

    pub fn parent(&self) -> Option<Arc<Node>> {
        self.place().parent.clone()
    }

    /// The path inside the volume where the node was last seen: `/` for the
    /// root, else `/dir/name` (not valid UTF-8 bytes replaced).
    pub fn path(&self) -> String {
        let mut names = Vec::new();
        let (mut parent, name) = {
            let place = self.place();
            (place.parent.clone(), place.name.clone())
        };
        if parent.is_some() {
            names.push(name);
        }
        while let Some(node) = parent {
            let (next, name) = {
                let place = node.place();
                (place.parent.clone(), place.name.clone())
            };
            if next.is_some() {
                names.push(name);
            }
            parent = next;
        }
        let mut path = String::new();
        for name in names.iter().rev() {
            path.push('/');
            path.push_str(&name.to_string_lossy());
        }
        if path.is_empty() {
            path.push('/');
        }
        path
    }

    /// The path a child `name` of this directory has.
    pub fn child_path(&self, name: &OsStr) -> String {
        let mut path = self.path();
        if !path.ends_with('/') {
            path.push('/');
        }
        path.push_str(&name.to_string_lossy());
        path
    }

    /// This directory's id, read once (`DirId::read_in`: the copy in its
    /// attribute, else its `kmsfs.dirid`).
    pub fn dir_id(&self) -> Result<DirId, NameError> {
        if let Some(id) = self.dir_id.get() {
            return Ok(*id);
        }
        let id = DirId::read_in(&backing::proc_path(self.fd()))?;
        Ok(*self.dir_id.get_or_init(|| id))
    }

    pub fn state(&self) -> RwLockReadGuard<'_, FileState> {
        // Writers either finish an object operation or fail it before
        // touching the state, so a poisoned lock holds a usable state.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn state_mut(&self) -> RwLockWriteGuard<'_, FileState> {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        state.generation += 1;
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(parent: Option<Arc<Node>>, name: &str) -> Arc<Node> {
        let fd = backing::open_root(std::path::Path::new("/")).unwrap();
        let key = BackingKey { dev: 0, ino: 0 };
        Arc::new(Node::new(fd, key, Kind::Directory, parent, name.into()))
    }

    #[test]
    fn paths_follow_parents_and_moves() {
        let root = node(None, "");
        let dir = node(Some(Arc::clone(&root)), "dir");
        let file = node(Some(Arc::clone(&dir)), "file");
        assert_eq!(root.path(), "/");
        assert_eq!(root.child_path(OsStr::new("x")), "/x");
        assert_eq!(file.path(), "/dir/file");
        let other = node(Some(Arc::clone(&root)), "other");
        dir.move_to(&other, OsStr::new("moved"));
        assert_eq!(file.path(), "/other/moved/file");
        file.move_to(&root, OsStr::new("top"));
        assert_eq!(file.path(), "/top");
        assert_ne!(file.path(), "/other/moved/file");
    }
}
