//! Each tampering the issue lists, on a real trail on disk: verify names the
//! file and the reason; the untouched trail verifies.

use std::fs;

use super::*;
use crate::audit::digest::signature_path;
use crate::audit::test_trail::{gunzip, minutes_later, regzip, TestTrail};

/// The problems verify reports, as (object, verdict).
fn problems(report: &VerifyReport) -> Vec<(String, String)> {
    report
        .checks
        .iter()
        .filter(|c| c.problem.is_some())
        .map(|c| (c.object.clone(), c.verdict()))
        .collect()
}

fn one_problem(report: &VerifyReport) -> (String, String) {
    let found = problems(report);
    assert_eq!(found.len(), 1, "{}", report.to_text());
    assert!(!report.all_valid());
    found.into_iter().next().expect("one")
}

#[test]
fn an_untouched_trail_verifies() {
    let (trail, reports) = TestTrail::with_history();
    let report = trail.verify();
    assert!(report.all_valid(), "{}", report.to_text());
    // 3 digests; 4 log files in them and 1 not yet in a digest.
    assert_eq!(report.count(FileKind::Digest), (3, 3));
    assert_eq!(report.count(FileKind::Log), (5, 5));
    let text = report.to_text();
    assert!(
        text.ends_with("3/3 digest files valid\n5/5 log files valid\n"),
        "{text}"
    );
    for object in reports
        .iter()
        .flat_map(|r| r.log_files.iter().chain(&r.digests))
    {
        assert!(
            text.contains(&format!("{object}  valid")),
            "{object}: {text}"
        );
    }
    assert_eq!(report.to_json()["Valid"], true);
}

#[test]
fn one_changed_byte_in_a_rolled_record_is_found() {
    let (trail, reports) = TestTrail::with_history();
    let object = &reports[1].log_files[0];
    let path = trail.path(object);
    let mut content = gunzip(&path);
    let at = content
        .windows(5)
        .position(|w| w == b"alice")
        .expect("a user name");
    content[at] = b'A';
    regzip(&path, &content);
    assert_eq!(
        one_problem(&trail.verify()),
        (object.clone(), "INVALID: hash value doesn't match".into())
    );
}

#[test]
fn a_deleted_log_file_is_found() {
    let (trail, reports) = TestTrail::with_history();
    let object = &reports[2].log_files[0];
    fs::remove_file(trail.path(object)).expect("rm");
    assert_eq!(
        one_problem(&trail.verify()),
        (object.clone(), "INVALID: not found".into())
    );
}

#[test]
fn a_changed_or_deleted_delivery_not_yet_in_a_digest_is_found() {
    let (trail, reports) = TestTrail::with_history();
    let object = &reports[4].log_files[0];
    assert!(trail.state().pending.iter().any(|p| p.object == *object));
    let path = trail.path(object);
    let mut content = gunzip(&path);
    content.insert(20, b' ');
    regzip(&path, &content);
    assert_eq!(
        one_problem(&trail.verify()),
        (object.clone(), "INVALID: hash value doesn't match".into())
    );
    fs::remove_file(&path).expect("rm");
    assert_eq!(
        one_problem(&trail.verify()),
        (object.clone(), "INVALID: not found".into())
    );
}

#[test]
fn a_log_file_inserted_from_elsewhere_is_found() {
    let (trail, reports) = TestTrail::with_history();
    let (other, other_reports) = TestTrail::with_history();
    let foreign = &other_reports[0].log_files[0];
    // Placed beside the real files of that day, under a name of this trail.
    let real = trail.path(&reports[0].log_files[0]);
    let name = real
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let inserted = real.with_file_name(name.replace(".json.gz", "X.json.gz"));
    fs::copy(other.path(foreign), &inserted).expect("copy");
    let object = inserted
        .strip_prefix(trail.tmp.path())
        .expect("inside")
        .display()
        .to_string();
    assert_eq!(
        one_problem(&trail.verify()),
        (object, "INVALID: not covered by a digest".into())
    );
}

#[test]
fn an_edited_digest_fails_its_signature() {
    let (trail, reports) = TestTrail::with_history();
    let object = &reports[2].digests[0];
    let path = trail.path(object);
    let content = String::from_utf8(gunzip(&path)).expect("utf-8");
    let edited = content.replacen("\"hashValue\":\"", "\"hashValue\":\"0", 1);
    assert_ne!(edited, content);
    regzip(&path, edited.as_bytes());
    let found = problems(&trail.verify());
    assert_eq!(
        found[0],
        (
            object.clone(),
            "INVALID: signature verification failed".into()
        ),
        "{found:?}"
    );
    // The log file whose listed hash was edited no longer matches it either.
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[1].1, "INVALID: hash value doesn't match");
}

#[test]
fn a_digest_signed_by_another_key_or_without_its_signature_fails() {
    let (trail, reports) = TestTrail::with_history();
    let object = &reports[0].digests[0];
    fs::remove_file(signature_path(&trail.path(object))).expect("rm");
    let (at, verdict) = one_problem(&trail.verify());
    assert_eq!(at, *object);
    assert!(
        verdict.starts_with("INVALID: signature verification failed"),
        "{verdict}"
    );
    let other = TestTrail::new();
    let report = verify(
        &trail.dir,
        &other.signer.public_key(),
        &trail.ledger,
        VerifyRange::default(),
    )
    .expect("verify");
    assert_eq!(report.count(FileKind::Digest).0, 0, "{}", report.to_text());
}

