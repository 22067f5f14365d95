//! The KMS requests of regular files and the records of their integrity
//! failures. An open of an existing file unwraps its data key with a Decrypt
//! for the caller; a new file, an O_TRUNC open for writing and a truncate to
//! zero by path get a fresh header and key with a GenerateDataKey. The KMS
//! writes the record before it answers; no lock is held across its call.

use std::fs::File;
use std::io;

use crate::crypto::ContentKey;
use crate::format::blob::CiphertextBlob;
use crate::fs::caller::Requester;
use crate::fs::error::FsError;
use crate::fs::node::{FileState, Node, OpenContent};
use crate::object::{self, FileId, HeaderLock, Object, ObjectError, ObjectHeader};

use super::FsCore;

/// How often an open retries when concurrent truncating opens keep replacing
/// the header it just had unwrapped.
const ATTEMPTS: usize = 3;

impl FsCore {
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
        let (dek, wrapped_dek) = self
            .kms(|kms| {
                let key_id = self.volume.key_for_new_files(kms);
                kms.generate_file_key(&caller, &key_id, &context)
            })
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
    pub(super) fn with_fresh_key(
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
    pub(super) fn with_existing_key(
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
                let _no_replacement = HeaderLock::shared(file)?;
                object::read_header(file)
            };
            let header = match header {
                Ok((header, _)) => header,
                Err(e) => return Err(self.header_failure(req, node, file, e)),
            };
            let content = self.unwrap_key(req, node, header.clone())?;
            let done = {
                let mut state = node.state_mut();
                // Only this daemon gives a file a new id (a fresh header, under
                // the node's state, held here); a rewrap replaces a header but
                // keeps its id, so the id needs no header lock to read whole.
                if object::read_file_id(file)? != header.file_id {
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

    /// The error reading the header of `node`'s object failed with; a header
    /// that does not parse is recorded as an integrity failure of chunk 0.
    fn header_failure(
        &self,
        req: &Requester,
        node: &Node,
        file: &File,
        error: ObjectError,
    ) -> FsError {
        let ObjectError::Header(format_error) = &error else {
            return FsError::Object(error);
        };
        let path = node.path();
        log::error!("{path}: {error}");
        // The header's file id field as it lies on disk, if the file is that long.
        let file_id = object::read_file_id(file).unwrap_or(FileId([0; 16])).hex();
        let context = self.volume.file_context(&file_id, &path);
        let key_id = self.volume.key_id();
        let reason = format!("the object header is unreadable: {format_error}");
        if let Err(e) = self
            .kms(|kms| kms.record_integrity_failure(&req.caller(), &key_id, &context, 0, &reason))
        {
            log::error!("{path}: cannot record the integrity failure: {e}");
        }
        FsError::Object(error)
    }

    /// The error an object operation on `node` failed with; an integrity
    /// failure is also recorded in the audit log, once, for the requester.
    pub(super) fn object_failure(
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
