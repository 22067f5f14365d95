//! kmsfs: a local key management service (AWS KMS semantics) and a FUSE
//! filesystem built on it. The module graph reads from the pure core outwards:
//! `crypto` and `model` and `format` are pure; `vault` is the only SQLite user;
//! `kms` is the only path from a request to key material; `cli` is the edge.

pub mod crypto;
pub mod format;
pub mod model;
pub mod object;
pub mod volume;
