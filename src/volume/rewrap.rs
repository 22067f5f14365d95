//! `kmsfs volume rewrap`: moves a volume to the newest material version of
//! its key, or to another key, without re-encrypting content. The name key in
//! the config and each file's data key are re-wrapped inside the KMS
//! (ReEncrypt: one record per file, naming it); only the wrapped keys change.
//!
//! Crash safety. The config is replaced first, by rename of a synced copy, so
//! it names the target key from then on, and a rerun without `--key-id`
//! finishes the job: files already wrapped under the newest material of the
//! config's key are skipped. A file's header is replaced in place by one
//! pwrite of the whole header, then fdatasync. The new header has the same
//! length as the old one (every KMS blob of a 32-byte key has the same length,
//! checked before writing) and lies in the first 512 bytes of the object, one
//! disk sector: the device writes a sector whole or not at all, the assumption
//! journaling filesystems make of their commit blocks. So after a crash the
//! header is either the old one or the new one, and both unwrap to the same
//! data key.
//!
//! While mounted. The daemon keeps a file's data key only while the file is
//! open; the key does not change, so open files keep working. Each file is
//! rewrapped under the exclusive header lock (flock on the backing object,
//! [`object::HeaderLock`]), from reading its header to the synced write of
//! the new one: the daemon takes the same lock to give a file a fresh header
//! (O_TRUNC) and, shared, to read one for unwrapping, so it never sees half a
//! header and a rewrap never puts an old key back over a fresh one. The
//! daemon notices the replaced config at its next new data key and follows
//! it to the target key ([`Volume::key_for_new_files`]); a file given its
//! key in the very instant of the replacement may stay under the old key,
//! and a rerun moves it.
//! Must not import FUSE or the vault.

use std::collections::HashSet;
use std::fmt;
use std::fs::{File, Metadata, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::walk::{walk, Visit, Visitor};
use super::{Volume, VolumeError};
use crate::format::volume_config::{VolumeConfig, CONFIG_FILE};
use crate::kms::{Kms, KmsError};
use crate::model::{Caller, KeyId};
use crate::object::{self, HeaderLock, ObjectError, ObjectHeader};

/// The config's temporary copy, renamed over it (hidden like every `kmsfs.` entry).
const CONFIG_TEMP: &str = "kmsfs.volume.rewrap";

/// What a rewrap did (or, with `dry_run`, would do).
#[derive(Debug, Default)]
pub struct RewrapReport {
    /// The key the volume is (or would be) under.
    pub key_id: Option<KeyId>,
    pub config_rewrapped: bool,
    pub files: u64,
    pub rewrapped: u64,
    /// Already wrapped under the newest material of the target key.
    pub current: u64,
    /// Objects whose header could not be read or rewritten: (path, why). Run fsck.
    pub failed: Vec<(String, String)>,
}

#[derive(Debug)]
pub enum RewrapError {
    Volume(VolumeError),
    /// A KMS refusal or failure (for a file: its path); the rewrap stops.
    Kms {
        path: String,
        source: KmsError,
    },
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl fmt::Display for RewrapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RewrapError::Volume(err) => write!(f, "{err}"),
            RewrapError::Kms { path, source } => write!(f, "{path}: {source}"),
            RewrapError::Io { path, source } => write!(f, "{path}: {source}"),
        }
    }
}

impl std::error::Error for RewrapError {}

impl From<VolumeError> for RewrapError {
    fn from(err: VolumeError) -> Self {
        RewrapError::Volume(err)
    }
}

/// Re-wraps the volume at `backing` under `target` (the volume's key if
/// None), as `caller`; `progress` is called with each entry's path.
pub fn rewrap(
    kms: &Kms,
    caller: &Caller,
    backing: &Path,
    target: Option<&str>,
    dry_run: bool,
    progress: &mut dyn FnMut(&str),
) -> Result<RewrapReport, RewrapError> {
    let config = Volume::read_config(backing)?;
    let config_path = backing.join(CONFIG_FILE).display().to_string();
    let kms_error = |path: &str| {
        let path = path.to_string();
        move |source| RewrapError::Kms { path, source }
    };
    let key_id = match target {
        Some(key) => super::backing::resolve_key_id(kms, caller, key)?,
        None => config.key_id,
    };
    let mut report = RewrapReport {
        key_id: Some(key_id),
        ..RewrapReport::default()
    };
    let config_current = config.key_id == key_id
        && kms
            .is_newest_wrap(&key_id, &config.wrapped_name_key)
            .map_err(kms_error(&config_path))?;
    if !config_current {
        report.config_rewrapped = true;
        if !dry_run {
            rewrap_config(kms, caller, backing, &config, key_id)?;
        }
    }
    let volume = Volume::open(kms, caller, backing)?;
    let mut files = Files {
        kms,
        caller,
        volume: &volume,
        key_id,
        dry_run,
        seen: HashSet::new(),
        report,
        progress,
    };
    walk(&volume, &mut files)?;
    Ok(files.report)
}

