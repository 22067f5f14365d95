//! Vault tests: real SQLite files in temporary directories, poked with a second
//! plain connection where a test plays the attacker.

mod lifecycle;
mod material;
mod permissions;
mod records;
mod signing;
mod transactions;

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use tempfile::TempDir;

use crate::crypto::KdfParams;
use crate::model::{KeyId, KeyState};

use super::{KeyRecord, RootKeySource, RotationType, Vault};

/// Cheap Argon2id parameters, so that passphrase tests stay fast.
fn small_kdf() -> KdfParams {
    KdfParams {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    }
}

/// A temporary directory and a vault path inside a not-yet-existing subdirectory.
struct Place {
    _dir: TempDir,
    db: PathBuf,
}

fn place() -> Place {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kmsfs").join("vault.db");
    Place { _dir: dir, db }
}

/// A fresh key-file-protected vault.
fn new_vault() -> (Place, Vault) {
    let place = place();
    let vault = Vault::init(&place.db, RootKeySource::KeyFile, small_kdf()).unwrap();
    (place, vault)
}

/// A second, plain SQLite connection to the vault's file: the attacker's view.
fn raw(db: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    conn
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 123_456_789)
        .single()
        .unwrap()
}

fn key_record(created: DateTime<Utc>) -> KeyRecord {
    KeyRecord {
        key_id: KeyId::new_random(),
        description: "test key".into(),
        state: KeyState::Enabled,
        creation_date: created,
        deletion_date: None,
        rotation_enabled: false,
        rotation_period_days: 365,
        next_rotation_date: None,
    }
}

/// Stores a new key with its initial material version.
fn new_key(vault: &Vault) -> KeyId {
    let key = key_record(at(0));
    vault.insert_key(&key).unwrap();
    assert_eq!(
        vault
            .add_material(&key.key_id, RotationType::Initial, at(0))
            .unwrap(),
        1
    );
    key.key_id
}
