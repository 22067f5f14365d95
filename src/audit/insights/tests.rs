//! A synthetic trail with a planted burst: the burst stands out, quiet
//! windows and steady traffic do not; live Start and End records.

use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::audit::AuditLog;

const KEY: &str = "arn:kmsfs:kms:local:000000001000:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0)
        .single()
        .expect("time")
}

fn record(user: &str, minute: i64, second: i64, error: bool) -> Value {
    let mut record = json!({
        "eventTime": time_text(base() + Duration::minutes(minute) + Duration::seconds(second)),
        "eventName": "Decrypt",
        "userIdentity": {"type": "UnixUser", "userName": user},
        "resources": [{"ARN": KEY}],
        "eventType": "AwsApiCall",
    });
    if error {
        record["errorCode"] = json!("AccessDenied");
    }
    record
}

/// Two hours: alice decrypts 20 times every minute, bob twice every 10
/// minutes; at minute 90 nobody is refused 500 times.
fn synthetic() -> Vec<Value> {
    let mut all = Vec::new();
    for minute in 0..120 {
        for i in 0..20 {
            all.push(record("alice", minute, i * 2, false));
        }
        if minute % 10 == 0 {
            all.push(record("bob", minute, 1, false));
            all.push(record("bob", minute, 2, false));
        }
        if minute == 90 {
            for i in 0..500 {
                all.push(record("nobody", minute, i % 60, true));
            }
        }
    }
    all
}

#[test]
fn the_planted_burst_stands_out_and_nothing_else_does() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = AuditLog::open(tmp.path()).expect("open");
    for record in synthetic() {
        log.append(&record).expect("append");
    }
    let found =
        insights(tmp.path(), &InsightConfig::new("000000001000"), None, None).expect("insights");
    let burst_start = time_text(base() + Duration::minutes(90));
    let about_nobody: Vec<&Value> = found.iter().filter(|f| f["value"] == "nobody").collect();
    assert_eq!(about_nobody.len(), 2, "{found:#?}");
    for entry in &about_nobody {
        assert_eq!(entry["windowStart"], burst_start.as_str());
        assert_eq!(entry["count"], 500);
        assert_eq!(entry["baselineAverage"], 0.0);
    }
    let types: Vec<&str> = about_nobody
        .iter()
        .filter_map(|e| e["insightType"].as_str())
        .collect();
    assert!(types.contains(&"ApiCallRateInsight") && types.contains(&"ApiErrorRateInsight"));
    // The key saw the burst too (520 calls against a steady ~20).
    assert!(found.iter().any(|f| f["value"] == KEY
        && f["windowStart"] == burst_start.as_str()
        && f["insightType"] == "ApiCallRateInsight"));
    // Steady alice and occasional bob never stand out; nothing outside minute 90 does,
    // except each series' first window, which has no history (baseline 0).
    for entry in &found {
        assert_ne!(entry["value"], "bob", "{entry}");
        let first_window = entry["windowStart"] == time_text(base()).as_str();
        assert!(
            first_window || entry["windowStart"] == burst_start.as_str(),
            "{entry}"
        );
    }
    // A range after the burst finds nothing.
    let later = insights(
        tmp.path(),
        &InsightConfig::new("0"),
        Some(base() + Duration::minutes(91)),
        None,
    )
    .expect("insights");
    assert!(later.is_empty(), "{later:#?}");
    assert!(format_insights(&found).contains("nobody"));
}

#[test]
fn the_monitor_raises_start_once_and_end_after_the_burst() {
    let mut monitor = InsightMonitor::new(InsightConfig::new("000000001000"));
    let mut raised = Vec::new();
    for record in synthetic() {
        raised.extend(monitor.observe(&record.facts()));
    }
    raised.extend(monitor.tick(base() + Duration::minutes(200)));
    let for_nobody_errors: Vec<&Value> = raised
        .iter()
        .filter(|r| {
            r["insightDetails"]["insightType"] == "ApiErrorRateInsight"
                && r["insightDetails"]["insightContext"]["attributions"][0]["value"] == "nobody"
        })
        .collect();
    assert_eq!(for_nobody_errors.len(), 2, "{raised:#?}");
    let (start, end) = (for_nobody_errors[0], for_nobody_errors[1]);
    assert_eq!(start["eventType"], "KmsfsInsight");
    assert_eq!(start["insightDetails"]["state"], "Start");
    assert_eq!(end["insightDetails"]["state"], "End");
    assert_eq!(start["sharedEventID"], end["sharedEventID"]);
    assert_eq!(
        start["eventTime"],
        time_text(base() + Duration::minutes(90)).as_str()
    );
    // Started when the count reached the threshold (10 over a baseline of 0), not at 500.
    assert_eq!(
        start["insightDetails"]["insightContext"]["statistics"]["insight"]["average"],
        10
    );
    // Insight records fed back in are ignored.
    assert!(monitor.observe(&start.facts()).is_empty());
    // Alice's steady 20 a minute raised nothing after her first minute (no
    // history then), which ended the minute after.
    let about_alice: Vec<(&Value, &Value)> = raised
        .iter()
        .filter(|r| r["insightDetails"]["insightContext"]["attributions"][0]["value"] == "alice")
        .map(|r| (&r["insightDetails"]["state"], &r["eventTime"]))
        .collect();
    let minute_1 = json!(time_text(base() + Duration::minutes(1)));
    let minute_0 = json!(time_text(base()));
    assert_eq!(
        about_alice,
        [(&json!("Start"), &minute_0), (&json!("End"), &minute_1)],
        "{raised:#?}"
    );
}

#[test]
fn ticks_every_window_end_the_insight_at_the_first_quiet_window() {
    let mut monitor = InsightMonitor::new(InsightConfig::new("000000001000"));
    let mut raised = Vec::new();
    for i in 0..50 {
        raised.extend(monitor.observe(&record("nobody", 0, i, true).facts()));
    }
    let start = raised.len();
    assert!(start > 0, "no Start");
    // The live daemon ticks often: the burst's window closes first, with no End yet.
    raised.extend(monitor.tick(base() + Duration::minutes(1)));
    assert_eq!(raised.len(), start, "{raised:#?}");
    raised.extend(monitor.tick(base() + Duration::seconds(90)));
    assert_eq!(raised.len(), start, "{raised:#?}");
    // Once the empty minute after it is over, each started insight ends, once.
    raised.extend(monitor.tick(base() + Duration::minutes(2)));
    raised.extend(monitor.tick(base() + Duration::minutes(3)));
    let ends: Vec<&Value> = raised[start..].iter().collect();
    assert_eq!(ends.len(), start, "{raised:#?}");
    let ids = |records: &[Value]| {
        let mut ids: Vec<String> = records
            .iter()
            .map(|r| r["sharedEventID"].as_str().unwrap_or("").to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&raised[..start]), ids(&raised[start..]));
    for end in &raised[start..] {
        assert_eq!(end["insightDetails"]["state"], "End");
        assert_eq!(
            end["eventTime"],
            time_text(base() + Duration::minutes(1)).as_str()
        );
    }
}
