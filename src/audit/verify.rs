//! `kmsfs audit verify` (docs/AUDIT.md, "Verifying"), in the manner of
//! `aws cloudtrail validate-logs`: from the chain head the ledger names, walk
//! the digests back through their previous-digest links, checking each one's
//! place, signature, hash and chain link, and every log file it lists; then
//! the not-yet-digested deliveries the ledger lists; then flag every digest
//! off the chain and every log file no digest covers.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Component, Path};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::digest::{read_digest, signing_string, DigestReadError, FoundDigest};
use super::layout::{dated_files, delivery_time_of, digest_time_of, TrailLayout};
use super::logfile::hash_uncompressed;
use super::signing::DigestPublicKey;
use super::state::{parse_time, time_text, LogFileEntry, TrailLedger, TrailState};
use super::AuditError;

/// What verify checks: digests whose period meets `[start, end]`, and log
/// files delivered in it. `None` is open-ended.
#[derive(Clone, Copy, Debug, Default)]
pub struct VerifyRange {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

impl VerifyRange {
    fn meets(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        self.start.map_or(true, |s| to >= s) && self.end.map_or(true, |e| from <= e)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Digest,
    Log,
}

/// The verdict on one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCheck {
    pub kind: FileKind,
    pub object: String,
    /// `None` when valid; else what validate-logs would say after `INVALID: `.
    pub problem: Option<String>,
}

impl FileCheck {
    /// `valid` or `INVALID: <reason>`.
    pub fn verdict(&self) -> String {
        match &self.problem {
            None => "valid".into(),
            Some(problem) => format!("INVALID: {problem}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct VerifyReport {
    pub range: VerifyRange,
    pub checks: Vec<FileCheck>,
    /// The span of the digests checked.
    pub found: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Whether the chain head and pending deliveries were checked against the ledger.
    pub ledger_checked: bool,
    /// Without the ledger: log files delivered after the newest digest, which nothing vouches for.
    pub not_checked: Vec<String>,
}

impl VerifyReport {
    pub fn all_valid(&self) -> bool {
        self.checks.iter().all(|c| c.problem.is_none())
    }

    fn count(&self, kind: FileKind) -> (usize, usize) {
        let of_kind = self.checks.iter().filter(|c| c.kind == kind);
        let valid = of_kind.clone().filter(|c| c.problem.is_none()).count();
        (valid, of_kind.count())
    }

    /// validate-logs' text: one line per file, then the summary.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for check in &self.checks {
            let kind = match check.kind {
                FileKind::Digest => "Digest file",
                FileKind::Log => "Log file",
            };
            out.push_str(&format!(
                "{kind:<11}  {}  {}\n",
                check.object,
                check.verdict()
            ));
        }
        let bound = |t: Option<DateTime<Utc>>, open: &str| t.map_or(open.to_string(), time_text);
        out.push_str(&format!(
            "\nResults requested for {} to {}\n",
            bound(self.range.start, "the start of the trail"),
            bound(self.range.end, "now")
        ));
        match self.found {
            Some((from, to)) => out.push_str(&format!(
                "Results found for {} to {}:\n\n",
                time_text(from),
                time_text(to)
            )),
            None => out.push_str("No digest files found in that range.\n\n"),
        }
        if !self.ledger_checked {
            out.push_str(&format!(
                "Ledger check skipped (no vault): the chain is followed from the newest digest found, \
                 so deleting the newest digests goes unnoticed; {} log files delivered after it were not checked.\n",
                self.not_checked.len()
            ));
            for object in &self.not_checked {
                out.push_str(&format!("Log file     {object}  not checked\n"));
            }
            out.push('\n');
        }
        let (dv, dt) = self.count(FileKind::Digest);
        let (lv, lt) = self.count(FileKind::Log);
        out.push_str(&format!(
            "{dv}/{dt} digest files valid\n{lv}/{lt} log files valid\n"
        ));
        out
    }

    pub fn to_json(&self) -> Value {
        let list = |kind| {
            self.checks
                .iter()
                .filter(|c| c.kind == kind)
                .map(|c| json!({"Object": c.object, "Valid": c.problem.is_none(), "Result": c.verdict()}))
                .collect::<Vec<_>>()
        };
        let (dv, dt) = self.count(FileKind::Digest);
        let (lv, lt) = self.count(FileKind::Log);
        json!({
            "DigestFiles": list(FileKind::Digest),
            "LogFiles": list(FileKind::Log),
            "DigestFilesValid": dv, "DigestFilesTotal": dt,
            "LogFilesValid": lv, "LogFilesTotal": lt,
            "LedgerChecked": self.ledger_checked,
            "LogFilesNotChecked": self.not_checked,
            "Valid": self.all_valid(),
        })
    }
}

/// What a digest's successor on the chain says about it.
struct Expected {
    object: String,
    hash: Option<String>,
    signature: Option<String>,
    /// The successor's digestStartTime: this digest must end there.
    successor_start: Option<String>,
}

/// Verifies the trail of `audit_dir` against `public_key` and the ledger.
pub fn verify(
    audit_dir: &Path,
    public_key: &DigestPublicKey,
    ledger: &dyn TrailLedger,
    range: VerifyRange,
) -> Result<VerifyReport, AuditError> {
    verify_with(audit_dir, public_key, Some(ledger), range)
}

/// Verifies with the public key alone, as an auditor without the vault: the
/// chain is followed from the newest digest found, and log files delivered
/// after it are listed as not checked.
pub fn verify_without_ledger(
    audit_dir: &std::path::Path,
    public_key: &DigestPublicKey,
    range: VerifyRange,
) -> Result<VerifyReport, AuditError> {
    verify_with(audit_dir, public_key, None, range)
}

fn verify_with(
    audit_dir: &std::path::Path,
    public_key: &DigestPublicKey,
    ledger: Option<&dyn TrailLedger>,
    range: VerifyRange,
) -> Result<VerifyReport, AuditError> {
    let layout = TrailLayout::new(audit_dir);
    let state = match ledger {
        Some(ledger) => TrailState::load(ledger)?.unwrap_or_default(),
        None => TrailState::default(),
    };
    let mut digests: BTreeMap<String, Result<FoundDigest, DigestReadError>> = BTreeMap::new();
    for path in dated_files(layout.digests())? {
        let read = read_digest(&path);
        if let Err(DigestReadError::Io(source)) = read {
            return Err(AuditError::Read { path, source });
        }
        digests.insert(layout.object_of(&path), read);
    }
    let mut walk = Walk {
        layout: &layout,
        public_key,
        range,
        digests: &digests,
        visited: HashSet::new(),
        checks: Vec::new(),
        found: None,
        hashes: HashMap::new(),
    };
    let mut next = match ledger {
        Some(_) => state.head.as_ref().map(|head| Expected {
            object: head.object.clone(),
            hash: Some(head.hash_value.clone()),
            signature: Some(head.signature.clone()),
            successor_start: None,
        }),
        None => walk.fallback(None),
    };
    // Without the ledger, nothing vouches for deliveries after the newest digest.
    let unvouched_after = match ledger {
        Some(_) => None,
        None => newest_digest_end(&digests),
    };
    while let Some(expected) = next {
        next = walk.step(expected, state.oldest_kept_digest.as_deref())?;
    }
    // Deliveries not yet in a digest: checked against the ledger.
    for entry in &state.pending {
        if delivery_time_of(&entry.object).map_or(true, |t| range.meets(t, t)) {
            walk.check_log(entry)?;
        }
    }
    let not_checked = walk.flag_strays(&state, unvouched_after)?;
    Ok(VerifyReport {
        range,
        checks: walk.checks,
        found: walk.found,
        ledger_checked: ledger.is_some(),
        not_checked,
    })
}

fn newest_digest_end(
    digests: &BTreeMap<String, Result<FoundDigest, DigestReadError>>,
) -> Option<DateTime<Utc>> {
    digests
        .values()
        .filter_map(|read| parse_time(&read.as_ref().ok()?.document.digest_end_time))
        .max()
}

struct Walk<'a> {
    layout: &'a TrailLayout,
    public_key: &'a DigestPublicKey,
    range: VerifyRange,
    digests: &'a BTreeMap<String, Result<FoundDigest, DigestReadError>>,
    visited: HashSet<String>,
    checks: Vec<FileCheck>,
    found: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Log files already hashed, by object.
    hashes: HashMap<String, Result<String, String>>,
}

impl Walk<'_> {
    /// Checks one digest on the chain; returns what its predecessor must be.
    fn step(
        &mut self,
        expected: Expected,
        oldest_kept: Option<&str>,
    ) -> Result<Option<Expected>, AuditError> {
        let successor_start = expected.successor_start.as_deref().and_then(parse_time);
        if let (Some(start), Some(before)) = (self.range.start, successor_start) {
            if before < start {
                return Ok(None); // older than the range
            }
        }
        self.visited.insert(expected.object.clone());
        let found = match self.digests.get(&expected.object) {
            Some(Ok(found)) => found,
            Some(Err(DigestReadError::Format(reason))) => {
                self.digest_check(&expected.object, Some(format!("invalid format ({reason})")));
                return Ok(self.fallback(successor_start));
            }
            _ => {
                self.digest_check(&expected.object, Some("not found".into()));
                return Ok(self.fallback(successor_start));
            }
        };
        let doc = &found.document;
        let (start, end) = match (
            parse_time(&doc.digest_start_time),
            parse_time(&doc.digest_end_time),
        ) {
            (Some(start), Some(end)) => (start, end),
            _ => {
                self.digest_check(
                    &expected.object,
                    Some("invalid format (its times do not parse)".into()),
                );
                return Ok(self.fallback(successor_start));
            }
        };
        let problem = self.digest_problem(&expected, found);
        if self.range.meets(start, end) {
            self.digest_check(&expected.object, problem);
            self.found = Some(match self.found {
                None => (start, end),
                Some((from, to)) => (from.min(start), to.max(end)),
            });
            for entry in &doc.log_files {
                self.check_log(entry)?;
            }
        }
        if oldest_kept == Some(expected.object.as_str()) {
            return Ok(None); // its predecessors were pruned
        }
        Ok(doc.previous_digest_object.as_ref().map(|object| Expected {
            object: object.clone(),
            hash: doc.previous_digest_hash_value.clone(),
            signature: doc.previous_digest_signature.clone(),
            successor_start: Some(doc.digest_start_time.clone()),
        }))
    }

