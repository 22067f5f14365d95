//! `kmsfs audit prune --older-than DAYS`: deletes digests that ended before
//! the cutoff and the log files they list, oldest first along the chain, and
//! records the oldest digest kept in the ledger, so that verify accepts its
//! missing predecessor (docs/AUDIT.md, "Retention").

use std::fs;
use std::io;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::digest::{read_digest, signature_path};
use super::layout::{dated_files, TrailLayout};
use super::lock::{FileLock, LockKind};
use super::state::{parse_time, TrailLedger, TrailState};
use super::AuditError;

/// What prune deleted, as object names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub log_files: Vec<String>,
    pub digests: Vec<String>,
}

/// Deletes the digests that ended before `cutoff` (never the newest one) and
/// the log files they list.
pub fn prune(
    audit_dir: &Path,
    ledger: &dyn TrailLedger,
    cutoff: DateTime<Utc>,
) -> Result<PruneReport, AuditError> {
    let layout = TrailLayout::new(audit_dir);
    let lock_path = layout.lock_path();
    let lock_file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|source| AuditError::Open {
            path: lock_path.clone(),
            source,
        })?;
    let _lock =
        FileLock::acquire(&lock_file, LockKind::Exclusive).map_err(|source| AuditError::Open {
            path: lock_path,
            source,
        })?;
    let Some(mut state) = TrailState::load(ledger)? else {
        return Ok(PruneReport::default());
    };
    let head = state.head.as_ref().map(|h| h.object.clone());
    let mut digests = Vec::new();
    for path in dated_files(layout.digests())? {
        if let Ok(found) = read_digest(&path) {
            if let Some(end) = parse_time(&found.document.digest_end_time) {
                digests.push((end, layout.object_of(&path), found.document));
            }
        }
    }
    digests.sort_by_key(|d| d.0);
    let mut report = PruneReport::default();
    let mut kept_from = None;
    for (end, object, document) in &digests {
        if *end >= cutoff || head.as_deref() == Some(object.as_str()) {
            kept_from = Some(object.clone());
            break;
        }
        for file in &document.log_files {
            remove(&layout.path_of(&file.object))?;
            report.log_files.push(file.object.clone());
        }
        let path = layout.path_of(object);
        remove(&signature_path(&path))?;
        remove(&path)?;
        report.digests.push(object.clone());
    }
    if !report.digests.is_empty() {
        state.oldest_kept_digest = kept_from;
        state.store(ledger)?;
    }
    for tree in [layout.logs(), layout.digests()] {
        remove_empty_dirs(tree);
    }
    Ok(report)
}

fn remove(path: &Path) -> Result<(), AuditError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(AuditError::Deliver {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Removes the empty dated folders under `tree` (best effort).
fn remove_empty_dirs(tree: &Path) {
    let Ok(entries) = fs::read_dir(tree) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let dated = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
        if path.is_dir() && dated {
            remove_empty_dirs(&path);
            let _ = fs::remove_dir(&path); // fails, as it should, when not empty
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::test_trail::{minutes_later, TestTrail};

    #[test]
    fn pruning_old_files_leaves_a_chain_that_verifies() {
        let mut trail = TestTrail::new();
        let mut reports = Vec::new();
        for days_ago in [20, 10, 0] {
            trail.append(2);
            let at = minutes_later(-days_ago * 24 * 60);
            reports.push(trail.trail().flush(at, true).expect("flush"));
        }
        let report = prune(&trail.dir, &trail.ledger, minutes_later(-5 * 24 * 60)).expect("prune");
        assert_eq!(
            report.digests,
            [reports[0].digests[0].clone(), reports[1].digests[0].clone()]
        );
        assert_eq!(report.log_files.len(), 2);
        for object in report.digests.iter().chain(&report.log_files) {
            assert!(!trail.path(object).exists(), "{object}");
        }
        let verified = trail.verify();
        assert!(verified.all_valid(), "{}", verified.to_text());
        assert_eq!(verified.checks.len(), 2, "{}", verified.to_text());
        // Without the ledger's note, the missing predecessor is a broken chain.
        let mut state = trail.state();
        state.oldest_kept_digest = None;
        state.store(&trail.ledger).expect("store");
        assert!(!trail.verify().all_valid());
    }
}
