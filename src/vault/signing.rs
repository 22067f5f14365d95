//! The audit trail's anchor in the vault: the Ed25519 seed that signs digest
//! files, sealed under the root key like every key version, and the trail
//! state the audit module keeps here as opaque JSON text (docs/AUDIT.md,
//! "The ledger"). One row, made on first use.

use chrono::Utc;
use rusqlite::params;

use crate::crypto::{self, Cipher, DigestSigningSeed, RootKey};

use super::row::time_text;
use super::{Vault, VaultError};

const SEED_AAD: &[u8] = b"kmsfs digest signing key v1";
const SEED_CIPHER: Cipher = Cipher::Aes256Gcm;

impl Vault {
    /// The digest signing seed, generated and sealed on first use:
    /// `seal[RootKey](seed, aad = "kmsfs digest signing key v1")`.
    pub fn digest_signing_seed(&self) -> Result<DigestSigningSeed, VaultError> {
        self.ensure_audit_trail_row()?;
        let (nonce, sealed): (Vec<u8>, Vec<u8>) = self.conn.query_row(
            "SELECT signing_nonce, signing_sealed FROM audit_trail WHERE singleton = 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        crypto::unwrap_key(&self.root, SEED_CIPHER, &nonce, SEED_AAD, &sealed).map_err(|_| {
            VaultError::Corrupt(
                "the audit digest signing key does not authenticate under the root key".into(),
            )
        })
    }

    /// Re-seals the digest signing seed, if there is one, under `new_root`
    /// (inside the caller's transaction: `Vault::change_root_key`).
    pub(super) fn reseal_signing_seed(&self, new_root: &RootKey) -> Result<(), VaultError> {
        if !self.audit_trail_row_exists()? {
            return Ok(());
        }
        let seed = self.digest_signing_seed()?;
        let sealed = crypto::wrap_key(new_root, SEED_CIPHER, SEED_AAD, &seed)?;
        self.update_one(
            "UPDATE audit_trail SET signing_nonce = ?1, signing_sealed = ?2 WHERE singleton = 1",
            params![sealed.nonce, sealed.ciphertext],
        )
    }

    /// The audit trail state, if one was stored.
    pub fn audit_trail_state(&self) -> Result<Option<String>, VaultError> {
        let state = self
            .query_one(
                "audit_trail",
                "SELECT state FROM audit_trail WHERE singleton = 1",
                [],
                |row| row.get::<Option<String>>("state"),
            )?
            .flatten();
        Ok(state)
    }

    pub fn set_audit_trail_state(&self, state: &str) -> Result<(), VaultError> {
        self.ensure_audit_trail_row()?;
        self.update_one(
            "UPDATE audit_trail SET state = ?1 WHERE singleton = 1",
            params![state],
        )
    }

    fn audit_trail_row_exists(&self) -> Result<bool, VaultError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM audit_trail WHERE singleton = 1)",
            [],
            |row| row.get(0),
        )?)
    }

    /// Makes the row on first use; a plain read, no write lock, once it exists.
    fn ensure_audit_trail_row(&self) -> Result<(), VaultError> {
        if self.audit_trail_row_exists()? {
            return Ok(());
        }
        self.in_write_transaction(|| {
            // Another process may have made it while this one waited for the lock.
            if self.audit_trail_row_exists()? {
                return Ok(());
            }
            let seed = DigestSigningSeed::generate()?;
            let sealed = crypto::wrap_key(&self.root, SEED_CIPHER, SEED_AAD, &seed)?;
            self.conn.execute(
                "INSERT INTO audit_trail (singleton, created, signing_nonce, signing_sealed)
                 VALUES (1, ?1, ?2, ?3)",
                params![time_text(&Utc::now()), sealed.nonce, sealed.ciphertext],
            )?;
            Ok(())
        })
    }
}