#[test]
fn a_deleted_digest_is_found_and_its_log_files_are_uncovered() {
    let (trail, reports) = TestTrail::with_history();
    let object = &reports[2].digests[0];
    fs::remove_file(trail.path(object)).expect("rm");
    let found = problems(&trail.verify());
    assert_eq!(
        found[0],
        (object.clone(), "INVALID: not found".into()),
        "{found:?}"
    );
    // The two log files only it listed are now covered by no digest.
    let uncovered: Vec<&(String, String)> = found[1..].iter().collect();
    assert_eq!(uncovered.len(), 2, "{found:?}");
    for (log, verdict) in uncovered {
        assert!(reports[1].log_files.contains(log) || reports[2].log_files.contains(log));
        assert_eq!(verdict, "INVALID: not covered by a digest");
    }
}

#[test]
fn deleting_the_newest_digest_is_found_through_the_ledger() {
    let (trail, reports) = TestTrail::with_history();
    let newest = &reports[3].digests[0];
    fs::remove_file(trail.path(newest)).expect("rm");
    fs::remove_file(signature_path(&trail.path(newest))).expect("rm");
    let found = problems(&trail.verify());
    assert_eq!(
        found[0],
        (newest.clone(), "INVALID: not found".into()),
        "{found:?}"
    );
}

#[test]
fn a_moved_digest_is_found() {
    let (trail, reports) = TestTrail::with_history();
    let object = &reports[0].digests[0];
    let path = trail.path(object);
    let moved = path.with_file_name("moved.json.gz");
    fs::rename(&path, &moved).expect("mv");
    fs::rename(signature_path(&path), signature_path(&moved)).expect("mv");
    let moved_object = moved
        .strip_prefix(trail.tmp.path())
        .expect("inside")
        .display()
        .to_string();
    assert_eq!(
        problems(&trail.verify()),
        [
            (object.clone(), "INVALID: not found".into()),
            (
                moved_object,
                format!("INVALID: has been moved from its original location {object}")
            ),
        ]
    );
}

#[test]
fn a_gap_in_the_chain_is_found() {
    let (mut trail, reports) = TestTrail::with_history();
    // The signer's idea of the chain head loses an hour (a restored ledger,
    // a clock jump): the next digest starts later than the previous one ended.
    let mut state = trail.state();
    let head = state.head.as_mut().expect("a head");
    let end = crate::audit::state::parse_time(&head.end_time).expect("time");
    head.end_time = crate::audit::state::time_text(end + chrono::Duration::hours(1));
    state.store(&trail.ledger).expect("store");
    trail.append(1);
    trail.flush(true);
    let found = problems(&trail.verify());
    let last = &reports[3].digests[0];
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, *last);
    assert!(
        found[0].1.starts_with("INVALID: chain broken (it ends at"),
        "{found:?}"
    );
}

#[test]
fn a_range_checks_only_the_digests_that_meet_it() {
    let mut trail = TestTrail::new();
    let mut digests = Vec::new();
    for minutes in [0, 10, 20] {
        trail.append(2);
        let report = trail
            .trail()
            .flush(minutes_later(minutes), true)
            .expect("flush");
        digests.push(report.digests[0].clone());
    }
    let first = trail.path(&digests[0]);
    let content = gunzip(&first);
    regzip(&first, &content[..content.len() - 1]);
    assert!(!trail.verify().all_valid());
    let after = VerifyRange {
        start: Some(minutes_later(15)),
        end: None,
    };
    let report = trail.verify_range(after);
    assert!(report.all_valid(), "{}", report.to_text());
    assert_eq!(
        report.count(FileKind::Digest),
        (1, 1),
        "{}",
        report.to_text()
    );
    assert_eq!(report.count(FileKind::Log), (1, 1), "{}", report.to_text());
}

/// Changes the digest `digest` to list `to` in place of `from`. Its signature
/// then fails, but the log files it lists are still checked.
fn listing_instead(trail: &TestTrail, digest: &str, from: &str, to: &str) {
    let path = trail.path(digest);
    let content = String::from_utf8(gunzip(&path)).expect("utf-8");
    assert!(content.contains(from));
    regzip(&path, content.replacen(from, to, 1).as_bytes());
}

#[test]
fn a_digest_naming_a_file_outside_the_log_tree_is_not_followed() {
    for escape in [
        "elsewhere.json.gz",
        "audit/../elsewhere.json.gz",
        "ABSOLUTE",
    ] {
        let (trail, reports) = TestTrail::with_history();
        let digest = &reports[2].digests[0];
        let listed = &reports[2].log_files[0];
        assert!(listed.starts_with("audit/"), "{listed}");
        // An exact copy of the listed file outside the log tree: its hash matches.
        let outside = trail.tmp.path().join("elsewhere.json.gz");
        fs::copy(trail.path(listed), &outside).expect("copy");
        let escape = match escape {
            "ABSOLUTE" => outside.display().to_string(),
            relative => relative.to_string(),
        };
        listing_instead(&trail, digest, listed, &escape);
        let found = problems(&trail.verify());
        assert!(
            found.contains(&(
                escape.clone(),
                "INVALID: names a file outside the audit log tree".into()
            )),
            "{escape}: {found:?}"
        );
    }
}

#[test]
fn a_fifo_in_place_of_a_log_file_is_reported_not_waited_on() {
    let (trail, reports) = TestTrail::with_history();
    let object = reports[2].log_files[0].clone();
    let path = trail.path(&object);
    fs::remove_file(&path).expect("rm");
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let (done, report) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(problems(&trail.verify()));
    });
    let found = report
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("verify returns instead of blocking on the FIFO");
    assert!(
        found
            .iter()
            .any(|(o, verdict)| *o == object && verdict.contains("not a regular file")),
        "{found:?}"
    );
}
