//! One ciphertext object (docs/FORMAT.md, "Ciphertext object"): a header, then
//! chunks sealed with the file's data key. Plaintext reads, writes at any
//! offset, truncation, holes, and the offset arithmetic between plaintext and
//! ciphertext. Works on an open backing `File` with pread/pwrite.
//! Must not import the KMS, the vault, FUSE or the volume layer: it is given
//! a header and a prepared key, and knows nothing of paths or callers.

mod error;
mod handle;
mod header;
pub mod layout;
mod plain_buf;
mod read;
mod write;

pub use crate::format::object::{FileId, ObjectHeader};
pub use error::{IntegrityFailure, ObjectError};
pub use handle::Object;
pub use header::{plain_len_of, read_file_id, read_header, HeaderLock};
pub use layout::plain_len_from_cipher_len;
pub use plain_buf::PlainBuf;

#[cfg(test)]
mod tests;
