//! Lookups against a generated trail whose answers are computed from the
//! generator's own description of each record, not from the JSON.

use chrono::{Duration, SecondsFormat, TimeZone};
use serde_json::json;

use super::*;
use crate::audit::state::memory::MemoryLedger;
use crate::audit::test_support::{caller, key_arn, ACCOUNT};
use crate::audit::{
    build_record, AuditEvent, AuditLog, DigestSigner, EventType, Trail as Roller, TrailConfig,
    TrailIdentity,
};

const KEY_A: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
const KEY_B: &str = "0987dcba-09fe-87dc-65ba-ab0987654321";
const RECORDS: usize = 60;

/// What the generator put in one record.
struct Spec {
    n: usize,
    uid: u32,
    user_name: Option<&'static str>,
    event_name: &'static str,
    read_only: bool,
    key_id: &'static str,
    path: Option<String>,
    error_code: Option<&'static str>,
    minute: i64,
    event_id: String,
}

fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 7, 0, 0)
        .single()
        .expect("valid time")
}

fn spec(n: usize) -> Spec {
    let (uid, user_name) = [
        (1001, Some("alice")),
        (1002, Some("bob")),
        (65534, Some("nobody")),
        (4242, None),
    ][n % 4];
    let (event_name, read_only) = [
        ("Decrypt", true),
        ("GenerateDataKey", false),
        ("CreateKey", false),
    ][n % 3];
    let path = (event_name != "CreateKey").then(|| {
        if n % 2 == 0 {
            format!("/docs/report-{n}.txt")
        } else {
            format!("/secret/plan-{n}.pdf")
        }
    });
    let error_code = if n % 7 == 0 {
        Some("AccessDeniedException")
    } else if n % 11 == 0 {
        Some("DisabledException")
    } else {
        None
    };
    Spec {
        n,
        uid,
        user_name,
        event_name,
        read_only,
        key_id: if n % 5 < 3 { KEY_A } else { KEY_B },
        path,
        error_code,
        // Out of writing order, and each minute twice: ties are ordered too.
        minute: (n as i64 * 7) % 30,
        event_id: String::new(),
    }
}

fn build(spec: &Spec) -> Value {
    let who = caller(spec.uid, spec.user_name, "cat");
    let arn = key_arn(spec.key_id);
    // Requests name the key by ARN or by id; CreateKey names it only in its response.
    let named_as = if spec.n % 2 == 0 {
        arn.clone()
    } else {
        spec.key_id.to_string()
    };
    let (request, response, resources) = match &spec.path {
        Some(path) => (
            json!({"keyId": named_as, "encryptionContext": {"kmsfs:path": path}}),
            Value::Null,
            vec![arn],
        ),
        None => (
            json!({"description": "test key"}),
            json!({"keyMetadata": {"keyId": spec.key_id, "arn": arn}}),
            vec![],
        ),
    };
    let mut record = build_record(&AuditEvent {
        caller: Some(&who),
        account_id: ACCOUNT,
        event_name: spec.event_name,
        event_type: EventType::AwsApiCall,
        read_only: spec.read_only,
        request_parameters: request,
        response_elements: response,
        resources,
        error: spec
            .error_code
            .map(|code| (code, format!("{code} for test"))),
        user_agent: "kmsfs-cli/0.1.0",
        additional_event_data: None,
    });
    let time = base_time() + Duration::minutes(spec.minute);
    record["eventTime"] = json!(time.to_rfc3339_opts(SecondsFormat::Millis, true));
    record
}

struct Trail {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    specs: Vec<Spec>,
}

/// The generated records: the first two thirds rolled into two gzip log
/// files, the rest in the active log, so that every answer spans both kinds.
fn trail() -> Trail {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("audit");
    let log = AuditLog::open(&dir).expect("open");
    let signer = DigestSigner::new(&crate::crypto::DigestSigningSeed::generate().expect("random"));
    let ledger = MemoryLedger::default();
    let roller = Roller::new(
        &dir,
        TrailIdentity::new("vault-1", "host"),
        TrailConfig::default(),
        &signer,
        &ledger,
    );
    let specs = (0..RECORDS)
        .map(|n| {
            let mut spec = spec(n);
            let record = build(&spec);
            spec.event_id = record["eventID"].as_str().expect("id").to_string();
            log.append(&record).expect("append");
            if (n + 1) % (RECORDS / 3) == 0 && n + 1 < RECORDS {
                let rolled = roller.flush(Utc::now(), false).expect("roll");
                assert_eq!(rolled.log_files.len(), 1);
            }
            spec
        })
        .collect();
    Trail {
        _tmp: tmp,
        dir,
        specs,
    }
}

impl Trail {
    fn found(&self, filter: &LookupFilter) -> Vec<String> {
        lookup(&self.dir, filter)
            .expect("lookup")
            .iter()
            .map(|r| r["eventID"].as_str().expect("id").to_string())
            .collect()
    }

