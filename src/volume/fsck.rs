//! `kmsfs fsck`: checks every object of a volume against its keys. The config
//! (its name key unwraps), each directory's id, each encrypted name, each
//! symlink target, each object header, each file's wrapped data key (one
//! Decrypt per file, recorded like any other) and each chunk's authentication.
//! Read-only against the backing directory, so it also runs on a mounted
//! volume (a file rewritten meanwhile may show as damaged: rerun to confirm).
//! Must not import FUSE, the vault or the CLI.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::names::{self, DirId};
use super::{Volume, VolumeError};
use crate::crypto::ContentKey;
use crate::format::volume_config::CONFIG_FILE;
use crate::kms::{ErrorCode, Kms};
use crate::model::Caller;
use crate::object::{self, Object, ObjectError};

/// Plaintext bytes read per call when checking chunks.
const READ_BATCH: usize = 1 << 20;

/// What is wrong with one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DamageKind {
    /// The config does not parse or its name key does not unwrap.
    Config,
    /// A directory's `kmsfs.dirid` is missing or malformed: its entries' names cannot be read.
    DirId,
    /// An entry's encrypted name (or its long-name sidecar) does not authenticate.
    Name,
    /// A symlink's encrypted target does not authenticate.
    LinkTarget,
    /// An object header does not parse.
    Header,
    /// A file's wrapped data key does not unwrap for this file (tampered, or from another file).
    DataKey,
    /// A chunk fails its authentication, or the object's length is impossible.
    Chunk,
    /// An entry that is neither a directory, a regular file nor a symlink, or one that cannot be read.
    Unreadable,
}

impl DamageKind {
    pub fn name(self) -> &'static str {
        match self {
            DamageKind::Config => "config",
            DamageKind::DirId => "directory-id",
            DamageKind::Name => "name",
            DamageKind::LinkTarget => "symlink-target",
            DamageKind::Header => "header",
            DamageKind::DataKey => "data-key",
            DamageKind::Chunk => "chunk",
            DamageKind::Unreadable => "unreadable",
        }
    }
}

/// One damaged object.
#[derive(Clone, Debug)]
pub struct Damage {
    /// The plaintext path inside the volume where the names decrypt, else the backing path.
    pub path: String,
    /// The object in the backing directory.
    pub backing: PathBuf,
    pub kind: DamageKind,
    pub detail: String,
}

/// What a check found.
#[derive(Debug, Default)]
pub struct FsckReport {
    pub directories: u64,
    pub files: u64,
    pub symlinks: u64,
    /// Plaintext bytes whose chunks authenticated.
    pub bytes_checked: u64,
    pub damage: Vec<Damage>,
}

impl FsckReport {
    pub fn is_clean(&self) -> bool {
        self.damage.is_empty()
    }
}

/// Why a check could not run at all (damage is a finding, not an error).
#[derive(Debug)]
pub enum FsckError {
    Volume(VolumeError),
    /// The KMS refused or failed a request (not because of the ciphertext): nothing can be concluded.
    Kms {
        path: String,
        source: crate::kms::KmsError,
    },
}

impl fmt::Display for FsckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsckError::Volume(err) => write!(f, "{err}"),
            FsckError::Kms { path, source } => write!(f, "{path}: {source}"),
        }
    }
}

impl std::error::Error for FsckError {}

/// How far a check has come: called once per backing entry.
pub trait FsckProgress {
    fn entry_done(&mut self, path: &str);
}

impl<F: FnMut(&str)> FsckProgress for F {
    fn entry_done(&mut self, path: &str) {
        self(path)
    }
}

/// How many entries [`check`] will visit, for a progress bar (a keyless walk).
pub fn count_entries(backing: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(backing) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| !names::is_internal_name(&entry.file_name()))
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => 1 + count_entries(&entry.path()),
            _ => 1,
        })
        .sum()
}

/// Checks the volume at `backing` as `caller`.
pub fn check(
    kms: &Kms,
    caller: &Caller,
    backing: &Path,
    progress: &mut dyn FsckProgress,
) -> Result<FsckReport, FsckError> {
    let mut report = FsckReport::default();
    let volume = match Volume::open(kms, caller, backing) {
        Ok(volume) => volume,
        Err(err @ (VolumeError::ConfigTampered(_) | VolumeError::Config { .. })) => {
            report.damage.push(Damage {
                path: backing.join(CONFIG_FILE).display().to_string(),
                backing: backing.join(CONFIG_FILE),
                kind: DamageKind::Config,
                detail: err.to_string(),
            });
            return Ok(report);
        }
        Err(err) => return Err(FsckError::Volume(err)),
    };
    let mut walk = Walk {
        kms,
        caller,
        volume: &volume,
        seen: HashSet::new(),
        report,
        progress,
    };
    walk.directory(backing, Some("/"))?;
    Ok(walk.report)
}

struct Walk<'a> {
    kms: &'a Kms,
    caller: &'a Caller,
    volume: &'a Volume,
    /// (device, inode) of the objects checked: a hard-linked file is checked once.
    seen: HashSet<(u64, u64)>,
    report: FsckReport,
    progress: &'a mut dyn FsckProgress,
}

