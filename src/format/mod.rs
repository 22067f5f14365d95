//! Byte layouts of docs/FORMAT.md: pure encoding and bounded parsing, no I/O.

pub mod blob;
pub mod object;
mod reader;
pub mod volume_config;

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
    /// A chunk size that is not a power of two in 4 KiB..=1 MiB; `field`
    /// names it as the structure does ("chunk size", "chunkSize").
    BadChunkSize {
        field: &'static str,
        size: u64,
    },
    /// A reserved field that must be zero is not.
    ReservedNotZero {
        what: &'static str,
        value: u64,
    },
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
            FormatError::BadChunkSize { field, size } => write!(
                f,
                "{field} {size} is not a power of two between {} and {}",
                object::MIN_CHUNK_SIZE,
                object::MAX_CHUNK_SIZE
            ),
            FormatError::ReservedNotZero { what, value } => {
                write!(f, "reserved field of the {what} is {value}; it must be 0")
            }
            FormatError::Invalid(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for FormatError {}
