//! A volume: a backing directory whose tree mirrors the plaintext tree, with
//! encrypted names (docs/FORMAT.md, "Volume layout" and "Names").
//! `names` is pure of the KMS (it is given the name key); `backing` opens a
//! volume through the KMS, which unwraps its name key. Must not import FUSE.

mod backing;
pub mod fsck;
pub mod names;
pub mod rewrap;
pub mod walk;

pub use backing::{Volume, VolumeError};
