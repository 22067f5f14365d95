//! `kmsfs fsck`: checks every object of a volume against its keys. The config
//! (its name key unwraps), each directory's id, each encrypted name, each
//! symlink target, each object header, each file's wrapped data key (one
//! Decrypt per file, recorded like any other) and each chunk's authentication.
//! Read-only against the backing directory, so it also runs on a mounted
//! volume (a file rewritten meanwhile may show as damaged: rerun to confirm).
//! Must not import FUSE, the vault or the CLI.

use std::collections::HashSet;
use std::fmt;
use std::fs::{File, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::names;
use super::walk::{walk, Visit, Visitor};
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

/// Checks the volume at `backing` as `caller`; `progress` is called with each
/// entry's path once it is checked.
pub fn check(
    kms: &Kms,
    caller: &Caller,
    backing: &Path,
    progress: &mut dyn FnMut(&str),
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
    let mut check = Check {
        kms,
        caller,
        volume: &volume,
        seen: HashSet::new(),
        report,
        progress,
    };
    walk(&volume, &mut check)?;
    Ok(check.report)
}

struct Check<'a> {
    kms: &'a Kms,
    caller: &'a Caller,
    volume: &'a Volume,
    /// (device, inode) of the objects checked: a hard-linked file is checked once.
    seen: HashSet<(u64, u64)>,
    report: FsckReport,
    progress: &'a mut dyn FnMut(&str),
}

impl Visitor for Check<'_> {
    type Error = FsckError;

    fn visit(&mut self, visit: Visit) -> Result<(), FsckError> {
        match visit {
            Visit::Directory { shown, .. } => {
                self.report.directories += 1;
                (self.progress)(shown);
            }
            Visit::DirIdUnreadable { path, shown, error } => self.damage(
                shown,
                &path.join(names::DIR_ID_FILE),
                DamageKind::DirId,
                error,
            ),
            Visit::NameUnreadable { path, error } => {
                self.damage(&path.display().to_string(), path, DamageKind::Name, error)
            }
            Visit::Unreadable { path, shown, error } => {
                self.damage(shown, path, DamageKind::Unreadable, error)
            }
            Visit::Entry { path, shown, meta } => {
                self.entry(path, shown, meta)?;
                (self.progress)(shown);
            }
        }
        Ok(())
    }
}

impl Check<'_> {
    fn damage(&mut self, path: &str, backing: &Path, kind: DamageKind, detail: impl fmt::Display) {
        self.report.damage.push(Damage {
            path: path.to_string(),
            backing: backing.to_path_buf(),
            kind,
            detail: detail.to_string(),
        });
    }

    fn entry(&mut self, path: &Path, shown: &str, meta: &Metadata) -> Result<(), FsckError> {
        let kind = meta.file_type();
        if kind.is_symlink() {
            self.report.symlinks += 1;
            self.symlink(path, shown);
        } else if kind.is_file() {
            if self.seen.insert((meta.dev(), meta.ino())) {
                self.report.files += 1;
                self.object(path, shown)?;
            }
        } else {
            self.damage(
                shown,
                path,
                DamageKind::Unreadable,
                "not a directory, regular file or symlink",
            );
        }
        Ok(())
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
        let header = object::HeaderLock::shared(&file)
            .and_then(|_no_replacement| object::read_header(&file));
        let header = match header {
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
