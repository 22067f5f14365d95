//! Where stored records are read from, oldest source first: the rolled
//! `YYYY/MM/DD/*.json.gz` files, then any log a roll left in `rolling/`
//! (an interrupted roll), then the active log. Every source streams: none is
//! read whole.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::layout::{dated_files, entries, TrailLayout};
use super::lock::{FileLock, LockKind};
use super::{logfile, AuditError, AuditLog};

/// One record as read back, with its parsed `eventTime`.
pub(super) struct StoredRecord {
    pub(super) event_time: DateTime<Utc>,
    pub(super) record: Value,
}

/// One record's JSON text, before parsing, and where it was read.
pub(super) struct RawRecord<'a> {
    pub(super) json: &'a [u8],
    pub(super) path: &'a Path,
    /// Counts from 1.
    pub(super) line: u64,
}

impl RawRecord<'_> {
    pub(super) fn parse(&self) -> Result<StoredRecord, AuditError> {
        parse_record(self.json).map_err(|reason| self.malformed(reason))
    }

    pub(super) fn malformed(&self, reason: String) -> AuditError {
        AuditError::Malformed {
            path: self.path.to_path_buf(),
            line: self.line,
            reason,
        }
    }
}

/// A file of records.
pub(super) trait RecordSource {
    /// Calls `visit` with each record's text in file order; an error from
    /// `visit` ends the walk. A file without the expected framing ends it with
    /// `AuditError::Malformed` naming where.
    fn for_each_raw(
        &self,
        visit: &mut dyn FnMut(RawRecord<'_>) -> Result<(), AuditError>,
    ) -> Result<(), AuditError>;
}

/// The record sources of the audit directory `dir`, oldest first.
pub(super) fn sources(dir: &Path) -> Result<Vec<Box<dyn RecordSource>>, AuditError> {
    let layout = TrailLayout::new(dir);
    let mut all: Vec<Box<dyn RecordSource>> = Vec::new();
    for path in dated_files(layout.logs())? {
        all.push(Box::new(RolledLogFile { path }));
    }
    let mut interrupted: Vec<PathBuf> = entries(&layout.rolling())?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    interrupted.sort();
    for path in interrupted {
        all.push(Box::new(JsonLinesFile { path }));
    }
    all.push(Box::new(JsonLinesFile {
        path: AuditLog::active_path(dir),
    }));
    Ok(all)
}

/// A delivered `*.json.gz` log file.
struct RolledLogFile {
    path: PathBuf,
}

impl RecordSource for RolledLogFile {
    fn for_each_raw(
        &self,
        visit: &mut dyn FnMut(RawRecord<'_>) -> Result<(), AuditError>,
    ) -> Result<(), AuditError> {
        logfile::for_each_raw(&self.path, visit)
    }
}

/// The active log, or one rolled away and not yet delivered: JSON lines.
/// A missing file holds no records.
struct JsonLinesFile {
    path: PathBuf,
}

impl RecordSource for JsonLinesFile {
    fn for_each_raw(
        &self,
        visit: &mut dyn FnMut(RawRecord<'_>) -> Result<(), AuditError>,
    ) -> Result<(), AuditError> {
        let read_error = |source| AuditError::Read {
            path: self.path.clone(),
            source,
        };
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(read_error(e)),
        };
        let complete = complete_length(&file).map_err(read_error)?;
        let mut reader = BufReader::with_capacity(256 * 1024, file.take(complete));
        let mut line = Vec::new();
        let mut line_number = 0;
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).map_err(read_error)? == 0 {
                return Ok(());
            }
            line_number += 1;
            let raw = RawRecord {
                json: line.strip_suffix(b"\n").unwrap_or(&line),
                path: &self.path,
                line: line_number,
            };
            if !line.ends_with(b"\n") {
                return Err(raw.malformed("the record is cut off (no newline at its end)".into()));
            }
            visit(raw)?;
        }
    }
}

/// The active log's length at a record boundary. Writers hold the exclusive
/// lock for a whole record, so under the shared lock none is half-written;
/// records appended after this point are left for the next lookup.
fn complete_length(file: &File) -> io::Result<u64> {
    let _lock = FileLock::acquire(file, LockKind::Shared)?;
    Ok(file.metadata()?.len())
}

