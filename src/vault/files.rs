//! The vault's files on disk: where they live, creating them private from their
//! first byte, and refusing ones that other users could read or write. Knows
//! nothing of SQLite beyond the names of its WAL sidecar files.

use std::ffi::OsString;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::crypto::{RootKey, SecretBytes};

use super::VaultError;

/// The key file of a vault protected by one: the database path with its
/// extension replaced by `.key` (`/var/lib/kmsfs/vault.db` -> `/var/lib/kmsfs/vault.key`).
pub fn key_file_path(db: &Path) -> PathBuf {
    db.with_extension("key")
}

/// The directory holding the vault (`.` for a bare file name).
pub(super) fn vault_dir(db: &Path) -> &Path {
    match db.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// The files SQLite keeps beside the database in WAL mode.
fn wal_sidecars(db: &Path) -> [PathBuf; 2] {
    ["-wal", "-shm"].map(|suffix| {
        let mut name = OsString::from(db.as_os_str());
        name.push(suffix);
        PathBuf::from(name)
    })
}

/// Whether anything (even a dangling symlink) is at `path`.
pub(super) fn exists(path: &Path) -> Result<bool, VaultError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(VaultError::io(path)(e)),
    }
}

/// Refuses the vault directory, the database and its sidecars if other users
/// could read or write them.
pub(super) fn check_vault_files(db: &Path) -> Result<(), VaultError> {
    check_dir(vault_dir(db))?;
    check_private_file(db, 0o600)?;
    for sidecar in wal_sidecars(db) {
        match check_private_file(&sidecar, 0o600) {
            // Absent, or removed meanwhile by the last connection of another process closing.
            Err(VaultError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(())
}

/// A directory other users can write to would let them replace the vault's files.
pub(super) fn check_dir(dir: &Path) -> Result<(), VaultError> {
    let mode = mode_of(dir)?;
    if mode & 0o022 != 0 {
        return Err(insecure(dir, mode, 0o700));
    }
    Ok(())
}

/// Refuses a file with any group or other permission bit; `fix_mode` is what to chmod it to.
fn check_private_file(path: &Path, fix_mode: u32) -> Result<(), VaultError> {
    let mode = mode_of(path)?;
    if mode & 0o077 != 0 {
        return Err(insecure(path, mode, fix_mode));
    }
    Ok(())
}

fn mode_of(path: &Path) -> Result<u32, VaultError> {
    let metadata = fs::metadata(path).map_err(VaultError::io(path))?;
    Ok(metadata.permissions().mode() & 0o7777)
}

fn insecure(path: &Path, mode: u32, fix_mode: u32) -> VaultError {
    VaultError::InsecurePermissions {
        path: path.to_path_buf(),
        mode,
        fix: format!("chmod {fix_mode:o} {}", shell_quoted(path)),
    }
}

/// `path` as one shell word, so that the printed fix can be pasted.
fn shell_quoted(path: &Path) -> String {
    let text = path.to_string_lossy();
    let plain = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%".contains(c));
    if plain {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Creates the vault directory (and missing parents) with mode 0700.
pub(super) fn create_dir(dir: &Path) -> Result<(), VaultError> {
    if exists(dir)? {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(VaultError::io(dir))
}

/// Creates the empty database file, mode 0600, refusing to replace anything.
pub(super) fn create_db_file(db: &Path) -> Result<(), VaultError> {
    create_new(db, 0o600).map(drop)
}

/// Creates the key file, mode 0400, holding 32 fresh random bytes: the root key.
pub(super) fn create_key_file(path: &Path) -> Result<RootKey, VaultError> {
    let bytes = SecretBytes::random(RootKey::LEN)?;
    let mut file = create_new(path, 0o400)?;
    file.write_all(bytes.expose())
        .and_then(|()| file.sync_all())
        .map_err(VaultError::io(path))?;
    Ok(RootKey::from_slice(bytes.expose())?)
}

/// `open(O_CREAT|O_EXCL)` with `mode`: the file is never readable by others, not even briefly.
fn create_new(path: &Path, mode: u32) -> Result<File, VaultError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| match e.kind() {
            ErrorKind::AlreadyExists => VaultError::AlreadyExists(path.to_path_buf()),
            _ => VaultError::io(path)(e),
        })
}

/// Reads the root key from the key file, refusing a missing or non-private one.
pub(super) fn read_key_file(path: &Path) -> Result<RootKey, VaultError> {
    if !exists(path)? {
        return Err(VaultError::KeyFileMissing(path.to_path_buf()));
    }
    check_private_file(path, 0o400)?;
    let file = File::open(path).map_err(VaultError::io(path))?;
    // Capacity for one byte more than a key, so that the buffer never reallocates
    // (leaving a copy behind) and an over-long file is noticed.
    let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(RootKey::LEN + 1));
    file.take(RootKey::LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(VaultError::io(path))?;
    RootKey::from_slice(&bytes).map_err(|_| VaultError::WrongKeyFile)
}

/// Makes the directory entries created in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), VaultError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(VaultError::io(dir))
}

/// Removes the files a failed `init` created, unless `keep` is called.
pub(super) struct CreatedFiles(Vec<PathBuf>);

impl CreatedFiles {
    pub(super) fn new() -> Self {
        CreatedFiles(Vec::new())
    }

    /// Records `path`, and the WAL sidecars SQLite may create beside it.
    pub(super) fn push_db(&mut self, db: &Path) {
        self.0.push(db.to_path_buf());
        self.0.extend(wal_sidecars(db));
    }

    pub(super) fn push(&mut self, path: &Path) {
        self.0.push(path.to_path_buf());
    }

    pub(super) fn keep(mut self) {
        self.0.clear();
    }
}

impl Drop for CreatedFiles {
    fn drop(&mut self) {
        for path in &self.0 {
            // Best effort: the error that made init fail is the one to report.
            let _ = fs::remove_file(path);
        }
    }
}

/// Sets the process umask to 0o077 until dropped, so that nothing SQLite or
/// the OS creates meanwhile is readable by others. The umask is per process:
/// other threads creating files at the same time get private files too.
pub(super) struct PrivateUmask(libc::mode_t);

impl PrivateUmask {
    pub(super) fn set() -> Self {
        // SAFETY: umask(2) only swaps an integer in the process; it cannot fail.
        PrivateUmask(unsafe { libc::umask(0o077) })
    }
}

impl Drop for PrivateUmask {
    fn drop(&mut self) {
        // SAFETY: as in `set`.
        unsafe { libc::umask(self.0) };
    }
}