impl Walk<'_> {
    fn damage(&mut self, path: &str, backing: &Path, kind: DamageKind, detail: impl fmt::Display) {
        self.report.damage.push(Damage {
            path: path.to_string(),
            backing: backing.to_path_buf(),
            kind,
            detail: detail.to_string(),
        });
    }

    /// Checks the directory `dir`, whose plaintext path is `plain` (None if
    /// its name did not decrypt), and everything below it.
    fn directory(&mut self, dir: &Path, plain: Option<&str>) -> Result<(), FsckError> {
        self.report.directories += 1;
        let shown = shown_path(dir, plain);
        let dir_id = match DirId::read_in(dir) {
            Ok(id) => Some(id),
            Err(err) => {
                self.damage(
                    &shown,
                    &dir.join(names::DIR_ID_FILE),
                    DamageKind::DirId,
                    err,
                );
                None
            }
        };
        let entries = match std::fs::read_dir(dir).and_then(|it| it.collect::<Result<Vec<_>, _>>())
        {
            Ok(entries) => entries,
            Err(err) => {
                self.damage(&shown, dir, DamageKind::Unreadable, err);
                return Ok(());
            }
        };
        let mut entries: Vec<_> = entries
            .into_iter()
            .map(|entry| entry.file_name())
            .filter(|name| !names::is_internal_name(name))
            .collect();
        entries.sort();
        for name in entries {
            let path = dir.join(&name);
            let child = match (&dir_id, plain) {
                (Some(id), Some(parent)) => self.decrypt_entry_name(id, dir, &name, parent),
                _ => None,
            };
            self.entry(&path, child.as_deref())?;
            self.progress
                .entry_done(&shown_path(&path, child.as_deref()));
        }
        Ok(())
    }

    /// The plaintext path of entry `name` of `dir`, or None (recorded) if it does not decrypt.
    fn decrypt_entry_name(
        &mut self,
        id: &DirId,
        dir: &Path,
        name: &OsStr,
        parent: &str,
    ) -> Option<String> {
        let path = dir.join(name);
        let decrypted = match name.to_str() {
            Some(entry) => names::decrypt_name(self.volume.name_key(), id, entry, |sidecar| {
                std::fs::read_to_string(dir.join(sidecar))
            }),
            None => Err(names::NameError::NotEncrypted),
        };
        match decrypted {
            Ok(plain) => Some(join_plain(parent, &plain)),
            Err(err) => {
                self.damage(&path.display().to_string(), &path, DamageKind::Name, err);
                None
            }
        }
    }

    fn entry(&mut self, path: &Path, plain: Option<&str>) -> Result<(), FsckError> {
        let shown = shown_path(path, plain);
        let meta = match std::fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(err) => {
                self.damage(&shown, path, DamageKind::Unreadable, err);
                return Ok(());
            }
        };
        let kind = meta.file_type();
        if kind.is_dir() {
            self.directory(path, plain)
        } else if kind.is_symlink() {
            self.report.symlinks += 1;
            self.symlink(path, &shown);
            Ok(())
        } else if kind.is_file() {
            if self.seen.insert((meta.dev(), meta.ino())) {
                self.report.files += 1;
                self.object(path, &shown)?;
            }
            Ok(())
        } else {
            self.damage(
                &shown,
                path,
                DamageKind::Unreadable,
                "not a directory, regular file or symlink",
            );
            Ok(())
        }
    }

    fn symlink(&mut self, path: &Path, shown: &str) {
        let target = match std::fs::read_link(path) {
            Ok(target) => target,
            Err(err) => return self.damage(shown, path, DamageKind::Unreadable, err),
        };
        let decrypted = match target.to_str() {
            Some(target) => names::decrypt_link_target(self.volume.name_key(), target),
            None => Err(names::NameError::NotEncrypted),
        };
        if let Err(err) = decrypted {
            self.damage(shown, path, DamageKind::LinkTarget, err);
        }
    }

    /// Checks one ciphertext object: header, data key (a Decrypt), every chunk.
    fn object(&mut self, path: &Path, shown: &str) -> Result<(), FsckError> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(err) => {
                self.damage(shown, path, DamageKind::Unreadable, err);
                return Ok(());
            }
        };
        let header = match object::read_header(&file) {
            Ok((header, _)) => header,
            Err(err) => {
                self.damage(shown, path, DamageKind::Header, err);
                return Ok(());
            }
        };
        let file_id = header.file_id.hex();
        let context = self.volume.file_context(&file_id, shown);
        let dek = match self
            .kms
            .decrypt_file_key(self.caller, &context, &header.wrapped_dek)
        {
            Ok(dek) => dek,
            Err(err) if matches!(err.code, ErrorCode::InvalidCiphertext) => {
                self.damage(shown, path, DamageKind::DataKey, "the wrapped data key does not unwrap for this file: tampered, or taken from another file");
                return Ok(());
            }
            Err(source) => {
                return Err(FsckError::Kms {
                    path: shown.to_string(),
                    source,
                })
            }
        };
        let key = ContentKey::new(&dek, header.cipher);
        match read_all(&Object::new(&file, &header, &key)) {
            Ok(bytes) => self.report.bytes_checked += bytes,
            Err(err) => self.damage(shown, path, DamageKind::Chunk, err),
        }
        Ok(())
    }
}

/// Reads (and so authenticates) every chunk of `object`; returns its plaintext length.
fn read_all(object: &Object) -> Result<u64, ObjectError> {
    let mut buf = vec![0u8; READ_BATCH];
    let mut offset = 0u64;
    loop {
        let read = object.read_at(offset, &mut buf)?;
        if read == 0 {
            return Ok(offset);
        }
        offset += read as u64;
    }
}

fn join_plain(parent: &str, name: &OsStr) -> String {
    let name = String::from_utf8_lossy(name.as_bytes());
    if parent.ends_with('/') {
        format!("{parent}{name}")
    } else {
        format!("{parent}/{name}")
    }
}

fn shown_path(backing: &Path, plain: Option<&str>) -> String {
    plain.map_or_else(|| backing.display().to_string(), str::to_string)
}
