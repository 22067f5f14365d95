//! Key material versions (1, 2, 3 ...) of each key, sealed at rest under the
//! root key with the key id and version bound as associated data, so that a
//! changed byte or a row moved to another key or version fails authentication.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rusqlite::params;

use crate::crypto::{self, Cipher, KeyMaterial, RootKey, Sealed};
use crate::model::{KeyId, ParseError};

use super::row::{time_text, Columns};
use super::{Vault, VaultError};

/// Why a material version was created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RotationType {
    /// The key's first material, made with the key.
    Initial,
    OnDemand,
    Automatic,
}

impl RotationType {
    const ALL: [RotationType; 3] = [
        RotationType::Initial,
        RotationType::OnDemand,
        RotationType::Automatic,
    ];

    /// The AWS name (`ListKeyRotations` `RotationType`).
    pub fn as_str(self) -> &'static str {
        match self {
            RotationType::Initial => "INITIAL",
            RotationType::OnDemand => "ON_DEMAND",
            RotationType::Automatic => "AUTOMATIC",
        }
    }
}

impl fmt::Display for RotationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RotationType {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<RotationType, ParseError> {
        RotationType::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| ParseError(format!("unknown rotation type '{s}'")))
    }
}

/// One material version of a key, without the material.
#[derive(Clone, Debug)]
pub struct KeyVersion {
    pub version: u32,
    pub created: DateTime<Utc>,
    pub rotation: RotationType,
    /// The material was erased; only this record remains.
    pub destroyed: bool,
}

impl KeyVersion {
    fn from_row(row: &Columns<'_>) -> Result<KeyVersion, VaultError> {
        Ok(KeyVersion {
            version: row.get("version")?,
            created: row.time("created")?,
            rotation: row.parse("rotation")?,
            destroyed: row.get("destroyed")?,
        })
    }
}

/// Key material rests under AES-256-GCM, whatever cipher volumes use.
const MATERIAL_CIPHER: Cipher = Cipher::Aes256Gcm;

/// `aad = "kmsfs key material v1" ‖ key id (16 bytes) ‖ be32(version)`.
fn material_aad(id: &KeyId, version: u32) -> Vec<u8> {
    const LABEL: &[u8] = b"kmsfs key material v1";
    let mut aad = Vec::with_capacity(LABEL.len() + 16 + 4);
    aad.extend_from_slice(LABEL);
    aad.extend_from_slice(id.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

impl Vault {
    /// Generates fresh key material for `id`, seals it as the next version
    /// `seal[RootKey](material, material_aad(id, version))`, and returns that version.
    pub fn add_material(
        &self,
        id: &KeyId,
        rotation: RotationType,
        at: DateTime<Utc>,
    ) -> Result<u32, VaultError> {
        self.in_write_transaction(|| {
            let version = self.max_version(id)?.unwrap_or(0) + 1;
            let material = KeyMaterial::generate()?;
            let sealed = crypto::wrap_key(
                &self.root,
                MATERIAL_CIPHER,
                &material_aad(id, version),
                &material,
            )?;
            self.conn
                .prepare_cached(
                    "INSERT INTO key_material (key_id, version, created, rotation, nonce, sealed)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    id.to_string(),
                    version,
                    time_text(&at),
                    rotation.as_str(),
                    sealed.nonce,
                    sealed.ciphertext,
                ])?;
            Ok(version)
        })
    }

    /// Re-seals every stored material version under `new_root` (inside the
    /// caller's transaction: `Vault::change_root_key`). Destroyed rows stay empty.
    pub(super) fn reseal_material(&self, new_root: &RootKey) -> Result<(), VaultError> {
        let versions: Vec<(KeyId, u32)> = self.query_all(
            "key_material",
            "SELECT key_id, version FROM key_material WHERE sealed IS NOT NULL",
            [],
            |row| Ok((row.parse("key_id")?, row.get("version")?)),
        )?;
        for (id, version) in versions {
            let material = self.material(&id, version)?;
            let sealed = crypto::wrap_key(
                new_root,
                MATERIAL_CIPHER,
                &material_aad(&id, version),
                &material,
            )?;
            self.update_one(
                "UPDATE key_material SET nonce = ?1, sealed = ?2 WHERE key_id = ?3 AND version = ?4",
                params![sealed.nonce, sealed.ciphertext, id.to_string(), version],
            )?;
        }
        Ok(())
    }

    /// Unseals one material version: `NoSuchMaterial` if it never existed,
    /// `Destroyed` if erased, `Tampered` if it does not authenticate.
    pub fn material(&self, id: &KeyId, version: u32) -> Result<KeyMaterial, VaultError> {
        // None: no such version; Some(None): destroyed.
        let stored: Option<Option<Sealed>> = self.query_one(
            "key_material",
            "SELECT nonce, sealed FROM key_material WHERE key_id = ?1 AND version = ?2",
            params![id.to_string(), version],
            |row| {
                let nonce: Option<Vec<u8>> = row.get("nonce")?;
                let sealed: Option<Vec<u8>> = row.get("sealed")?;
                Ok(nonce
                    .zip(sealed)
                    .map(|(nonce, ciphertext)| Sealed { nonce, ciphertext }))
            },
        )?;
        let sealed = match stored {
            None => {
                return Err(VaultError::NoSuchMaterial {
                    key_id: *id,
                    version,
                })
            }
            Some(None) => return Err(VaultError::Destroyed { key_id: *id }),
            Some(Some(sealed)) => sealed,
        };
        crypto::unwrap_key(
            &self.root,
            MATERIAL_CIPHER,
            &sealed.nonce,
            &material_aad(id, version),
            &sealed.ciphertext,
        )
        // Any failure here (tag, nonce length) means the row is not what this vault sealed.
        .map_err(|_| VaultError::Tampered {
            key_id: *id,
            version,
        })
    }

    /// The newest material version of `id` (destroyed or not); `NoSuchMaterial`
    /// with version 0 if the key has none.
    pub fn newest_version(&self, id: &KeyId) -> Result<u32, VaultError> {
        self.max_version(id)?.ok_or(VaultError::NoSuchMaterial {
            key_id: *id,
            version: 0,
        })
    }

    fn max_version(&self, id: &KeyId) -> Result<Option<u32>, VaultError> {
        let max = self
            .conn
            .prepare_cached("SELECT max(version) FROM key_material WHERE key_id = ?1")?
            .query_row([id.to_string()], |row| row.get(0))?;
        Ok(max)
    }

    /// Every material version of `id`, oldest first.
    pub fn versions(&self, id: &KeyId) -> Result<Vec<KeyVersion>, VaultError> {
        self.query_all(
            "key_material",
            "SELECT version, created, rotation, sealed IS NULL AS destroyed
             FROM key_material WHERE key_id = ?1 ORDER BY version",
            [id.to_string()],
            KeyVersion::from_row,
        )
    }

    /// Erases every material version of `id` (the version records stay, marked
    /// destroyed). `secure_delete` zeroes the space the sealed blobs leave, and
    /// once the transaction commits the write-ahead log, which still holds the
    /// old pages, is checkpointed and truncated.
    pub fn destroy_material(&self, id: &KeyId) -> Result<(), VaultError> {
        self.in_write_transaction(|| {
            self.conn.execute(
                "UPDATE key_material SET nonce = NULL, sealed = NULL WHERE key_id = ?1",
                [id.to_string()],
            )?;
            self.purge_wal_after_commit.set(true);
            Ok(())
        })
    }
}
