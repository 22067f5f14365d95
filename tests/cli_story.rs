//! The AWS KMS console lesson, typed as a new user would, through the real binary,
//! with the audit records checked field by field.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{s, Sandbox};

#[test]
fn the_key_lifecycle_story() {
    let sb = Sandbox::initialized();
    let me = kmsfs::sys::current_caller();
    let my_name = me.user_name.clone().unwrap();

    let created = sb.json(&[
        "key",
        "create",
        "--alias",
        "alias/myFirstKey",
        "--description",
        "KMS Key for S3 data",
    ]);
    let key_id = created["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let arn = created["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    assert!(arn.ends_with(&format!(":key/{key_id}")));

    let described = sb.json(&["key", "describe", "--key-id", "alias/myFirstKey"]);
    assert_eq!(described["KeyMetadata"]["KeyState"], "Enabled");
    assert_eq!(described["KeyMetadata"]["Enabled"], true);
    assert_eq!(
        described["KeyMetadata"]["Description"],
        "KMS Key for S3 data"
    );
    assert_eq!(described["KeyMetadata"]["KeyUsage"], "ENCRYPT_DECRYPT");
    assert_eq!(described["KeyMetadata"]["KeySpec"], "SYMMETRIC_DEFAULT");
    // The text form says the same.
    assert!(sb
        .ok(&["key", "describe", "--key-id", &arn])
        .contains("Enabled"));

    let plain = sb.write("note.txt", b"hello, kms\n\x00\xff binary too");
    let blob = sb.path("note.enc");
    sb.ok(&[
        "encrypt",
        "--key-id",
        "alias/myFirstKey",
        "--plaintext-file",
        s(&plain),
        "--encryption-context",
        "dept=it",
        "--output-file",
        s(&blob),
    ]);
    let out = sb.path("note.out");
    sb.ok(&[
        "decrypt",
        "--ciphertext-file",
        s(&blob),
        "--encryption-context",
        "dept=it",
        "--output-file",
        s(&out),
    ]);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&plain).unwrap());
    // base64 blobs as printed in text mode decrypt too, and text decrypt writes raw bytes.
    let b64 = sb.ok(&[
        "encrypt",
        "--key-id",
        &key_id,
        "--plaintext-file",
        s(&plain),
    ]);
    let b64_file = sb.write("note.b64", b64.as_bytes());
    assert_eq!(
        sb.run(&["decrypt", "--ciphertext-file", s(&b64_file)])
            .stdout,
        std::fs::read(&plain).unwrap()
    );

    sb.fails(
        &[
            "decrypt",
            "--ciphertext-file",
            s(&blob),
            "--encryption-context",
            "dept=hr",
        ],
        1,
        "InvalidCiphertextException",
    );

    let simulate = [
        "policy",
        "simulate",
        "--key-id",
        "alias/myFirstKey",
        "--principal",
        "user:nobody",
        "--action",
        "kms:Decrypt",
    ];
    assert!(sb.ok(&simulate).starts_with("Denied"));
    sb.ok(&[
        "policy",
        "add-user",
        "--key-id",
        "alias/myFirstKey",
        "user:nobody",
    ]);
    let allowed = sb.ok(&simulate);
    assert!(allowed.starts_with("Allowed"), "{allowed}");
    assert!(allowed.contains("Allow use of the key"), "{allowed}");
    sb.ok(&[
        "policy",
        "remove-user",
        "--key-id",
        "alias/myFirstKey",
        "user:nobody",
    ]);
    assert!(sb.ok(&simulate).starts_with("Denied"));

    sb.ok(&["key", "disable", "--key-id", "alias/myFirstKey"]);
    let disabled = sb.fails(
        &[
            "decrypt",
            "--ciphertext-file",
            s(&blob),
            "--encryption-context",
            "dept=it",
        ],
        1,
        "DisabledException",
    );
    assert!(disabled.contains(&arn), "{disabled}");

    sb.fails(
        &[
            "key",
            "schedule-deletion",
            "--key-id",
            "alias/myFirstKey",
            "--pending-window-days",
            "6",
        ],
        1,
        "ValidationException",
    );
    let scheduled = sb.json(&[
        "key",
        "schedule-deletion",
        "--key-id",
        "alias/myFirstKey",
        "--pending-window-days",
        "7",
    ]);
    let date: DateTime<Utc> = scheduled["DeletionDate"].as_str().unwrap().parse().unwrap();
    let ahead = date - Utc::now();
    assert!(
        ahead > Duration::days(7) - Duration::minutes(5) && ahead <= Duration::days(7),
        "{ahead}"
    );
    sb.fails(
        &[
            "decrypt",
            "--ciphertext-file",
            s(&blob),
            "--encryption-context",
            "dept=it",
        ],
        1,
        "KMSInvalidStateException",
    );
    sb.ok(&["key", "cancel-deletion", "--key-id", "alias/myFirstKey"]);
    assert_eq!(
        sb.json(&["key", "describe", "--key-id", "alias/myFirstKey"])["KeyMetadata"]["KeyState"],
        "Disabled"
    );

    // The audit log: every Decrypt, successful and failed, newest first.
    let lookup = sb.json(&["audit", "lookup", "--event-name", "Decrypt"]);
    let events = lookup["Events"].as_array().unwrap();
    let codes: Vec<Option<&str>> = events.iter().map(|e| e["errorCode"].as_str()).collect();
    assert_eq!(
        codes,
        [
            Some("KMSInvalidStateException"),
            Some("DisabledException"),
            Some("InvalidCiphertextException"),
            None,
            None
        ]
    );
    for event in events {
        assert_eq!(event["eventName"], "Decrypt");
        assert_eq!(event["userIdentity"]["userName"], my_name.as_str());
        assert_eq!(event["userIdentity"]["principalId"], me.uid.to_string());
        assert_eq!(event["resources"][0]["ARN"], arn.as_str());
        assert_eq!(event["requestParameters"]["keyId"], arn.as_str());
        assert_eq!(event["readOnly"], true);
        assert_eq!(event["sourceProcess"]["comm"], "kmsfs");
    }
    assert_eq!(
        events[2]["requestParameters"]["encryptionContext"]["dept"],
        "hr"
    );
    let table = sb.ok(&["audit", "lookup", "--event-name", "Decrypt"]);
    assert!(
        table.contains("DisabledException") && table.contains("KMSInvalidStateException"),
        "{table}"
    );

    // Every request of the story is recorded, in order.
    let names: Vec<String> = sb
        .records()
        .iter()
        .map(|r| r["eventName"].as_str().unwrap().to_string())
        .collect();
    let expected = [
        "CreateKey",
        "CreateAlias",
        "DescribeKey",
        "DescribeKey",
        "Encrypt",
        "Decrypt",
        "Encrypt",
        "Decrypt",
        "Decrypt",
        "SimulateKeyPolicy",
        "PutKeyPolicy",
        "SimulateKeyPolicy",
        "PutKeyPolicy",
        "SimulateKeyPolicy",
        "DisableKey",
        "Decrypt",
        "ScheduleKeyDeletion",
        "ScheduleKeyDeletion",
        "Decrypt",
        "CancelKeyDeletion",
        "DescribeKey",
    ];
    assert_eq!(names, expected);
    let failed_schedule = &sb.records()[16];
    assert_eq!(failed_schedule["errorCode"], "ValidationException");
    assert_eq!(failed_schedule["readOnly"], false);
}

