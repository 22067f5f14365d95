//! kmsfs: a local key management service (AWS KMS semantics) and a FUSE
//! filesystem built on it. The module graph reads from the pure core outwards:
//! `crypto`, `model`, `format` and `policy` are pure; `object` and `volume` read
//! and write ciphertext objects and encrypted names; `vault` is the only SQLite
//! user; `audit` records requests; `kms` is the only path from a request to key
//! material; `sys` is the only libc user; `cli` is the edge.

pub mod audit;
pub mod cli;
pub mod crypto;
pub mod format;
pub mod fs;
pub mod kms;
pub mod model;
pub mod object;
pub mod policy;
pub mod sys;
pub mod vault;
pub mod volume;
