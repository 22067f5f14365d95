//! `VaultError`: everything that can go wrong between kmsfs and its key vault.

use std::fmt;
use std::path::PathBuf;

use crate::crypto::CryptoError;
use crate::model::{AliasName, KeyId};

#[derive(Debug)]
pub enum VaultError {
    /// No vault database at this path.
    NotFound(PathBuf),
    /// `init` found a vault (or its key file) already there.
    AlreadyExists(PathBuf),
    /// A vault file or directory other users can read or write.
    InsecurePermissions {
        path: PathBuf,
        mode: u32,
        /// The shell command that fixes it.
        fix: String,
    },
    PassphraseRequired,
    WrongPassphrase,
    WrongKeyFile,
    KeyFileMissing(PathBuf),
    NewerSchema {
        found: u32,
        supported: u32,
    },
    /// A sealed key material version did not authenticate under the root key.
    Tampered {
        key_id: KeyId,
        version: u32,
    },
    NoSuchMaterial {
        key_id: KeyId,
        version: u32,
    },
    /// The key's material was erased.
    Destroyed {
        key_id: KeyId,
    },
    AliasExists(AliasName),
    /// A row or the vault metadata does not parse.
    Corrupt(String),
    Sqlite(rusqlite::Error),
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    Crypto(CryptoError),
}

impl VaultError {
    /// An I/O error on `path`.
    pub(super) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> VaultError {
        let path = path.into();
        move |source| VaultError::Io { path, source }
    }
}

impl fmt::Display for VaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VaultError::NotFound(path) => write!(
                f,
                "no vault at {}: create one with 'kmsfs init' (or choose another with --vault or KMSFS_VAULT)",
                path.display()
            ),
            VaultError::AlreadyExists(path) => write!(
                f,
                "a vault already exists at {}; kmsfs init never overwrites one",
                path.display()
            ),
            VaultError::InsecurePermissions { path, mode, fix } => write!(
                f,
                "{} is readable or writable by other users (mode {mode:04o}); fix it with: {fix}",
                path.display()
            ),
            VaultError::PassphraseRequired => f.write_str(
                "this vault is protected by a passphrase: give it at the prompt or with --passphrase-file",
            ),
            VaultError::WrongPassphrase => f.write_str("wrong passphrase: it does not unlock this vault"),
            VaultError::WrongKeyFile => f.write_str("wrong key file: it does not unlock this vault"),
            VaultError::KeyFileMissing(path) => write!(
                f,
                "the vault's key file {} is missing; the vault cannot be unlocked without it (restore it from a backup)",
                path.display()
            ),
            VaultError::NewerSchema { found, supported } => write!(
                f,
                "vault schema version {found} is newer than this kmsfs supports ({supported}); upgrade kmsfs"
            ),
            VaultError::Tampered { key_id, version } => write!(
                f,
                "key material version {version} of key {key_id} failed authentication: the vault was tampered with or is corrupt"
            ),
            VaultError::NoSuchMaterial { key_id, version } => {
                write!(f, "key {key_id} has no key material version {version}")
            }
            VaultError::Destroyed { key_id } => {
                write!(f, "the key material of key {key_id} was destroyed")
            }
            VaultError::AliasExists(name) => write!(f, "alias {name} already exists"),
            VaultError::Corrupt(what) => write!(f, "corrupt vault: {what}"),
            VaultError::Sqlite(e) => write!(f, "vault database error: {e}"),
            VaultError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            VaultError::Crypto(e) => write!(f, "vault cryptography failed: {e}"),
        }
    }
}

impl std::error::Error for VaultError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            VaultError::Sqlite(e) => Some(e),
            VaultError::Io { source, .. } => Some(source),
            VaultError::Crypto(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for VaultError {
    fn from(e: rusqlite::Error) -> Self {
        VaultError::Sqlite(e)
    }
}

impl From<CryptoError> for VaultError {
    fn from(e: CryptoError) -> Self {
        VaultError::Crypto(e)
    }
}
