//! The mount daemon's audit trail on real mounts: it rolls and signs on
//! schedule while mounted and stops at unmount; a session of file opens and
//! CLI requests across several rolls verifies, and one edited byte or one
//! deleted log file is named; a burst of refused opens raises a live
//! ApiErrorRateInsight (Start, then End with the same id) and shows in
//! `kmsfs audit insights`, while a few refusals raise nothing.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::mount::{as_user, wait_for_exit, MountedVolume, NOBODY};
use common::{edit_gzip, s};
use serde_json::Value;

/// Opens `file` for reading `times` times in one shell as nobody; returns how many opens succeeded.
fn opens_as_nobody(file: &Path, times: usize) -> usize {
    let script =
        format!("n=0; for i in $(seq {times}); do if true < \"$0\"; then n=$((n+1)); fi; done 2>/dev/null; echo $n");
    let out = as_user(NOBODY, "bash", &["-c", &script, s(file)])
        .output()
        .expect("bash as nobody");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a count")
}

/// A 0644 file in the mount: mode bits let nobody open it; the key policy does not.
fn file_nobody_may_not_decrypt(vol: &MountedVolume, name: &str) -> std::path::PathBuf {
    let file = vol.path(name);
    std::fs::write(&file, b"for root only").expect("write");
    std::fs::set_permissions(&file, PermissionsExt::from_mode(0o644)).expect("chmod");
    file
}

fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The daemon's Insight records about nobody's error rate.
fn error_rate_insights_about_nobody(vol: &MountedVolume) -> Vec<Value> {
    vol.records()
        .into_iter()
        .filter(|r| r["eventType"] == "KmsfsInsight")
        .filter(|r| r["insightDetails"]["insightType"] == "ApiErrorRateInsight")
        .filter(|r| r["insightDetails"]["insightContext"]["attributions"][0]["value"] == "nobody")
        .collect()
}

#[test]
fn a_burst_of_refused_opens_raises_a_live_error_rate_insight() {
    let test = "a_burst_of_refused_opens_raises_a_live_error_rate_insight";
    let Some(mut vol) = MountedVolume::unmounted(test, &[]) else {
        return;
    };
    // Short windows, so that the End comes within seconds.
    vol.mount_flags = vec!["--insight-window".into(), "4s".into()];
    vol.mount();
    let file = file_nobody_may_not_decrypt(&vol, "secret.txt");

    // A few refusals stay under the threshold (10 over a baseline of 0).
    assert_eq!(opens_as_nobody(&file, 5), 0);
    std::thread::sleep(Duration::from_secs(1));
    let quiet: Vec<Value> = vol
        .records()
        .into_iter()
        .filter(|r| r["eventType"] == "KmsfsInsight")
        .collect();
    assert!(quiet.is_empty(), "{quiet:#?}");

    assert_eq!(opens_as_nobody(&file, 500), 0);
    let start = error_rate_insights_about_nobody(&vol);
    assert!(!start.is_empty(), "no Start right after the burst");
    assert_eq!(start[0]["insightDetails"]["state"], "Start");
    // Ended once a window closed under the threshold.
    let pair = wait_for("the End record", Duration::from_secs(30), || {
        let found = error_rate_insights_about_nobody(&vol);
        (found.len() >= 2).then_some(found)
    });
    assert_eq!(pair[1]["insightDetails"]["state"], "End");
    assert_eq!(pair[0]["sharedEventID"], pair[1]["sharedEventID"]);
    assert_eq!(pair[0]["recipientAccountId"], pair[1]["recipientAccountId"]);

    let refused = vol
        .sandbox
        .json(&["audit", "lookup", "--user", "nobody", "--errors-only"]);
    assert_eq!(refused["Events"].as_array().expect("events").len(), 505);
    let found = vol.sandbox.json(&["audit", "insights"]);
    let burst: Vec<&Value> = found["Insights"]
        .as_array()
        .expect("insights")
        .iter()
        .filter(|i| i["value"] == "nobody" && i["insightType"] == "ApiErrorRateInsight")
        .collect();
    assert!(!burst.is_empty(), "{found:#}");
    // One minute held most of the 505 (the burst may cross a minute).
    assert!(
        burst.iter().any(|i| i["count"].as_u64() >= Some(253)),
        "{found:#}"
    );
    assert!(vol.sandbox.ok(&["audit", "insights"]).contains("nobody"));
}

