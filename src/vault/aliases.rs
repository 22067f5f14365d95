//! Alias rows: a unique name pointing at one key.

use chrono::{DateTime, Utc};
use rusqlite::{params, ErrorCode};

use crate::model::{AliasName, KeyId};

use super::row::{time_text, Columns};
use super::{Vault, VaultError};

#[derive(Clone, Debug, PartialEq)]
pub struct AliasRecord {
    pub name: AliasName,
    pub key_id: KeyId,
    pub creation_date: DateTime<Utc>,
    pub last_updated_date: DateTime<Utc>,
}

impl AliasRecord {
    fn from_row(row: &Columns<'_>) -> Result<AliasRecord, VaultError> {
        Ok(AliasRecord {
            name: row.parse("name")?,
            key_id: row.parse("key_id")?,
            creation_date: row.time("creation_date")?,
            last_updated_date: row.time("last_updated_date")?,
        })
    }
}

impl Vault {
    /// Stores a new alias; `AliasExists` if the name is taken.
    pub fn insert_alias(&self, alias: &AliasRecord) -> Result<(), VaultError> {
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO aliases (name, key_id, creation_date, last_updated_date)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                alias.name.as_str(),
                alias.key_id.to_string(),
                time_text(&alias.creation_date),
                time_text(&alias.last_updated_date),
            ]);
        match inserted {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == ErrorCode::ConstraintViolation
                    && e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                Err(VaultError::AliasExists(alias.name.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn alias(&self, name: &AliasName) -> Result<Option<AliasRecord>, VaultError> {
        self.query_one(
            "aliases",
            "SELECT * FROM aliases WHERE name = ?1",
            [name.as_str()],
            AliasRecord::from_row,
        )
    }

    /// All aliases, or those of one key, sorted by name.
    pub fn aliases(&self, key: Option<&KeyId>) -> Result<Vec<AliasRecord>, VaultError> {
        self.query_all(
            "aliases",
            "SELECT * FROM aliases WHERE ?1 IS NULL OR key_id = ?1 ORDER BY name",
            [key.map(KeyId::to_string)],
            AliasRecord::from_row,
        )
    }

    /// Points an existing alias at another key.
    pub fn update_alias(
        &self,
        name: &AliasName,
        key: &KeyId,
        at: DateTime<Utc>,
    ) -> Result<(), VaultError> {
        self.update_one(
            "UPDATE aliases SET key_id = ?2, last_updated_date = ?3 WHERE name = ?1",
            params![name.as_str(), key.to_string(), time_text(&at)],
        )
    }

    /// Deletes an alias; `false` if there was none by that name.
    pub fn delete_alias(&self, name: &AliasName) -> Result<bool, VaultError> {
        let deleted = self
            .conn
            .prepare_cached("DELETE FROM aliases WHERE name = ?1")?
            .execute([name.as_str()])?;
        Ok(deleted > 0)
    }
}
