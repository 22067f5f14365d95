//! Grant rows: narrower, revocable permissions on one key, found by key or by
//! the SHA-256 of their grant token. Whether a grant allows a request is `kms`'s call.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::params;

use crate::model::{EncryptionContext, KeyId};

use super::row::{time_text, Columns};
use super::{Vault, VaultError};

#[derive(Clone, Debug, PartialEq)]
pub struct GrantRecord {
    pub grant_id: String,
    pub key_id: KeyId,
    pub name: Option<String>,
    pub grantee: String,
    pub retiring_principal: Option<String>,
    pub issuing_principal: String,
    /// Operation names, as AWS spells them (`Decrypt`, `GenerateDataKey`, ...).
    pub operations: Vec<String>,
    pub encryption_context_equals: Option<EncryptionContext>,
    pub encryption_context_subset: Option<EncryptionContext>,
    /// SHA-256 of the grant token; the token itself is never stored.
    pub token_hash: [u8; 32],
    pub creation_date: DateTime<Utc>,
}

impl GrantRecord {
    fn from_row(row: &Columns<'_>) -> Result<GrantRecord, VaultError> {
        let context = |column| -> Result<Option<EncryptionContext>, VaultError> {
            let pairs: Option<BTreeMap<String, String>> = row.optional_json(column)?;
            Ok(pairs.map(|pairs| pairs.into_iter().collect()))
        };
        Ok(GrantRecord {
            grant_id: row.get("grant_id")?,
            key_id: row.parse("key_id")?,
            name: row.get("name")?,
            grantee: row.get("grantee")?,
            retiring_principal: row.get("retiring_principal")?,
            issuing_principal: row.get("issuing_principal")?,
            operations: row.json("operations")?,
            encryption_context_equals: context("encryption_context_equals")?,
            encryption_context_subset: context("encryption_context_subset")?,
            token_hash: row.get("token_hash")?,
            creation_date: row.time("creation_date")?,
        })
    }
}

fn context_json(context: &Option<EncryptionContext>) -> Option<String> {
    context.as_ref().map(|c| c.to_json().to_string())
}

impl Vault {
    pub fn insert_grant(&self, grant: &GrantRecord) -> Result<(), VaultError> {
        let operations = serde_json::Value::from(grant.operations.clone()).to_string();
        self.conn
            .prepare_cached(
                "INSERT INTO grants (grant_id, key_id, name, grantee, retiring_principal,
                    issuing_principal, operations, encryption_context_equals,
                    encryption_context_subset, token_hash, creation_date)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                grant.grant_id,
                grant.key_id.to_string(),
                grant.name,
                grant.grantee,
                grant.retiring_principal,
                grant.issuing_principal,
                operations,
                context_json(&grant.encryption_context_equals),
                context_json(&grant.encryption_context_subset),
                grant.token_hash,
                time_text(&grant.creation_date),
            ])?;
        Ok(())
    }

    /// The grants on key `id`, oldest first.
    pub fn grants(&self, id: &KeyId) -> Result<Vec<GrantRecord>, VaultError> {
        self.query_all(
            "grants",
            "SELECT * FROM grants WHERE key_id = ?1 ORDER BY creation_date, rowid",
            [id.to_string()],
            GrantRecord::from_row,
        )
    }

    pub fn grant_by_token_hash(&self, hash: &[u8; 32]) -> Result<Option<GrantRecord>, VaultError> {
        self.query_one(
            "grants",
            "SELECT * FROM grants WHERE token_hash = ?1",
            [hash],
            GrantRecord::from_row,
        )
    }

    /// Deletes a grant (revoked or retired); `false` if there was none with that id.
    pub fn delete_grant(&self, grant_id: &str) -> Result<bool, VaultError> {
        let deleted = self
            .conn
            .prepare_cached("DELETE FROM grants WHERE grant_id = ?1")?
            .execute([grant_id])?;
        Ok(deleted > 0)
    }
}
