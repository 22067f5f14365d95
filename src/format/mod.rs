//! Byte layouts of docs/FORMAT.md: pure encoding and bounded parsing, no I/O.

pub mod blob;
mod reader;

pub use reader::Reader;

use std::fmt;

/// Why untrusted bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// Fewer bytes than the layout needs.
    Truncated {
        what: &'static str,
    },
    /// Bytes left over after a complete structure.
    TrailingBytes {
        count: usize,
    },
    BadMagic {
        what: &'static str,
    },
    UnsupportedVersion {
        what: &'static str,
        version: u32,
    },
    UnknownCipher(u8),
    /// Any other field that is out of range.
    Invalid(String),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Truncated { what } => write!(f, "truncated {what}"),
            FormatError::TrailingBytes { count } => write!(f, "{count} unexpected trailing bytes"),
            FormatError::BadMagic { what } => write!(f, "not a {what} (bad magic)"),
            FormatError::UnsupportedVersion { what, version } => {
                write!(
                    f,
                    "unsupported {what} version {version} (this kmsfs reads older versions only)"
                )
            }
            FormatError::UnknownCipher(id) => write!(f, "unknown cipher id {id}"),
            FormatError::Invalid(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for FormatError {}
