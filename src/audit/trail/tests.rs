//! Rolling and digests on a real directory: what is due and what is not,
//! recovery of an interrupted roll, nothing lost or duplicated.

use std::fs;

use super::*;
use crate::audit::lookup::{lookup, LookupFilter};
use crate::audit::test_trail::{minutes_later, TestTrail};

fn lookup_all(trail: &TestTrail) -> Vec<serde_json::Value> {
    lookup(&trail.dir, &LookupFilter::default()).expect("lookup")
}

#[test]
fn nothing_is_due_right_after_a_flush_and_the_active_log_rolls_when_old_or_large() {
    let mut trail = TestTrail::new();
    trail.append(3);
    let first = trail.flush(true);
    assert_eq!((first.log_files.len(), first.digests.len()), (1, 1));
    trail.append(2);
    // Young records, small log, digest not due: nothing happens.
    assert_eq!(
        trail.trail().run_due(Utc::now()).expect("run"),
        TrailReport::default()
    );
    assert!(
        fs::metadata(AuditLog::active_path(&trail.dir))
            .expect("stat")
            .len()
            > 0
    );
    // Six minutes later the records are old enough to roll; no digest yet. (With
    // hourly digests that would depend on the time of day: six minutes after
    // 09:56 crosses a digest boundary.)
    trail.config.digest_interval = Duration::days(10_000);
    let later = trail.trail().run_due(minutes_later(6)).expect("run");
    assert_eq!((later.log_files.len(), later.digests.len()), (1, 0));
    assert_eq!(trail.state().pending.len(), 1);
    // By size.
    trail.config.rotate_size = 1;
    trail.append(1);
    let by_size = trail.trail().run_due(Utc::now()).expect("run");
    assert_eq!(by_size.log_files.len(), 1);
    // Two hours later an hourly digest is due even with nothing to roll, and lists both.
    trail.config.digest_interval = Duration::hours(1);
    let digest = trail.trail().run_due(minutes_later(120)).expect("run");
    assert_eq!((digest.log_files.len(), digest.digests.len()), (0, 1));
    assert!(trail.state().pending.is_empty());
    assert_eq!(lookup_all(&trail).len(), 6);
    assert!(trail.verify().all_valid());
}

#[test]
fn digest_every_roll_signs_each_roll() {
    let mut trail = TestTrail::new();
    trail.config.digest_every_roll = true;
    trail.append(1);
    let report = trail.flush(false);
    assert_eq!((report.log_files.len(), report.digests.len()), (1, 1));
    assert!(trail.state().pending.is_empty());
}

#[test]
fn an_interrupted_roll_is_delivered_by_the_next_run_without_duplicates() {
    let mut trail = TestTrail::new();
    trail.append(4);
    trail.flush(false);
    // A roller died after moving the active log away, before delivering it.
    trail.append(3);
    let layout = TrailLayout::new(&trail.dir);
    let stem = "vault-1_kmsfs_host_20261124T0700Z_ABCDEFGHIJKLMNOP";
    fs::create_dir_all(layout.rolling()).expect("mkdir");
    let rolling = layout.rolling().join(format!("{stem}.jsonl"));
    fs::rename(AuditLog::active_path(&trail.dir), &rolling).expect("mv");
    // Its records are visible meanwhile.
    assert_eq!(lookup_all(&trail).len(), 7);
    let report = trail.trail().run_due(Utc::now()).expect("run");
    assert_eq!(
        report.log_files,
        [format!("audit/2026/11/24/{stem}.json.gz")]
    );
    assert!(!rolling.exists());
    assert_eq!(lookup_all(&trail).len(), 7);
    // Died again after the gzip file was in place but before the ledger knew.
    trail.append(2);
    let stem2 = "vault-1_kmsfs_host_20261124T0701Z_QRSTUVWXYZabcdef";
    let rolling2 = layout.rolling().join(format!("{stem2}.jsonl"));
    fs::rename(AuditLog::active_path(&trail.dir), &rolling2).expect("mv");
    let target = trail.path(&format!("audit/2026/11/24/{stem2}.json.gz"));
    crate::audit::logfile::write_log_file(&rolling2, &target).expect("write");
    let report = trail.flush(true);
    assert!(report
        .log_files
        .contains(&format!("audit/2026/11/24/{stem2}.json.gz")));
    assert_eq!(lookup_all(&trail).len(), 9);
    let verified = trail.verify();
    assert!(verified.all_valid(), "{}", verified.to_text());
}