fn verify(vol: &MountedVolume) -> (Option<i32>, String) {
    let out = vol.sandbox.run(&["audit", "verify"]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn a_session_across_rolls_verifies_and_tampering_is_named() {
    let test = "a_session_across_rolls_verifies_and_tampering_is_named";
    let Some(mut vol) = MountedVolume::unmounted(test, &[]) else {
        return;
    };
    // The daemon rolls records 2 s old and signs every 4 s on its own.
    vol.mount_flags = [
        "--audit-rotate-interval",
        "2s",
        "--audit-digest-interval",
        "4s",
    ]
    .map(String::from)
    .to_vec();
    vol.mount();
    let secret = file_nobody_may_not_decrypt(&vol, "secret.txt");
    let mut refused = 0;
    for round in 1..=3 {
        let name = format!("file-{round}.txt");
        std::fs::write(vol.path(&name), name.as_bytes()).expect("write");
        assert_eq!(
            std::fs::read(vol.path(&name)).expect("read"),
            name.as_bytes()
        );
        assert_eq!(opens_as_nobody(&secret, round), 0);
        refused += round;
        vol.sandbox.ok(&["key", "list"]);
        vol.sandbox.ok(&["audit", "flush", "--digest"]);
        if round == 2 {
            vol.remount();
        }
    }

    // With no CLI running, the daemon delivers a log file and a digest by itself.
    let (logs, digests) = (
        vol.sandbox.rolled_files("audit").len(),
        vol.sandbox.rolled_files("audit-digest").len(),
    );
    assert_eq!(
        std::fs::read(vol.path("file-1.txt")).expect("read"),
        b"file-1.txt"
    );
    wait_for(
        "a scheduled roll and digest",
        Duration::from_secs(20),
        || {
            (vol.sandbox.rolled_files("audit").len() > logs
                && vol.sandbox.rolled_files("audit-digest").len() > digests)
                .then_some(())
        },
    );
    // The thread stops with the mount: the daemon exits.
    let daemon = vol.daemon_pid().expect("the daemon runs");
    vol.unmount();
    wait_for_exit(daemon);

    let (code, out) = verify(&vol);
    assert_eq!(code, Some(0), "{out}");
    let errors = vol
        .sandbox
        .json(&["audit", "lookup", "--user", "nobody", "--errors-only"]);
    let errors = errors["Events"].as_array().expect("events");
    assert_eq!(errors.len(), refused, "{errors:#?}");
    for record in errors {
        assert_eq!(record["eventName"], "Decrypt");
        assert_eq!(record["errorCode"], "AccessDenied");
        assert_eq!(record["userIdentity"]["uid"], NOBODY);
    }
    // Everything nobody did was refused.
    let all = vol.sandbox.json(&["audit", "lookup", "--user", "nobody"]);
    assert_eq!(all["Events"].as_array().expect("events").len(), refused);

    // One byte of one rolled record.
    let logs = vol.sandbox.rolled_files("audit");
    assert!(logs.len() >= 4, "{logs:?}");
    let victim = &logs[1];
    let original = std::fs::read(victim).expect("read");
    edit_gzip(victim, "\"eventVersion\":\"1.", "\"eventVersion\":\"2.");
    let (code, out) = verify(&vol);
    assert_eq!(code, Some(1), "{out}");
    let line = out
        .lines()
        .find(|l| l.contains(&name_of(victim)))
        .expect("named");
    assert!(line.ends_with("INVALID: hash value doesn't match"), "{out}");
    std::fs::write(victim, original).expect("restore");
    assert_eq!(verify(&vol).0, Some(0));

    // One rolled file deleted.
    std::fs::remove_file(&logs[2]).expect("rm");
    let (code, out) = verify(&vol);
    assert_eq!(code, Some(1), "{out}");
    let line = out
        .lines()
        .find(|l| l.contains(&name_of(&logs[2])))
        .expect("named");
    assert!(line.ends_with("INVALID: not found"), "{out}");
}
