//! Regular files: create and open (each with its KMS request, `keys`), read
//! and write at any offset, truncate, sync, release. The unwrapped key stays
//! with the node while handles are open, but each open asks the KMS again,
//! so policy changes apply at the next open; a refusal is EACCES.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crate::fs::backing::{self, Kind, OpenFlags};
use crate::fs::caller::Requester;
use crate::fs::error::FsError;
use crate::fs::handle::HandleId;
use crate::fs::inode::NodeId;
use crate::fs::node::{FileState, Node, OpenContent};
use crate::fs::read_ahead::ReadAhead;
use crate::fs::types::Attr;
use crate::object::{Object, ObjectError, ObjectHeader, PlainBuf};
use crate::volume::names::CipherName;

use super::{requested_perm, temp_name, FsCore, PreparedEntry};

/// Writes of at least this many bytes (the mount's largest) are taken as a
/// stream, written through to the backing disk (see `Object::write_through_at`).
const STREAMING_WRITE: usize = 1024 * 1024;

/// Files of at least this many bytes opened read-only are read past the
/// mount's page cache, with the daemon's own read-ahead (`fs::read_ahead`).
/// Smaller files keep the cache: they are read in one or two requests anyway.
const UNCACHED_READS_FROM: u64 = 1024 * 1024;

/// An opened file: its handle, and whether the kernel is to bypass its page
/// cache for it (FOPEN_DIRECT_IO).
#[derive(Debug)]
pub struct Opened {
    pub handle: HandleId,
    pub uncached: bool,
}

/// An open regular file: its own descriptor of the backing object (kept
/// after an unlink), what the open allows, and the chunks whose integrity
/// failure it has recorded.
pub struct OpenFile {
    node: Arc<Node>,
    file: File,
    writable: bool,
    append: bool,
    recorded_chunks: Mutex<BTreeSet<u64>>,
    /// For a handle read past the page cache: where its last read ended, and
    /// what is read ahead while it reads in order.
    stream: Option<Mutex<Stream>>,
}

#[derive(Default)]
struct Stream {
    next_plain: u64,
    read_ahead: Option<ReadAhead>,
}

impl OpenFile {
    fn new(node: Arc<Node>, file: File, flags: OpenFlags, uncached: bool) -> OpenFile {
        OpenFile {
            node,
            file,
            writable: flags.writable,
            append: flags.append,
            recorded_chunks: Mutex::new(BTreeSet::new()),
            stream: uncached.then(Mutex::default),
        }
    }

    /// Whether `error` is news for this handle: an integrity failure of a chunk
    /// is recorded once per handle, since one read(2) can fail twice on the
    /// same chunk (the kernel's readahead, then the reader's own retry).
    fn first_report(&self, error: &ObjectError) -> bool {
        match error {
            ObjectError::Integrity { chunk_no, .. } => self
                .recorded_chunks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(*chunk_no),
            _ => true,
        }
    }
}

impl Stream {
    /// Reads like `Object::read_at`, the ciphertext from what is read ahead
    /// where it can: a read that starts where the last one ended starts the
    /// read-ahead; one the read-ahead does not hold ends it.
    fn read(
        &mut self,
        file: &File,
        generation: u64,
        object: &Object<'_>,
        plain_off: u64,
        buf: &mut [u8],
    ) -> Result<usize, ObjectError> {
        let in_order = plain_off == self.next_plain;
        if self
            .read_ahead
            .as_ref()
            .is_some_and(|ahead| !ahead.is_current(generation))
        {
            self.read_ahead = None;
        }
        let read_ahead = &mut self.read_ahead;
        let read = object.read_at_from(plain_off, buf, &mut |batch, at| {
            if read_ahead.is_none() && in_order && ReadAhead::has_room() {
                *read_ahead = backing::reopen_uncached(file.as_fd())
                    .ok()
                    .and_then(|reader| ReadAhead::start(reader, at, generation));
            }
            if let Some(ahead) = read_ahead.as_mut() {
                match ahead.copy(at, batch) {
                    Ok(true) => return Ok(()),
                    Ok(false) => *read_ahead = None,
                    Err(e) => {
                        *read_ahead = None;
                        return Err(e);
                    }
                }
            }
            object.read_ciphertext_at(batch, at)
        });
        if let Ok(len) = read {
            self.next_plain = plain_off + len as u64;
        }
        read
    }
}

impl FsCore {
    /// Opens file `id`; a large file opened read-only is read past the
    /// mount's page cache where the kernel allows it.
    pub fn open(&self, req: &Requester, id: NodeId, flags: OpenFlags) -> Result<Opened, FsError> {
        let uncached_allowed = !flags.writable && self.uncached_reads.load(Ordering::Relaxed);
        self.open_handle(req, id, flags, uncached_allowed)
    }

