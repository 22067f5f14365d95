//! The key policy, not the mode bits, decides who reads: `nobody` runs `cat` on a
//! 0644 file and is refused, allowed once added as a key user, refused again once
//! removed, all on one mount, each attempt's audit record checked field by field.
//! Disabling the key (or scheduling its deletion) refuses every open until it is
//! enabled again, without remounting.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;

use common::mount::{as_user, errno, MountedVolume, KEY, NOBODY};

/// `cat PATH` as nobody: (success, stdout, stderr).
fn cat_as_nobody(path: &Path) -> (bool, String, String) {
    let out = as_user(NOBODY, "cat", &[path.to_str().unwrap()])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The file-key records (`kmsfs:path` in the context) of `user`, oldest first.
fn file_key_records(vol: &MountedVolume, event: &str, user: &str) -> Vec<Value> {
    vol.records()
        .into_iter()
        .filter(|r| r["eventName"] == event && r["userIdentity"]["userName"] == user)
        .filter(|r| !r["requestParameters"]["encryptionContext"]["kmsfs:path"].is_null())
        .collect()
}

fn key_arn(vol: &MountedVolume) -> String {
    let described = vol.sandbox.json(&["key", "describe", "--key-id", KEY]);
    described["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The fields every record of a file open by nobody with cat must have.
fn assert_nobody_cat_record(record: &Value, arn: &str, volume_id: &str, refused: bool) {
    assert_eq!(record["eventName"], "Decrypt", "{record}");
    assert_eq!(record["eventSource"], "kms.kmsfs.local");
    let who = &record["userIdentity"];
    assert_eq!(who["type"], "UnixUser");
    assert_eq!(who["userName"], "nobody");
    assert_eq!(who["principalId"], NOBODY.to_string());
    assert_eq!(who["uid"], NOBODY);
    assert_eq!(who["gid"], NOBODY);
    let process = &record["sourceProcess"];
    assert_eq!(process["comm"], "cat", "{record}");
    assert!(process["pid"].as_u64().unwrap() > 0);
    assert!(
        process["exe"].as_str().unwrap().ends_with("/cat"),
        "{record}"
    );
    let params = &record["requestParameters"];
    assert_eq!(params["keyId"], arn, "{record}");
    assert_eq!(params["encryptionAlgorithm"], "SYMMETRIC_DEFAULT");
    let context = &params["encryptionContext"];
    assert_eq!(context["kmsfs:path"], "/docs/report.txt", "{record}");
    assert_eq!(context["kmsfs:volume"], volume_id, "{record}");
    let file_id = context["kmsfs:file"].as_str().unwrap();
    assert_eq!(file_id.len(), 32);
    assert!(file_id
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(record["resources"][0]["ARN"], arn);
    assert_eq!(record["readOnly"], true);
    assert_eq!(record["responseElements"], Value::Null);
    if refused {
        assert_eq!(record["errorCode"], "AccessDenied", "{record}");
        let message = record["errorMessage"].as_str().unwrap();
        assert!(
            message.contains("nobody") && message.contains("kms:Decrypt"),
            "{message}"
        );
    } else {
        assert!(record.get("errorCode").is_none(), "{record}");
        assert!(record.get("errorMessage").is_none(), "{record}");
    }
}

#[test]
fn the_key_policy_decides_who_reads_without_remounting() {
    let Some(vol) = MountedVolume::new("the_key_policy_decides_who_reads_without_remounting")
    else {
        return;
    };
    let arn = key_arn(&vol);
    let info = vol
        .sandbox
        .json(&["volume", "info", vol.backing.to_str().unwrap()]);
    let volume_id = info["Volume"]["VolumeId"].as_str().unwrap().to_string();
    let docs = vol.path("docs");
    std::fs::create_dir(&docs).unwrap();
    std::fs::set_permissions(&docs, PermissionsExt::from_mode(0o755)).unwrap();
    let report = docs.join("report.txt");
    std::fs::write(&report, b"quarterly numbers\n").unwrap();
    std::fs::set_permissions(&report, PermissionsExt::from_mode(0o644)).unwrap();
    let daemon = vol.daemon_pid().unwrap();

    // 1. Refused: the mode bits allow it, the key policy does not.
    let (ok, stdout, stderr) = cat_as_nobody(&report);
    assert!(!ok && stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
    // Metadata still follows the mode bits.
    assert!(as_user(NOBODY, "stat", &[report.to_str().unwrap()])
        .output()
        .unwrap()
        .status
        .success());

    // 2. Allowed after add-user, on the same mount.
    vol.sandbox
        .ok(&["policy", "add-user", "--key-id", KEY, "user:nobody"]);
    let (ok, stdout, stderr) = cat_as_nobody(&report);
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "quarterly numbers\n");

    // 3. Refused again after remove-user.
    vol.sandbox
        .ok(&["policy", "remove-user", "--key-id", KEY, "user:nobody"]);
    let (ok, _, stderr) = cat_as_nobody(&report);
    assert!(!ok && stderr.contains("Permission denied"), "{stderr}");
    assert_eq!(vol.daemon_pid(), Some(daemon), "never remounted");
    assert_eq!(
        report.metadata().unwrap().permissions().mode() & 0o777,
        0o644
    );

    let records = file_key_records(&vol, "Decrypt", "nobody");
    assert_eq!(records.len(), 3, "one record per open: {records:#?}");
    for (record, refused) in records.iter().zip([true, false, true]) {
        assert_nobody_cat_record(record, &arn, &volume_id, refused);
    }
    // Each attempt was a different process.
    let pids: std::collections::HashSet<_> = records
        .iter()
        .map(|r| r["sourceProcess"]["pid"].as_u64())
        .collect();
    assert_eq!(pids.len(), 3);

    // `audit lookup` finds the same three, newest first, errors on the refusals.
    let found = vol.sandbox.json(&[
        "audit",
        "lookup",
        "--event-name",
        "Decrypt",
        "--user",
        "nobody",
    ]);
    let events = found["Events"]
        .as_array()
        .unwrap_or_else(|| panic!("{found}"));
    let events: Vec<&Value> = events
        .iter()
        .filter(|e| !e["requestParameters"]["encryptionContext"]["kmsfs:path"].is_null())
        .collect();
    assert_eq!(events.len(), 3, "{found}");
    let text = vol.sandbox.ok(&[
        "audit",
        "lookup",
        "--event-name",
        "Decrypt",
        "--user",
        "nobody",
    ]);
    assert_eq!(text.matches("AccessDenied").count(), 2, "{text}");
    assert_eq!(text.matches("cat").count(), 3, "{text}");
}

#[test]
fn a_disabled_key_refuses_every_open_until_enabled() {
    let Some(vol) = MountedVolume::new("a_disabled_key_refuses_every_open_until_enabled") else {
        return;
    };
    let files: Vec<_> = ["a", "b", "c"].iter().map(|n| vol.path(n)).collect();
    for (i, file) in files.iter().enumerate() {
        std::fs::write(file, format!("file {i}")).unwrap();
    }
    let daemon = vol.daemon_pid().unwrap();
    let opens = |expect_ok: bool| {
        for (i, file) in files.iter().enumerate() {
            let read = std::fs::read(file);
            let append = std::fs::OpenOptions::new().append(true).open(file);
            let create = std::fs::write(vol.path(&format!("new-{i}-{expect_ok}")), b"x");
            if expect_ok {
                assert_eq!(read.unwrap(), format!("file {i}").as_bytes());
                append.unwrap();
                create.unwrap();
            } else {
                assert_eq!(errno(read), libc::EACCES, "read of {}", file.display());
                assert_eq!(errno(append), libc::EACCES, "append to {}", file.display());
                assert_eq!(
                    errno(create),
                    libc::EACCES,
                    "create beside {}",
                    file.display()
                );
            }
        }
    };

    opens(true);
    vol.sandbox.ok(&["key", "disable", "--key-id", KEY]);
    opens(false);
    let refused = vol
        .records()
        .into_iter()
        .filter(|r| r["errorCode"] == "DisabledException")
        .filter(|r| !r["requestParameters"]["encryptionContext"]["kmsfs:path"].is_null())
        .count();
    assert_eq!(refused, 9, "one DisabledException record per refused open");
    // Metadata does not need the key.
    assert!(files[0].metadata().is_ok());
    assert_eq!(std::fs::read_dir(&vol.mnt).unwrap().count(), 6);

    vol.sandbox.ok(&["key", "enable", "--key-id", KEY]);
    opens(true);

    // Pending deletion refuses too, with its own error code.
    vol.sandbox.ok(&[
        "key",
        "schedule-deletion",
        "--key-id",
        KEY,
        "--pending-window-days",
        "7",
    ]);
    assert_eq!(errno(std::fs::read(&files[0])), libc::EACCES);
    // The last request record (the refusals may have raised a live Insight after it).
    let last = vol
        .records()
        .into_iter()
        .rev()
        .find(|r| r["eventType"] != "KmsfsInsight")
        .unwrap();
    assert_eq!(last["errorCode"], "KMSInvalidStateException", "{last}");
    vol.sandbox.ok(&["key", "cancel-deletion", "--key-id", KEY]);
    vol.sandbox.ok(&["key", "enable", "--key-id", KEY]);
    assert_eq!(std::fs::read(&files[0]).unwrap(), b"file 0");
    assert_eq!(vol.daemon_pid(), Some(daemon), "never remounted");
}
