//! The body of a rolled log file (docs/AUDIT.md, "Rolled log files"):
//! `{"Records":[` on its own line, each record on its own line followed by
//! `,` except the last, and `]}` — valid JSON, and streamable line by line.
//! Writing computes what a digest lists: SHA-256 of the uncompressed body
//! and the oldest and newest eventTime.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};

use super::atomic::AtomicFile;
use super::source::{parse_record, RawRecord};
use super::AuditError;

const HEAD: &[u8] = b"{\"Records\":[\n";
const SEPARATOR: &[u8] = b",\n";
const TAIL: &[u8] = b"\n]}\n";

/// What a digest says about one log file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct LogSummary {
    /// Lowercase hex SHA-256 of the uncompressed body.
    pub(super) hash: String,
    pub(super) records: u64,
    pub(super) oldest: DateTime<Utc>,
    pub(super) newest: DateTime<Utc>,
}

/// Writes the JSON-lines records of `lines` (the active log as rolled away)
/// as a gzip log file to `target`, atomically. Every line must be a record.
/// `None` when there was no record to deliver (nothing is written).
pub(super) fn write_log_file(
    lines: &Path,
    target: &Path,
) -> Result<Option<LogSummary>, AuditError> {
    let read_error = |source| AuditError::Read {
        path: lines.to_path_buf(),
        source,
    };
    let mut reader = BufReader::new(File::open(lines).map_err(read_error)?);
    let mut atomic = AtomicFile::create(target)?;
    let mut body = HashingGz::new(atomic.file());
    let mut summary: Option<LogSummary> = None;
    let mut line = Vec::new();
    let mut line_number = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(read_error)? == 0 {
            break;
        }
        line_number += 1;
        let raw = RawRecord {
            json: line.strip_suffix(b"\n").unwrap_or(&line),
            path: lines,
            line: line_number,
        };
        if !line.ends_with(b"\n") {
            return Err(raw.malformed("the record is cut off (no newline at its end)".into()));
        }
        let time = parse_record(raw.json)
            .map_err(|reason| raw.malformed(reason))?
            .event_time;
        let separator = if summary.is_some() { SEPARATOR } else { HEAD };
        let written = body.write(separator).and_then(|()| body.write(raw.json));
        written.map_err(|e| atomic_error(target, e))?;
        summary = Some(match summary {
            None => LogSummary {
                hash: String::new(),
                records: 1,
                oldest: time,
                newest: time,
            },
            Some(s) => LogSummary {
                records: s.records + 1,
                oldest: s.oldest.min(time),
                newest: s.newest.max(time),
                ..s
            },
        });
    }
    let Some(summary) = summary else {
        return Ok(None);
    };
    body.write(TAIL).map_err(|e| atomic_error(target, e))?;
    let hash = body.finish().map_err(|e| atomic_error(target, e))?;
    atomic.commit()?;
    Ok(Some(LogSummary { hash, ..summary }))
}

fn atomic_error(target: &Path, source: io::Error) -> AuditError {
    AuditError::Deliver {
        path: target.to_path_buf(),
        source,
    }
}

/// A gzip stream that also hashes what goes into it.
struct HashingGz<'f> {
    gz: GzEncoder<&'f mut File>,
    sha: Sha256,
}

impl<'f> HashingGz<'f> {
    fn new(file: &'f mut File) -> HashingGz<'f> {
        HashingGz {
            gz: GzEncoder::new(file, Compression::default()),
            sha: Sha256::new(),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.sha.update(bytes);
        self.gz.write_all(bytes)
    }

    /// Ends the gzip stream; the hex SHA-256 of everything written.
    fn finish(self) -> io::Result<String> {
        self.gz.finish()?;
        Ok(hex::encode(self.sha.finalize()))
    }
}

/// Gzip compression of `bytes`, for small files written whole (digests).
pub(super) fn gzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(bytes)?;
    gz.finish()
}

/// The longest uncompressed digest read whole: a digest lists one period's
/// log files (a few hundred bytes each), and a small gzip file of zeros must
/// not make verify run out of memory.
pub(super) const MAX_DIGEST_BYTES: u64 = 64 << 20;

/// The uncompressed content of a small gzip file (at most
/// [`MAX_DIGEST_BYTES`]), and its hex SHA-256.
pub(super) fn gunzip_hash(path: &Path) -> io::Result<(Vec<u8>, String)> {
    let mut content = Vec::new();
    MultiGzDecoder::new(File::open(path)?)
        .take(MAX_DIGEST_BYTES + 1)
        .read_to_end(&mut content)?;
    if content.len() as u64 > MAX_DIGEST_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("it uncompresses to more than {MAX_DIGEST_BYTES} bytes"),
        ));
    }
    let hash = hex::encode(Sha256::digest(&content));
    Ok((content, hash))
}

/// Hex SHA-256 of a gzip file's uncompressed content, streamed.
pub(super) fn hash_uncompressed(path: &Path) -> io::Result<String> {
    let mut decoder = MultiGzDecoder::new(File::open(path)?);
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = decoder.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(sha.finalize()));
        }
        sha.update(&buf[..n]);
    }
}

