//! A volume opened for use: its config, read from the backing directory, and
//! its name key, unwrapped through the KMS (a Decrypt request, so mounting is
//! authorized and audited like any other use of the key).

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::Utc;

use super::names::DirId;
use crate::crypto::{Cipher, NameKey};
use crate::format::object::check_chunk_size;
use crate::format::volume_config::{VolumeConfig, VolumeId, CONFIG_FILE};
use crate::format::FormatError;
use crate::kms::{FileContext, KeySpec, Kms, KmsError};
use crate::model::{Caller, KeyId};

/// Why a volume could not be created or opened.
#[derive(Debug)]
pub enum VolumeError {
    NotADirectory(PathBuf),
    NotEmpty(PathBuf),
    NoVolume(PathBuf),
    Config {
        path: PathBuf,
        source: FormatError,
    },
    /// The name key did not unwrap: the config was edited, or belongs to another vault.
    ConfigTampered(PathBuf),
    Kms(KmsError),
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    Invalid(String),
}

impl fmt::Display for VolumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VolumeError::NotADirectory(p) => write!(f, "{} is not a directory", p.display()),
            VolumeError::NotEmpty(p) => {
                write!(f, "{} is not empty: a volume is created in an empty directory", p.display())
            }
            VolumeError::NoVolume(p) => write!(
                f,
                "{} is not a kmsfs volume (no {CONFIG_FILE}): create one with 'kmsfs volume create'",
                p.display()
            ),
            VolumeError::Config { path, source } => write!(f, "volume config {}: {source}", path.display()),
            VolumeError::ConfigTampered(p) => write!(
                f,
                "volume config {} does not match its wrapped name key: it was edited, or it belongs to another vault",
                p.display()
            ),
            VolumeError::Kms(err) => write!(f, "{err}"),
            VolumeError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            VolumeError::Invalid(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for VolumeError {}

impl From<KmsError> for VolumeError {
    fn from(err: KmsError) -> Self {
        VolumeError::Kms(err)
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> VolumeError + '_ {
    move |source| VolumeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An open volume: what the filesystem needs to read and write it.
pub struct Volume {
    root: PathBuf,
    config: VolumeConfig,
    volume_id: String,
    name_key: NameKey,
    /// Who opened it: the name key was unwrapped for this caller.
    opened_by: Caller,
    /// The key new files are created under, and the config file it was read from.
    current_key: Mutex<(KeyId, Option<ConfigStamp>)>,
}

/// What tells that the config file was replaced (a rewrap renames a new one over it).
#[derive(Clone, Copy, PartialEq, Eq)]
struct ConfigStamp {
    inode: u64,
    modified_ns: i128,
    len: u64,
}

impl ConfigStamp {
    fn of(backing: &Path) -> Option<ConfigStamp> {
        let meta = std::fs::metadata(backing.join(CONFIG_FILE)).ok()?;
        Some(ConfigStamp {
            inode: meta.ino(),
            modified_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            len: meta.len(),
        })
    }
}

impl Volume {
    /// `kmsfs volume create`: a fresh volume id and name key (GenerateDataKey under
    /// `key`, bound to the config), the config file and the root's directory id.
    pub fn create(
        kms: &Kms,
        caller: &Caller,
        backing: &Path,
        key: &str,
        cipher: Cipher,
        chunk_size: u32,
    ) -> Result<VolumeConfig, VolumeError> {
        if !backing.is_dir() {
            return Err(VolumeError::NotADirectory(backing.to_path_buf()));
        }
        if std::fs::read_dir(backing)
            .map_err(io_error(backing))?
            .next()
            .is_some()
        {
            return Err(VolumeError::NotEmpty(backing.to_path_buf()));
        }
        let chunk_size = check_chunk_size("--chunk-size", chunk_size.into())
            .map_err(|e| VolumeError::Invalid(e.to_string()))?;
        let key_id = resolve_key_id(kms, caller, key)?;
        let mut config = VolumeConfig {
            volume_id: VolumeId::new_random(),
            key_id,
            cipher,
            chunk_size,
            wrapped_name_key: Vec::new(),
            created: Utc::now(),
        };
        let generated = kms.generate_data_key(
            caller,
            &key_id.to_string(),
            KeySpec::Bytes(NameKey::LEN),
            &config.name_key_context(),
            false,
        )?;
        config.wrapped_name_key = generated.ciphertext_blob;
        let path = backing.join(CONFIG_FILE);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
            .map_err(io_error(&path))?;
        file.write_all(config.encode().as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io_error(&path))?;
        DirId::create_in(backing)
            .map_err(|e| VolumeError::Invalid(format!("{}: {e}", backing.display())))?;
        Ok(config)
    }

    /// The config alone (`kmsfs volume info`): no key is used.
    pub fn read_config(backing: &Path) -> Result<VolumeConfig, VolumeError> {
        let path = backing.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(VolumeError::NoVolume(backing.to_path_buf()))
            }
            Err(e) => return Err(VolumeError::Io { path, source: e }),
        };
        VolumeConfig::parse(&text).map_err(|source| VolumeError::Config { path, source })
    }

    /// Opens the volume for use by `caller`: unwraps the name key (Decrypt).
    pub fn open(kms: &Kms, caller: &Caller, backing: &Path) -> Result<Volume, VolumeError> {
        let stamp = ConfigStamp::of(backing);
        let config = Volume::read_config(backing)?;
        let name_key = unwrap_name_key(kms, caller, backing, &config)?;
        Ok(Volume {
            root: backing.to_path_buf(),
            volume_id: config.volume_id.to_string(),
            current_key: Mutex::new((config.key_id, stamp)),
            config,
            name_key,
            opened_by: caller.clone(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config(&self) -> &VolumeConfig {
        &self.config
    }

    pub fn name_key(&self) -> &NameKey {
        &self.name_key
    }

    pub fn volume_id(&self) -> &str {
        &self.volume_id
    }

    /// The key the volume is under, as last read from its config.
    pub fn key_id(&self) -> KeyId {
        self.current_key.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    /// The key a new file's data key is generated under. A mounted volume
    /// follows a rewrap to another key: when the config file was replaced
    /// since it was last read, it is read again, and its key adopted if its
    /// wrapped name key unwraps (a Decrypt for whoever opened the volume) to
    /// the name key in use — which only someone allowed to unwrap the name key
    /// could have arranged. Otherwise the key stays, with a warning.
    pub fn key_for_new_files(&self, kms: &Kms) -> KeyId {
        let mut current = self.current_key.lock().unwrap_or_else(|e| e.into_inner());
        let stamp = ConfigStamp::of(&self.root);
        if stamp == current.1 {
            return current.0;
        }
        match self.reread_key(kms) {
            Ok(key_id) => {
                if key_id != current.0 {
                    log::info!(
                        "{}: now under key {key_id} (was {})",
                        self.root.display(),
                        current.0
                    );
                }
                current.0 = key_id;
            }
            Err(err) => log::warn!(
                "{}: the replaced volume config is not adopted, new files stay under key {}: {err}",
                self.root.display(),
                current.0
            ),
        }
        current.1 = stamp;
        current.0
    }

    fn reread_key(&self, kms: &Kms) -> Result<KeyId, VolumeError> {
        let config = Volume::read_config(&self.root)?;
        let tampered = || VolumeError::ConfigTampered(self.root.join(CONFIG_FILE));
        if config.volume_id != self.config.volume_id
            || config.cipher != self.config.cipher
            || config.chunk_size != self.config.chunk_size
        {
            return Err(tampered());
        }
        let name_key = unwrap_name_key(kms, &self.opened_by, &self.root, &config)?;
        if !name_key.is_same_key(&self.name_key) {
            return Err(tampered());
        }
        Ok(config.key_id)
    }

    /// The encryption context of one file's data key.
    pub fn file_context<'a>(&'a self, file_id: &'a str, path: &'a str) -> FileContext<'a> {
        FileContext {
            volume_id: &self.volume_id,
            file_id,
            path,
        }
    }
}

/// The name key of the volume at `backing` whose config is `config`, unwrapped for `caller`.
fn unwrap_name_key(
    kms: &Kms,
    caller: &Caller,
    backing: &Path,
    config: &VolumeConfig,
) -> Result<NameKey, VolumeError> {
    let decrypted = kms
        .decrypt(
            caller,
            &config.wrapped_name_key,
            &config.name_key_context(),
            Some(&config.key_id.to_string()),
        )
        .map_err(|err| match err.code {
            crate::kms::ErrorCode::InvalidCiphertext => {
                VolumeError::ConfigTampered(backing.join(CONFIG_FILE))
            }
            _ => VolumeError::Kms(err),
        })?;
    NameKey::from_secret(&decrypted.plaintext)
        .map_err(|_| VolumeError::ConfigTampered(backing.join(CONFIG_FILE)))
}

/// The key id a volume is created under, from any of the four names.
pub(super) fn resolve_key_id(kms: &Kms, caller: &Caller, key: &str) -> Result<KeyId, VolumeError> {
    let described = kms.describe_key(caller, key)?;
    described["KeyMetadata"]["KeyId"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| {
            VolumeError::Invalid(format!("BUG: DescribeKey of '{key}' returned no key id"))
        })
}