/// Appends the first `len` bytes of one more record, as a writer killed during
/// its write(2) leaves them.
fn append_torn_record(trail: &TestTrail, len: usize) {
    let mut record = serde_json::to_vec(&crate::audit::test_support::decrypt_record(99)).unwrap();
    record.truncate(len);
    let active = AuditLog::active_path(&trail.dir);
    let mut file = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(active)
        .unwrap();
    std::io::Write::write_all(&mut file, &record).unwrap();
}

#[test]
fn a_record_torn_by_a_killed_writer_is_cut_off_by_the_next_append_and_by_the_roll() {
    let mut trail = TestTrail::new();
    trail.append(2);
    append_torn_record(&trail, 571);
    // The next record starts on a line of its own.
    trail.append(1);
    append_torn_record(&trail, 100);
    // Delivered without the torn tail, every whole record kept.
    trail.flush(true);
    assert_eq!(lookup_all(&trail).len(), 3);
    let verified = trail.verify();
    assert!(verified.all_valid(), "{}", verified.to_text());
    // Nothing but a torn record: nothing to deliver.
    append_torn_record(&trail, 10);
    assert!(trail.flush(false).log_files.is_empty());
}

#[test]
fn a_record_that_is_not_json_stops_the_roll_and_keeps_the_records() {
    let mut trail = TestTrail::new();
    trail.append(2);
    let active = AuditLog::active_path(&trail.dir);
    let mut text = fs::read_to_string(&active).expect("read");
    text.push_str("garbage\n");
    fs::write(&active, text).expect("write");
    match trail.trail().flush(Utc::now(), false) {
        Err(AuditError::Malformed { line: 3, .. }) => {}
        other => panic!("expected Malformed at line 3, got {other:?}"),
    }
    let layout = TrailLayout::new(&trail.dir);
    assert_eq!(entries(&layout.rolling()).expect("ls").len(), 1);
}

#[test]
fn boundaries_are_multiples_of_the_interval() {
    let t = DateTime::parse_from_rfc3339("2026-11-24T07:40:12.5Z")
        .expect("time")
        .with_timezone(&Utc);
    let hour = next_boundary(t, Duration::hours(1));
    assert_eq!(hour.to_rfc3339(), "2026-11-24T08:00:00+00:00");
    assert_eq!(
        next_boundary(hour, Duration::hours(1)).to_rfc3339(),
        "2026-11-24T09:00:00+00:00"
    );
}

#[test]
fn a_digest_run_killed_before_or_after_writing_its_files_leaves_a_trail_that_verifies() {
    let mut trail = TestTrail::new();
    trail.append(2);
    trail.flush(true);
    // Killed after the ledger took the new chain head, before the files were written.
    trail.append(2);
    trail.flush(false);
    let mut state = trail.state();
    let layout = TrailLayout::new(&trail.dir);
    let identity = trail.trail().identity.clone();
    let object =
        prepare_digest(&layout, &identity, &trail.signer, &mut state, Utc::now()).expect("prepare");
    state.store(&trail.ledger).expect("store");
    assert!(!trail.path(&object).exists());
    // The next run writes it, with the log file the ledger listed as pending.
    trail.trail().run_due(Utc::now()).expect("run");
    assert!(trail.path(&object).exists());
    assert_eq!(trail.state().unwritten_digest, None);
    let verified = trail.verify();
    assert!(verified.all_valid(), "{}", verified.to_text());
    // Killed after writing the files, before the ledger heard: written again, same bytes.
    trail.append(1);
    trail.flush(false);
    let mut state = trail.state();
    let object =
        prepare_digest(&layout, &identity, &trail.signer, &mut state, Utc::now()).expect("prepare");
    state.store(&trail.ledger).expect("store");
    write_unwritten_digest(&layout, &mut state).expect("write");
    let written = fs::read(trail.path(&object)).expect("read");
    trail.flush(true);
    assert_eq!(fs::read(trail.path(&object)).expect("read"), written);
    let verified = trail.verify();
    assert!(verified.all_valid(), "{}", verified.to_text());
    assert_eq!(verified.to_text().matches("Digest file").count(), 4);
}
