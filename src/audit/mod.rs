//! The audit log (CloudTrail-like, docs/AUDIT.md): building records, appending
//! them to the active log so that none is lost or torn, and looking them up.
//! Rolled gzip files, digests and verification build on the writer's locking
//! protocol and the lookup's record sources.
//!
//! Must not import vault, kms, policy, fs, cli or rusqlite: the KMS calls in,
//! never the other way round.

mod error;
mod lock;
mod lookup;
mod record;
mod source;
mod table;
mod view;
mod writer;

#[cfg(test)]
mod test_support;

pub use error::AuditError;
pub use lookup::{lookup, LookupFilter};
pub use record::{
    build_record, cloudtrail_error_code, AuditEvent, EventType, EVENT_SOURCE, EVENT_VERSION,
    PATH_CONTEXT_KEY,
};
pub use table::format_table;
pub use writer::{AuditLog, ACTIVE_LOG_NAME};
