//! The KMS requests the filesystem makes per file, on a real vault and audit
//! log in a temporary directory: GenerateDataKey (every create and O_TRUNC
//! open) and Decrypt (every open of an existing file), each with its policy
//! check and its audit record written before the answer; and that record
//! alone (built and appended), the part of an open that auditing costs.
//! `cargo bench --bench kms_requests`.

use criterion::{criterion_group, criterion_main, Criterion};

use kmsfs::audit::{AuditEvent, AuditLog, EventType, Record};
use kmsfs::crypto::KdfParams;
use kmsfs::kms::{FileContext, Kms, NewKey, ALGORITHM};
use kmsfs::model::KeyId;
use kmsfs::sys;
use kmsfs::vault::{RootKeySource, Vault};

const VOLUME_ID: &str = "0123456789abcdef0123456789abcdef";
const FILE_ID: &str = "fedcba9876543210fedcba9876543210";

fn kms_requests(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("vault/vault.db");
    let vault = Vault::init(&db, RootKeySource::KeyFile, KdfParams::default()).expect("vault");
    let audit = AuditLog::open(&dir.path().join("vault/audit")).expect("audit log");
    let kms = Kms::new(vault, audit, "kmsfs-bench").expect("kms");
    let caller = sys::current_caller();
    let created = kms
        .create_key(
            &caller,
            &NewKey {
                description: "bench",
                alias: None,
                admins: &[],
                users: &[],
            },
        )
        .expect("create key");
    let key: KeyId = created["KeyMetadata"]["KeyId"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("key id");
    let file = FileContext {
        volume_id: VOLUME_ID,
        file_id: FILE_ID,
        path: "/bench/file.txt",
    };
    let (_, wrapped) = kms
        .generate_file_key(&caller, &key, &file)
        .expect("GenerateDataKey");

    let mut group = c.benchmark_group("kms");
    group.bench_function("GenerateDataKey for a file", |b| {
        b.iter(|| {
            kms.generate_file_key(&caller, &key, &file)
                .expect("GenerateDataKey")
        })
    });
    group.bench_function("Decrypt of a file key", |b| {
        b.iter(|| {
            kms.decrypt_file_key(&caller, &file, &wrapped)
                .expect("Decrypt")
        })
    });
    // What a Decrypt's record costs on its own: a second writer on the same log.
    let audit = AuditLog::open(&dir.path().join("vault/audit")).expect("audit log");
    let arn = key.arn(kms.account()).to_string();
    group.bench_function("audit record of a Decrypt, built and appended", |b| {
        b.iter(|| {
            let event = AuditEvent {
                caller: Some(&caller),
                account_id: kms.account(),
                event_name: "Decrypt",
                event_type: EventType::AwsApiCall,
                read_only: true,
                request_parameters: serde_json::json!({
                    "encryptionAlgorithm": ALGORITHM,
                    "encryptionContext": file.visible().to_json(),
                    "keyId": arn,
                }),
                response_elements: serde_json::Value::Null,
                resources: vec![arn.clone()],
                error: None,
                user_agent: "kmsfs-bench",
                additional_event_data: None,
            };
            audit.append(&Record::new(&event)).expect("append")
        })
    });
    group.finish();
}

criterion_group!(benches, kms_requests);
criterion_main!(benches);
