//! `kmsfs audit tail [-f]`: the newest records, then, when following, each
//! record as it is written, across rolls of the active log.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::thread;
use std::time::Duration;

use serde_json::Value;

use super::source::parse_record;
use super::{lookup, AuditError, AuditLog, LookupFilter};

const POLL: Duration = Duration::from_millis(200);

/// Prints the newest `lines` records oldest first; with `follow`, then every
/// record appended after them, until the process is interrupted.
pub fn tail(
    dir: &Path,
    lines: usize,
    follow: bool,
    print: &mut dyn FnMut(&Value),
) -> Result<(), AuditError> {
    let active = AuditLog::active_path(dir);
    // Where following starts; records the lookup also shows are skipped by eventID.
    let start = fs::metadata(&active).map_or(0, |m| m.len());
    let newest = lookup(
        dir,
        &LookupFilter {
            max: Some(lines),
            ..LookupFilter::default()
        },
    )?;
    let shown: HashSet<String> = newest
        .iter()
        .filter_map(|r| r["eventID"].as_str().map(str::to_string))
        .collect();
    for record in newest.iter().rev() {
        print(record);
    }
    if !follow {
        return Ok(());
    }
    let mut follower = Follower::open(&active, start)?;
    loop {
        for record in follower.read_new()? {
            if !record["eventID"]
                .as_str()
                .is_some_and(|id| shown.contains(id))
            {
                print(&record);
            }
        }
        thread::sleep(POLL);
    }
}

/// Reads whole new lines of the active log, and moves to the new file after a roll.
struct Follower<'p> {
    path: &'p Path,
    reader: Option<(BufReader<File>, u64)>,
    partial: Vec<u8>,
}

impl<'p> Follower<'p> {
    fn open(path: &'p Path, offset: u64) -> Result<Follower<'p>, AuditError> {
        let mut follower = Follower {
            path,
            reader: None,
            partial: Vec::new(),
        };
        follower.reopen(offset)?;
        Ok(follower)
    }

    fn reopen(&mut self, offset: u64) -> Result<(), AuditError> {
        self.partial.clear();
        self.reader = match File::open(self.path) {
            Ok(mut file) => {
                let ino = file.metadata().map_err(|e| self.error(e))?.ino();
                file.seek(SeekFrom::Start(offset))
                    .map_err(|e| self.error(e))?;
                Some((BufReader::new(file), ino))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(self.error(e)),
        };
        Ok(())
    }

    fn error(&self, source: io::Error) -> AuditError {
        AuditError::Read {
            path: self.path.to_path_buf(),
            source,
        }
    }

    /// New whole records; after the file was rolled away, the rest of it and
    /// then the new file's.
    fn read_new(&mut self) -> Result<Vec<Value>, AuditError> {
        let mut out = self.drain()?;
        let current = fs::metadata(self.path).ok().map(|m| m.ino());
        let open = self.reader.as_ref().map(|(_, ino)| *ino);
        if current != open {
            self.reopen(0)?;
            out.extend(self.drain()?);
        }
        Ok(out)
    }

    fn drain(&mut self) -> Result<Vec<Value>, AuditError> {
        let mut out = Vec::new();
        let Some((reader, _)) = self.reader.as_mut() else {
            return Ok(out);
        };
        loop {
            let read = reader
                .read_until(b'\n', &mut self.partial)
                .map_err(|source| AuditError::Read {
                    path: self.path.to_path_buf(),
                    source,
                })?;
            if read == 0 || !self.partial.ends_with(b"\n") {
                return Ok(out); // a record still being written stays for later
            }
            if let Ok(stored) = parse_record(&self.partial[..self.partial.len() - 1]) {
                out.push(stored.record);
            }
            self.partial.clear();
        }
    }
}
