//! The vault's SQLite schema, versioned in `PRAGMA user_version` with a list of
//! migrations, and the settings every vault connection runs with.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::VaultError;

/// Several processes (the CLI, mount daemons) share one vault: wait this long for its lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Migration `i` takes the schema from version `i` to version `i + 1`.
/// Append only: a released migration never changes.
const MIGRATIONS: &[&str] = &[V1_INITIAL, V2_AUDIT_TRAIL];

/// The schema version this kmsfs writes and reads.
pub(super) const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

const V1_INITIAL: &str = "
CREATE TABLE meta (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    vault_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    owner_uid INTEGER NOT NULL,
    protection TEXT NOT NULL,
    created TEXT NOT NULL,
    kdf_salt BLOB,
    kdf_memory_kib INTEGER,
    kdf_iterations INTEGER,
    kdf_parallelism INTEGER,
    -- seal[RootKey](constant, aad = 'kmsfs root key check v1')
    verifier_nonce BLOB NOT NULL,
    verifier BLOB NOT NULL
) STRICT;

CREATE TABLE keys (
    key_id TEXT PRIMARY KEY NOT NULL,
    description TEXT NOT NULL,
    state TEXT NOT NULL,
    creation_date TEXT NOT NULL,
    deletion_date TEXT,
    rotation_enabled INTEGER NOT NULL,
    rotation_period_days INTEGER NOT NULL,
    next_rotation_date TEXT
) STRICT;

CREATE TABLE key_material (
    key_id TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
    version INTEGER NOT NULL CHECK (version >= 1),
    created TEXT NOT NULL,
    rotation TEXT NOT NULL,
    -- seal[RootKey](material, aad = 'kmsfs key material v1' || key id || be32(version));
    -- both NULL once the material is destroyed.
    nonce BLOB,
    sealed BLOB,
    PRIMARY KEY (key_id, version)
) STRICT;

CREATE TABLE aliases (
    name TEXT PRIMARY KEY NOT NULL,
    key_id TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
    creation_date TEXT NOT NULL,
    last_updated_date TEXT NOT NULL
) STRICT;
CREATE INDEX aliases_by_key ON aliases(key_id);

CREATE TABLE policies (
    key_id TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (key_id, name)
) STRICT;

CREATE TABLE grants (
    grant_id TEXT PRIMARY KEY NOT NULL,
    key_id TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
    name TEXT,
    grantee TEXT NOT NULL,
    retiring_principal TEXT,
    issuing_principal TEXT NOT NULL,
    operations TEXT NOT NULL,                -- JSON array of operation names
    encryption_context_equals TEXT,          -- JSON object
    encryption_context_subset TEXT,          -- JSON object
    token_hash BLOB NOT NULL UNIQUE,
    creation_date TEXT NOT NULL
) STRICT;
CREATE INDEX grants_by_key ON grants(key_id);
";

/// The audit trail's anchor: the digest signing key and the trail state
/// (chain head, deliveries not yet in a digest), one row.
const V2_AUDIT_TRAIL: &str = "
CREATE TABLE audit_trail (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    created TEXT NOT NULL,
    -- seal[RootKey](Ed25519 seed, aad = 'kmsfs digest signing key v1')
    signing_nonce BLOB NOT NULL,
    signing_sealed BLOB NOT NULL,
    -- JSON owned by the audit module; NULL until the first roll
    state TEXT
) STRICT;
";

/// Opens an existing database file with the per-connection settings:
/// `secure_delete` (freed pages are zeroed), foreign keys, and a busy timeout.
pub(super) fn connect(db: &Path) -> Result<Connection, VaultError> {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "secure_delete", true)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(conn)
}

/// Switches a new database to WAL mode (persistent: set once, at init).
pub(super) fn enable_wal(conn: &Connection) -> Result<(), VaultError> {
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(VaultError::Corrupt(format!(
            "the database refused WAL mode (journal mode is {mode})"
        )));
    }
    Ok(())
}

fn version(conn: &Connection) -> Result<u32, VaultError> {
    Ok(conn.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

fn refuse_newer(found: u32) -> Result<(), VaultError> {
    if found > SCHEMA_VERSION {
        return Err(VaultError::NewerSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Creates the schema in an empty database; the caller commits it together with the metadata.
pub(super) fn create(tx: &rusqlite::Transaction<'_>) -> Result<(), VaultError> {
    apply_from(tx, 0)
}

/// Brings an existing vault up to [`SCHEMA_VERSION`], refusing a newer one, or
/// a database that is not a vault at all.
pub(super) fn upgrade(conn: &mut Connection, db: &Path) -> Result<(), VaultError> {
    let found = version(conn)?;
    refuse_newer(found)?;
    if found == 0 {
        return Err(VaultError::Corrupt(format!(
            "{} is not a kmsfs vault (it has no schema version)",
            db.display()
        )));
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another process may have migrated while this one waited for the lock.
    let found = version(&tx)?;
    refuse_newer(found)?;
    apply_from(&tx, found)?;
    tx.commit()?;
    Ok(())
}

fn apply_from(conn: &Connection, found: u32) -> Result<(), VaultError> {
    for migration in &MIGRATIONS[found as usize..] {
        conn.execute_batch(migration)?;
    }
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(())
}
