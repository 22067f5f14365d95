//! Why an object operation failed. Integrity failures carry the chunk and the
//! reason, for the EIO and the audit record the filesystem makes of them.

use std::fmt;
use std::io;

use crate::crypto::CryptoError;
use crate::format::FormatError;

#[derive(Debug)]
pub enum ObjectError {
    Io(io::Error),
    /// The header is missing, truncated or malformed.
    Header(FormatError),
    /// The ciphertext is not what this file's key sealed: refused, never
    /// decrypted to wrong bytes.
    Integrity {
        chunk_no: u64,
        reason: IntegrityFailure,
    },
    /// The plaintext would outgrow the largest object Linux can hold (EFBIG).
    TooLarge {
        plain_len: u64,
        max: u64,
    },
    /// The OS random source failed while sealing.
    Random(CryptoError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrityFailure {
    /// The tag did not verify: a changed byte, or a chunk moved from another
    /// place or file, or a last flag that no longer fits (cut or appended).
    Authentication,
    /// The last chunk is all zeros; kmsfs always seals the last chunk, so the
    /// file was cut or its end zeroed.
    HoleAtEnd,
    /// No plaintext length gives this object length.
    ImpossibleLength { cipher_len: u64 },
}

impl fmt::Display for IntegrityFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntegrityFailure::Authentication => f.write_str(
                "the chunk does not authenticate (changed, moved, reordered, cut or appended)",
            ),
            IntegrityFailure::HoleAtEnd => {
                f.write_str("the last chunk is all zeros (the file was cut or zeroed)")
            }
            IntegrityFailure::ImpossibleLength { cipher_len } => write!(
                f,
                "an object of {cipher_len} bytes is not the encryption of any plaintext"
            ),
        }
    }
}

impl fmt::Display for ObjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectError::Io(e) => write!(f, "i/o error: {e}"),
            ObjectError::Header(e) => write!(f, "bad object header: {e}"),
            ObjectError::Integrity { chunk_no, reason } => {
                write!(f, "integrity failure in chunk {chunk_no}: {reason}")
            }
            ObjectError::TooLarge { plain_len, max } => write!(
                f,
                "a file of {plain_len} bytes is larger than the {max} bytes an object can hold"
            ),
            ObjectError::Random(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ObjectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ObjectError::Io(e) => Some(e),
            ObjectError::Header(e) => Some(e),
            ObjectError::Random(e) => Some(e),
            ObjectError::Integrity { .. } | ObjectError::TooLarge { .. } => None,
        }
    }
}

impl From<io::Error> for ObjectError {
    fn from(e: io::Error) -> Self {
        ObjectError::Io(e)
    }
}

impl From<FormatError> for ObjectError {
    fn from(e: FormatError) -> Self {
        ObjectError::Header(e)
    }
}