    /// What is wrong with a digest that was found where it was expected, if anything.
    fn digest_problem(&self, expected: &Expected, found: &FoundDigest) -> Option<String> {
        let doc = &found.document;
        if doc.digest_object != expected.object {
            return Some(format!(
                "has been moved from its original location {}",
                doc.digest_object
            ));
        }
        let Some(signature) = &found.signature else {
            return Some("signature verification failed (its .sig file is missing)".into());
        };
        if doc.digest_public_key_fingerprint != self.public_key.fingerprint() {
            return Some(format!(
                "signature verification failed (signed by another key, fingerprint {})",
                doc.digest_public_key_fingerprint
            ));
        }
        let message = signing_string(
            &doc.digest_end_time,
            &expected.object,
            &found.hash,
            doc.previous_digest_signature.as_deref(),
        );
        if !self.public_key.verifies(&message, signature) {
            return Some("signature verification failed".into());
        }
        if expected.hash.as_ref().is_some_and(|h| *h != found.hash) {
            return Some("hash value doesn't match".into());
        }
        if expected.signature.as_ref().is_some_and(|s| s != signature) {
            return Some(
                "chain broken (its signature is not the one the next digest chains to)".into(),
            );
        }
        match &expected.successor_start {
            Some(next_start) if *next_start != doc.digest_end_time => Some(format!(
                "chain broken (it ends at {} but the next digest starts at {next_start})",
                doc.digest_end_time
            )),
            _ => None,
        }
    }

