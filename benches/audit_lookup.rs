//! `kmsfs audit lookup` over one million records: 200 rolled gzip files of
//! 5000 records each, then searched with a selective filter (one user's
//! refusals), a key filter, and a time range that must parse every record.
//! `cargo bench --bench audit_lookup`.

use std::cell::RefCell;
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};

use kmsfs::audit::{
    lookup, AuditEvent, AuditLog, DigestSigner, EventType, LookupFilter, Record, Trail,
    TrailConfig, TrailIdentity, TrailLedger,
};
use kmsfs::crypto::DigestSigningSeed;
use kmsfs::model::Caller;

const RECORDS: usize = 1_000_000;
const PER_FILE: usize = 5_000;
const ACCOUNT: &str = "000000001000";

#[derive(Default)]
struct MemoryLedger(RefCell<Option<String>>);

impl TrailLedger for MemoryLedger {
    fn load(&self) -> Result<Option<String>, String> {
        Ok(self.0.borrow().clone())
    }
    fn store(&self, state: &str) -> Result<(), String> {
        *self.0.borrow_mut() = Some(state.to_string());
        Ok(())
    }
}

fn caller(uid: u32, name: &str) -> Caller {
    Caller {
        uid,
        user_name: Some(name.to_string()),
        gid: uid,
        groups: vec![uid],
        group_names: vec![name.to_string()],
        pid: Some(4242),
        comm: Some("cat".into()),
        exe: Some("/usr/bin/cat".into()),
    }
}

/// Record n: mostly alice and bob decrypting; every 1000th a refusal for nobody.
fn record(n: usize, users: &[Caller; 3]) -> Value {
    let (who, error) = if n % 1000 == 0 {
        (
            &users[2],
            Some(("AccessDeniedException", "denied".to_string())),
        )
    } else {
        (&users[n % 2], None)
    };
    let key = format!(
        "arn:kmsfs:kms:local:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-{:012}",
        n % 50
    );
    let event = AuditEvent {
        caller: Some(who),
        account_id: ACCOUNT,
        event_name: "Decrypt",
        event_type: EventType::AwsApiCall,
        read_only: true,
        request_parameters: json!({
            "keyId": key,
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "encryptionContext": {"kmsfs:path": format!("/docs/dir-{}/file-{n}.txt", n % 100)},
        }),
        response_elements: Value::Null,
        resources: vec![key.clone()],
        error,
        user_agent: "kmsfs-fs/0.1.0",
        additional_event_data: None,
    };
    serde_json::to_value(Record::new(&event)).expect("a record")
}

fn build_trail(dir: &std::path::Path) {
    let started = Instant::now();
    let log = AuditLog::open(dir).expect("open");
    let users = [
        caller(1001, "alice"),
        caller(1002, "bob"),
        caller(65534, "nobody"),
    ];
    let signer = DigestSigner::new(&DigestSigningSeed::generate().expect("random"));
    let ledger = MemoryLedger::default();
    let trail = Trail::new(
        dir,
        TrailIdentity::new("bench", "host"),
        TrailConfig::default(),
        &signer,
        &ledger,
    );
    for n in 0..RECORDS {
        log.append(&record(n, &users)).expect("append");
        if (n + 1) % PER_FILE == 0 {
            trail.flush(Utc::now(), false).expect("roll");
        }
    }
    eprintln!("built {RECORDS} records in {:.1?}", started.elapsed());
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("audit");
    build_trail(&dir);
    let mut group = c.benchmark_group("lookup over 1M records");
    group
        .sample_size(10)
        .measurement_time(StdDuration::from_secs(30));
    let nobody_refused = LookupFilter {
        user: Some("nobody".into()),
        errors_only: true,
        ..LookupFilter::default()
    };
    group.bench_function("--user nobody --errors-only", |b| {
        b.iter(|| {
            assert_eq!(
                lookup(&dir, &nobody_refused).expect("lookup").len(),
                RECORDS / 1000
            )
        })
    });
    let one_key = LookupFilter {
        key_ids: Some(vec!["1234abcd-12ab-34cd-56ef-000000000007".into()]),
        max: Some(50),
        ..LookupFilter::default()
    };
    group.bench_function("--key-id K --max 50", |b| {
        b.iter(|| assert_eq!(lookup(&dir, &one_key).expect("lookup").len(), 50))
    });
    let last_hour = LookupFilter {
        start_time: Some(Utc::now() - Duration::hours(1)),
        max: Some(50),
        ..LookupFilter::default()
    };
    group.bench_function("--start-time (reads every record's time) --max 50", |b| {
        b.iter(|| assert_eq!(lookup(&dir, &last_hour).expect("lookup").len(), 50))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
