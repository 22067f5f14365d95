//! The active audit log, `DIR/active.jsonl`: one record per line, each written
//! whole by a single write(2) under the file's exclusive flock, or not at all.
//! Safe from many threads (`&self`) and many processes at once, and from a
//! roller that moves the file away (docs/AUDIT.md, "Locking protocol").

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::lock::{FileLock, LockKind};
use super::view::RecordFacts;
use super::AuditError;

/// File name of the log records are appended to, inside the audit directory.
pub const ACTIVE_LOG_NAME: &str = "active.jsonl";

const DIR_MODE: u32 = 0o700;
const LOG_MODE: u32 = 0o600;

/// When appended records are forced to stable storage (`--audit-sync`).
/// Either way a record is written (write(2) returned) before the request it
/// records is answered, so a killed process loses none; fsync only matters
/// for a crash of the whole machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    /// fsync after every record; a failed fsync refuses the request.
    Always,
    /// fsync at the first append after this long since the last one, and when the log is dropped.
    Interval(Duration),
}

impl Default for SyncPolicy {
    fn default() -> SyncPolicy {
        SyncPolicy::Interval(Duration::from_secs(1))
    }
}

/// Told of every record once it is in the log (the mount daemon's live
/// insights). Called outside the log's locks, on the appending thread.
pub trait AppendObserver: Send + Sync {
    fn appended(&self, record: &RecordFacts);
}

/// A record the log takes: a JSON object (`serde_json::Value`, or an
/// `audit::Record` serialized straight from its event), and what observers
/// are told of it.
pub trait LogRecord: Serialize {
    fn facts(&self) -> RecordFacts<'_>;
}

/// An open handle on the active log of one audit directory.
pub struct AuditLog {
    path: PathBuf,
    sync: SyncPolicy,
    observer: Option<Arc<dyn AppendObserver>>,
    /// Held for a whole append: threads of one process share the descriptor,
    /// and an flock is shared by every holder of a descriptor, so the flock
    /// alone would not keep two threads' records apart.
    active: Mutex<ActiveFile>,
}

/// The descriptor records go to, and the file it was opened on.
struct ActiveFile {
    file: File,
    dev: u64,
    ino: u64,
    last_sync: Instant,
    /// The file's length after this handle's last record: while the file
    /// still has it, it ends with that record's newline (no torn tail).
    end_of_own_record: Option<u64>,
}

impl AuditLog {
    /// `DIR/active.jsonl`.
    pub fn active_path(dir: &Path) -> PathBuf {
        dir.join(ACTIVE_LOG_NAME)
    }

    /// Creates `dir` (0700) and the active log (0600) if missing, and refuses
    /// either when other users could change (directory) or read or change (log) it.
    pub fn open(dir: &Path) -> Result<AuditLog, AuditError> {
        create_private_dir(dir)?;
        let path = AuditLog::active_path(dir);
        let active = ActiveFile::open(&path)?;
        Ok(AuditLog {
            path,
            sync: SyncPolicy::default(),
            observer: None,
            active: Mutex::new(active),
        })
    }

    /// The same log, synced as `sync` says.
    pub fn with_sync(mut self, sync: SyncPolicy) -> AuditLog {
        self.sync = sync;
        self
    }

    /// The same log, telling `observer` of each record it appends.
    pub fn with_observer(mut self, observer: Arc<dyn AppendObserver>) -> AuditLog {
        self.observer = Some(observer);
        self
    }

    /// The active log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` as one line. Any error means the record is not in the
    /// log, and the request it describes must be refused.
    pub fn append(&self, record: &impl LogRecord) -> Result<(), AuditError> {
        self.write_record(record)?;
        if let Some(observer) = &self.observer {
            observer.appended(&record.facts());
        }
        Ok(())
    }

    fn write_record(&self, record: &impl LogRecord) -> Result<(), AuditError> {
        let mut line = serde_json::to_vec(record).map_err(|e| self.write_error(e.into()))?;
        line.push(b'\n');
        let mut guard = self.lock_active();
        // A plain reference, so that the lock on the file and the record of
        // the file's end borrow different fields.
        let active: &mut ActiveFile = &mut guard;
        loop {
            let lock = FileLock::acquire(&active.file, LockKind::Exclusive)
                .map_err(|e| self.write_error(e))?;
            if let Some(len) = active
                .len_if_at(&self.path)
                .map_err(|e| self.write_error(e))?
            {
                let start = match active.end_of_own_record {
                    Some(end) if end == len => len,
                    _ => cut_torn_tail(&active.file).map_err(|e| self.write_error(e))?,
                };
                // Unknown again until the write below is known to be whole.
                active.end_of_own_record = None;
                append_line(&active.file, &line, start).map_err(|e| self.write_error(e))?;
                active.end_of_own_record = Some(start + line.len() as u64);
                drop(lock);
                return self.sync_as_told(active);
            }
            // The log was rolled away since we opened it: follow the path.
            drop(lock);
            *active = ActiveFile::open(&self.path)?;
        }
    }

