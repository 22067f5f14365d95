//! CloudTrail Insights for kmsfs (docs/AUDIT.md, "Insights"): per user and
//! per key, the count of Decrypt/GenerateDataKey calls and of errors in each
//! window, against a baseline of the mean and standard deviation of the
//! windows over the preceding 7 days (or the history there is). A window
//! stands out when its count reaches `mean + max(sigma × deviation, min_excess)`.
//! `InsightMonitor` does it live, one record at a time (for the mount
//! daemon); `insights` runs the same monitor over the stored trail.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::source::sources;
use super::state::time_text;
use super::view::RecordFacts;
use super::writer::LogRecord;
use super::{AuditError, EVENT_SOURCE, EVENT_VERSION};

/// The eventType of insight records.
pub const INSIGHT_EVENT_TYPE: &str = "KmsfsInsight";
const RATE_EVENTS: [&str; 3] = [
    "Decrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
];

#[derive(Clone, Debug)]
pub struct InsightConfig {
    pub account_id: String,
    pub window: Duration,
    pub baseline: Duration,
    pub sigma: f64,
    pub min_excess: f64,
}

impl InsightConfig {
    /// 1-minute windows, a 7-day baseline, 3 deviations and at least 10 more than the mean.
    pub fn new(account_id: &str) -> InsightConfig {
        InsightConfig {
            account_id: account_id.to_string(),
            window: Duration::minutes(1),
            baseline: Duration::days(7),
            sigma: 3.0,
            min_excess: 10.0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Metric {
    CallRate,
    ErrorRate,
}

impl Metric {
    fn insight_type(self) -> &'static str {
        match self {
            Metric::CallRate => "ApiCallRateInsight",
            Metric::ErrorRate => "ApiErrorRateInsight",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SeriesKey {
    /// `userName` or `keyArn`.
    attribute: &'static str,
    value: String,
    metric: Metric,
}

/// One series' windows: the open one, and the closed non-empty ones in the baseline span.
#[derive(Default)]
struct Series {
    open: Option<(i64, u64)>,
    history: VecDeque<(i64, u64)>,
    sum: f64,
    sum_sq: f64,
    /// The id and start of the insight in progress.
    active: Option<(String, i64)>,
    /// The open window already raised a Start.
    raised: bool,
}

/// A closed window and how it compared.
#[derive(Clone, Debug)]
struct Verdict {
    window: i64,
    count: u64,
    mean: f64,
    deviation: f64,
    standout: bool,
}

/// Detects call and error rate anomalies as records arrive.
pub struct InsightMonitor {
    config: InsightConfig,
    first_window: Option<i64>,
    series: HashMap<SeriesKey, Series>,
    /// Closed standout windows, for the batch report.
    standouts: Vec<Value>,
}

impl InsightMonitor {
    pub fn new(config: InsightConfig) -> InsightMonitor {
        InsightMonitor {
            config,
            first_window: None,
            series: HashMap::new(),
            standouts: Vec::new(),
        }
    }

    fn window_of(&self, t: DateTime<Utc>) -> i64 {
        t.timestamp_millis()
            .div_euclid(self.config.window.num_milliseconds().max(1))
    }

    fn window_start(&self, window: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(window * self.config.window.num_milliseconds())
            .unwrap_or_default()
    }

    fn baseline_windows(&self) -> i64 {
        (self.config.baseline.num_milliseconds() / self.config.window.num_milliseconds().max(1))
            .max(1)
    }

    /// Feeds one record; returns the insight records to write: a Start when a
    /// window first reaches its threshold, an End when a window closes under
    /// it after a Start. Insight records themselves are ignored.
    pub fn observe(&mut self, record: &RecordFacts) -> Vec<Value> {
        if record.event_type == Some(INSIGHT_EVENT_TYPE) {
            return Vec::new();
        }
        let Some(time) = record.time else {
            return Vec::new();
        };
        let window = self.window_of(time);
        let first = *self.first_window.get_or_insert(window);
        let mut out = Vec::new();
        for key in series_keys(record) {
            out.extend(self.count(key, window, first));
        }
        out
    }

    /// Closes every window that ended by `now`; returns End records.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<Value> {
        let window = self.window_of(now);
        let keys: Vec<SeriesKey> = self.series.keys().cloned().collect();
        keys.into_iter()
            .flat_map(|key| self.close_before(&key, window))
            .collect()
    }

    fn count(&mut self, key: SeriesKey, window: i64, first: i64) -> Vec<Value> {
        let mut out = self.close_before(&key, window);
        let span = self.baseline_windows();
        let (sigma, min_excess) = (self.config.sigma, self.config.min_excess);
        let series = self.series.entry(key.clone()).or_default();
        let open = series.open.get_or_insert((window, 0));
        if open.0 < window {
            *open = (window, 0);
        }
        open.1 += 1;
        let count = open.1;
        let (mean, deviation) = baseline(series, window, first, span);
        if !series.raised && count as f64 >= mean + (sigma * deviation).max(min_excess) {
            series.raised = true;
            if series.active.is_none() {
                let id = uuid::Uuid::new_v4().to_string();
                series.active = Some((id.clone(), window));
                let verdict = Verdict {
                    window,
                    count,
                    mean,
                    deviation,
                    standout: true,
                };
                out.push(self.insight_record(&key, &id, "Start", &verdict));
            }
        }
        out
    }

    /// Closes the series' open window if it is older than `window`, and ends
    /// its insight at the first window under the threshold: the closed one,
    /// or the empty one after the last standout once `window` is past it.
    fn close_before(&mut self, key: &SeriesKey, window: i64) -> Vec<Value> {
        let span = self.baseline_windows();
        let first = self.first_window.unwrap_or(window);
        let (sigma, min_excess) = (self.config.sigma, self.config.min_excess);
        let Some(series) = self.series.get_mut(key) else {
            return Vec::new();
        };
        let mut quiet = None;
        if let Some((open_window, count)) = series.open.filter(|(w, _)| *w < window) {
            let (mean, deviation) = baseline(series, open_window, first, span);
            let verdict = Verdict {
                window: open_window,
                count,
                mean,
                deviation,
                standout: count as f64 >= mean + (sigma * deviation).max(min_excess),
            };
            series.open = None;
            series.raised = false;
            series.history.push_back((open_window, count));
            series.sum += count as f64;
            series.sum_sq += (count * count) as f64;
            if verdict.standout {
                let entry = self.standout_entry(key, &verdict);
                self.standouts.push(entry);
            } else {
                quiet = Some(verdict);
            }
        }
        let Some(series) = self.series.get_mut(key) else {
            return Vec::new();
        };
        if series.active.is_none() {
            return Vec::new();
        }
        if quiet.is_none() && series.open.is_none() {
            // Standout windows are in the history: the newest is the last one.
            let after_last = series.history.back().map(|(w, _)| w + 1);
            if let Some(empty) = after_last.filter(|empty| *empty < window) {
                let (mean, deviation) = baseline(series, empty, first, span);
                quiet = Some(Verdict {
                    window: empty,
                    count: 0,
                    mean,
                    deviation,
                    standout: false,
                });
            }
        }
        let Some(quiet) = quiet else {
            return Vec::new();
        };
        let Some((id, _)) = series.active.take() else {
            return Vec::new();
        };
        vec![self.insight_record(key, &id, "End", &quiet)]
    }

    fn standout_entry(&self, key: &SeriesKey, verdict: &Verdict) -> Value {
        json!({
            "insightType": key.metric.insight_type(),
            "attribute": key.attribute,
            "value": key.value,
            "windowStart": time_text(self.window_start(verdict.window)),
            "count": verdict.count,
            "baselineAverage": round2(verdict.mean),
            "baselineStandardDeviation": round2(verdict.deviation),
        })
    }

    /// A CloudTrail-Insights-shaped record.
    fn insight_record(&self, key: &SeriesKey, id: &str, state: &str, verdict: &Verdict) -> Value {
        json!({
            "eventVersion": EVENT_VERSION,
            "eventTime": time_text(self.window_start(verdict.window)),
            "awsRegion": crate::model::REGION,
            "eventID": uuid::Uuid::new_v4().to_string(),
            "eventType": INSIGHT_EVENT_TYPE,
            "recipientAccountId": self.config.account_id,
            "sharedEventID": id,
            "insightDetails": {
                "state": state,
                "eventSource": EVENT_SOURCE,
                "eventName": match key.metric { Metric::CallRate => RATE_EVENTS.join(","), Metric::ErrorRate => "*".into() },
                "insightType": key.metric.insight_type(),
                "insightContext": {
                    "statistics": {
                        "baseline": {"average": round2(verdict.mean), "standardDeviation": round2(verdict.deviation)},
                        "insight": {"average": verdict.count},
                    },
                    "attributions": [{"attribute": key.attribute, "value": key.value}],
                },
            },
            "eventCategory": "Insight",
        })
    }
}

/// Mean and standard deviation of the series' counts over the `span` windows
/// before `window` (or since `first`, if less), empty windows counting 0.
fn baseline(series: &mut Series, window: i64, first: i64, span: i64) -> (f64, f64) {
    while let Some(&(w, c)) = series.history.front() {
        if w >= window - span {
            break;
        }
        series.history.pop_front();
        series.sum -= c as f64;
        series.sum_sq -= (c * c) as f64;
    }
    let windows = (window - (window - span).max(first)).max(0) as f64;
    if windows == 0.0 {
        return (0.0, 0.0);
    }
    let mean = series.sum / windows;
    let variance = (series.sum_sq / windows - mean * mean).max(0.0);
    (mean, variance.sqrt())
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The series a record counts in.
fn series_keys(record: &RecordFacts) -> Vec<SeriesKey> {
    let mut metrics = Vec::new();
    if record.event_name.is_some_and(|n| RATE_EVENTS.contains(&n)) {
        metrics.push(Metric::CallRate);
    }
    if record.error_code.is_some() {
        metrics.push(Metric::ErrorRate);
    }
    let mut keys = Vec::new();
    for metric in metrics {
        if let Some(user) = &record.user {
            keys.push(SeriesKey {
                attribute: "userName",
                value: user.to_string(),
                metric,
            });
        }
        if let Some(key) = record.key_arn {
            keys.push(SeriesKey {
                attribute: "keyArn",
                value: key.to_string(),
                metric,
            });
        }
    }
    keys
}

/// The standout windows of the stored trail whose start lies in `[start, end]`,
/// each judged against the baseline before it, oldest first.
pub fn insights(
    dir: &Path,
    config: &InsightConfig,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) -> Result<Vec<Value>, AuditError> {
    let history_from = start.map(|s| s - config.baseline);
    let mut monitor = InsightMonitor::new(config.clone());
    for source in sources(dir)? {
        source.for_each_raw(&mut |raw| {
            let stored = raw.parse()?;
            if history_from.map_or(true, |h| stored.event_time >= h) {
                monitor.observe(&stored.record.facts());
            }
            Ok(())
        })?;
    }
    monitor.tick(DateTime::<Utc>::MAX_UTC);
    let in_range = |entry: &Value| {
        let t = entry["windowStart"]
            .as_str()
            .and_then(super::state::parse_time);
        t.is_some_and(|t| start.map_or(true, |s| t >= s) && end.map_or(true, |e| t <= e))
    };
    let mut found: Vec<Value> = monitor.standouts.into_iter().filter(in_range).collect();
    found.sort_by(|a, b| a["windowStart"].as_str().cmp(&b["windowStart"].as_str()));
    Ok(found)
}

/// The text table of `insights`.
pub fn format_insights(found: &[Value]) -> String {
    let mut out = format!(
        "{:<24}  {:<20}  {:<9}  {:<40}  {:>6}  {:>8}  {:>8}\n",
        "WindowStart", "InsightType", "Attribute", "Value", "Count", "Baseline", "StdDev"
    );
    for entry in found {
        out.push_str(&format!(
            "{:<24}  {:<20}  {:<9}  {:<40}  {:>6}  {:>8}  {:>8}\n",
            entry["windowStart"].as_str().unwrap_or("-"),
            entry["insightType"].as_str().unwrap_or("-"),
            entry["attribute"].as_str().unwrap_or("-"),
            entry["value"]
                .as_str()
                .unwrap_or("-")
                .escape_default()
                .to_string(),
            entry["count"],
            entry["baselineAverage"],
            entry["baselineStandardDeviation"],
        ));
    }
    out
}

#[cfg(test)]
mod tests;