/// Parses one record: a JSON object with an RFC 3339 `eventTime`.
pub(super) fn parse_record(json: &[u8]) -> Result<StoredRecord, String> {
    let record: Value = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let time_text = record
        .get("eventTime")
        .and_then(Value::as_str)
        .ok_or("not an object with a text eventTime")?;
    let event_time = DateTime::parse_from_rfc3339(time_text)
        .map_err(|e| format!("eventTime '{time_text}' is not an RFC 3339 time: {e}"))?
        .with_timezone(&Utc);
    Ok(StoredRecord { event_time, record })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::test_support::decrypt_record;
    use std::fs;

    fn read_all(dir: &Path) -> Result<Vec<StoredRecord>, AuditError> {
        let mut all = Vec::new();
        for source in sources(dir)? {
            source.for_each_raw(&mut |raw| {
                all.push(raw.parse()?);
                Ok(())
            })?;
        }
        Ok(all)
    }

    fn write_log(dir: &Path, lines: &[String]) -> PathBuf {
        let path = AuditLog::active_path(dir);
        fs::write(&path, lines.concat()).expect("write log");
        path
    }

    fn record_line(n: usize) -> String {
        format!("{}\n", decrypt_record(n))
    }

    #[test]
    fn reads_every_record_in_file_order() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let lines: Vec<String> = (0..5).map(record_line).collect();
        write_log(tmp.path(), &lines);
        let read = read_all(tmp.path()).expect("read");
        let texts: Vec<String> = read.iter().map(|s| format!("{}\n", s.record)).collect();
        assert_eq!(texts, lines);
        let first = &read[0];
        assert_eq!(
            first.event_time,
            DateTime::parse_from_rfc3339(first.record["eventTime"].as_str().expect("time"))
                .expect("time")
        );
    }

    #[test]
    fn a_missing_log_holds_no_records() {
        let tmp = tempfile::tempdir().expect("tempdir");
        assert!(read_all(tmp.path()).expect("read").is_empty());
    }

    fn malformed_at(lines: &[String]) -> (PathBuf, u64, String) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = write_log(tmp.path(), lines);
        match read_all(tmp.path()) {
            Err(AuditError::Malformed {
                path: at,
                line,
                reason,
            }) => {
                assert_eq!(at, path);
                (at, line, reason)
            }
            Err(other) => panic!("expected Malformed, got {other:?}"),
            Ok(read) => panic!("expected Malformed, read {} records", read.len()),
        }
    }

    #[test]
    fn a_line_that_is_not_json_is_named_by_file_and_line() {
        let mut lines: Vec<String> = (0..4).map(record_line).collect();
        lines[2] = "{\"eventTime\": \"2026-11-24T07:40:00.123Z\", oops\n".into();
        let (path, line, reason) = malformed_at(&lines);
        assert_eq!(line, 3);
        let error = AuditError::Malformed {
            path: path.clone(),
            line,
            reason: reason.clone(),
        };
        assert_eq!(
            error.to_string(),
            format!(
                "audit log {} line 3 is not a valid record: {reason}",
                path.display()
            )
        );
    }

    #[test]
    fn records_without_a_usable_event_time_are_malformed() {
        for (bad, why) in [
            ("[1, 2]\n", "not an object"),
            ("{\"eventName\": \"Decrypt\"}\n", "not an object"),
            (
                "{\"eventTime\": \"yesterday\"}\n",
                "'yesterday' is not an RFC 3339 time",
            ),
            ("\n", "EOF while parsing"),
        ] {
            let lines = [record_line(0), bad.to_string()];
            let (_, line, reason) = malformed_at(&lines);
            assert_eq!(line, 2, "{bad}");
            assert!(reason.contains(why), "{bad}: {reason}");
        }
    }

    #[test]
    fn a_record_cut_off_at_the_end_is_malformed() {
        let whole = record_line(1);
        let lines = [record_line(0), whole[..whole.len() - 1].to_string()];
        let (_, line, reason) = malformed_at(&lines);
        assert_eq!(line, 2);
        assert!(reason.contains("cut off"), "{reason}");
    }
}