/// No key material, data key or plaintext is stored in the clear in the vault files.
#[test]
fn the_vault_holds_no_plaintext_secrets() {
    let sb = Sandbox::initialized();
    sb.ok(&["key", "create", "--alias", "alias/k"]);
    let data_key = sb.json(&["generate-data-key", "--key-id", "alias/k"]);
    use base64::Engine;
    let plaintext = base64::engine::general_purpose::STANDARD
        .decode(data_key["Plaintext"].as_str().unwrap())
        .unwrap();
    let marker = b"PLAINTEXT-MARKER-4c1d";
    let plain = sb.write("p", marker);
    sb.ok(&[
        "encrypt",
        "--key-id",
        "alias/k",
        "--plaintext-file",
        s(&plain),
    ]);
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(sb.dir.path().join("vault")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && !path.ends_with("vault.key") {
            stored.extend(std::fs::read(&path).unwrap());
        }
    }
    for entry in std::fs::read_dir(sb.dir.path().join("vault/audit")).unwrap() {
        stored.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let contains = |needle: &[u8]| stored.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(&plaintext), "a data key is stored in the clear");
    assert!(!contains(marker), "a plaintext is stored in the clear");
    let root_key = std::fs::read(sb.dir.path().join("vault/vault.key")).unwrap();
    assert_eq!(root_key.len(), 32);
    assert!(!contains(&root_key), "the root key is stored in the vault");
}

#[test]
fn bad_input_gets_one_clear_line() {
    let sb = Sandbox::new();
    sb.fails(&["key", "list"], 3, "kmsfs init");
    sb.ok(&["init"]);
    sb.fails(&["init"], 3, "already exists");
    sb.fails(
        &["key", "describe", "--key-id", "alias/none"],
        1,
        "NotFoundException",
    );
    sb.fails(
        &["key", "describe", "--key-id", "not a key"],
        1,
        "NotFoundException",
    );
    sb.fails(
        &["key", "create", "--alias", "alias/aws/x"],
        1,
        "ValidationException",
    );
    sb.fails(
        &["key", "create", "--user", "bob"],
        1,
        "MalformedPolicyDocumentException",
    );
    let missing = sb.path("missing");
    sb.fails(
        &[
            "encrypt",
            "--key-id",
            "alias/x",
            "--plaintext-file",
            s(&missing),
        ],
        3,
        "cannot read",
    );
    let garbage = sb.write("garbage", b"not a blob at all");
    sb.fails(
        &["decrypt", "--ciphertext-file", s(&garbage)],
        1,
        "InvalidCiphertextException",
    );

    // Modes that let other users in are refused, with the fix.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(sb.vault(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let line = sb.fails(&["key", "list"], 3, "chmod 600");
    assert!(line.contains(s(&sb.vault())), "{line}");
}

#[test]
fn passphrase_vaults_unlock_with_the_right_passphrase_only() {
    let sb = Sandbox::new();
    let pass = sb.write("pass", b"correct horse battery staple\n");
    let wrong = sb.write("wrong", b"incorrect horse\n");
    sb.ok(&["init", "--passphrase", "--passphrase-file", s(&pass)]);
    assert!(!sb.dir.path().join("vault/vault.key").exists());
    sb.ok(&[
        "--passphrase-file",
        s(&pass),
        "key",
        "create",
        "--alias",
        "alias/p",
    ]);
    sb.fails(
        &["--passphrase-file", s(&wrong), "key", "list"],
        3,
        "passphrase",
    );
    // No terminal and no file: one line saying what to do.
    sb.fails(&["key", "list"], 2, "--passphrase-file");
    assert_eq!(
        sb.json(&["--passphrase-file", s(&pass), "key", "list"])["Keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
