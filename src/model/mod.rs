//! The AWS KMS vocabulary as types, shared by every layer: key ids, ARNs,
//! alias names, key states, encryption contexts and the calling identity.
//! Pure: imports nothing from the rest of the crate.

mod caller;
mod context;
mod ids;
mod state;

pub use caller::Caller;
pub use context::EncryptionContext;
pub use ids::{AliasName, Arn, KeyId, KeyRef, ParseError, ARN_PARTITION, REGION};
pub use state::KeyState;
