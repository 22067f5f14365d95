//! A volume: a backing directory whose tree mirrors the plaintext tree, with
//! encrypted names (docs/FORMAT.md, "Volume layout" and "Names").
//! Must not import FUSE or the KMS: it is given the name key.

pub mod names;
