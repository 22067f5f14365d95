//! Authorization and audit per open: Decrypt for each open of an existing
//! file, GenerateDataKey for each new key, refusals as EACCES with their
//! record, and policy or key state changes applying at the next open.

use super::*;
use crate::fs::error::FsError;
use crate::kms::ErrorCode;

fn refused_code(result: Result<HandleId, FsError>) -> ErrorCode {
    match result {
        Err(FsError::Kms(e)) => e.code,
        other => panic!(
            "expected a KMS refusal, got {:?}",
            other.map_err(|e| e.to_string())
        ),
    }
}

#[test]
fn each_open_is_one_decrypt_record_and_each_create_one_generate_data_key() {
    let f = fixture();
    let id = f.file_with("report.txt", b"numbers");
    let generated = f.records("GenerateDataKey");
    assert_eq!(generated.len(), 1);
    assert_eq!(
        generated[0]["requestParameters"]["encryptionContext"]["kmsfs:path"],
        "/report.txt"
    );
    assert_eq!(f.records("Decrypt").len(), 0);
    for round in 1..=3 {
        let fh = f.fs.open(&owner(), id, flags(false)).unwrap().handle;
        f.fs.release(fh).unwrap();
        assert_eq!(f.records("Decrypt").len(), round);
    }
    let record = &f.records("Decrypt")[0];
    let context = &record["requestParameters"]["encryptionContext"];
    assert_eq!(context["kmsfs:path"], "/report.txt");
    let file_id = &std::fs::read(f.backing_path(id)).unwrap()[12..28];
    let file_id: String = file_id.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(context["kmsfs:file"], file_id.as_str());
    assert_eq!(
        context["kmsfs:volume"],
        Volume::read_config(&f.backing())
            .unwrap()
            .volume_id
            .to_string()
    );
    assert_eq!(record["userIdentity"]["principalId"], me().uid.to_string());
    assert_eq!(record["sourceProcess"]["pid"], std::process::id());
    assert!(record.get("errorCode").is_none());
}

#[test]
fn a_user_the_policy_does_not_name_is_refused_until_added_then_refused_again() {
    let f = fixture();
    let id = f.file_with("shared.txt", b"for the team");
    // Mode bits allow everyone to read: the key policy decides.
    assert_eq!(f.fs.getattr(id).unwrap().perm, 0o644);
    assert_eq!(
        refused_code(f.fs.open(&stranger(), id, flags(false)).map(|o| o.handle)),
        ErrorCode::AccessDenied
    );
    f.edit_policy(PolicyEdit::AddUser, "uid:4242");
    let fh = f.fs.open(&stranger(), id, flags(false)).unwrap().handle;
    assert_eq!(
        &*f.fs.read(&stranger(), fh, 0, 100).unwrap(),
        b"for the team"
    );
    f.fs.release(fh).unwrap();
    f.edit_policy(PolicyEdit::RemoveUser, "uid:4242");
    assert_eq!(
        refused_code(f.fs.open(&stranger(), id, flags(false)).map(|o| o.handle)),
        ErrorCode::AccessDenied
    );
    let records = f.records("Decrypt");
    let theirs: Vec<&Value> = records
        .iter()
        .filter(|r| r["userIdentity"]["principalId"] == "4242")
        .collect();
    assert_eq!(theirs.len(), 3);
    // Newest first: refused, allowed, refused.
    let codes: Vec<Option<&str>> = theirs.iter().map(|r| r["errorCode"].as_str()).collect();
    assert_eq!(codes, [Some("AccessDenied"), None, Some("AccessDenied")]);
    for record in theirs {
        assert_eq!(
            record["requestParameters"]["encryptionContext"]["kmsfs:path"],
            "/shared.txt"
        );
        assert!(record["sourceProcess"]["comm"].is_string());
    }
}

