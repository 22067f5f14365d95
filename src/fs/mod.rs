//! The encrypted filesystem: a volume served through FUSE. The backing tree
//! mirrors the plaintext tree (docs/FORMAT.md, "Volume layout"): a backing
//! directory per directory, named by the encryption of its name; a ciphertext
//! object per regular file, whose data key the KMS unwraps for the caller of
//! each open; backing symlinks with encrypted targets; backing hard links.
//! Modes, owners and times are those of the backing inodes (the daemon runs
//! as root and gives new files to their creators).
//!
//! `adapter` is the only fuser user and holds no logic; `ops` is the core on
//! node ids and handle numbers; `backing` the only rustix user; `prefetch`
//! reads ahead of walks in background threads, `read_ahead` ahead of a
//! handle read from start to end. Mounting:
//! `mount` serves a filesystem at a checked mount point, `daemon` detaches
//! `kmsfs mount`, `unmount` and `mountinfo` find and remove mounts.
//! Must not import the CLI or the vault.

mod adapter;
mod backing;
mod caller;
pub mod daemon;
mod error;
mod handle;
mod inode;
pub mod mount;
pub mod mountinfo;
mod node;
mod ops;
mod prefetch;
mod read_ahead;
mod types;
pub mod unmount;

pub use adapter::EncryptedFs;
pub use error::FsError;
pub use ops::FsOptions;