    fn open_handle(
        &self,
        req: &Requester,
        id: NodeId,
        flags: OpenFlags,
        uncached_allowed: bool,
    ) -> Result<Opened, FsError> {
        let node = self.node(id)?;
        match node.kind() {
            Kind::RegularFile => {}
            Kind::Directory => return Err(FsError::IsDirectory),
            _ => return Err(FsError::Invalid("only regular files are opened by kmsfs")),
        }
        if flags.writable {
            self.check_writable()?;
        }
        if let Some(dir) = node.parent().filter(|dir| dir.first_to_read_files_ahead()) {
            // Whoever opens one file of a directory often opens the others.
            self.prefetch.file_starts(&dir);
        }
        let file = backing::reopen_file(node.fd(), flags.writable)?;
        let attach = |state: &mut FileState, content| {
            state.install(content);
            state.handles += 1;
        };
        let mut plain_len = 0;
        if flags.writable && flags.truncate {
            self.with_fresh_key(req, &node, &file, |state, content| {
                attach(state, content);
                Ok(())
            })?;
        } else {
            self.with_existing_key(req, &node, &file, |state, content| {
                // An object no plaintext length gives is refused now, not at read.
                plain_len = Object::new(&file, &content.header, &content.key).plain_len()?;
                attach(state, content);
                Ok(())
            })?;
        }
        let uncached = uncached_allowed && plain_len >= UNCACHED_READS_FROM;
        let handle = self
            .files
            .insert(OpenFile::new(node, file, flags, uncached));
        Ok(Opened { handle, uncached })
    }

