//! The mount daemon's side of the audit trail (docs/AUDIT.md, "The mount
//! daemon"): the live `InsightWatch` every record of the daemon's KMS is fed
//! to, and a background thread that, while the volume is mounted, delivers
//! the trail's due rolls and digests and closes insight windows on schedule.
//! The thread has its own vault connection and audit log handle, so it never
//! waits for (or holds) the KMS or a filesystem lock; its failures are
//! logged warnings.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use chrono::Utc;

use super::args::{AuditTrailArgs, InsightArgs};
use super::audit_cmds::with_trail;
use super::error::CliError;
use super::session;
use crate::audit::{AppendObserver, InsightConfig, InsightWatch};
use crate::vault::Vault;

/// How often the thread looks: often enough for the shortest interval to be
/// kept within a quarter of itself, and at least this often.
const LONGEST_CHECK: Duration = Duration::from_secs(15);
const SHORTEST_CHECK: Duration = Duration::from_millis(200);

/// Running until dropped (at unmount), which stops and joins the thread.
pub struct MountAudit {
    watch: Arc<InsightWatch>,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MountAudit {
    /// Starts the schedule for the trail of `vault` (at `vault_path`).
    pub fn start(
        vault: &Vault,
        vault_path: &Path,
        trail: &AuditTrailArgs,
        insights: &InsightArgs,
    ) -> Result<MountAudit, CliError> {
        let config = InsightConfig {
            window: insights.insight_window,
            baseline: insights.insight_baseline,
            sigma: insights.insight_sigma,
            min_excess: insights.insight_min_excess,
            ..InsightConfig::new(&vault.info().account_id)
        };
        let watch = Arc::new(InsightWatch::new(
            config,
            session::open_audit_log(vault_path, trail)?,
        ));
        let own_vault = vault.reopen()?;
        let every = check_interval(trail, insights);
        let (stop, stopped) = mpsc::channel::<()>();
        let (thread_watch, thread_trail) = (watch.clone(), trail.clone());
        let thread = thread::Builder::new()
            .name("kmsfs-audit".into())
            .spawn(move || loop {
                match stopped.recv_timeout(every) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
                let now = Utc::now();
                thread_watch.tick(now);
                let delivered = with_trail(&own_vault, &thread_trail, |t| Ok(t.run_due(now)?));
                match delivered {
                    Ok(report) => {
                        for object in report.log_files.iter().chain(&report.digests) {
                            log::info!("audit trail: delivered {object}");
                        }
                    }
                    Err(err) => log::warn!("the audit trail could not be delivered: {err}"),
                }
            })
            .map_err(|e| CliError::Other(format!("cannot start the audit thread: {e}")))?;
        Ok(MountAudit {
            watch,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// What the daemon's audit log tells of each record it appends.
    pub fn observer(&self) -> Arc<dyn AppendObserver> {
        self.watch.clone()
    }
}

impl Drop for MountAudit {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The thread only ends when told to; a failed send means it is gone already.
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!("BUG: the audit thread panicked");
            }
        }
    }
}

/// A quarter of the shortest of the roll, digest and insight intervals,
/// within [`SHORTEST_CHECK`, `LONGEST_CHECK`].
fn check_interval(trail: &AuditTrailArgs, insights: &InsightArgs) -> Duration {
    let shortest = [
        trail.audit_rotate_interval,
        trail.audit_digest_interval,
        insights.insight_window,
    ]
    .into_iter()
    .min()
    .and_then(|d| d.to_std().ok())
    .unwrap_or(LONGEST_CHECK);
    (shortest / 4).clamp(SHORTEST_CHECK, LONGEST_CHECK)
}
