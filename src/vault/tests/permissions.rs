//! Vault files are created private, and files or a directory other users
//! could read or write are refused with the command that fixes them.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::*;
use crate::vault::{key_file_path, VaultError};

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn sidecar(db: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// Asserts that `err` refuses `path` at `found` mode with `fix`, in the documented words.
fn assert_insecure(err: Option<VaultError>, path: &Path, found: u32, fix_mode: &str) {
    let Some(err) = err else {
        panic!("{} with mode {found:o} was accepted", path.display())
    };
    let fix = format!("chmod {fix_mode} {}", path.display());
    assert!(
        matches!(&err, VaultError::InsecurePermissions { path: p, mode, fix: f }
            if p == path && *mode == found && *f == fix),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{} is readable or writable by other users (mode {found:04o}); fix it with: {fix}",
            path.display()
        )
    );
}

#[test]
fn init_creates_private_files() {
    let (place, vault) = new_vault();
    new_key(&vault);
    assert_eq!(mode(place.db.parent().unwrap()), 0o700);
    assert_eq!(mode(&place.db), 0o600);
    assert_eq!(mode(&key_file_path(&place.db)), 0o400);
    for suffix in ["-wal", "-shm"] {
        assert_eq!(mode(&sidecar(&place.db, suffix)), 0o600, "{suffix}");
    }
}

#[test]
fn a_shared_database_is_refused() {
    let (place, vault) = new_vault();
    drop(vault);
    chmod(&place.db, 0o644);
    assert_insecure(Vault::open(&place.db, None).err(), &place.db, 0o644, "600");
    assert_insecure(Vault::protection(&place.db).err(), &place.db, 0o644, "600");
    chmod(&place.db, 0o600);
    assert!(Vault::open(&place.db, None).is_ok());
}

#[test]
fn a_shared_wal_sidecar_is_refused() {
    let (place, vault) = new_vault();
    new_key(&vault);
    let wal = sidecar(&place.db, "-wal");
    chmod(&wal, 0o660);
    assert_insecure(Vault::open(&place.db, None).err(), &wal, 0o660, "600");
    chmod(&wal, 0o600);
    assert!(Vault::open(&place.db, None).is_ok());
}

#[test]
fn a_shared_key_file_is_refused() {
    let (place, vault) = new_vault();
    drop(vault);
    let key_file = key_file_path(&place.db);
    chmod(&key_file, 0o644);
    assert_insecure(Vault::open(&place.db, None).err(), &key_file, 0o644, "400");
    chmod(&key_file, 0o400);
    assert!(Vault::open(&place.db, None).is_ok());
}

#[test]
fn a_directory_others_can_write_is_refused() {
    let (place, vault) = new_vault();
    drop(vault);
    let dir = place.db.parent().unwrap();
    chmod(dir, 0o777);
    assert_insecure(Vault::open(&place.db, None).err(), dir, 0o777, "700");
    // Readable by others is fine: the files inside are private.
    chmod(dir, 0o755);
    assert!(Vault::open(&place.db, None).is_ok());

    let other = super::place();
    let other_dir = other.db.parent().unwrap();
    fs::create_dir(other_dir).unwrap();
    chmod(other_dir, 0o1777);
    let err = Vault::init(&other.db, RootKeySource::KeyFile, small_kdf()).err();
    assert_insecure(err, other_dir, 0o1777, "700");
    assert!(!other.db.exists());
    assert!(!key_file_path(&other.db).exists());
}

#[test]
fn the_fix_quotes_paths_the_shell_would_split() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("my vault").join("it's.db");
    Vault::init(&db, RootKeySource::KeyFile, small_kdf()).unwrap();
    chmod(&db, 0o640);
    let err = Vault::open(&db, None).err().unwrap();
    let quoted = format!("'{}'", db.display().to_string().replace('\'', r"'\''"));
    assert!(
        matches!(&err, VaultError::InsecurePermissions { fix, .. } if *fix == format!("chmod 600 {quoted}")),
        "{err:?}"
    );
}
