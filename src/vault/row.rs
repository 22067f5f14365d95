//! Column values in and out of SQLite: times as fixed-width RFC 3339 text (so
//! that text order is time order), JSON text, and any value that does not parse
//! turned into `VaultError::Corrupt` naming its table and column, never a panic.

use std::fmt::Display;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::FromSql;
use rusqlite::Row;
use serde::de::DeserializeOwned;

use super::VaultError;

/// `2024-05-01T12:00:00.000000000Z`: nanosecond precision, so that a record
/// reads back equal to what was written.
pub(super) fn time_text(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// One row of `table`, read column by column.
pub(super) struct Columns<'r> {
    table: &'static str,
    row: &'r Row<'r>,
}

impl<'r> Columns<'r> {
    pub(super) fn new(table: &'static str, row: &'r Row<'r>) -> Self {
        Columns { table, row }
    }

    pub(super) fn corrupt(&self, column: &str, detail: impl Display) -> VaultError {
        VaultError::Corrupt(format!("table {} column {column}: {detail}", self.table))
    }

    /// The value as SQLite stores it; a NULL, wrong type or out-of-range integer is corrupt.
    pub(super) fn get<T: FromSql>(&self, column: &str) -> Result<T, VaultError> {
        self.row.get(column).map_err(|e| match e {
            rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..) => self.corrupt(column, e),
            other => VaultError::Sqlite(other),
        })
    }

    /// Text parsed with `FromStr` (key ids, alias names, states).
    pub(super) fn parse<T>(&self, column: &str) -> Result<T, VaultError>
    where
        T: FromStr,
        T::Err: Display,
    {
        let text: String = self.get(column)?;
        text.parse().map_err(|e| self.corrupt(column, e))
    }

    pub(super) fn time(&self, column: &str) -> Result<DateTime<Utc>, VaultError> {
        let text: String = self.get(column)?;
        self.parse_time(column, &text)
    }

    pub(super) fn optional_time(&self, column: &str) -> Result<Option<DateTime<Utc>>, VaultError> {
        let text: Option<String> = self.get(column)?;
        text.map(|t| self.parse_time(column, &t)).transpose()
    }

    fn parse_time(&self, column: &str, text: &str) -> Result<DateTime<Utc>, VaultError> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| self.corrupt(column, format!("'{text}' is not an RFC 3339 time ({e})")))
    }

    pub(super) fn json<T: DeserializeOwned>(&self, column: &str) -> Result<T, VaultError> {
        let text: String = self.get(column)?;
        self.parse_json(column, &text)
    }

    /// JSON text, or NULL.
    pub(super) fn optional_json<T: DeserializeOwned>(
        &self,
        column: &str,
    ) -> Result<Option<T>, VaultError> {
        let text: Option<String> = self.get(column)?;
        text.map(|t| self.parse_json(column, &t)).transpose()
    }

    fn parse_json<T: DeserializeOwned>(&self, column: &str, text: &str) -> Result<T, VaultError> {
        serde_json::from_str(text).map_err(|e| self.corrupt(column, format!("bad JSON ({e})")))
    }
}
