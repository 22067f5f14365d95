//! The service against a real vault and audit log in a temporary directory.

use chrono::{Duration, Utc};
use serde_json::Value;

use super::*;
use crate::audit::{lookup, LookupFilter};
use crate::crypto::KdfParams;
use crate::model::{EncryptionContext, KeyState};
use crate::sys;
use crate::vault::RootKeySource;

struct Fixture {
    dir: tempfile::TempDir,
    kms: Kms,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let kms = open(&dir);
    Fixture { dir, kms }
}

fn open(dir: &tempfile::TempDir) -> Kms {
    let db = dir.path().join("vault/vault.db");
    let vault = if db.exists() {
        Vault::open(&db, None).unwrap()
    } else {
        Vault::init(&db, RootKeySource::KeyFile, KdfParams::default()).unwrap()
    };
    let audit = AuditLog::open(&dir.path().join("vault/audit")).unwrap();
    Kms::new(vault, audit, "kmsfs-test").unwrap()
}

fn me() -> Caller {
    sys::current_caller()
}

/// A user the default policy does not name.
fn stranger() -> Caller {
    sys::caller_for_uid(4242, 4242, vec![])
}

fn new_key(kms: &Kms) -> String {
    let created = kms
        .create_key(
            &me(),
            &NewKey {
                description: "test",
                alias: None,
                admins: &[],
                users: &[],
            },
        )
        .unwrap();
    created["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string()
}

fn records(f: &Fixture) -> Vec<Value> {
    lookup(&f.dir.path().join("vault/audit"), &LookupFilter::default()).unwrap()
}

fn code<T>(result: Result<T, KmsError>) -> Option<ErrorCode> {
    result.err().map(|e| e.code)
}

#[test]
fn encrypt_decrypt_round_trip_with_context() {
    let f = fixture();
    let key = new_key(&f.kms);
    let mut ctx = EncryptionContext::new();
    ctx.insert("dept", "it");
    let blob = f
        .kms
        .encrypt(&me(), &key, b"secret", &ctx)
        .unwrap()
        .ciphertext_blob;
    let out = f.kms.decrypt(&me(), &blob, &ctx, None).unwrap();
    assert_eq!(out.plaintext.expose(), b"secret");
    let mut other = EncryptionContext::new();
    other.insert("dept", "IT");
    assert_eq!(
        code(f.kms.decrypt(&me(), &blob, &other, None)),
        Some(ErrorCode::InvalidCiphertext)
    );
    assert_eq!(
        code(f.kms.decrypt(&me(), &blob, &EncryptionContext::new(), None)),
        Some(ErrorCode::InvalidCiphertext)
    );
    let mut flipped = blob.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert_eq!(
        code(f.kms.decrypt(&me(), &flipped, &ctx, None)),
        Some(ErrorCode::InvalidCiphertext)
    );
    let other_key = new_key(&f.kms);
    assert_eq!(
        code(f.kms.decrypt(&me(), &blob, &ctx, Some(&other_key))),
        Some(ErrorCode::IncorrectKey)
    );
    assert_eq!(
        code(f.kms.encrypt(&me(), &key, &[0; 4097], &ctx)),
        Some(ErrorCode::Validation)
    );
    assert_eq!(
        code(f.kms.encrypt(&me(), &key, &[], &ctx)),
        Some(ErrorCode::Validation)
    );
}

#[test]
fn rotation_keeps_old_versions_decrypting() {
    let f = fixture();
    let key = new_key(&f.kms);
    let ctx = EncryptionContext::new();
    let old = f
        .kms
        .encrypt(&me(), &key, b"v1", &ctx)
        .unwrap()
        .ciphertext_blob;
    f.kms.rotate_key_on_demand(&me(), &key).unwrap();
    let new = f
        .kms
        .encrypt(&me(), &key, b"v2", &ctx)
        .unwrap()
        .ciphertext_blob;
    assert_eq!(
        crate::format::blob::CiphertextBlob::read(&new)
            .unwrap()
            .material_version,
        2
    );
    assert_eq!(
        f.kms
            .decrypt(&me(), &old, &ctx, None)
            .unwrap()
            .plaintext
            .expose(),
        b"v1"
    );
    assert_eq!(
        f.kms
            .decrypt(&me(), &new, &ctx, None)
            .unwrap()
            .plaintext
            .expose(),
        b"v2"
    );
    let rotations = f.kms.list_key_rotations(&me(), &key).unwrap();
    assert_eq!(rotations["Rotations"].as_array().unwrap().len(), 2);
    let reencrypted = f.kms.re_encrypt(&me(), &old, &ctx, &key, &ctx).unwrap();
    let blob = reencrypted.ciphertext_blob;
    assert_eq!(
        crate::format::blob::CiphertextBlob::read(&blob)
            .unwrap()
            .material_version,
        2
    );
    assert_eq!(
        f.kms
            .decrypt(&me(), &blob, &ctx, None)
            .unwrap()
            .plaintext
            .expose(),
        b"v1"
    );
}

#[test]
fn scheduled_rotation_happens_when_due_on_next_open() {
    let f = fixture();
    let key = new_key(&f.kms);
    f.kms.enable_key_rotation(&me(), &key, Some(90)).unwrap();
    let id: crate::model::KeyId = key.parse().unwrap();
    let mut record = f.kms.vault().key(&id).unwrap().unwrap();
    record.next_rotation_date = Some(Utc::now() - Duration::seconds(1));
    f.kms.vault().update_key(&record).unwrap();
    let reopened = open(&f.dir);
    assert_eq!(reopened.vault().newest_version(&id).unwrap(), 2);
    let next = reopened
        .vault()
        .key(&id)
        .unwrap()
        .unwrap()
        .next_rotation_date
        .unwrap();
    assert!(next > Utc::now() + Duration::days(89));
    assert!(records(&f)
        .iter()
        .any(|r| r["eventName"] == "RotateKey" && r["eventType"] == "AwsServiceEvent"));
    assert_eq!(
        code(f.kms.enable_key_rotation(&me(), &key, Some(89))),
        Some(ErrorCode::Validation)
    );
    assert_eq!(
        code(f.kms.enable_key_rotation(&me(), &key, Some(2561))),
        Some(ErrorCode::Validation)
    );
}

/// Every operation in every key state gives the error of KMS-REFERENCE.md's table.
#[test]
fn key_state_machine() {
    let f = fixture();
    let kms = &f.kms;
    let ctx = EncryptionContext::new();
    let key = new_key(kms);
    let blob = kms
        .encrypt(&me(), &key, b"x", &ctx)
        .unwrap()
        .ciphertext_blob;
    let id: crate::model::KeyId = key.parse().unwrap();

    // (operation, result code) in the current state.
    let probe = |kms: &Kms| -> Vec<(&'static str, Option<ErrorCode>)> {
        vec![
            ("Encrypt", code(kms.encrypt(&me(), &key, b"x", &ctx))),
            ("Decrypt", code(kms.decrypt(&me(), &blob, &ctx, None))),
            (
                "ReEncrypt",
                code(kms.re_encrypt(&me(), &blob, &ctx, &key, &ctx)),
            ),
            (
                "GenerateDataKey",
                code(kms.generate_data_key(&me(), &key, KeySpec::Aes256, &ctx, true)),
            ),
            ("DescribeKey", code(kms.describe_key(&me(), &key))),
            ("GetKeyPolicy", code(kms.get_key_policy(&me(), &key))),
            ("ListGrants", code(kms.list_grants(&me(), &key))),
            (
                "GetKeyRotationStatus",
                code(kms.get_key_rotation_status(&me(), &key)),
            ),
            (
                "EnableKeyRotation",
                code(kms.enable_key_rotation(&me(), &key, None)),
            ),
            (
                "UpdateKeyDescription",
                code(kms.update_key_description(&me(), &key, "d")),
            ),
        ]
    };
    let expect =
        |state: &str, got: Vec<(&str, Option<ErrorCode>)>, want: &[(&str, Option<ErrorCode>)]| {
            for ((op, got), (want_op, want)) in got.iter().zip(want) {
                assert_eq!(op, want_op);
                assert_eq!(got, want, "{op} in state {state}");
            }
        };
    use ErrorCode::*;
    expect(
        "Enabled",
        probe(kms),
        &[
            ("Encrypt", None),
            ("Decrypt", None),
            ("ReEncrypt", None),
            ("GenerateDataKey", None),
            ("DescribeKey", None),
            ("GetKeyPolicy", None),
            ("ListGrants", None),
            ("GetKeyRotationStatus", None),
            ("EnableKeyRotation", None),
            ("UpdateKeyDescription", None),
        ],
    );
    assert_eq!(
        code(kms.cancel_key_deletion(&me(), &key)),
        Some(InvalidState)
    );

    kms.disable_key(&me(), &key).unwrap();
    expect(
        "Disabled",
        probe(kms),
        &[
            ("Encrypt", Some(Disabled)),
            ("Decrypt", Some(Disabled)),
            ("ReEncrypt", Some(Disabled)),
            ("GenerateDataKey", Some(Disabled)),
            ("DescribeKey", None),
            ("GetKeyPolicy", None),
            ("ListGrants", None),
            ("GetKeyRotationStatus", None),
            ("EnableKeyRotation", Some(Disabled)),
            ("UpdateKeyDescription", None),
        ],
    );
    assert_eq!(
        code(kms.cancel_key_deletion(&me(), &key)),
        Some(InvalidState)
    );
    assert_eq!(
        code(kms.schedule_key_deletion(&me(), &key, Some(6))),
        Some(Validation)
    );
    assert_eq!(
        code(kms.schedule_key_deletion(&me(), &key, Some(31))),
        Some(Validation)
    );
    let scheduled = kms.schedule_key_deletion(&me(), &key, Some(7)).unwrap();
    let date =
        chrono::DateTime::parse_from_rfc3339(scheduled["DeletionDate"].as_str().unwrap()).unwrap();
    let ahead = date.with_timezone(&Utc) - Utc::now();
    assert!(ahead > Duration::days(7) - Duration::minutes(1) && ahead <= Duration::days(7));

    expect(
        "PendingDeletion",
        probe(kms),
        &[
            ("Encrypt", Some(InvalidState)),
            ("Decrypt", Some(InvalidState)),
            ("ReEncrypt", Some(InvalidState)),
            ("GenerateDataKey", Some(InvalidState)),
            ("DescribeKey", None),
            ("GetKeyPolicy", None),
            ("ListGrants", None),
            ("GetKeyRotationStatus", None),
            ("EnableKeyRotation", Some(InvalidState)),
            ("UpdateKeyDescription", Some(InvalidState)),
        ],
    );
    assert_eq!(code(kms.enable_key(&me(), &key)), Some(InvalidState));
    assert_eq!(code(kms.disable_key(&me(), &key)), Some(InvalidState));
    assert_eq!(
        code(kms.schedule_key_deletion(&me(), &key, Some(7))),
        Some(InvalidState)
    );
    kms.cancel_key_deletion(&me(), &key).unwrap();
    let described = kms.describe_key(&me(), &key).unwrap();
    assert_eq!(described["KeyMetadata"]["KeyState"], "Disabled");
    assert!(described["KeyMetadata"].get("DeletionDate").is_none());

    // Past the deletion date, the next open destroys the material.
    kms.schedule_key_deletion(&me(), &key, Some(7)).unwrap();
    let mut record = kms.vault().key(&id).unwrap().unwrap();
    record.deletion_date = Some(Utc::now() - Duration::seconds(1));
    kms.vault().update_key(&record).unwrap();
    let reopened = open(&f.dir);
    assert_eq!(
        reopened.vault().key(&id).unwrap().unwrap().state,
        KeyState::Destroyed
    );
    expect(
        "destroyed",
        probe(&reopened),
        &[
            ("Encrypt", Some(NotFound)),
            ("Decrypt", Some(NotFound)),
            ("ReEncrypt", Some(NotFound)),
            ("GenerateDataKey", Some(NotFound)),
            ("DescribeKey", Some(NotFound)),
            ("GetKeyPolicy", Some(NotFound)),
            ("ListGrants", Some(NotFound)),
            ("GetKeyRotationStatus", Some(NotFound)),
            ("EnableKeyRotation", Some(NotFound)),
            ("UpdateKeyDescription", Some(NotFound)),
        ],
    );
    let deletion: Vec<Value> = records(&f)
        .into_iter()
        .filter(|r| r["eventName"] == "DeleteKey")
        .collect();
    assert_eq!(deletion.len(), 1);
    assert_eq!(deletion[0]["eventType"], "AwsServiceEvent");
    assert!(reopened.list_keys(&me()).unwrap()["Keys"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn policy_users_and_grants_decide_access() {
    let f = fixture();
    let kms = &f.kms;
    let key = new_key(kms);
    let ctx = EncryptionContext::new();
    let blob = kms
        .encrypt(&me(), &key, b"x", &ctx)
        .unwrap()
        .ciphertext_blob;
    let bob = stranger();
    let denied = kms.decrypt(&bob, &blob, &ctx, None).err().unwrap();
    assert_eq!(denied.code, ErrorCode::AccessDenied);
    assert!(denied.message.contains("kms:Decrypt"), "{}", denied.message);
    assert!(denied.message.contains("uid:4242"), "{}", denied.message);

    kms.edit_key_policy(&me(), &key, PolicyEdit::AddUser, "uid:4242")
        .unwrap();
    assert!(kms.decrypt(&bob, &blob, &ctx, None).is_ok());
    kms.edit_key_policy(&me(), &key, PolicyEdit::RemoveUser, "uid:4242")
        .unwrap();
    assert_eq!(
        code(kms.decrypt(&bob, &blob, &ctx, None)),
        Some(ErrorCode::AccessDenied)
    );

    let ops = vec!["Decrypt".to_string()];
    let mut constraint = EncryptionContext::new();
    constraint.insert("dept", "it");
    let grant = kms
        .create_grant(
            &me(),
            &key,
            &NewGrant {
                grantee: "uid:4242",
                operations: &ops,
                retiring_principal: None,
                name: None,
                encryption_context_equals: Some(constraint.clone()),
                encryption_context_subset: None,
            },
        )
        .unwrap();
    let it_blob = kms
        .encrypt(&me(), &key, b"y", &constraint)
        .unwrap()
        .ciphertext_blob;
    assert!(kms.decrypt(&bob, &it_blob, &constraint, None).is_ok());
    assert_eq!(
        code(kms.decrypt(&bob, &blob, &ctx, None)),
        Some(ErrorCode::AccessDenied)
    );
    assert_eq!(
        code(kms.encrypt(&bob, &key, b"z", &constraint)),
        Some(ErrorCode::AccessDenied)
    );
    let token = grant["GrantToken"].as_str().unwrap();
    assert_eq!(
        code(kms.retire_grant(&bob, "not-a-token")),
        Some(ErrorCode::InvalidGrantToken)
    );
    kms.retire_grant(&bob, token).unwrap();
    assert_eq!(
        code(kms.decrypt(&bob, &it_blob, &constraint, None)),
        Some(ErrorCode::AccessDenied)
    );

    let simulation = kms
        .simulate(&me(), &key, "uid:4242", "kms:Decrypt", &ctx)
        .unwrap();
    assert!(!simulation.allowed);
    // A stranger may not create keys or manage this one.
    assert_eq!(
        code(kms.create_key(
            &bob,
            &NewKey {
                description: "",
                alias: None,
                admins: &[],
                users: &[]
            }
        )),
        Some(ErrorCode::AccessDenied)
    );
    assert_eq!(
        code(kms.disable_key(&bob, &key)),
        Some(ErrorCode::AccessDenied)
    );
}

#[test]
fn every_request_is_recorded_allowed_or_denied() {
    let f = fixture();
    let key = new_key(&f.kms);
    let ctx = EncryptionContext::new();
    let blob = f
        .kms
        .encrypt(&me(), &key, b"x", &ctx)
        .unwrap()
        .ciphertext_blob;
    f.kms.decrypt(&me(), &blob, &ctx, None).unwrap();
    assert!(f.kms.decrypt(&stranger(), &blob, &ctx, None).is_err());
    assert!(f.kms.decrypt(&me(), b"garbage", &ctx, None).is_err());
    let all = records(&f);
    let names: Vec<&str> = all
        .iter()
        .rev()
        .map(|r| r["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["CreateKey", "Encrypt", "Decrypt", "Decrypt", "Decrypt"]
    );
    let denied = &all[1];
    assert_eq!(denied["errorCode"], "AccessDenied");
    assert_eq!(denied["userIdentity"]["principalId"], "4242");
    assert_eq!(
        denied["resources"][0]["ARN"],
        format!(
            "{}",
            key.parse::<crate::model::KeyId>()
                .unwrap()
                .arn(f.kms.account())
        )
    );
    assert_eq!(all[0]["errorCode"], "InvalidCiphertextException");
    assert!(all[2].get("errorCode").is_none());
}

#[test]
fn aliases_follow_aws_rules() {
    let f = fixture();
    let kms = &f.kms;
    let key = new_key(kms);
    let other = new_key(kms);
    kms.create_alias(&me(), "alias/first", &key).unwrap();
    assert_eq!(
        code(kms.create_alias(&me(), "alias/first", &other)),
        Some(ErrorCode::AlreadyExists)
    );
    assert_eq!(
        code(kms.create_alias(&me(), "alias/aws/x", &key)),
        Some(ErrorCode::Validation)
    );
    assert_eq!(
        code(kms.create_alias(&me(), "first", &key)),
        Some(ErrorCode::Validation)
    );
    assert_eq!(
        code(kms.create_alias(&me(), "alias/second", "alias/first")),
        Some(ErrorCode::Validation)
    );
    assert_eq!(
        kms.describe_key(&me(), "alias/first").unwrap()["KeyMetadata"]["KeyId"],
        key.as_str()
    );
    let arn = format!("arn:kmsfs:kms:local:{}:alias/first", kms.account());
    assert_eq!(
        kms.describe_key(&me(), &arn).unwrap()["KeyMetadata"]["KeyId"],
        key.as_str()
    );
    kms.update_alias(&me(), "alias/first", &other).unwrap();
    assert_eq!(
        kms.describe_key(&me(), "alias/first").unwrap()["KeyMetadata"]["KeyId"],
        other.as_str()
    );
    kms.delete_alias(&me(), "alias/first").unwrap();
    assert_eq!(
        code(kms.describe_key(&me(), "alias/first")),
        Some(ErrorCode::NotFound)
    );
}

#[test]
fn put_policy_is_validated_and_guards_against_lockout() {
    let f = fixture();
    let kms = &f.kms;
    let key = new_key(kms);
    let bad = r#"{"Version":"2012-10-17","Statement":[{"Effect":"allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#;
    let err = kms.put_key_policy(&me(), &key, bad, false).unwrap_err();
    assert_eq!(err.code, ErrorCode::MalformedPolicyDocument);
    assert!(err.message.contains("Effect"), "{}", err.message);
    let lockout = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Unix":"uid:4242"},"Action":"kms:*","Resource":"*"}]}"#;
    assert_eq!(
        code(kms.put_key_policy(&me(), &key, lockout, false)),
        Some(ErrorCode::MalformedPolicyDocument)
    );
    let unknown_user = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},{"Effect":"Allow","Principal":{"Unix":"user:no-such-user-kmsfs"},"Action":"kms:Decrypt","Resource":"*"}]}"#;
    assert_eq!(
        code(kms.put_key_policy(&me(), &key, unknown_user, false)),
        Some(ErrorCode::MalformedPolicyDocument)
    );
    let other_key = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"{}"}}]}}"#,
        crate::model::KeyId::new_random().arn(kms.account())
    );
    let err = kms
        .put_key_policy(&me(), &key, &other_key, false)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::MalformedPolicyDocument);
    assert!(err.message.contains("Resource"), "{}", err.message);
    kms.put_key_policy(&me(), &key, lockout, true).unwrap();
    assert_eq!(
        code(kms.describe_key(&me(), &key)),
        Some(ErrorCode::AccessDenied)
    );
}

/// The key material itself never rests in the vault files in the clear.
#[test]
fn key_material_is_not_stored_in_the_clear() {
    let f = fixture();
    let key = new_key(&f.kms);
    f.kms.rotate_key_on_demand(&me(), &key).unwrap();
    let id: crate::model::KeyId = key.parse().unwrap();
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(f.dir.path().join("vault")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            stored.extend(std::fs::read(&path).unwrap());
        }
    }
    for version in [1, 2] {
        let material = f.kms.vault().material(&id, version).unwrap();
        let secret = material.expose();
        assert!(
            !stored.windows(secret.len()).any(|w| w == secret),
            "version {version} is stored in the clear"
        );
    }
}