/// Re-wraps the name key under `key_id` and replaces the config atomically.
fn rewrap_config(
    kms: &Kms,
    caller: &Caller,
    backing: &Path,
    config: &VolumeConfig,
    key_id: KeyId,
) -> Result<(), RewrapError> {
    let mut moved = config.clone();
    moved.key_id = key_id;
    let config_path = backing.join(CONFIG_FILE);
    moved.wrapped_name_key = kms
        .re_encrypt(
            caller,
            &config.wrapped_name_key,
            &config.name_key_context(),
            &key_id.to_string(),
            &moved.name_key_context(),
        )
        .map_err(|source| RewrapError::Kms {
            path: config_path.display().to_string(),
            source,
        })?
        .ciphertext_blob;
    let temp = backing.join(CONFIG_TEMP);
    let io_error = |source| RewrapError::Io {
        path: config_path.display().to_string(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&temp)
        .map_err(io_error)?;
    file.write_all(moved.encode().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_error)?;
    std::fs::rename(&temp, &config_path).map_err(io_error)?;
    File::open(backing)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error)
}

struct Files<'a> {
    kms: &'a Kms,
    caller: &'a Caller,
    volume: &'a Volume,
    key_id: KeyId,
    dry_run: bool,
    /// (device, inode) of the objects done: a hard-linked file is rewrapped once.
    seen: HashSet<(u64, u64)>,
    report: RewrapReport,
    progress: &'a mut dyn FnMut(&str),
}

/// What happened to one file.
enum Outcome {
    Rewrapped,
    Current,
}

impl Visitor for Files<'_> {
    type Error = RewrapError;

    fn visit(&mut self, visit: Visit) -> Result<(), RewrapError> {
        match visit {
            Visit::Entry { path, shown, meta } if is_new_object(&mut self.seen, meta) => {
                self.report.files += 1;
                match self.file(path, shown) {
                    Ok(Outcome::Rewrapped) => self.report.rewrapped += 1,
                    Ok(Outcome::Current) => self.report.current += 1,
                    Err(RewrapFailure::Object(err)) => self
                        .report
                        .failed
                        .push((shown.to_string(), err.to_string())),
                    Err(RewrapFailure::Stop(err)) => return Err(err),
                }
                (self.progress)(shown);
            }
            Visit::Entry { shown, .. } | Visit::Directory { shown, .. } => (self.progress)(shown),
            // Damage is fsck's business; files below an unreadable name are still rewrapped.
            Visit::DirIdUnreadable { .. }
            | Visit::NameUnreadable { .. }
            | Visit::Unreadable { .. } => {}
        }
        Ok(())
    }
}

/// A regular file not met before (through another hard link).
fn is_new_object(seen: &mut HashSet<(u64, u64)>, meta: &Metadata) -> bool {
    meta.is_file() && seen.insert((meta.dev(), meta.ino()))
}

enum RewrapFailure {
    /// This object only: recorded, and the rewrap goes on.
    Object(ObjectError),
    Stop(RewrapError),
}

impl From<ObjectError> for RewrapFailure {
    fn from(err: ObjectError) -> Self {
        RewrapFailure::Object(err)
    }
}

impl From<std::io::Error> for RewrapFailure {
    fn from(err: std::io::Error) -> Self {
        RewrapFailure::Object(ObjectError::Io(err))
    }
}

impl Files<'_> {
    fn file(&mut self, path: &Path, shown: &str) -> Result<Outcome, RewrapFailure> {
        let file = OpenOptions::new()
            .read(true)
            .write(!self.dry_run)
            .open(path)?;
        // Held until the new header is on disk (see the module comment).
        let _replacing = HeaderLock::exclusive(&file)?;
        let (header, _) = object::read_header(&file)?;
        let stop = |source| {
            RewrapFailure::Stop(RewrapError::Kms {
                path: shown.to_string(),
                source,
            })
        };
        if self
            .kms
            .is_newest_wrap(&self.key_id, &header.wrapped_dek)
            .map_err(stop)?
        {
            return Ok(Outcome::Current);
        }
        if self.dry_run {
            return Ok(Outcome::Rewrapped);
        }
        let file_id = header.file_id.hex();
        let context = self.volume.file_context(&file_id, shown);
        let wrapped_dek = self
            .kms
            .re_encrypt_file_key(self.caller, &context, &header.wrapped_dek, &self.key_id)
            .map_err(stop)?;
        let new_header = ObjectHeader {
            wrapped_dek,
            ..header.clone()
        };
        if new_header.encoded_len() != header.encoded_len() {
            return Err(RewrapFailure::Object(ObjectError::Io(
                std::io::Error::other(
                    "BUG: the re-wrapped key has another length; the header was not replaced",
                ),
            )));
        }
        file.write_all_at(&new_header.encode(), 0)?;
        file.sync_data()?;
        Ok(Outcome::Rewrapped)
    }
}