/// A known limit (docs/SECURITY.md): the policy is checked at open, so a
/// handle opened while allowed keeps working after the user is removed.
#[test]
fn an_open_handle_outlives_the_policy_that_allowed_it() {
    let f = fixture();
    let id = f.file_with("shared.txt", b"for the team");
    f.edit_policy(PolicyEdit::AddUser, "uid:4242");
    let fh = f.fs.open(&stranger(), id, flags(true)).unwrap().handle;
    f.edit_policy(PolicyEdit::RemoveUser, "uid:4242");
    assert_eq!(
        refused_code(f.fs.open(&stranger(), id, flags(false)).map(|o| o.handle)),
        ErrorCode::AccessDenied
    );
    assert_eq!(
        &*f.fs.read(&stranger(), fh, 0, 100).unwrap(),
        b"for the team"
    );
    assert_eq!(f.fs.write(&stranger(), fh, 0, b"FOR").unwrap(), 3);
    f.fs.release(fh).unwrap();
    let fh = f.fs.open(&owner(), id, flags(false)).unwrap().handle;
    assert_eq!(&*f.fs.read(&owner(), fh, 0, 100).unwrap(), b"FOR the team");
    f.fs.release(fh).unwrap();
}

#[test]
fn a_key_open_elsewhere_does_not_let_a_refused_user_in() {
    let f = fixture();
    let id = f.file_with("f", b"secret");
    let held = f.fs.open(&owner(), id, flags(false)).unwrap().handle;
    assert_eq!(
        refused_code(f.fs.open(&stranger(), id, flags(false)).map(|o| o.handle)),
        ErrorCode::AccessDenied
    );
    f.fs.release(held).unwrap();
}

#[test]
fn a_refused_create_leaves_nothing_behind() {
    let f = fixture();
    let before = f.backing_tree();
    let err =
        f.fs.create(&stranger(), ROOT_ID, os("nope"), 0o644, 0, flags(true))
            .unwrap_err();
    assert!(
        matches!(&err, FsError::Kms(e) if e.code == ErrorCode::AccessDenied),
        "{err}"
    );
    assert_eq!(f.backing_tree(), before);
    let record = &f.records("GenerateDataKey")[0];
    assert_eq!(record["errorCode"], "AccessDenied");
    assert_eq!(
        record["requestParameters"]["encryptionContext"]["kmsfs:path"],
        "/nope"
    );
    // So does a refused truncating open: the old content stays.
    let id = f.file_with("kept", b"content");
    f.edit_policy(PolicyEdit::AddUser, "uid:4242");
    let trunc = OpenFlags {
        truncate: true,
        ..flags(true)
    };
    f.fs.kms(|kms| kms.disable_key(&me(), &f.key)).unwrap();
    assert_eq!(
        refused_code(f.fs.open(&stranger(), id, trunc).map(|o| o.handle)),
        ErrorCode::Disabled
    );
    f.fs.kms(|kms| kms.enable_key(&me(), &f.key)).unwrap();
    assert_eq!(f.content(id), b"content");
}

#[test]
fn a_disabled_key_refuses_every_open_until_enabled() {
    let f = fixture();
    let id = f.file_with("f", b"x");
    f.fs.kms(|kms| kms.disable_key(&me(), &f.key)).unwrap();
    assert_eq!(
        refused_code(f.fs.open(&owner(), id, flags(false)).map(|o| o.handle)),
        ErrorCode::Disabled
    );
    let err =
        f.fs.create(&owner(), ROOT_ID, os("g"), 0o644, 0, flags(true))
            .unwrap_err();
    assert!(matches!(err, FsError::Kms(e) if e.code == ErrorCode::Disabled));
    assert_eq!(f.records("Decrypt")[0]["errorCode"], "DisabledException");
    f.fs.kms(|kms| kms.enable_key(&me(), &f.key)).unwrap();
    assert_eq!(f.content(id), b"x");
}

#[test]
fn a_header_moved_from_another_file_does_not_unwrap() {
    let f = fixture();
    let a = f.file_with("a", b"aaaa");
    let b = f.file_with("b", b"bbbb");
    // b's header (its file id and wrapped key) pasted over a's.
    let header_len = std::fs::metadata(f.backing_path(a)).unwrap().len() as usize - 4 - 28;
    let b_bytes = std::fs::read(f.backing_path(b)).unwrap();
    let mut a_bytes = std::fs::read(f.backing_path(a)).unwrap();
    a_bytes[..header_len].copy_from_slice(&b_bytes[..header_len]);
    std::fs::write(f.backing_path(a), &a_bytes).unwrap();
    let fh = f.fs.open(&owner(), a, flags(false)).unwrap().handle;
    let err = f.fs.read(&owner(), fh, 0, 4).unwrap_err();
    assert!(matches!(err, FsError::Object(_)), "{err}");
    f.fs.release(fh).unwrap();
    assert_eq!(f.content(b), b"bbbb");
}