    /// After a missing or unreadable digest, carry on from the newest digest
    /// that ends before its successor began (or the newest of all).
    fn fallback(&self, before: Option<DateTime<Utc>>) -> Option<Expected> {
        self.digests
            .iter()
            .filter(|(object, _)| !self.visited.contains(*object))
            .filter_map(|(object, read)| {
                let end = parse_time(&read.as_ref().ok()?.document.digest_end_time)?;
                before.map_or(true, |b| end <= b).then_some((end, object))
            })
            .max()
            .map(|(_, object)| Expected {
                object: object.clone(),
                hash: None,
                signature: None,
                successor_start: None,
            })
    }

    fn digest_check(&mut self, object: &str, problem: Option<String>) {
        self.checks.push(FileCheck {
            kind: FileKind::Digest,
            object: object.to_string(),
            problem,
        });
    }

    fn check_log(&mut self, entry: &LogFileEntry) -> Result<(), AuditError> {
        let hash = match self.hashes.get(&entry.object) {
            Some(hash) => hash.clone(),
            None => {
                let hash = self.hash_of(&entry.object)?;
                self.hashes.insert(entry.object.clone(), hash.clone());
                hash
            }
        };
        let problem = match hash {
            Err(problem) => Some(problem),
            Ok(hash) if hash != entry.hash_value => Some("hash value doesn't match".into()),
            Ok(_) => None,
        };
        self.checks.push(FileCheck {
            kind: FileKind::Log,
            object: entry.object.clone(),
            problem,
        });
        Ok(())
    }

