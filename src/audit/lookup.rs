//! `kmsfs audit lookup` (CloudTrail LookupEvents, without its caps): the records
//! of an audit directory that pass every given filter, newest first.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::path::Path;

use chrono::{DateTime, Utc};
use glob::Pattern;
use serde_json::Value;

use super::source::{sources, RawRecord, StoredRecord};
use super::view::RecordView;
use super::{cloudtrail_error_code, AuditError, PATH_CONTEXT_KEY};

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
/// with equal times come in reverse order of writing. Files are streamed; a
/// record is parsed only when its text contains what the text filters ask for.
pub fn lookup(dir: &Path, filter: &LookupFilter) -> Result<Vec<Value>, AuditError> {
    let matcher = Matcher::new(filter)?;
    let mut newest = Newest::new(filter.max);
    let mut written_order = 0;
    for source in sources(dir)? {
        source.for_each_raw(&mut |raw| {
            written_order += 1;
            if !matcher.may_match(raw.json) {
                return Ok(());
            }
            // The time alone first: a record outside the range, or older than
            // the newest `max` already found, is never parsed whole; a kept
            // one only when other filters need it, and again at the end.
            let time = match event_time_only(raw.json) {
                Some(time) => time,
                None => raw.parse()?.event_time,
            };
            if !matcher.in_time_range(time) || !newest.would_admit(time, written_order) {
                return Ok(());
            }
            if matcher.needs_record() && !matcher.matches(&raw.parse()?) {
                return Ok(());
            }
            newest.offer(Ranked {
                event_time: time,
                written_order,
                json: raw.json.to_vec(),
                place: (raw.path.to_path_buf(), raw.line),
            });
            Ok(())
        })?;
    }
    newest.into_newest_first()
}

/// A filter, prepared once for many records.
struct Matcher<'f> {
    filter: &'f LookupFilter,
    error_code: Option<&'f str>,
    path_glob: Option<Pattern>,
    /// `/ID` for each of `filter.key_ids`.
    key_suffixes: Vec<String>,
    /// Texts a matching record's JSON must contain: one of each group.
    needles: Vec<Vec<String>>,
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
            needles: needles(filter),
        })
    }

    /// Whether `json` contains every needle group: a cheap test that never
    /// rejects a record `matches` would accept, given records as kmsfs writes
    /// them (serde_json's compact form).
    fn may_match(&self, json: &[u8]) -> bool {
        if self.needles.is_empty() {
            return true;
        }
        // Not UTF-8 is not a record: let the parse say so.
        let Ok(text) = std::str::from_utf8(json) else {
            return true;
        };
        self.needles
            .iter()
            .all(|group| group.iter().any(|needle| text.contains(needle.as_str())))
    }

    fn in_time_range(&self, time: DateTime<Utc>) -> bool {
        self.filter.start_time.map_or(true, |t| time >= t)
            && self.filter.end_time.map_or(true, |t| time <= t)
    }

    /// Whether a filter other than the time range needs the parsed record.
    fn needs_record(&self) -> bool {
        let f = self.filter;
        f.event_name.is_some()
            || f.user.is_some()
            || f.key_ids.is_some()
            || f.path_glob.is_some()
            || f.error_code.is_some()
            || f.errors_only
            || f.read_only.is_some()
    }

    fn matches(&self, stored: &StoredRecord) -> bool {
        let filter = self.filter;
        let record = RecordView(&stored.record);
        self.in_time_range(stored.event_time)
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

/// A record's eventTime, read without building the record (other fields are
/// skipped); `None` when that fails, for the full parse to explain.
fn event_time_only(json: &[u8]) -> Option<DateTime<Utc>> {
    #[derive(serde::Deserialize)]
    struct TimeOnly<'a> {
        #[serde(rename = "eventTime", borrow)]
        event_time: std::borrow::Cow<'a, str>,
    }
    let peek: TimeOnly = serde_json::from_slice(json).ok()?;
    DateTime::parse_from_rfc3339(&peek.event_time)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// What the text of a record matching `filter` must contain.
fn needles(filter: &LookupFilter) -> Vec<Vec<String>> {
    let json = |text: &str| Value::from(text).to_string();
    let mut groups = Vec::new();
    if let Some(name) = &filter.event_name {
        groups.push(vec![format!("\"eventName\":{}", json(name))]);
    }
    if let Some(user) = &filter.user {
        groups.push(vec![json(user)]);
    }
    if let Some(code) = &filter.error_code {
        let code = cloudtrail_error_code(code);
        groups.push(vec![format!("\"errorCode\":{}", json(code))]);
    }
    if filter.errors_only {
        groups.push(vec!["\"errorCode\":".to_string()]);
    }
    if let Some(read_only) = filter.read_only {
        groups.push(vec![format!("\"readOnly\":{read_only}")]);
    }
    if let Some(ids) = &filter.key_ids {
        groups.push(
            ids.iter()
                .map(|id| json(id).trim_matches('"').to_string())
                .collect(),
        );
    }
    if let Some(glob) = &filter.path_glob {
        // The literal start of the glob, as it appears inside the JSON string.
        let literal: String = glob.chars().take_while(|c| !"*?[".contains(*c)).collect();
        let escaped = json(&literal);
        let inner = &escaped[..escaped.len() - 1];
        groups.push(vec![format!("\"{PATH_CONTEXT_KEY}\":{inner}")]);
    }
    groups
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
    /// The record's text, parsed only if it is among the results.
    json: Vec<u8>,
    /// Where it was read, for an error.
    place: (std::path::PathBuf, u64),
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

    /// Whether a match at `event_time`, written `written_order`th, would be kept.
    fn would_admit(&self, event_time: DateTime<Utc>, written_order: u64) -> bool {
        match (self.max, self.heap.peek()) {
            (Some(max), Some(Reverse(oldest))) if self.heap.len() >= max => {
                oldest.rank() < (event_time, written_order)
            }
            (Some(0), _) => false,
            _ => true,
        }
    }

    fn offer(&mut self, candidate: Ranked) {
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

    fn into_newest_first(self) -> Result<Vec<Value>, AuditError> {
        // Ascending in `Reverse` order is descending in time.
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse(ranked)| {
                let (path, line) = ranked.place;
                RawRecord {
                    json: &ranked.json,
                    path: &path,
                    line,
                }
                .parse()
                .map(|stored| stored.record)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
