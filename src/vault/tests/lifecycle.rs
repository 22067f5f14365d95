//! init and open: both protections, refusals, wrong keys, schema versions.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::*;
use crate::crypto::{constant_time_eq, SecretBytes};
use crate::vault::{key_file_path, Protection, VaultError};

fn passphrase(text: &str) -> SecretBytes {
    SecretBytes::new(text.as_bytes().to_vec())
}

fn assert_same_info(a: &Vault, b: &Vault) {
    let (a, b) = (a.info(), b.info());
    assert_eq!(a.vault_id, b.vault_id);
    assert_eq!(a.account_id, b.account_id);
    assert_eq!(a.owner_uid, b.owner_uid);
    assert_eq!(a.protection, b.protection);
    assert_eq!(a.created, b.created);
}

#[test]
fn key_file_vault_round_trip() {
    let (place, vault) = new_vault();
    let info = vault.info().clone();
    assert_eq!(info.protection, Protection::KeyFile);
    assert_eq!(info.account_id.len(), 12);
    assert!(info.account_id.bytes().all(|b| b.is_ascii_digit()));
    assert!(uuid::Uuid::parse_str(&info.vault_id).is_ok());
    let this_process_file = tempfile::NamedTempFile::new().unwrap();
    assert_eq!(
        info.owner_uid,
        this_process_file.as_file().metadata().unwrap().uid()
    );
    assert_eq!(vault.db_path(), place.db);
    assert_eq!(
        key_file_path(&place.db),
        place.db.with_file_name("vault.key")
    );
    assert_eq!(fs::metadata(key_file_path(&place.db)).unwrap().len(), 32);
    let key = new_key(&vault);
    let material = vault.material(&key, 1).unwrap();

    assert_eq!(Vault::protection(&place.db).unwrap(), Protection::KeyFile);
    // A passphrase given for a key-file vault is ignored.
    let reopened = Vault::open(&place.db, Some(passphrase("ignored"))).unwrap();
    assert_same_info(&vault, &reopened);
    let again = reopened.material(&key, 1).unwrap();
    assert!(constant_time_eq(material.expose(), again.expose()));
}

#[test]
fn two_vaults_get_different_identities_and_root_keys() {
    let (_a_place, a) = new_vault();
    let (_b_place, b) = new_vault();
    assert_ne!(a.info().vault_id, b.info().vault_id);
    assert_ne!(a.info().account_id, b.info().account_id);
    assert!(!constant_time_eq(a.root.expose(), b.root.expose()));
}

#[test]
fn passphrase_vault_round_trip() {
    let place = place();
    let vault = Vault::init(
        &place.db,
        RootKeySource::Passphrase(passphrase("correct horse")),
        small_kdf(),
    )
    .unwrap();
    assert_eq!(vault.info().protection, Protection::Passphrase);
    assert!(!key_file_path(&place.db).exists());
    let key = new_key(&vault);
    let material = vault.material(&key, 1).unwrap();

    assert_eq!(
        Vault::protection(&place.db).unwrap(),
        Protection::Passphrase
    );
    let reopened = Vault::open(&place.db, Some(passphrase("correct horse"))).unwrap();
    assert_same_info(&vault, &reopened);
    let again = reopened.material(&key, 1).unwrap();
    assert!(constant_time_eq(material.expose(), again.expose()));
}

#[test]
fn wrong_or_missing_passphrase_is_refused() {
    let place = place();
    Vault::init(
        &place.db,
        RootKeySource::Passphrase(passphrase("correct horse")),
        small_kdf(),
    )
    .unwrap();
    let wrong = Vault::open(&place.db, Some(passphrase("correct horsE"))).err();
    assert!(
        matches!(wrong, Some(VaultError::WrongPassphrase)),
        "{wrong:?}"
    );
    let none = Vault::open(&place.db, None).err();
    assert!(
        matches!(none, Some(VaultError::PassphraseRequired)),
        "{none:?}"
    );
}

#[test]
fn init_never_overwrites_a_vault() {
    let (place, vault) = new_vault();
    let key = new_key(&vault);
    let key_file = fs::read(key_file_path(&place.db)).unwrap();
    for source in [
        RootKeySource::KeyFile,
        RootKeySource::Passphrase(passphrase("x")),
    ] {
        let err = Vault::init(&place.db, source, small_kdf()).err().unwrap();
        assert!(matches!(&err, VaultError::AlreadyExists(p) if *p == place.db));
        assert_eq!(
            err.to_string(),
            format!(
                "a vault already exists at {}; kmsfs init never overwrites one",
                place.db.display()
            )
        );
    }
    assert_eq!(fs::read(key_file_path(&place.db)).unwrap(), key_file);
    let reopened = Vault::open(&place.db, None).unwrap();
    assert!(reopened.key(&key).unwrap().is_some());
}

#[test]
fn init_never_overwrites_a_key_file() {
    let place = place();
    let key_path = key_file_path(&place.db);
    fs::create_dir(place.db.parent().unwrap()).unwrap();
    fs::write(&key_path, [7u8; 32]).unwrap();
    let err = Vault::init(&place.db, RootKeySource::KeyFile, small_kdf())
        .err()
        .unwrap();
    assert!(matches!(&err, VaultError::AlreadyExists(p) if *p == key_path));
    assert_eq!(fs::read(&key_path).unwrap(), [7u8; 32]);
    assert!(!place.db.exists());
}

