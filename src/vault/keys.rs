//! Key metadata rows: one per KMS key, whatever the state of its material.

use chrono::{DateTime, Utc};
use rusqlite::params;

use crate::model::{KeyId, KeyState};

use super::row::{time_text, Columns};
use super::{Vault, VaultError};

/// A KMS key's metadata (its material versions are stored apart).
#[derive(Clone, Debug, PartialEq)]
pub struct KeyRecord {
    pub key_id: KeyId,
    pub description: String,
    pub state: KeyState,
    pub creation_date: DateTime<Utc>,
    pub deletion_date: Option<DateTime<Utc>>,
    pub rotation_enabled: bool,
    pub rotation_period_days: u32,
    pub next_rotation_date: Option<DateTime<Utc>>,
}

impl KeyRecord {
    fn from_row(row: &Columns<'_>) -> Result<KeyRecord, VaultError> {
        Ok(KeyRecord {
            key_id: row.parse("key_id")?,
            description: row.get("description")?,
            state: row.parse("state")?,
            creation_date: row.time("creation_date")?,
            deletion_date: row.optional_time("deletion_date")?,
            rotation_enabled: row.get("rotation_enabled")?,
            rotation_period_days: row.get("rotation_period_days")?,
            next_rotation_date: row.optional_time("next_rotation_date")?,
        })
    }
}

impl Vault {
    /// Stores a new key's metadata row (its material is added by [`Vault::add_material`]).
    pub fn insert_key(&self, key: &KeyRecord) -> Result<(), VaultError> {
        self.conn
            .prepare_cached(
                "INSERT INTO keys (key_id, description, state, creation_date, deletion_date,
                    rotation_enabled, rotation_period_days, next_rotation_date)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                key.key_id.to_string(),
                key.description,
                key.state.as_str(),
                time_text(&key.creation_date),
                key.deletion_date.as_ref().map(time_text),
                key.rotation_enabled,
                key.rotation_period_days,
                key.next_rotation_date.as_ref().map(time_text),
            ])?;
        Ok(())
    }

    pub fn key(&self, id: &KeyId) -> Result<Option<KeyRecord>, VaultError> {
        self.query_one(
            "keys",
            "SELECT * FROM keys WHERE key_id = ?1",
            [id.to_string()],
            KeyRecord::from_row,
        )
    }

    /// Every key, oldest first.
    pub fn keys(&self) -> Result<Vec<KeyRecord>, VaultError> {
        self.query_all(
            "keys",
            "SELECT * FROM keys ORDER BY creation_date, rowid",
            [],
            KeyRecord::from_row,
        )
    }

    /// Writes back everything but the id and creation date: state, dates,
    /// description and rotation settings.
    pub fn update_key(&self, key: &KeyRecord) -> Result<(), VaultError> {
        self.update_one(
            "UPDATE keys SET description = ?2, state = ?3, deletion_date = ?4,
                rotation_enabled = ?5, rotation_period_days = ?6, next_rotation_date = ?7
             WHERE key_id = ?1",
            params![
                key.key_id.to_string(),
                key.description,
                key.state.as_str(),
                key.deletion_date.as_ref().map(time_text),
                key.rotation_enabled,
                key.rotation_period_days,
                key.next_rotation_date.as_ref().map(time_text),
            ],
        )
    }
}