    /// The event ids of the specs `wanted` picks, newest first, ties by n reversed.
    fn expected(&self, wanted: impl Fn(&Spec) -> bool, max: Option<usize>) -> Vec<String> {
        let mut picked: Vec<&Spec> = self.specs.iter().filter(|s| wanted(s)).collect();
        picked.sort_by_key(|s| Reverse((s.minute, s.n)));
        picked.truncate(max.unwrap_or(usize::MAX));
        picked.iter().map(|s| s.event_id.clone()).collect()
    }

    /// Checks one filter against its independent predicate; returns the count.
    fn check(&self, filter: LookupFilter, wanted: impl Fn(&Spec) -> bool) -> usize {
        let expected = self.expected(wanted, filter.max);
        assert_eq!(self.found(&filter), expected, "{filter:?}");
        expected.len()
    }
}

fn at(minute: i64) -> DateTime<Utc> {
    base_time() + Duration::minutes(minute)
}

#[test]
fn no_filter_finds_everything_newest_first_ties_by_writing_order_reversed() {
    let trail = trail();
    assert_eq!(trail.check(LookupFilter::default(), |_| true), RECORDS);
    let all = lookup(&trail.dir, &LookupFilter::default()).expect("lookup");
    // Minute 29 is written by n = 47 and n = 17: the later-written first.
    assert_eq!(
        all[0]["eventID"].as_str(),
        Some(trail.specs[47].event_id.as_str())
    );
    assert_eq!(
        all[1]["eventID"].as_str(),
        Some(trail.specs[17].event_id.as_str())
    );
    let times: Vec<&str> = all
        .iter()
        .map(|r| r["eventTime"].as_str().expect("time"))
        .collect();
    assert!(times.windows(2).all(|pair| pair[0] >= pair[1]));
}

#[test]
fn max_keeps_the_newest() {
    let trail = trail();
    for max in [0, 1, 5, RECORDS, RECORDS + 10] {
        let filter = LookupFilter {
            max: Some(max),
            ..LookupFilter::default()
        };
        assert_eq!(trail.check(filter, |_| true), max.min(RECORDS));
    }
}

#[test]
fn each_filter_alone() {
    let trail = trail();
    let none = LookupFilter::default;
    let text = |s: &str| Some(s.to_string());
    let counts = [
        trail.check(
            LookupFilter {
                event_name: text("Decrypt"),
                ..none()
            },
            |s| s.event_name == "Decrypt",
        ),
        trail.check(
            LookupFilter {
                user: text("alice"),
                ..none()
            },
            |s| s.user_name == Some("alice"),
        ),
        // A uid finds the user whether or not it has a name.
        trail.check(
            LookupFilter {
                user: text("1002"),
                ..none()
            },
            |s| s.uid == 1002,
        ),
        trail.check(
            LookupFilter {
                user: text("4242"),
                ..none()
            },
            |s| s.uid == 4242,
        ),
        trail.check(
            LookupFilter {
                key_ids: Some(vec![KEY_B.into(), key_arn(KEY_B)]),
                ..none()
            },
            |s| s.key_id == KEY_B,
        ),
        trail.check(
            LookupFilter {
                key_ids: Some(vec![KEY_A.into()]),
                ..none()
            },
            |s| s.key_id == KEY_A,
        ),
        trail.check(
            LookupFilter {
                key_ids: Some(vec![key_arn(KEY_A)]),
                ..none()
            },
            // Only the ARN: records naming key A by bare id in the request
            // still carry its ARN in resources; CreateKey in its response.
            |s| s.key_id == KEY_A,
        ),
        trail.check(
            LookupFilter {
                path_glob: text("/secret/*.pdf"),
                ..none()
            },
            |s| s.path.as_deref().is_some_and(|p| p.starts_with("/secret/")),
        ),
        trail.check(
            LookupFilter {
                path_glob: text("*-1?.txt"),
                ..none()
            },
            |s| {
                s.path.as_deref().is_some_and(|p| {
                    p.starts_with("/docs/report-1") && p.len() == "/docs/report-1x.txt".len()
                })
            },
        ),
        trail.check(
            LookupFilter {
                error_code: text("AccessDenied"),
                ..none()
            },
            |s| s.error_code == Some("AccessDeniedException"),
        ),
        trail.check(
            LookupFilter {
                error_code: text("AccessDeniedException"),
                ..none()
            },
            |s| s.error_code == Some("AccessDeniedException"),
        ),
        trail.check(
            LookupFilter {
                error_code: text("DisabledException"),
                ..none()
            },
            |s| s.error_code == Some("DisabledException"),
        ),
        trail.check(
            LookupFilter {
                errors_only: true,
                ..none()
            },
            |s| s.error_code.is_some(),
        ),
        trail.check(
            LookupFilter {
                read_only: Some(true),
                ..none()
            },
            |s| s.read_only,
        ),
        trail.check(
            LookupFilter {
                read_only: Some(false),
                ..none()
            },
            |s| !s.read_only,
        ),
        // Both ends are inclusive, and every minute has records.
        trail.check(
            LookupFilter {
                start_time: Some(at(10)),
                ..none()
            },
            |s| s.minute >= 10,
        ),
        trail.check(
            LookupFilter {
                end_time: Some(at(10)),
                ..none()
            },
            |s| s.minute <= 10,
        ),
    ];
    for count in counts {
        assert!(
            count > 0 && count < RECORDS,
            "degenerate filter: {counts:?}"
        );
    }
    // Counted by hand: n in 0..60 with n % 7 == 0 (9) or n % 11 == 0 (6), 0 in both.
    assert_eq!(counts[12], 14);
    assert_eq!(counts[0], 20);
}