    /// Flushes what was appended so far to stable storage (fsync).
    pub fn sync(&self) -> Result<(), AuditError> {
        self.lock_active()
            .file
            .sync_data()
            .map_err(|source| AuditError::Sync {
                path: self.path.clone(),
                source,
            })
    }

    fn sync_as_told(&self, active: &mut ActiveFile) -> Result<(), AuditError> {
        let due = match self.sync {
            SyncPolicy::Always => true,
            SyncPolicy::Interval(every) => active.last_sync.elapsed() >= every,
        };
        if due {
            active.file.sync_data().map_err(|source| AuditError::Sync {
                path: self.path.clone(),
                source,
            })?;
            active.last_sync = Instant::now();
        }
        Ok(())
    }

    fn lock_active(&self) -> MutexGuard<'_, ActiveFile> {
        // A panic elsewhere cannot leave the descriptor half-changed.
        self.active.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_error(&self, source: io::Error) -> AuditError {
        AuditError::Write {
            path: self.path.clone(),
            source,
        }
    }
}

impl ActiveFile {
    fn open(path: &Path) -> Result<ActiveFile, AuditError> {
        let open_error = |source| AuditError::Open {
            path: path.to_path_buf(),
            source,
        };
        // Readable too: a torn last record is found by reading the tail.
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(LOG_MODE)
            .open(path)
            .map_err(open_error)?;
        let metadata = file.metadata().map_err(open_error)?;
        if !metadata.is_file() {
            return Err(AuditError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        refuse_open_to_others(path, metadata.mode(), 0o066, LOG_MODE)?;
        Ok(ActiveFile {
            file,
            dev: metadata.dev(),
            ino: metadata.ino(),
            last_sync: Instant::now(),
            end_of_own_record: None,
        })
    }

    /// The file's length, when `path` still names the file this descriptor
    /// was opened on; `None` when it was rolled away.
    fn len_if_at(&self, path: &Path) -> io::Result<Option<u64>> {
        match fs::symlink_metadata(path) {
            Ok(metadata) if metadata.dev() == self.dev && metadata.ino() == self.ino => {
                Ok(Some(metadata.len()))
            }
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        // Best effort: what was appended is in the file whatever happens here.
        let _ = self.lock_active().file.sync_data();
    }
}

pub(super) fn create_private_dir(dir: &Path) -> Result<(), AuditError> {
    let open_error = |source| AuditError::Open {
        path: dir.to_path_buf(),
        source,
    };
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(open_error)?;
    let mode = fs::metadata(dir).map_err(open_error)?.mode();
    // Whoever can write the directory can replace the log.
    refuse_open_to_others(dir, mode, 0o022, DIR_MODE)
}

fn refuse_open_to_others(
    path: &Path,
    mode: u32,
    forbidden: u32,
    fix_mode: u32,
) -> Result<(), AuditError> {
    if mode & forbidden == 0 {
        return Ok(());
    }
    Err(AuditError::Insecure {
        path: path.to_path_buf(),
        mode: mode & 0o7777,
        fix_mode,
    })
}

/// Appends `line` with exactly one write(2) to a log `end` bytes long that
/// ends with a whole record. The caller holds the exclusive lock, so `end` is
/// where O_APPEND puts the line, and a partial line from a short write can be
/// cut off again, keeping the log whole.
fn append_line(mut file: &File, line: &[u8], end: u64) -> io::Result<()> {
    let written = loop {
        match file.write(line) {
            // Interrupted before anything was written: the retry is the one write.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other?,
        }
    };
    if written == line.len() {
        return Ok(());
    }
    let short = format!("short write, {written} of {} bytes", line.len());
    match file.set_len(end) {
        Ok(()) => Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("{short}; the partial record was removed"),
        )),
        Err(cut) => Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("{short}; removing the partial record failed: {cut}"),
        )),
    }
}

/// Cuts off the end of the log after its last newline, if any, and returns
/// the length left. Such a tail is a record whose writer was killed during its
/// write(2) (SIGKILL can stop a write between pages): its request was never
/// answered, and the next record must not be glued to it. The caller holds
/// the exclusive lock, so no writer is in the middle of a record.
pub(super) fn cut_torn_tail(file: &File) -> io::Result<u64> {
    let len = file.metadata()?.len();
    let mut last = [0u8; 1];
    if len == 0 || (file.read_exact_at(&mut last, len - 1).is_ok() && last[0] == b'\n') {
        return Ok(len);
    }
    let mut end = len;
    let mut block = [0u8; 4096];
    while end > 0 {
        let start = end.saturating_sub(block.len() as u64);
        let block = &mut block[..(end - start) as usize];
        file.read_exact_at(block, start)?;
        if let Some(newline) = block.iter().rposition(|&b| b == b'\n') {
            end = start + newline as u64 + 1;
            break;
        }
        end = start;
    }
    if end < len {
        log::warn!(
            "audit log: removed {} bytes of a record left unfinished by a killed writer",
            len - end
        );
        file.set_len(end)?;
    }
    Ok(end)
}

#[cfg(test)]
mod tests;