/// Calls `visit` with each record of the rolled log file at `path`, streaming.
/// A body that does not have the shape above fails with `Malformed`.
pub(super) fn for_each_raw(
    path: &Path,
    visit: &mut dyn FnMut(RawRecord<'_>) -> Result<(), AuditError>,
) -> Result<(), AuditError> {
    let read_error = |source| AuditError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_error)?;
    let mut reader = BufReader::with_capacity(256 * 1024, MultiGzDecoder::new(file));
    let mut line = Vec::new();
    let mut next = |line: &mut Vec<u8>| -> Result<bool, AuditError> {
        line.clear();
        Ok(reader.read_until(b'\n', line).map_err(read_error)? > 0)
    };
    let malformed = |line, reason: &str| AuditError::Malformed {
        path: path.to_path_buf(),
        line,
        reason: reason.to_string(),
    };
    if !next(&mut line)? || line != HEAD {
        return Err(malformed(1, "the file does not start with {\"Records\":["));
    }
    let mut line_number = 1;
    let mut ended = false;
    while next(&mut line)? {
        line_number += 1;
        if ended {
            return Err(malformed(line_number, "text after the closing ]}"));
        }
        let Some(text) = line.strip_suffix(b"\n") else {
            return Err(malformed(line_number, "the file is cut off"));
        };
        if text == b"]}" {
            ended = true;
            continue;
        }
        let json = text.strip_suffix(b",").unwrap_or(text);
        visit(RawRecord {
            json,
            path,
            line: line_number,
        })?;
    }
    if !ended {
        return Err(malformed(
            line_number,
            "the file is cut off before its closing ]}",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::test_support::decrypt_record;
    use std::fs;

    fn jsonl(dir: &Path, count: usize) -> (std::path::PathBuf, Vec<String>) {
        let lines: Vec<String> = (0..count).map(|n| decrypt_record(n).to_string()).collect();
        let path = dir.join("rolling.jsonl");
        fs::write(
            &path,
            lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .expect("write");
        (path, lines)
    }

    fn read_back(path: &Path) -> Result<Vec<String>, AuditError> {
        let mut out = Vec::new();
        for_each_raw(path, &mut |raw| {
            out.push(String::from_utf8(raw.json.to_vec()).expect("utf-8"));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn a_gzip_file_that_uncompresses_past_the_digest_limit_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("bomb.json.gz");
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..=(MAX_DIGEST_BYTES >> 20) {
            gz.write_all(&zeros).expect("gzip");
        }
        let compressed = gz.finish().expect("gzip");
        assert!(compressed.len() < 1 << 20, "a small file");
        fs::write(&path, compressed).expect("write");
        let err = gunzip_hash(&path).expect_err("refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(
            err.to_string().contains("uncompresses to more than"),
            "{err}"
        );
        // Half as much is read.
        fs::write(
            &path,
            gzip(&vec![0u8; (MAX_DIGEST_BYTES >> 1) as usize]).expect("gzip"),
        )
        .expect("write");
        assert!(gunzip_hash(&path).is_ok());
    }

    #[test]
    fn a_log_file_is_valid_json_and_reads_back_line_by_line() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (lines_path, lines) = jsonl(tmp.path(), 3);
        let target = tmp.path().join("x.json.gz");
        let summary = write_log_file(&lines_path, &target)
            .expect("write")
            .expect("records");
        let (content, hash) = gunzip_hash(&target).expect("gunzip");
        assert_eq!(hash, summary.hash);
        assert_eq!(summary.records, 3);
        let body: serde_json::Value = serde_json::from_slice(&content).expect("JSON");
        let expected: Vec<serde_json::Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).expect("record"))
            .collect();
        assert_eq!(body["Records"], serde_json::Value::Array(expected));
        let text = String::from_utf8(content).expect("utf-8");
        assert!(text.starts_with("{\"Records\":[\n") && text.ends_with("\n]}\n"));
        assert_eq!(read_back(&target).expect("read"), lines);
        assert_eq!(hash_uncompressed(&target).expect("hash"), summary.hash);
        assert!(summary.oldest <= summary.newest);
    }

    #[test]
    fn an_empty_active_log_delivers_nothing() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (lines_path, _) = jsonl(tmp.path(), 0);
        let target = tmp.path().join("x.json.gz");
        assert_eq!(write_log_file(&lines_path, &target).expect("write"), None);
        assert!(!target.exists());
    }

    #[test]
    fn a_bad_line_stops_the_roll_and_names_its_place() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("rolling.jsonl");
        fs::write(&path, format!("{}\nnot json\n", decrypt_record(0))).expect("write");
        let target = tmp.path().join("x.json.gz");
        match write_log_file(&path, &target) {
            Err(AuditError::Malformed { line: 2, .. }) => {}
            other => panic!("expected Malformed at line 2, got {other:?}"),
        }
        assert!(!target.exists());
    }

    #[test]
    fn a_file_without_the_framing_is_malformed() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let record = decrypt_record(0).to_string();
        for (body, line) in [
            (format!("[{record}]\n"), 1),
            (format!("{{\"Records\":[\n{record}\n"), 2),
            (format!("{{\"Records\":[\n{record}\n]}}\nmore\n"), 4),
        ] {
            let path = tmp.path().join("bad.json.gz");
            fs::write(&path, gzip(body.as_bytes()).expect("gzip")).expect("write");
            match read_back(&path) {
                Err(AuditError::Malformed { line: at, .. }) => assert_eq!(at, line, "{body}"),
                other => panic!("expected Malformed, got {other:?}"),
            }
        }
    }
}
