//! Delivery (docs/AUDIT.md, "Delivery"): rolling the active log into dated
//! gzip log files by period or size, and writing a signed digest per period,
//! all under the trail lock so that concurrent rollers take turns. Cheap when
//! nothing is due: a stat, the first line of the active log, the ledger.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};

use super::atomic::sync_dir_of;
use super::digest::{prepare_digest, write_unwritten_digest};
use super::layout::{delivery_time_of, entries, unique16, TrailIdentity, TrailLayout, GZ_JSON};
use super::lock::{FileLock, LockKind};
use super::logfile::{for_each_raw, hash_uncompressed, write_log_file, LogSummary};
use super::signing::DigestSigner;
use super::source::parse_record;
use super::state::{time_text, LogFileEntry, TrailLedger, TrailState, HASH_ALGORITHM};
use super::writer::create_private_dir;
use super::writer::cut_torn_tail;
use super::{AuditError, AuditLog};

/// When to roll and when to write digests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrailConfig {
    /// Roll once the oldest record in the active log is this old.
    pub rotate_interval: Duration,
    /// Roll once the active log is this large, in bytes.
    pub rotate_size: u64,
    /// A digest at each multiple of this since the Unix epoch (hourly: on the hour).
    pub digest_interval: Duration,
    /// Also write a digest after every roll.
    pub digest_every_roll: bool,
}

impl Default for TrailConfig {
    fn default() -> TrailConfig {
        TrailConfig {
            rotate_interval: Duration::minutes(5),
            rotate_size: 32 * 1024 * 1024,
            digest_interval: Duration::hours(1),
            digest_every_roll: false,
        }
    }
}

/// What one run delivered, as object names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrailReport {
    pub log_files: Vec<String>,
    pub digests: Vec<String>,
}

/// The delivery side of one audit directory.
pub struct Trail<'a> {
    dir: PathBuf,
    layout: TrailLayout,
    identity: TrailIdentity,
    config: TrailConfig,
    signer: &'a DigestSigner,
    ledger: &'a dyn TrailLedger,
}

/// What to do in one run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Force {
    /// Only what is due.
    Nothing,
    /// Roll whatever the active log holds.
    Roll,
    /// Roll, and write a digest even if none is due.
    RollAndDigest,
}

