//! Regular files: create and open with their KMS request, read and write at
//! any offset, truncate, sync, release.
//!
//! Every open of an existing file is a Decrypt of its wrapped data key for
//! the caller; a create, an open with O_TRUNC for writing, and a truncate to
//! zero by path are a GenerateDataKey and give the file a fresh header (new
//! file id, new key). The KMS writes the record before answering; a refusal
//! is EACCES. The unwrapped key stays with the node while handles are open,
//! but each open asks again, so policy changes apply at the next open.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::sync::Arc;

use crate::crypto::ContentKey;
use crate::format::blob::CiphertextBlob;
use crate::object::{self, FileId, Object, ObjectError, ObjectHeader};
use crate::volume::names::CipherName;

use super::{requested_perm, temp_name, FsCore};
use crate::fs::backing::{self, Kind, OpenFlags, RenameMode};
use crate::fs::caller::Requester;
use crate::fs::error::FsError;
use crate::fs::handle::HandleId;
use crate::fs::inode::NodeId;
use crate::fs::node::{FileState, Node, OpenContent};
use crate::fs::types::Attr;

/// How often an open retries when concurrent truncating opens keep replacing
/// the header it just had unwrapped.
const ATTEMPTS: usize = 3;

/// An open regular file: its own descriptor of the backing object (kept
/// after an unlink), and what the open allows.
pub struct OpenFile {
    node: Arc<Node>,
    file: File,
    writable: bool,
    append: bool,
}