    /// The hash of the log file `object`, or what is wrong with it.
    fn hash_of(&self, object: &str) -> Result<Result<String, String>, AuditError> {
        if !self.in_log_tree(object) {
            return Ok(Err("names a file outside the audit log tree".into()));
        }
        let path = self.layout.path_of(object);
        match hash_log_file(&path) {
            Ok(hash) => Ok(Ok(hash)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Err("not found".into())),
            // Not gzip any more: its content changed.
            Err(e) if e.kind() != std::io::ErrorKind::PermissionDenied => {
                Ok(Err(format!("unreadable: {e}")))
            }
            Err(source) => Err(AuditError::Read { path, source }),
        }
    }

    /// Whether `object` names a file inside the log tree. Digests come from a
    /// directory others may have written: one must not make verify read files
    /// elsewhere.
    fn in_log_tree(&self, object: &str) -> bool {
        let path = Path::new(object);
        path.starts_with(self.layout.object_of(self.layout.logs()))
            && path.components().all(|c| matches!(c, Component::Normal(_)))
    }

    /// Digests in range off the chain, and log files in range that no digest
    /// and no pending delivery lists; returns those of them delivered after
    /// `unvouched_after`, which are not flagged.
    fn flag_strays(
        &mut self,
        state: &TrailState,
        unvouched_after: Option<DateTime<Utc>>,
    ) -> Result<Vec<String>, AuditError> {
        let mut not_checked = Vec::new();
        let mut covered: HashSet<&str> = state.pending.iter().map(|f| f.object.as_str()).collect();
        for (object, read) in self.digests {
            let Ok(found) = read else {
                let in_range = digest_time_of(object).map_or(true, |t| {
                    self.range.meets(t, t + chrono::Duration::seconds(1))
                });
                if !self.visited.contains(object) && in_range {
                    self.digest_check(object, Some("invalid format".into()));
                }
                continue;
            };
            covered.extend(found.document.log_files.iter().map(|f| f.object.as_str()));
            let doc = &found.document;
            let in_range = match (
                parse_time(&doc.digest_start_time),
                parse_time(&doc.digest_end_time),
            ) {
                (Some(s), Some(e)) => self.range.meets(s, e),
                _ => true,
            };
            let pruned_away = state.oldest_kept_digest.is_some() && !in_range;
            if !self.visited.contains(object) && in_range && !pruned_away {
                self.digest_check(
                    object,
                    Some("not on the digest chain (inserted, or the chain forked)".into()),
                );
            }
        }
        for path in dated_files(self.layout.logs())? {
            let object = self.layout.object_of(&path);
            let delivered = delivery_time_of(&object);
            let in_range = delivered.map_or(true, |t| self.range.meets(t, t));
            if !in_range || covered.contains(object.as_str()) {
                continue;
            }
            // Log file names give the delivery minute: one delivered in the
            // minute of the newest digest may have come after it.
            let maybe_after = |after| {
                delivered.is_some_and(|t: DateTime<Utc>| t + chrono::Duration::minutes(1) > after)
            };
            if unvouched_after.is_some_and(maybe_after) {
                not_checked.push(object);
            } else {
                self.checks.push(FileCheck {
                    kind: FileKind::Log,
                    object,
                    problem: Some("not covered by a digest".into()),
                });
            }
        }
        Ok(not_checked)
    }
}

/// [`hash_uncompressed`] of a regular file; anything else (a FIFO, a device)
/// reads as not gzip rather than blocking or never ending.
fn hash_log_file(path: &Path) -> std::io::Result<String> {
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a regular file",
        ));
    }
    hash_uncompressed(path)
}

#[cfg(test)]
mod tests;
