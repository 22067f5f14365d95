//! Command-line failures and the documented exit codes (man kmsfs(1), EXIT STATUS).

use std::fmt;
use std::path::PathBuf;

use crate::audit::AuditError;
use crate::kms::KmsError;
use crate::vault::VaultError;

/// Exit codes. Never renumbered.
pub mod exit {
    pub const SUCCESS: u8 = 0;
    /// The request was refused or failed (the error names an AWS exception),
    /// or a check ran and failed (`audit verify`: the trail is invalid).
    pub const REQUEST_FAILED: u8 = 1;
    /// The command line is wrong (clap also exits 2).
    pub const USAGE: u8 = 2;
    /// The vault, the audit log or a file could not be used.
    pub const ENVIRONMENT: u8 = 3;
}

#[derive(Debug)]
pub enum CliError {
    Kms(KmsError),
    Vault(VaultError),
    Audit(AuditError),
    Usage(String),
    File {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    Other(String),
    /// A check ran and what it checked is invalid (`audit verify`).
    CheckFailed(String),
    /// A failure another kmsfs process reported (the mount daemon): its message and exit code.
    Relayed {
        code: u8,
        message: String,
    },
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Kms(_) | CliError::CheckFailed(_) => exit::REQUEST_FAILED,
            CliError::Usage(_) => exit::USAGE,
            CliError::Vault(_)
            | CliError::Audit(_)
            | CliError::File { .. }
            | CliError::Other(_) => exit::ENVIRONMENT,
            CliError::Relayed { code, .. } => *code,
        }
    }

    pub fn read(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> CliError + '_ {
        move |source| CliError::File {
            path: path.to_path_buf(),
            action: "read",
            source,
        }
    }

    pub fn write(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> CliError + '_ {
        move |source| CliError::File {
            path: path.to_path_buf(),
            action: "write",
            source,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Kms(err) => write!(f, "{err}"),
            CliError::Vault(err) => write!(f, "{err}"),
            CliError::Audit(err) => write!(f, "{err}"),
            CliError::Usage(msg) | CliError::Other(msg) | CliError::CheckFailed(msg) => {
                f.write_str(msg)
            }
            CliError::Relayed { message, .. } => f.write_str(message),
            CliError::File {
                path,
                action,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
        }
    }
}

impl From<KmsError> for CliError {
    fn from(err: KmsError) -> Self {
        CliError::Kms(err)
    }
}

impl From<VaultError> for CliError {
    fn from(err: VaultError) -> Self {
        CliError::Vault(err)
    }
}

impl From<AuditError> for CliError {
    fn from(err: AuditError) -> Self {
        CliError::Audit(err)
    }
}