impl FsCore {
    pub fn open(&self, req: &Requester, id: NodeId, flags: OpenFlags) -> Result<HandleId, FsError> {
        let node = self.node(id)?;
        match node.kind() {
            Kind::RegularFile => {}
            Kind::Directory => return Err(FsError::IsDirectory),
            _ => return Err(FsError::Invalid("only regular files are opened by kmsfs")),
        }
        if flags.writable {
            self.check_writable()?;
        }
        let file = backing::reopen_file(node.fd(), flags.writable)?;
        let attach = |state: &mut FileState, content| {
            state.install(content);
            state.handles += 1;
        };
        if flags.writable && flags.truncate {
            self.with_fresh_key(req, &node, &file, |state, content| {
                attach(state, content);
                Ok(())
            })?;
        } else {
            self.with_existing_key(req, &node, &file, |state, content| {
                // An object no plaintext length gives is refused now, not at read.
                Object::new(&file, &content.header, &content.key).plain_len()?;
                attach(state, content);
                Ok(())
            })?;
        }
        Ok(self.files.insert(OpenFile {
            node,
            file,
            writable: flags.writable,
            append: flags.append,
        }))
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
        let fh = self.files.insert(OpenFile {
            node,
            file,
            writable: flags.writable,
            append: flags.append,
        });
        Ok((attr, fh))
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
        match self.open(req, attr.id, flags) {
            Ok(fh) => Ok((attr, fh)),
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
        let placed = (|| {
            Object::create(&file, &content.header, &content.key)?;
            self.give_to_requester(req, &dir_stat, std::os::fd::AsFd::as_fd(&file))?;
            backing::set_mode(std::os::fd::AsFd::as_fd(&file), perm)?;
            self.write_sidecar(dir, cipher)?;
            backing::rename(
                dir.fd(),
                &temp,
                dir.fd(),
                cipher.entry(),
                RenameMode::NoReplace,
            )?;
            Ok(())
        })();
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
    ) -> Result<Vec<u8>, FsError> {
        let handle = self.files.get(fh).ok_or(FsError::BadHandle)?;
        let mut buf = vec![0u8; size as usize];
        let read = {
            let state = handle.node.state();
            let content = state.content();
            Object::new(&handle.file, &content.header, &content.key)
                .read_at(plain_off, &mut buf)
                .map_err(|e| (e, content.header.clone()))
        };
        match read {
            Ok(len) => {
                buf.truncate(len);
                Ok(buf)
            }
            Err((e, header)) => Err(self.object_failure(req, &handle.node, &header, e)),
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
            at.and_then(|at| object.write_at(at, data))
                .map_err(|e| (e, content.header.clone()))
        };
        match written {
            Ok(()) => Ok(u32::try_from(data.len()).unwrap_or(u32::MAX)),
            Err((e, header)) => Err(self.object_failure(req, &handle.node, &header, e)),
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
            return cut.map_err(|(e, header)| self.object_failure(req, node, &header, e));
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

    /// A fresh header and data key for a new object at `path`: GenerateDataKey
    /// for the requester.
    pub(super) fn fresh_content(
        &self,
        req: &Requester,
        path: &str,
    ) -> Result<OpenContent, FsError> {
        let caller = req.caller();
        let file_id = FileId::random().map_err(|e| FsError::Object(ObjectError::Random(e)))?;
        let file_id_hex = file_id.hex();
        let context = self.volume.file_context(&file_id_hex, path);
        let key_id = self.volume.key_id();
        let (dek, wrapped_dek) = self
            .kms(|kms| kms.generate_file_key(&caller, &key_id, &context))
            .inspect_err(|e| log::info!("{path}: new data key refused: {e}"))?;
        let config = self.volume.config();
        let header = ObjectHeader {
            cipher: config.cipher,
            chunk_size: config.chunk_size,
            file_id,
            wrapped_dek,
        };
        let key = ContentKey::new(&dek, header.cipher);
        Ok(OpenContent { header, key })
    }

    /// Gives the object in `file` a fresh header and key (its content is
    /// dropped), then runs `then` on the node's state with them.
    fn with_fresh_key(
        &self,
        req: &Requester,
        node: &Node,
        file: &File,
        then: impl FnOnce(&mut FileState, OpenContent) -> Result<(), ObjectError>,
    ) -> Result<(), FsError> {
        let content = self.fresh_content(req, &node.path())?;
        let mut state = node.state_mut();
        Object::create(file, &content.header, &content.key)?;
        then(&mut state, content)?;
        Ok(())
    }

    /// Unwraps the data key of the object in `file` for the requester
    /// (Decrypt), then runs `then` on the node's state with it, unless the
    /// header changed meanwhile (then it asks again for the new one).
    fn with_existing_key(
        &self,
        req: &Requester,
        node: &Node,
        file: &File,
        then: impl FnOnce(&mut FileState, OpenContent) -> Result<(), ObjectError>,
    ) -> Result<(), FsError> {
        let mut then = Some(then);
        for _ in 0..ATTEMPTS {
            let header = {
                let _no_writer = node.state();
                object::read_header(file)?.0
            };
            let content = self.unwrap_key(req, node, header.clone())?;
            let done = {
                let mut state = node.state_mut();
                if object::read_header(file)?.0.file_id != header.file_id {
                    continue;
                }
                let then = then.take().expect("BUG: a key used twice");
                then(&mut state, content)
            };
            return done.map_err(|e| self.object_failure(req, node, &header, e));
        }
        Err(FsError::Io(io::Error::other(
            "the file was truncated by other opens while it was being opened",
        )))
    }

    /// Decrypt of `header`'s wrapped key for the requester.
    fn unwrap_key(
        &self,
        req: &Requester,
        node: &Node,
        header: ObjectHeader,
    ) -> Result<OpenContent, FsError> {
        let caller = req.caller();
        let path = node.path();
        let file_id = header.file_id.hex();
        let context = self.volume.file_context(&file_id, &path);
        let dek = self
            .kms(|kms| kms.decrypt_file_key(&caller, &context, &header.wrapped_dek))
            .inspect_err(|e| log::info!("{path}: data key refused: {e}"))?;
        let key = ContentKey::new(&dek, header.cipher);
        Ok(OpenContent { header, key })
    }

    /// The error an object operation on `node` failed with; an integrity
    /// failure is also recorded in the audit log, once, for the requester.
    fn object_failure(
        &self,
        req: &Requester,
        node: &Node,
        header: &ObjectHeader,
        error: ObjectError,
    ) -> FsError {
        if let ObjectError::Integrity { chunk_no, reason } = &error {
            let path = node.path();
            log::error!("{path}: {error}");
            let caller = req.caller();
            let file_id = header.file_id.hex();
            let context = self.volume.file_context(&file_id, &path);
            // The key that wrapped this file's data key (the volume's, unless rewrapped since).
            let key_id = CiphertextBlob::read(&header.wrapped_dek)
                .map_or_else(|_| self.volume.key_id(), |blob| blob.key_id);
            let reason = reason.to_string();
            if let Err(e) = self.kms(|kms| {
                kms.record_integrity_failure(&caller, &key_id, &context, *chunk_no, &reason)
            }) {
                log::error!("{path}: cannot record the integrity failure: {e}");
            }
        }
        FsError::Object(error)
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
