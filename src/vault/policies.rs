//! Key policy documents, stored as JSON text exactly as given: one per key,
//! named `default` as in AWS. Parsing and evaluation belong to `policy`.

use rusqlite::params;

use crate::model::KeyId;

use super::{Vault, VaultError};

/// The only policy name AWS KMS allows.
const POLICY_NAME: &str = "default";

impl Vault {
    /// The key's policy document. Every key is stored with one, so a missing
    /// policy is a corrupt vault.
    pub fn policy(&self, id: &KeyId) -> Result<String, VaultError> {
        self.query_one(
            "policies",
            "SELECT document FROM policies WHERE key_id = ?1 AND name = ?2",
            params![id.to_string(), POLICY_NAME],
            |row| row.get("document"),
        )?
        .ok_or_else(|| VaultError::Corrupt(format!("table policies has no policy for key {id}")))
    }

    /// Stores or replaces the key's policy document.
    pub fn put_policy(&self, id: &KeyId, json: &str) -> Result<(), VaultError> {
        self.conn
            .prepare_cached(
                "INSERT INTO policies (key_id, name, document) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key_id, name) DO UPDATE SET document = excluded.document",
            )?
            .execute(params![id.to_string(), POLICY_NAME, json])?;
        Ok(())
    }
}