impl<'a> Trail<'a> {
    pub fn new(
        audit_dir: &Path,
        identity: TrailIdentity,
        config: TrailConfig,
        signer: &'a DigestSigner,
        ledger: &'a dyn TrailLedger,
    ) -> Trail<'a> {
        Trail {
            dir: audit_dir.to_path_buf(),
            layout: TrailLayout::new(audit_dir),
            identity,
            config,
            signer,
            ledger,
        }
    }

    /// Rolls and writes digests if due at `now`.
    pub fn run_due(&self, now: DateTime<Utc>) -> Result<TrailReport, AuditError> {
        if !self.anything_due(now)? {
            return Ok(TrailReport::default());
        }
        self.run(now, Force::Nothing)
    }

    /// Rolls the active log now (if it holds records), and writes a digest
    /// when `digest` is set, when one is due, or with `digest_every_roll`.
    pub fn flush(&self, now: DateTime<Utc>, digest: bool) -> Result<TrailReport, AuditError> {
        let force = if digest {
            Force::RollAndDigest
        } else {
            Force::Roll
        };
        self.run(now, force)
    }

    /// The unlocked first look: is a roll or a digest due?
    fn anything_due(&self, now: DateTime<Utc>) -> Result<bool, AuditError> {
        let state = TrailState::load(self.ledger)?;
        Ok(match state {
            None => true,
            Some(state) => {
                state.unwritten_digest.is_some()
                    || self.digest_due(&state, now)
                    || self.roll_due(now)?
                    || !self.interrupted_rolls()?.is_empty()
            }
        })
    }

    fn digest_due(&self, state: &TrailState, now: DateTime<Utc>) -> bool {
        let Some(last) = super::state::parse_time(state.next_digest_start()) else {
            return true;
        };
        now >= next_boundary(last, self.config.digest_interval)
    }

    /// The active log holds records and is old or large enough.
    fn roll_due(&self, now: DateTime<Utc>) -> Result<bool, AuditError> {
        let path = AuditLog::active_path(&self.dir);
        let read_error = |source| AuditError::Read {
            path: path.clone(),
            source,
        };
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(read_error(e)),
        };
        let size = file.metadata().map_err(read_error)?.len();
        if size == 0 {
            return Ok(false);
        }
        if size >= self.config.rotate_size {
            return Ok(true);
        }
        let mut first = Vec::new();
        BufReader::new(file)
            .read_until(b'\n', &mut first)
            .map_err(read_error)?;
        // A first line that does not parse is for the roll to report.
        Ok(
            parse_record(&first)
                .map_or(true, |r| r.event_time <= now - self.config.rotate_interval),
        )
    }

    fn interrupted_rolls(&self) -> Result<Vec<PathBuf>, AuditError> {
        let mut found: Vec<PathBuf> = entries(&self.layout.rolling())?
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        found.sort();
        Ok(found)
    }

    fn run(&self, now: DateTime<Utc>, force: Force) -> Result<TrailReport, AuditError> {
        create_private_dir(self.layout.logs())?;
        let lock_file = open_lock(&self.layout.lock_path())?;
        let _lock = FileLock::acquire(&lock_file, LockKind::Exclusive).map_err(|source| {
            AuditError::Open {
                path: self.layout.lock_path(),
                source,
            }
        })?;
        let mut state = match TrailState::load(self.ledger)? {
            Some(state) => state,
            None => {
                let state = TrailState::new(now);
                state.store(self.ledger)?;
                state
            }
        };
        // A digest the ledger already names, whose writer died before its files were written.
        self.write_unwritten(&mut state)?;
        let mut report = TrailReport::default();
        for rolling in self.interrupted_rolls()? {
            report.log_files.extend(self.deliver(&rolling, &mut state)?);
        }
        if force != Force::Nothing || self.roll_due(now)? {
            if let Some(rolling) = self.take_active(now)? {
                report.log_files.extend(self.deliver(&rolling, &mut state)?);
            }
        }
        let digest_wanted = force == Force::RollAndDigest
            || self.digest_due(&state, now)
            || (self.config.digest_every_roll && !report.log_files.is_empty());
        if digest_wanted {
            let object =
                prepare_digest(&self.layout, &self.identity, self.signer, &mut state, now)?;
            state.store(self.ledger)?;
            self.write_unwritten(&mut state)?;
            report.digests.push(object);
        }
        Ok(report)
    }

    /// Writes the digest the ledger names but the trail may lack, then
    /// tells the ledger it is written.
    fn write_unwritten(&self, state: &mut TrailState) -> Result<(), AuditError> {
        if state.unwritten_digest.is_none() {
            return Ok(());
        }
        write_unwritten_digest(&self.layout, state)?;
        state.store(self.ledger)
    }

    /// Moves the active log into `rolling/`, named after the log file it will
    /// become, under the writers' lock (docs/AUDIT.md, "Locking protocol").
    fn take_active(&self, now: DateTime<Utc>) -> Result<Option<PathBuf>, AuditError> {
        let active = AuditLog::active_path(&self.dir);
        let open_error = |source| AuditError::Open {
            path: active.clone(),
            source,
        };
        // Writable: a torn last record is cut off before the log is delivered.
        let file = match OpenOptions::new().read(true).write(true).open(&active) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(open_error(e)),
        };
        let lock = FileLock::acquire(&file, LockKind::Exclusive).map_err(open_error)?;
        let metadata = file.metadata().map_err(open_error)?;
        let still_active = fs::metadata(&active)
            .is_ok_and(|m| m.dev() == metadata.dev() && m.ino() == metadata.ino());
        if !still_active || cut_torn_tail(&file).map_err(open_error)? == 0 {
            return Ok(None);
        }
        let object = self.layout.log_object(&self.identity, now, &unique16()?);
        let stem = object
            .rsplit('/')
            .next()
            .and_then(|name| name.strip_suffix(GZ_JSON))
            .expect("BUG: a log object ends in .json.gz");
        let rolling = self.layout.rolling().join(format!("{stem}.jsonl"));
        create_private_dir(&self.layout.rolling())?;
        fs::rename(&active, &rolling).map_err(|source| AuditError::Deliver {
            path: rolling.clone(),
            source,
        })?;
        drop(lock);
        sync_dir_of(&active)?;
        sync_dir_of(&rolling)?;
        Ok(Some(rolling))
    }

    /// Delivers one rolled-away log as its gzip file, records it in the
    /// ledger, and removes it. Safe to repeat after a crash at any step.
    fn deliver(
        &self,
        rolling: &Path,
        state: &mut TrailState,
    ) -> Result<Option<String>, AuditError> {
        let stem = rolling
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let delivered =
            delivery_time_of(&format!("{stem}{GZ_JSON}")).ok_or_else(|| AuditError::Malformed {
                path: rolling.to_path_buf(),
                line: 0,
                reason: "its name is not a log file's name".into(),
            })?;
        let unique = stem.rsplit('_').next().unwrap_or_default();
        let object = self.layout.log_object(&self.identity, delivered, unique);
        let target = self.layout.path_of(&object);
        self.layout.create_parent(&target)?;
        let summary = if target.exists() {
            Some(summarize(&target)?)
        } else {
            write_log_file(rolling, &target)?
        };
        if let Some(summary) = &summary {
            if !state.pending.iter().any(|f| f.object == object) {
                state.pending.push(LogFileEntry {
                    object: object.clone(),
                    hash_value: summary.hash.clone(),
                    hash_algorithm: HASH_ALGORITHM.to_string(),
                    newest_event_time: time_text(summary.newest),
                    oldest_event_time: time_text(summary.oldest),
                });
                state.store(self.ledger)?;
            }
        }
        fs::remove_file(rolling).map_err(|source| AuditError::Deliver {
            path: rolling.to_path_buf(),
            source,
        })?;
        sync_dir_of(rolling)?;
        Ok(summary.map(|_| object))
    }
}

/// The first multiple of `interval` since the epoch after `t`.
fn next_boundary(t: DateTime<Utc>, interval: Duration) -> DateTime<Utc> {
    let step = interval.num_milliseconds().max(1);
    let millis = t.timestamp_millis();
    let next = (millis.div_euclid(step) + 1) * step;
    DateTime::from_timestamp_millis(next).unwrap_or(t)
}

/// What a digest lists about a log file already in place (after a crash).
fn summarize(path: &Path) -> Result<LogSummary, AuditError> {
    let hash = hash_uncompressed(path).map_err(|source| AuditError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut range: Option<(DateTime<Utc>, DateTime<Utc>, u64)> = None;
    for_each_raw(path, &mut |raw| {
        let t = raw.parse()?.event_time;
        range = Some(range.map_or((t, t, 1), |(o, n, c)| (o.min(t), n.max(t), c + 1)));
        Ok(())
    })?;
    let (oldest, newest, records) = range.ok_or_else(|| AuditError::Malformed {
        path: path.to_path_buf(),
        line: 1,
        reason: "a log file without records".into(),
    })?;
    Ok(LogSummary {
        hash,
        records,
        oldest,
        newest,
    })
}

fn open_lock(path: &Path) -> Result<File, AuditError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|source| AuditError::Open {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests;
