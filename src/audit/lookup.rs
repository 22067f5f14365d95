//! `kmsfs audit lookup` (CloudTrail LookupEvents, without its caps): the records
//! of an audit directory that pass every given filter, newest first.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::path::Path;

use chrono::{DateTime, Utc};
use glob::Pattern;
use serde_json::Value;

use super::source::{sources, StoredRecord};
use super::view::RecordView;
use super::{cloudtrail_error_code, AuditError};

/// What to look for. Every filter given must match; `Default` matches all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LookupFilter {
    /// `eventName`, exactly (`Decrypt`).
    pub event_name: Option<String>,
    /// A user name or a uid number.
    pub user: Option<String>,
    /// Names of one key (pass its key id and its ARN): a record matches when a
    /// key name in it (resource ARN, request or response key id) equals one of
    /// these or ends with `/` and one of these.
    pub key_ids: Option<Vec<String>>,
    /// A glob (`*` also matches `/`) on the file path in the encryption context.
    pub path_glob: Option<String>,
    /// `errorCode`; `AccessDeniedException` also finds `AccessDenied`.
    pub error_code: Option<String>,
    /// Only failed requests.
    pub errors_only: bool,
    pub read_only: Option<bool>,
    /// Inclusive.
    pub start_time: Option<DateTime<Utc>>,
    /// Inclusive.
    pub end_time: Option<DateTime<Utc>>,
    /// At most this many records, the newest.
    pub max: Option<usize>,
}

/// The records in `dir` that match `filter`, newest `eventTime` first; records
/// with equal times come in reverse order of writing.
pub fn lookup(dir: &Path, filter: &LookupFilter) -> Result<Vec<Value>, AuditError> {
    let matcher = Matcher::new(filter)?;
    let mut newest = Newest::new(filter.max);
    let mut written_order = 0;
    for source in sources(dir) {
        source.for_each_record(&mut |stored| {
            written_order += 1;
            if matcher.matches(&stored) {
                newest.offer(stored, written_order);
            }
        })?;
    }
    Ok(newest.into_newest_first())
}

/// A filter, prepared once for many records.
struct Matcher<'f> {
    filter: &'f LookupFilter,
    error_code: Option<&'f str>,
    path_glob: Option<Pattern>,
    /// `/ID` for each of `filter.key_ids`.
    key_suffixes: Vec<String>,
}

impl<'f> Matcher<'f> {
    fn new(filter: &'f LookupFilter) -> Result<Matcher<'f>, AuditError> {
        let path_glob = filter
            .path_glob
            .as_deref()
            .map(|pattern| {
                Pattern::new(pattern).map_err(|e| AuditError::InvalidPathGlob {
                    pattern: pattern.to_string(),
                    reason: e.msg.to_string(),
                })
            })
            .transpose()?;
        Ok(Matcher {
            filter,
            error_code: filter.error_code.as_deref().map(cloudtrail_error_code),
            path_glob,
            key_suffixes: filter
                .key_ids
                .iter()
                .flatten()
                .map(|id| format!("/{id}"))
                .collect(),
        })
    }

    fn matches(&self, stored: &StoredRecord) -> bool {
        let filter = self.filter;
        let record = RecordView(&stored.record);
        filter.start_time.map_or(true, |t| stored.event_time >= t)
            && filter.end_time.map_or(true, |t| stored.event_time <= t)
            && filter
                .event_name
                .as_deref()
                .map_or(true, |name| record.event_name() == Some(name))
            && filter.user.as_deref().map_or(true, |user| {
                record.user_name() == Some(user) || record.principal_id() == Some(user)
            })
            && self
                .error_code
                .map_or(true, |code| record.error_code() == Some(code))
            && (!filter.errors_only || record.error_code().is_some())
            && filter
                .read_only
                .map_or(true, |read_only| record.read_only() == Some(read_only))
            && self.path_glob.as_ref().map_or(true, |glob| {
                record.path().is_some_and(|path| glob.matches(path))
            })
            && filter
                .key_ids
                .as_ref()
                .map_or(true, |ids| self.names_one_of(record, ids))
    }

    fn names_one_of(&self, record: RecordView, ids: &[String]) -> bool {
        record.key_names().any(|name| {
            ids.iter().any(|id| name == id)
                || self
                    .key_suffixes
                    .iter()
                    .any(|suffix| name.ends_with(suffix))
        })
    }
}

/// The newest matches seen so far: a min-heap holding at most `max` records,
/// so memory stays bounded by `max` however long the trail is.
struct Newest {
    max: Option<usize>,
    heap: BinaryHeap<Reverse<Ranked>>,
}

/// A match, ordered by time, then by the order it was written in.
struct Ranked {
    event_time: DateTime<Utc>,
    written_order: u64,
    record: Value,
}

impl Ranked {
    fn rank(&self) -> (DateTime<Utc>, u64) {
        (self.event_time, self.written_order)
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Ranked) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Ranked) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Ranked) -> bool {
        self.rank() == other.rank()
    }
}

impl Eq for Ranked {}

impl Newest {
    fn new(max: Option<usize>) -> Newest {
        Newest {
            max,
            heap: BinaryHeap::new(),
        }
    }

    fn offer(&mut self, stored: StoredRecord, written_order: u64) {
        let candidate = Ranked {
            event_time: stored.event_time,
            written_order,
            record: stored.record,
        };
        if self.max.is_some_and(|max| self.heap.len() >= max) {
            match self.heap.peek() {
                Some(Reverse(oldest)) if *oldest < candidate => {
                    self.heap.pop();
                }
                _ => return,
            }
        }
        self.heap.push(Reverse(candidate));
    }

    fn into_newest_first(self) -> Vec<Value> {
        // Ascending in `Reverse` order is descending in time.
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse(ranked)| ranked.record)
            .collect()
    }
}

#[cfg(test)]
mod tests;
