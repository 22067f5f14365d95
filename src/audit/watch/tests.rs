//! A log observed by an InsightWatch: a burst of refusals adds Start records
//! (then End once ticked past it) to the same log; a trickle adds none.

use std::sync::Arc;

use chrono::{Duration, TimeZone};
use serde_json::json;

use super::*;
use crate::audit::state::time_text;
use crate::audit::test_support::read_records;

fn refused_by_nobody(at: DateTime<Utc>) -> Value {
    json!({
        "eventTime": time_text(at),
        "eventName": "Decrypt",
        "eventType": "AwsApiCall",
        "userIdentity": {"type": "UnixUser", "userName": "nobody"},
        "errorCode": "AccessDenied",
    })
}

fn watched_log(dir: &std::path::Path) -> (AuditLog, Arc<InsightWatch>) {
    let watch = Arc::new(InsightWatch::new(
        InsightConfig::new("000000001000"),
        AuditLog::open(dir).expect("open"),
    ));
    let log = AuditLog::open(dir)
        .expect("open")
        .with_observer(watch.clone());
    (log, watch)
}

/// (state, shared id) of the ApiErrorRateInsight records in the log.
fn error_rate_insights(dir: &std::path::Path) -> Vec<(String, String)> {
    read_records(&AuditLog::active_path(dir))
        .iter()
        .filter(|r| r["eventType"] == "KmsfsInsight")
        .filter(|r| r["insightDetails"]["insightType"] == "ApiErrorRateInsight")
        .map(|r| {
            (
                r["insightDetails"]["state"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                r["sharedEventID"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_burst_of_refusals_writes_start_then_end_into_the_same_log() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (log, watch) = watched_log(tmp.path());
    let minute = Utc
        .with_ymd_and_hms(2026, 11, 24, 9, 0, 0)
        .single()
        .expect("time");
    for i in 0..50 {
        log.append(&refused_by_nobody(minute + Duration::seconds(i)))
            .expect("append");
    }
    let states = error_rate_insights(tmp.path());
    assert_eq!(states.len(), 1, "{states:?}");
    assert_eq!(states[0].0, "Start");
    // The 50 request records are all there, with an error-rate and a
    // call-rate (Decrypt) Start among them.
    assert_eq!(read_records(&AuditLog::active_path(tmp.path())).len(), 52);

    watch.tick(minute + Duration::minutes(3));
    let states = error_rate_insights(tmp.path());
    assert_eq!(states.len(), 2, "{states:?}");
    assert_eq!(states[1].0, "End");
    assert_eq!(states[0].1, states[1].1, "start and end share an id");
}

#[test]
fn a_few_refusals_write_no_insight() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (log, watch) = watched_log(tmp.path());
    let minute = Utc
        .with_ymd_and_hms(2026, 11, 24, 9, 0, 0)
        .single()
        .expect("time");
    for i in 0..5 {
        log.append(&refused_by_nobody(minute + Duration::seconds(i)))
            .expect("append");
    }
    watch.tick(minute + Duration::minutes(3));
    assert!(error_rate_insights(tmp.path()).is_empty());
    assert_eq!(read_records(&AuditLog::active_path(tmp.path())).len(), 5);
}
