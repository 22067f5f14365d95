//! The key vault: one SQLite database holding KMS keys, their key material
//! versions (sealed under the vault root key), aliases, key policies (JSON
//! text), grants and the vault's metadata. The only user of rusqlite.
//!
//! It stores and authenticates; it does not evaluate policies or key-state
//! rules (that is `kms`). Must not import `kms`, `policy`, `audit`, `fs` or `cli`.

mod aliases;
mod error;
mod files;
mod grants;
mod keys;
mod lifecycle;
mod material;
mod meta;
mod passwd;
mod policies;
mod row;
mod schema;
mod signing;

#[cfg(test)]
mod tests;

pub use aliases::AliasRecord;
pub use error::VaultError;
pub use files::key_file_path;
pub use grants::GrantRecord;
pub use keys::KeyRecord;
pub use material::{KeyVersion, RotationType};
pub use meta::{Protection, RootKeySource, VaultInfo};

use std::cell::Cell;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, Params};

use crate::crypto::RootKey;
use row::Columns;

/// An open, unlocked vault: one SQLite connection and the root key.
/// Several `Vault`s (in one or many processes) may share a database file.
pub struct Vault {
    conn: Connection,
    root: RootKey,
    db_path: PathBuf,
    info: VaultInfo,
    /// Set when key material was destroyed in the current transaction: once it
    /// commits, the write-ahead log (which still holds the old pages) is emptied.
    purge_wal_after_commit: Cell<bool>,
}

impl Vault {
    pub fn info(&self) -> &VaultInfo {
        &self.info
    }

    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// Runs `f` inside `BEGIN IMMEDIATE ... COMMIT`, rolling back if it returns
    /// an error (or panics). Not nestable: calling it inside `f` is a bug.
    pub fn atomically<T, E: From<VaultError>>(
        &self,
        f: impl FnOnce(&Vault) -> Result<T, E>,
    ) -> Result<T, E> {
        assert!(
            self.conn.is_autocommit(),
            "BUG: Vault::atomically called inside a transaction"
        );
        self.control("BEGIN IMMEDIATE")?;
        let rollback = RollbackUnlessCommitted(self);
        let value = f(self)?;
        self.control("COMMIT")?;
        std::mem::forget(rollback);
        if self.purge_wal_after_commit.take() {
            self.purge_wal();
        }
        Ok(value)
    }

    /// Runs `f` inside one read transaction (`BEGIN DEFERRED ... COMMIT`): its
    /// reads see one snapshot and take SQLite's locks once, not per statement.
    /// Inside another transaction it just runs `f`.
    pub fn reading<T, E: From<VaultError>>(
        &self,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        if !self.conn.is_autocommit() {
            return f();
        }
        self.control("BEGIN")?;
        let rollback = RollbackUnlessCommitted(self);
        let value = f()?;
        self.control("COMMIT")?;
        std::mem::forget(rollback);
        Ok(value)
    }

    /// Runs `f` in the caller's transaction if there is one, else in its own,
    /// for operations that read before they write.
    fn in_write_transaction<T>(
        &self,
        f: impl FnOnce() -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        if self.conn.is_autocommit() {
            self.atomically(|_| f())
        } else {
            f()
        }
    }

    /// Checkpoints the whole write-ahead log into the database and truncates it,
    /// so that pages holding destroyed material do not linger in the WAL file.
    /// Best effort: the destruction has committed whatever happens here.
    fn purge_wal(&self) {
        let result = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                row.get::<_, i64>(0)
            });
        match result {
            Ok(0) => {}
            Ok(_) => log::warn!(
                "{}: another connection kept the write-ahead log busy; destroyed key material stays in it until a later checkpoint",
                self.db_path.display()
            ),
            Err(e) => log::warn!(
                "{}: could not checkpoint the write-ahead log after destroying key material: {e}",
                self.db_path.display()
            ),
        }
    }

    /// Every row of `sql`, each parsed by `parse` as a row of `table`.
    fn query_all<T>(
        &self,
        table: &'static str,
        sql: &str,
        params: impl Params,
        parse: impl Fn(&Columns<'_>) -> Result<T, VaultError>,
    ) -> Result<Vec<T>, VaultError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(parse(&Columns::new(table, row))?);
        }
        Ok(out)
    }

    /// The first row of `sql`, if any, parsed by `parse` as a row of `table`.
    fn query_one<T>(
        &self,
        table: &'static str,
        sql: &str,
        params: impl Params,
        parse: impl Fn(&Columns<'_>) -> Result<T, VaultError>,
    ) -> Result<Option<T>, VaultError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params)?;
        rows.next()?
            .map(|row| parse(&Columns::new(table, row)))
            .transpose()
    }

    /// Runs a transaction control statement, prepared once per connection:
    /// every KMS request begins and commits one, and parsing it each time
    /// showed in profiles of the mount daemon.
    fn control(&self, sql: &str) -> Result<(), VaultError> {
        self.conn.prepare_cached(sql)?.execute([])?;
        Ok(())
    }

    /// Runs a statement that must change exactly one row; none means the row does not exist.
    fn update_one(&self, sql: &str, params: impl Params) -> Result<(), VaultError> {
        match self.conn.prepare_cached(sql)?.execute(params)? {
            1 => Ok(()),
            0 => Err(VaultError::Sqlite(rusqlite::Error::QueryReturnedNoRows)),
            n => panic!("BUG: a statement meant for one row changed {n} rows"),
        }
    }
}

/// Rolls back the open transaction when dropped (an error or a panic in `atomically`).
struct RollbackUnlessCommitted<'v>(&'v Vault);

impl Drop for RollbackUnlessCommitted<'_> {
    fn drop(&mut self) {
        self.0.purge_wal_after_commit.set(false);
        // If SQLite already rolled back (after some errors it does), this fails harmlessly.
        let _ = self.0.conn.execute_batch("ROLLBACK");
    }
}
