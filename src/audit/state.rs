//! The trail's state between runs (docs/AUDIT.md, "The ledger"): where the
//! digest chain ends and which delivered log files no digest lists yet. It is
//! kept by a `TrailLedger` (the vault, beside the signing key), so that
//! deleting the newest digest or a not-yet-digested log file is detected.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::AuditError;

/// Stores the trail state as opaque text. Implemented over the vault by the
/// command line; audit never sees the vault.
pub trait TrailLedger {
    fn load(&self) -> Result<Option<String>, String>;
    fn store(&self, state: &str) -> Result<(), String>;
}

/// `hashAlgorithm` of every hash in the trail.
pub const HASH_ALGORITHM: &str = "SHA-256";

/// One delivered log file, as a digest lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct LogFileEntry {
    pub(super) object: String,
    /// Hex SHA-256 of the uncompressed file.
    pub(super) hash_value: String,
    pub(super) hash_algorithm: String,
    pub(super) newest_event_time: String,
    pub(super) oldest_event_time: String,
}

/// The newest digest: what the next one chains to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ChainHead {
    pub(super) object: String,
    pub(super) signature: String,
    /// Hex SHA-256 of the uncompressed digest file.
    pub(super) hash_value: String,
    pub(super) end_time: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct TrailState {
    /// When the trail began: the first digest starts here.
    pub(super) started: String,
    pub(super) head: Option<ChainHead>,
    /// Delivered, not yet in a digest, oldest first.
    pub(super) pending: Vec<LogFileEntry>,
    /// Set by prune: the oldest digest kept, whose predecessor was removed on purpose.
    pub(super) oldest_kept_digest: Option<String>,
    /// The digest `head` names, stored here before its files are written and
    /// cleared once they are: a run killed between the two leaves it for the
    /// next run to write (docs/AUDIT.md, "How a digest is written").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) unwritten_digest: Option<UnwrittenDigest>,
}

/// A digest's object name, uncompressed JSON and hex signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct UnwrittenDigest {
    pub(super) object: String,
    pub(super) json: String,
    pub(super) signature: String,
}

impl TrailState {
    pub(super) fn new(now: DateTime<Utc>) -> TrailState {
        TrailState {
            started: time_text(now),
            ..TrailState::default()
        }
    }

    /// Where the next digest starts: the newest digest's end, or the trail's start.
    pub(super) fn next_digest_start(&self) -> &str {
        self.head
            .as_ref()
            .map_or(&self.started, |head| &head.end_time)
    }

    pub(super) fn load(ledger: &dyn TrailLedger) -> Result<Option<TrailState>, AuditError> {
        let Some(text) = ledger.load().map_err(AuditError::Ledger)? else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| AuditError::Ledger(format!("the stored trail state does not parse: {e}")))
    }

    pub(super) fn store(&self, ledger: &dyn TrailLedger) -> Result<(), AuditError> {
        let text = serde_json::to_string(self).map_err(|e| {
            AuditError::Ledger(format!("BUG: the trail state does not serialize: {e}"))
        })?;
        ledger.store(&text).map_err(AuditError::Ledger)
    }
}

/// The trail's time format: RFC 3339, UTC, milliseconds (`2026-11-24T07:40:00.123Z`).
pub(super) fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(super) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
pub(super) mod memory {
    //! A ledger in memory, for tests.
    use std::cell::RefCell;

    use super::TrailLedger;

    #[derive(Default)]
    pub(crate) struct MemoryLedger(pub(crate) RefCell<Option<String>>);

    impl TrailLedger for MemoryLedger {
        fn load(&self) -> Result<Option<String>, String> {
            Ok(self.0.borrow().clone())
        }
        fn store(&self, state: &str) -> Result<(), String> {
            *self.0.borrow_mut() = Some(state.to_string());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::memory::MemoryLedger;
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn state_round_trips_through_a_ledger_and_bad_text_is_refused() {
        let ledger = MemoryLedger::default();
        assert_eq!(TrailState::load(&ledger).expect("load"), None);
        let now = Utc
            .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
            .single()
            .expect("time");
        let mut state = TrailState::new(now);
        assert_eq!(state.next_digest_start(), "2026-01-02T03:04:05.000Z");
        state.head = Some(ChainHead {
            object: "audit-digest/x".into(),
            signature: "ab".into(),
            hash_value: "cd".into(),
            end_time: "2026-01-02T04:00:00.000Z".into(),
        });
        assert_eq!(state.next_digest_start(), "2026-01-02T04:00:00.000Z");
        state.store(&ledger).expect("store");
        assert_eq!(TrailState::load(&ledger).expect("load"), Some(state));
        *ledger.0.borrow_mut() = Some("{\"started\": 1}".into());
        assert!(matches!(
            TrailState::load(&ledger),
            Err(AuditError::Ledger(_))
        ));
    }
}
