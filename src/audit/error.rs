//! Why the audit log could not be opened, written or read.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// An audit log failure. A failed `Write` means the request it describes must be
/// refused: kmsfs never serves a request it could not record (fail closed).
///
/// Display already names the OS error; `source()` returns it too, for callers
/// that inspect its kind, so print either the Display or the chain, not both.
#[derive(Debug)]
pub enum AuditError {
    /// The audit directory or the active log cannot be created or opened.
    Open { path: PathBuf, source: io::Error },
    /// The audit directory or the active log is open to other users.
    Insecure {
        path: PathBuf,
        mode: u32,
        fix_mode: u32,
    },
    /// The active log path is not a regular file (a device, a directory, ...).
    NotAFile { path: PathBuf },
    /// A record was not written whole (short write, disk full, I/O error).
    Write { path: PathBuf, source: io::Error },
    /// fsync of the active log failed.
    Sync { path: PathBuf, source: io::Error },
    /// A log file cannot be opened or read.
    Read { path: PathBuf, source: io::Error },
    /// A line of a log file is not a record; `line` counts from 1.
    Malformed {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    /// A lookup filter's path glob does not parse.
    InvalidPathGlob { pattern: String, reason: String },
    /// A log or digest file could not be written, renamed or synced into place.
    Deliver { path: PathBuf, source: io::Error },
    /// The trail state could not be loaded or stored.
    Ledger(String),
    /// The operating system's random source failed.
    Random(String),
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditError::Open { path, source } => {
                write!(f, "cannot open {} for the audit log: {source}", path.display())
            }
            AuditError::Insecure {
                path,
                mode,
                fix_mode,
            } => write!(
                f,
                "{} has mode {mode:04o}: other users could read or rewrite the audit trail; fix with: chmod {fix_mode:o} {}",
                path.display(),
                path.display()
            ),
            AuditError::NotAFile { path } => write!(
                f,
                "audit log {} is not a regular file; move it away and kmsfs will create a new one",
                path.display()
            ),
            AuditError::Write { path, source } => write!(
                f,
                "audit log {} cannot be written: {source}; refusing the request",
                path.display()
            ),
            AuditError::Sync { path, source } => write!(
                f,
                "audit log {} cannot be synced to disk: {source}",
                path.display()
            ),
            AuditError::Read { path, source } => {
                write!(f, "audit log {} cannot be read: {source}", path.display())
            }
            AuditError::Malformed { path, line, reason } => write!(
                f,
                "audit log {} line {line} is not a valid record: {reason}",
                path.display()
            ),
            AuditError::InvalidPathGlob { pattern, reason } => {
                write!(f, "invalid path glob '{pattern}': {reason}")
            }
            AuditError::Deliver { path, source } => {
                write!(f, "cannot deliver audit file {}: {source}", path.display())
            }
            AuditError::Ledger(reason) => write!(f, "audit trail state: {reason}"),
            AuditError::Random(reason) => write!(f, "audit trail: {reason}"),
        }
    }
}

impl std::error::Error for AuditError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AuditError::Open { source, .. }
            | AuditError::Write { source, .. }
            | AuditError::Sync { source, .. }
            | AuditError::Read { source, .. }
            | AuditError::Deliver { source, .. } => Some(source),
            _ => None,
        }
    }
}