    /// Creates regular file `name` in `parent` and opens it. If the name
    /// exists meanwhile, O_EXCL fails and otherwise the file is opened.
    pub fn create(
        &self,
        req: &Requester,
        parent: NodeId,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: OpenFlags,
    ) -> Result<(Attr, HandleId), FsError> {
        self.check_writable()?;
        let (dir, dir_id) = self.dir(parent)?;
        let cipher = self.cipher_name(&dir_id, name)?;
        // An existing name is refused or opened before the KMS is asked for a
        // data key that would go unused.
        match backing::open_entry(dir.fd(), cipher.entry()) {
            Ok(_) if flags.exclusive => return Err(FsError::Exists),
            Ok(_) => return self.open_found(req, parent, name, flags),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let content = self.fresh_content(req, &dir.child_path(name))?;
        let perm = requested_perm(mode, umask);
        let file = match self.place_object(req, &dir, &cipher, &content, perm) {
            Err(FsError::Io(e)) if e.kind() == io::ErrorKind::AlreadyExists => {
                if flags.exclusive {
                    return Err(FsError::Exists);
                }
                return self.open_found(req, parent, name, flags);
            }
            placed => placed?,
        };
        let (node, attr) = self.remember(&dir, name, backing::path_fd_of(&file)?)?;
        {
            let mut state = node.state_mut();
            state.install(content);
            state.handles += 1;
        }
        let fh = self.files.insert(OpenFile::new(node, file, flags, false));
        Ok((attr, fh))
    }

    /// The error an object operation through `handle` failed with, recorded
    /// unless the handle has recorded the same failure before.
    fn handle_failure(
        &self,
        req: &Requester,
        handle: &OpenFile,
        header: &ObjectHeader,
        error: ObjectError,
    ) -> FsError {
        if handle.first_report(&error) {
            self.object_failure(req, &handle.node, header, error)
        } else {
            FsError::Object(error)
        }
    }

    /// Looks up and opens `name`, for a create that found it existing.
    fn open_found(
        &self,
        req: &Requester,
        parent: NodeId,
        name: &OsStr,
        flags: OpenFlags,
    ) -> Result<(Attr, HandleId), FsError> {
        let attr = self.lookup(parent, name)?;
        // Served with the page cache: the reply to CREATE asks for nothing else.
        match self.open_handle(req, attr.id, flags, false) {
            Ok(opened) => Ok((attr, opened.handle)),
            Err(e) => {
                // The kernel gets an error, not the entry: undo its lookup.
                self.nodes.forget(attr.id, 1);
                Err(e)
            }
        }
    }

    /// Makes a new object with `content` as entry `cipher` of `dir`: written
    /// under a temporary name, given to the requester, and renamed into
    /// place, so the name never shows a file without its header. Returns it
    /// open read-write.
    pub(super) fn place_object(
        &self,
        req: &Requester,
        dir: &Node,
        cipher: &CipherName,
        content: &OpenContent,
        perm: u32,
    ) -> Result<File, FsError> {
        let dir_stat = backing::stat(dir.fd())?;
        let temp = temp_name()?;
        let file = backing::create_file(dir.fd(), &temp, 0o600)?;
        let placed = Object::create(&file, &content.header, &content.key)
            .map_err(FsError::from)
            .and_then(|_| {
                let entry = PreparedEntry {
                    temp: &temp,
                    fd: file.as_fd(),
                    perm,
                };
                self.publish_entry(req, dir, &dir_stat, entry, cipher)
            });
        if let Err(e) = placed {
            if let Err(cleanup) = backing::remove(dir.fd(), &temp, false) {
                log::warn!("cannot remove the unfinished {temp}: {cleanup}");
            }
            return Err(e);
        }
        Ok(file)
    }

    pub fn read(
        &self,
        req: &Requester,
        fh: HandleId,
        plain_off: u64,
        size: u32,
    ) -> Result<PlainBuf, FsError> {
        let handle = self.files.get(fh).ok_or(FsError::BadHandle)?;
        let mut buf = PlainBuf::zeroed(size as usize);
        let read = {
            let state = handle.node.state();
            let content = state.content();
            let object = Object::new(&handle.file, &content.header, &content.key);
            match &handle.stream {
                None => object.read_at(plain_off, &mut buf),
                Some(stream) => {
                    let mut stream = stream.lock().unwrap_or_else(|e| e.into_inner());
                    stream.read(&handle.file, state.generation, &object, plain_off, &mut buf)
                }
            }
            .map_err(|e| (e, content.header.clone()))
        };
        match read {
            Ok(len) => {
                buf.truncate(len);
                Ok(buf)
            }
            Err((e, header)) => Err(self.handle_failure(req, &handle, &header, e)),
        }
    }

    /// Writes `data` at `plain_off`, or at the end for an O_APPEND handle.
    pub fn write(
        &self,
        req: &Requester,
        fh: HandleId,
        plain_off: u64,
        data: &[u8],
    ) -> Result<u32, FsError> {
        let handle = self.files.get(fh).ok_or(FsError::BadHandle)?;
        if !handle.writable {
            return Err(FsError::BadHandle);
        }
        let written = {
            let state = handle.node.state_mut();
            let content = state.content();
            let object = Object::new(&handle.file, &content.header, &content.key);
            let at = if handle.append {
                object.plain_len()
            } else {
                Ok(plain_off)
            };
            at.and_then(|at| {
                if data.len() >= STREAMING_WRITE {
                    object.write_through_at(at, data)
                } else {
                    object.write_at(at, data)
                }
            })
            .map_err(|e| (e, content.header.clone()))
        };
        match written {
            Ok(()) => Ok(u32::try_from(data.len()).unwrap_or(u32::MAX)),
            Err((e, header)) => Err(self.handle_failure(req, &handle, &header, e)),
        }
    }

    /// Sets the plaintext size of `node`: through open handle `fh` when given
    /// (ftruncate), else as an open for writing of its own (truncate by path),
    /// which to size 0 gives the file a fresh key.
    pub(super) fn truncate(
        &self,
        req: &Requester,
        node: &Arc<Node>,
        fh: Option<HandleId>,
        size: u64,
    ) -> Result<(), FsError> {
        match node.kind() {
            Kind::RegularFile => {}
            Kind::Directory => return Err(FsError::IsDirectory),
            _ => return Err(FsError::Invalid("only regular files are truncated")),
        }
        if let Some(handle) = fh.and_then(|fh| self.files.get(fh)) {
            let cut = {
                let state = handle.node.state_mut();
                let content = state.content();
                Object::new(&handle.file, &content.header, &content.key)
                    .set_len(size)
                    .map_err(|e| (e, content.header.clone()))
            };
            return cut.map_err(|(e, header)| self.handle_failure(req, &handle, &header, e));
        }
        let file = backing::reopen_file(node.fd(), true)?;
        if size == 0 {
            return self.with_fresh_key(req, node, &file, |state, content| {
                keep_if_open(state, content);
                Ok(())
            });
        }
        self.with_existing_key(req, node, &file, |state, content| {
            Object::new(&file, &content.header, &content.key).set_len(size)?;
            keep_if_open(state, content);
            Ok(())
        })
    }

    pub fn flush(&self, fh: HandleId) -> Result<(), FsError> {
        // Writes reach the backing file when they are answered: nothing is pending.
        self.files.get(fh).map(|_| ()).ok_or(FsError::BadHandle)
    }

    pub fn fsync(&self, fh: HandleId, data_only: bool) -> Result<(), FsError> {
        let handle = self.files.get(fh).ok_or(FsError::BadHandle)?;
        if data_only {
            handle.file.sync_data()?;
        } else {
            handle.file.sync_all()?;
        }
        Ok(())
    }

    /// Closes handle `fh`; the file's key is dropped with its last handle.
    pub fn release(&self, fh: HandleId) -> Result<(), FsError> {
        let handle = self.files.remove(fh).ok_or(FsError::BadHandle)?;
        let mut state = handle.node.state_mut();
        state.handles = state.handles.saturating_sub(1);
        if state.handles == 0 {
            state.open = None;
        }
        Ok(())
    }
}

/// After a truncate by path: the new content becomes every open handle's; a
/// file without handles keeps no key.
fn keep_if_open(state: &mut FileState, content: OpenContent) {
    if state.handles > 0 {
        state.install(content);
    } else {
        state.layout = Some(crate::object::layout::Layout::for_header(&content.header));
    }
}
