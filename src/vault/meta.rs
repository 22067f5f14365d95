//! The vault's metadata row: who owns the vault, how its root key is protected,
//! and the verifier that tells a wrong root key from tampered key material.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use crate::crypto::{self, Cipher, KdfParams, RootKey, Sealed};

use super::row::{time_text, Columns};
use super::VaultError;

/// Where `init` gets the root key from.
pub enum RootKeySource {
    /// A fresh random key, written to the key file beside the database.
    KeyFile,
    /// Argon2id of this passphrase and a random salt.
    Passphrase(crypto::SecretBytes),
}

/// How a vault's root key is protected (what `open` needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    KeyFile,
    Passphrase,
}

impl Protection {
    fn as_str(self) -> &'static str {
        match self {
            Protection::KeyFile => "KEY_FILE",
            Protection::Passphrase => "PASSPHRASE",
        }
    }

    fn from_name(s: &str) -> Option<Protection> {
        [Protection::KeyFile, Protection::Passphrase]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// The vault's identity: the AWS account it plays.
#[derive(Clone, Debug)]
pub struct VaultInfo {
    /// A UUID.
    pub vault_id: String,
    /// Twelve random digits, like an AWS account id; part of every ARN.
    pub account_id: String,
    /// The uid that ran `kmsfs init`.
    pub owner_uid: u32,
    pub protection: Protection,
    pub created: DateTime<Utc>,
}

/// The passphrase KDF's salt and cost, for a passphrase-protected vault.
pub(super) struct KdfSetting {
    pub(super) salt: Vec<u8>,
    pub(super) params: KdfParams,
}

pub(super) struct Meta {
    pub(super) info: VaultInfo,
    pub(super) kdf: Option<KdfSetting>,
    verifier: Sealed,
}

pub(super) const SALT_LEN: usize = 16;
const VERIFIER_AAD: &[u8] = b"kmsfs root key check v1";
const VERIFIER_PLAINTEXT: &[u8] = b"kmsfs root key verifier";

impl Meta {
    /// The metadata of a new vault whose root key is `root`.
    pub(super) fn new(
        info: VaultInfo,
        kdf: Option<KdfSetting>,
        root: &RootKey,
    ) -> Result<Meta, VaultError> {
        let verifier = crypto::seal(root, Cipher::Aes256Gcm, VERIFIER_AAD, VERIFIER_PLAINTEXT)?;
        Ok(Meta {
            info,
            kdf,
            verifier,
        })
    }

    /// `open[root](verifier, aad = "kmsfs root key check v1") == constant`.
    pub(super) fn unlocks(&self, root: &RootKey) -> bool {
        crypto::open(
            root,
            Cipher::Aes256Gcm,
            &self.verifier.nonce,
            VERIFIER_AAD,
            &self.verifier.ciphertext,
        )
        .is_ok_and(|plain| crypto::constant_time_eq(plain.expose(), VERIFIER_PLAINTEXT))
    }

    pub(super) fn insert(&self, conn: &Connection) -> Result<(), VaultError> {
        let info = &self.info;
        let salt = self.kdf.as_ref().map(|k| &k.salt);
        let params = self.kdf.as_ref().map(|k| k.params);
        conn.execute(
            "INSERT INTO meta (singleton, vault_id, account_id, owner_uid, protection, created,
                kdf_salt, kdf_memory_kib, kdf_iterations, kdf_parallelism, verifier_nonce, verifier)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                info.vault_id,
                info.account_id,
                info.owner_uid,
                info.protection.as_str(),
                time_text(&info.created),
                salt,
                params.map(|p| p.memory_kib),
                params.map(|p| p.iterations),
                params.map(|p| p.parallelism),
                self.verifier.nonce,
                self.verifier.ciphertext,
            ],
        )?;
        Ok(())
    }

    /// Replaces the stored protection, KDF setting and verifier with this
    /// metadata's (a root key change); the identity columns are untouched.
    pub(super) fn update_protection(&self, conn: &Connection) -> Result<(), VaultError> {
        let salt = self.kdf.as_ref().map(|k| &k.salt);
        let params = self.kdf.as_ref().map(|k| k.params);
        conn.execute(
            "UPDATE meta SET protection = ?1, kdf_salt = ?2, kdf_memory_kib = ?3,
                kdf_iterations = ?4, kdf_parallelism = ?5, verifier_nonce = ?6, verifier = ?7
             WHERE singleton = 1",
            params![
                self.info.protection.as_str(),
                salt,
                params.map(|p| p.memory_kib),
                params.map(|p| p.iterations),
                params.map(|p| p.parallelism),
                self.verifier.nonce,
                self.verifier.ciphertext,
            ],
        )?;
        Ok(())
    }

    pub(super) fn read(conn: &Connection) -> Result<Meta, VaultError> {
        let mut stmt = conn.prepare("SELECT * FROM meta WHERE singleton = 1")?;
        let mut rows = stmt.query([])?;
        let row = rows
            .next()?
            .ok_or_else(|| VaultError::Corrupt("the vault metadata row is missing".into()))?;
        Meta::from_row(&Columns::new("meta", row))
    }

    fn from_row(row: &Columns<'_>) -> Result<Meta, VaultError> {
        let vault_id: uuid::Uuid = row.parse("vault_id")?;
        let protection_text: String = row.get("protection")?;
        let protection = Protection::from_name(&protection_text).ok_or_else(|| {
            row.corrupt(
                "protection",
                format!("unknown protection '{protection_text}'"),
            )
        })?;
        let account_id: String = row.get("account_id")?;
        if !is_account_id(&account_id) {
            return Err(row.corrupt("account_id", format!("'{account_id}' is not 12 digits")));
        }
        let info = VaultInfo {
            vault_id: vault_id.hyphenated().to_string(),
            account_id,
            owner_uid: row.get("owner_uid")?,
            protection,
            created: row.time("created")?,
        };
        let kdf = match protection {
            Protection::KeyFile => None,
            Protection::Passphrase => Some(KdfSetting {
                salt: row.get("kdf_salt")?,
                params: KdfParams {
                    memory_kib: row.get("kdf_memory_kib")?,
                    iterations: row.get("kdf_iterations")?,
                    parallelism: row.get("kdf_parallelism")?,
                },
            }),
        };
        let verifier = Sealed {
            nonce: row.get("verifier_nonce")?,
            ciphertext: row.get("verifier")?,
        };
        Ok(Meta {
            info,
            kdf,
            verifier,
        })
    }
}

/// Twelve random decimal digits, uniformly distributed.
pub(super) fn random_account_id() -> Result<String, VaultError> {
    let mut digits = String::with_capacity(ACCOUNT_ID_LEN);
    while digits.len() < ACCOUNT_ID_LEN {
        let mut byte = [0u8; 1];
        crypto::random_bytes(&mut byte)?;
        // Rejecting 250..=255 keeps every digit equally likely.
        if byte[0] < 250 {
            digits.push(char::from(b'0' + byte[0] % 10));
        }
    }
    Ok(digits)
}

const ACCOUNT_ID_LEN: usize = 12;

fn is_account_id(text: &str) -> bool {
    text.len() == ACCOUNT_ID_LEN && text.bytes().all(|b| b.is_ascii_digit())
}

/// A random (version 4) UUID from the OS random source.
pub(super) fn random_vault_id() -> Result<String, VaultError> {
    let mut bytes = [0u8; 16];
    crypto::random_bytes(&mut bytes)?;
    Ok(uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string())
}