#[test]
fn filters_combine() {
    let trail = trail();
    let none = LookupFilter::default;
    let text = |s: &str| Some(s.to_string());
    let refused_nobody = trail.check(
        LookupFilter {
            user: text("nobody"),
            errors_only: true,
            ..none()
        },
        |s| s.uid == 65534 && s.error_code.is_some(),
    );
    // n ≡ 2 (mod 4) and a multiple of 7 or 11: 14, 22, 42.
    assert_eq!(refused_nobody, 3);
    let count = trail.check(
        LookupFilter {
            event_name: text("Decrypt"),
            key_ids: Some(vec![KEY_A.into(), key_arn(KEY_A)]),
            path_glob: text("/docs/*"),
            start_time: Some(at(5)),
            end_time: Some(at(25)),
            read_only: Some(true),
            ..none()
        },
        |s| {
            s.event_name == "Decrypt"
                && s.key_id == KEY_A
                && s.path.as_deref().is_some_and(|p| p.starts_with("/docs/"))
                && (5..=25).contains(&s.minute)
        },
    );
    assert!(count > 0);
    let newest_two = trail.check(
        LookupFilter {
            read_only: Some(false),
            errors_only: true,
            max: Some(2),
            ..none()
        },
        |s| !s.read_only && s.error_code.is_some(),
    );
    assert_eq!(newest_two, 2);
}

#[test]
fn near_misses_find_nothing() {
    let trail = trail();
    let none = LookupFilter::default;
    let text = |s: &str| Some(s.to_string());
    for filter in [
        LookupFilter {
            event_name: text("decrypt"),
            ..none()
        },
        LookupFilter {
            user: text("alic"),
            ..none()
        },
        LookupFilter {
            user: text("100"),
            ..none()
        },
        // A tail of the key id that does not follow a '/'.
        LookupFilter {
            key_ids: Some(vec![KEY_A[24..].to_string()]),
            ..none()
        },
        LookupFilter {
            key_ids: Some(vec![]),
            ..none()
        },
        LookupFilter {
            path_glob: text("/docs/*.pdf"),
            ..none()
        },
        LookupFilter {
            error_code: text("NotFoundException"),
            ..none()
        },
        LookupFilter {
            start_time: Some(at(30)),
            ..none()
        },
        LookupFilter {
            end_time: Some(at(0) - Duration::milliseconds(1)),
            ..none()
        },
        LookupFilter {
            user: text("nobody"),
            event_name: text("CreateKey"),
            errors_only: true,
            path_glob: text("*"),
            ..none()
        },
    ] {
        assert_eq!(trail.found(&filter), Vec::<String>::new(), "{filter:?}");
    }
}

#[test]
fn an_invalid_glob_is_an_error() {
    let trail = trail();
    let filter = LookupFilter {
        path_glob: Some("/docs/[".into()),
        ..LookupFilter::default()
    };
    let error = lookup(&trail.dir, &filter).expect_err("refused");
    assert!(
        matches!(error, AuditError::InvalidPathGlob { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("invalid path glob '/docs/[': "),
        "{error}"
    );
}

#[test]
fn a_malformed_line_fails_the_lookup_with_its_place() {
    let trail = trail();
    let path = AuditLog::active_path(&trail.dir);
    let mut text = std::fs::read_to_string(&path).expect("read");
    text.push_str("not json\n");
    std::fs::write(&path, text).expect("write");
    match lookup(&trail.dir, &LookupFilter::default()) {
        Err(AuditError::Malformed { path: at, line, .. }) => {
            assert_eq!(at, path);
            assert_eq!(line, (RECORDS - 2 * (RECORDS / 3)) as u64 + 1);
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn an_empty_directory_has_no_records() {
    let tmp = tempfile::tempdir().expect("tempdir");
    assert!(lookup(tmp.path(), &LookupFilter::default())
        .expect("lookup")
        .is_empty());
}
