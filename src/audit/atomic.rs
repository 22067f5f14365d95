//! Writing a file so that it appears whole or not at all: a temporary file in
//! the same directory, fsync, rename over the final name, fsync of the directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::AuditError;

const FILE_MODE: u32 = 0o600;

/// A file being written under a temporary name beside its final one.
pub(super) struct AtomicFile {
    temp: PathBuf,
    target: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    /// Starts `target` as `.<name>.tmp` in its directory (which must exist).
    pub(super) fn create(target: &Path) -> Result<AtomicFile, AuditError> {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = target.with_file_name(format!(".{name}.tmp"));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(FILE_MODE)
            .open(&temp)
            .map_err(|source| AuditError::Deliver {
                path: temp.clone(),
                source,
            })?;
        Ok(AtomicFile {
            temp,
            target: target.to_path_buf(),
            file: Some(file),
        })
    }

    /// The temporary file, to write to.
    pub(super) fn file(&mut self) -> &mut File {
        self.file
            .as_mut()
            .expect("BUG: AtomicFile used after commit")
    }

    /// The error of a failed write to the temporary file.
    pub(super) fn error(&self, source: io::Error) -> AuditError {
        AuditError::Deliver {
            path: self.temp.clone(),
            source,
        }
    }

    /// fsync, rename to the final name, fsync the directory.
    pub(super) fn commit(mut self) -> Result<(), AuditError> {
        let mut file = self.file.take().expect("BUG: AtomicFile committed twice");
        file.flush()
            .and_then(|()| file.sync_all())
            .map_err(|e| self.error(e))?;
        drop(file);
        fs::rename(&self.temp, &self.target).map_err(|e| self.error(e))?;
        sync_dir_of(&self.target)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            // Not committed: the temporary file is garbage.
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Writes `bytes` to `target` atomically.
pub(super) fn write_atomically(target: &Path, bytes: &[u8]) -> Result<(), AuditError> {
    let mut atomic = AtomicFile::create(target)?;
    let result = atomic.file().write_all(bytes);
    result.map_err(|e| atomic.error(e))?;
    atomic.commit()
}

/// fsync of the directory holding `path`, so that a rename or unlink in it survives a crash.
pub(super) fn sync_dir_of(path: &Path) -> Result<(), AuditError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| AuditError::Deliver {
            path: dir.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_committed_file_appears_whole_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let target = tmp.path().join("a.json.gz");
        write_atomically(&target, b"hello").expect("write");
        assert_eq!(fs::read(&target).expect("read"), b"hello");
        let mode = fs::metadata(&target).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(fs::read_dir(tmp.path()).expect("ls").count(), 1);
    }

    #[test]
    fn an_abandoned_file_leaves_nothing() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let target = tmp.path().join("b.json.gz");
        let mut atomic = AtomicFile::create(&target).expect("create");
        atomic.file().write_all(b"half").expect("write");
        drop(atomic);
        assert_eq!(fs::read_dir(tmp.path()).expect("ls").count(), 0);
    }
}