#[test]
fn failed_init_leaves_nothing_behind() {
    let place = place();
    fs::create_dir(place.db.parent().unwrap()).unwrap();
    // SQLite cannot create its write-ahead log where a directory stands.
    fs::create_dir(place.db.with_file_name("vault.db-wal")).unwrap();
    assert!(Vault::init(&place.db, RootKeySource::KeyFile, small_kdf()).is_err());
    assert!(!place.db.exists());
    assert!(!key_file_path(&place.db).exists());

    // Bad KDF parameters fail before anything is created.
    let place = super::place();
    let bad_kdf = KdfParams {
        memory_kib: 0,
        ..small_kdf()
    };
    let err = Vault::init(
        &place.db,
        RootKeySource::Passphrase(passphrase("x")),
        bad_kdf,
    );
    assert!(matches!(err.err(), Some(VaultError::Crypto(_))));
    assert!(!place.db.exists());
}

#[test]
fn a_missing_vault_says_how_to_create_one() {
    let place = place();
    for err in [
        Vault::open(&place.db, None).err().unwrap(),
        Vault::protection(&place.db).err().unwrap(),
    ] {
        assert!(matches!(&err, VaultError::NotFound(p) if *p == place.db));
        assert_eq!(
            err.to_string(),
            format!(
                "no vault at {}: create one with 'kmsfs init' (or choose another with --vault or KMSFS_VAULT)",
                place.db.display()
            )
        );
    }
}

fn replace_key_file(place: &Place, bytes: &[u8]) {
    let path = key_file_path(&place.db);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(&path, bytes).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
}

#[test]
fn a_wrong_key_file_is_told_apart_from_tampering() {
    let (place, vault) = new_vault();
    new_key(&vault);
    drop(vault);
    replace_key_file(&place, &[0x42; 32]);
    let err = Vault::open(&place.db, None).err();
    assert!(matches!(err, Some(VaultError::WrongKeyFile)), "{err:?}");
    replace_key_file(&place, &[0x42; 31]);
    let err = Vault::open(&place.db, None).err();
    assert!(matches!(err, Some(VaultError::WrongKeyFile)), "{err:?}");
}

#[test]
fn a_missing_key_file_is_named() {
    let (place, vault) = new_vault();
    drop(vault);
    let key_path = key_file_path(&place.db);
    fs::remove_file(&key_path).unwrap();
    let err = Vault::open(&place.db, None).err().unwrap();
    assert!(matches!(&err, VaultError::KeyFileMissing(p) if *p == key_path));
    assert!(err.to_string().contains(&key_path.display().to_string()));
    // Knowing how to unlock needs no key file.
    assert_eq!(Vault::protection(&place.db).unwrap(), Protection::KeyFile);
}

#[test]
fn a_newer_schema_is_refused() {
    let (place, vault) = new_vault();
    drop(vault);
    raw(&place.db)
        .pragma_update(None, "user_version", 7)
        .unwrap();
    for err in [
        Vault::open(&place.db, None).err().unwrap(),
        Vault::protection(&place.db).err().unwrap(),
    ] {
        assert!(matches!(
            err,
            VaultError::NewerSchema {
                found: 7,
                supported: 2
            }
        ));
        assert_eq!(
            err.to_string(),
            "vault schema version 7 is newer than this kmsfs supports (2); upgrade kmsfs"
        );
    }
}

#[test]
fn a_database_that_is_not_a_vault_is_refused() {
    let place = place();
    fs::create_dir(place.db.parent().unwrap()).unwrap();
    raw(&place.db).execute_batch("CREATE TABLE t (x)").unwrap();
    fs::set_permissions(&place.db, fs::Permissions::from_mode(0o600)).unwrap();
    let err = Vault::open(&place.db, None).err();
    assert!(
        matches!(&err, Some(VaultError::Corrupt(m)) if m.contains("not a kmsfs vault")),
        "{err:?}"
    );
}

#[test]
fn bad_metadata_is_corrupt_not_a_panic() {
    let (place, vault) = new_vault();
    drop(vault);
    let conn = raw(&place.db);
    conn.execute("UPDATE meta SET protection = 'CARRIER_PIGEON'", [])
        .unwrap();
    let err = Vault::open(&place.db, None).err();
    assert!(
        matches!(&err, Some(VaultError::Corrupt(m)) if m.contains("meta") && m.contains("protection")),
        "{err:?}"
    );
    conn.execute(
        "UPDATE meta SET protection = 'KEY_FILE', account_id = 'acme'",
        [],
    )
    .unwrap();
    let err = Vault::open(&place.db, None).err();
    assert!(
        matches!(&err, Some(VaultError::Corrupt(m)) if m.contains("account_id")),
        "{err:?}"
    );
    conn.execute("DELETE FROM meta", []).unwrap();
    let err = Vault::open(&place.db, None).err();
    assert!(matches!(err, Some(VaultError::Corrupt(_))), "{err:?}");
}

#[test]
fn connections_run_with_the_vault_settings() {
    let (place, vault) = new_vault();
    drop(vault);
    let vault = Vault::open(&place.db, None).unwrap();
    let pragma = |name: &str| -> String {
        vault
            .conn
            .query_row(&format!("PRAGMA {name}"), [], |row| {
                row.get::<_, rusqlite::types::Value>(0)
            })
            .map(|value| match value {
                rusqlite::types::Value::Integer(n) => n.to_string(),
                rusqlite::types::Value::Text(t) => t,
                other => format!("{other:?}"),
            })
            .unwrap()
    };
    assert_eq!(pragma("journal_mode"), "wal");
    assert_eq!(pragma("secure_delete"), "1");
    assert_eq!(pragma("foreign_keys"), "1");
    assert_eq!(pragma("busy_timeout"), "10000");
    assert_eq!(pragma("user_version"), "2");
}
