//! The audit trail (CloudTrail-like, docs/AUDIT.md): building records,
//! appending them to the active log so that none is lost or torn, delivering
//! them into dated gzip log files with signed, chained digests, verifying
//! those, and looking records up, following them and spotting unusual rates.
//!
//! Must not import vault, kms, policy, fs, cli or rusqlite: the KMS calls in,
//! never the other way round.

mod atomic;
mod digest;
mod error;
mod insights;
mod layout;
mod lock;
mod logfile;
mod lookup;
mod prune;
mod record;
mod signing;
mod source;
mod state;
mod table;
mod tail;
mod trail;
mod verify;
mod view;
mod watch;
mod writer;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod test_trail;

pub use error::AuditError;
pub use insights::{format_insights, insights, InsightConfig, InsightMonitor, INSIGHT_EVENT_TYPE};
pub use layout::{TrailIdentity, TrailLayout};
pub use lookup::{lookup, LookupFilter};
pub use prune::{prune, PruneReport};
#[cfg(test)]
pub(crate) use record::build_record;
pub use record::{
    cloudtrail_error_code, AuditEvent, EventType, Record, EVENT_SOURCE, EVENT_VERSION,
    PATH_CONTEXT_KEY,
};
pub use signing::{DigestPublicKey, DigestSigner, SIGNATURE_ALGORITHM};
pub use state::{TrailLedger, HASH_ALGORITHM};
pub use table::{format_row, format_table};
pub use tail::tail;
pub use trail::{Trail, TrailConfig, TrailReport};
pub use verify::{verify, verify_without_ledger, FileCheck, FileKind, VerifyRange, VerifyReport};
pub use view::RecordFacts;
pub use watch::InsightWatch;
pub use writer::{AppendObserver, AuditLog, LogRecord, SyncPolicy, ACTIVE_LOG_NAME};
