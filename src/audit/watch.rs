//! Live insights (docs/AUDIT.md, "Insights"): an `InsightMonitor` fed with
//! every record an `AuditLog` appends, whose Start and End Insight records go
//! to the same audit directory through a handle of their own, so that writing
//! them never re-enters the observed log. A failed write is a warning: the
//! request that caused it is already recorded.

use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::view::RecordFacts;
use super::writer::AppendObserver;
use super::{AuditLog, InsightConfig, InsightMonitor};

pub struct InsightWatch {
    monitor: Mutex<InsightMonitor>,
    /// Where Insight records go: a handle on the observed log's directory.
    insights_log: AuditLog,
}

impl InsightWatch {
    pub fn new(config: InsightConfig, insights_log: AuditLog) -> InsightWatch {
        InsightWatch {
            monitor: Mutex::new(InsightMonitor::new(config)),
            insights_log,
        }
    }

    /// Closes the windows that ended by `now`, writing the End records due.
    pub fn tick(&self, now: DateTime<Utc>) {
        let found = self.lock_monitor().tick(now);
        self.write(found);
    }

    fn lock_monitor(&self) -> MutexGuard<'_, InsightMonitor> {
        // The monitor's counts stay usable after a panic elsewhere.
        self.monitor.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, insights: Vec<Value>) {
        for record in insights {
            if let Err(err) = self.insights_log.append(&record) {
                log::warn!("an insight record could not be written: {err}");
            }
        }
    }
}

impl AppendObserver for InsightWatch {
    fn appended(&self, record: &RecordFacts) {
        let found = self.lock_monitor().observe(record);
        self.write(found);
    }
}

#[cfg(test)]
mod tests;
