//! Key material at rest: versions, authentication of every stored row, and
//! erasure that leaves no trace of the sealed bytes in the files.

use std::fs;
use std::path::Path;

use super::*;
use crate::crypto::constant_time_eq;
use crate::vault::VaultError;

type Blob = Vec<u8>;

fn stored(db: &Path, key: &KeyId, version: u32) -> (Blob, Blob) {
    raw(db)
        .query_row(
            "SELECT nonce, sealed FROM key_material WHERE key_id = ?1 AND version = ?2",
            rusqlite::params![key.to_string(), version],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap()
}

fn store(db: &Path, key: &KeyId, version: u32, (nonce, sealed): &(Blob, Blob)) {
    let changed = raw(db)
        .execute(
            "UPDATE key_material SET nonce = ?3, sealed = ?4 WHERE key_id = ?1 AND version = ?2",
            rusqlite::params![key.to_string(), version, nonce, sealed],
        )
        .unwrap();
    assert_eq!(changed, 1);
}

fn assert_tampered(vault: &Vault, key: &KeyId, version: u32) {
    match vault.material(key, version) {
        Err(VaultError::Tampered { key_id, version: v }) => {
            assert_eq!((key_id, v), (*key, version))
        }
        Err(other) => panic!("expected Tampered, got {other:?}"),
        Ok(_) => panic!("tampered material {key} v{version} was accepted"),
    }
}

#[test]
fn versions_count_up_and_each_unseals_to_its_own_material() {
    let (_place, vault) = new_vault();
    let key = new_key(&vault);
    assert_eq!(
        vault
            .add_material(&key, RotationType::OnDemand, at(10))
            .unwrap(),
        2
    );
    assert_eq!(
        vault
            .add_material(&key, RotationType::Automatic, at(20))
            .unwrap(),
        3
    );
    assert_eq!(vault.newest_version(&key).unwrap(), 3);
    let versions = vault.versions(&key).unwrap();
    let summary: Vec<_> = versions
        .iter()
        .map(|v| (v.version, v.created, v.rotation, v.destroyed))
        .collect();
    assert_eq!(
        summary,
        [
            (1, at(0), RotationType::Initial, false),
            (2, at(10), RotationType::OnDemand, false),
            (3, at(20), RotationType::Automatic, false),
        ]
    );
    let v1 = vault.material(&key, 1).unwrap();
    let v2 = vault.material(&key, 2).unwrap();
    assert!(!constant_time_eq(v1.expose(), v2.expose()));
    // Another key's first version is other material too.
    let other = new_key(&vault);
    assert_eq!(vault.newest_version(&other).unwrap(), 1);
    let o1 = vault.material(&other, 1).unwrap();
    assert!(!constant_time_eq(v1.expose(), o1.expose()));
}

#[test]
fn missing_versions_and_keys_are_not_found() {
    let (_place, vault) = new_vault();
    let key = new_key(&vault);
    assert!(matches!(
        vault.material(&key, 2),
        Err(VaultError::NoSuchMaterial { version: 2, .. })
    ));
    let stranger = KeyId::new_random();
    assert!(matches!(
        vault.newest_version(&stranger),
        Err(VaultError::NoSuchMaterial { version: 0, .. })
    ));
    assert!(vault.versions(&stranger).unwrap().is_empty());
    // Material cannot be added to a key the vault does not hold.
    assert!(matches!(
        vault.add_material(&stranger, RotationType::Initial, at(0)),
        Err(VaultError::Sqlite(_))
    ));
}

#[test]
fn a_changed_byte_in_stored_material_is_tampering() {
    let (place, vault) = new_vault();
    let key = new_key(&vault);
    assert!(vault.material(&key, 1).is_ok());
    let original = stored(&place.db, &key, 1);
    for (in_nonce, index) in [(false, 0), (false, 47), (true, 0), (true, 11)] {
        let mut changed = original.clone();
        let blob = if in_nonce {
            &mut changed.0
        } else {
            &mut changed.1
        };
        blob[index] ^= 0x01;
        store(&place.db, &key, 1, &changed);
        assert_tampered(&vault, &key, 1);
    }
    let mut truncated = original.clone();
    truncated.1.pop();
    store(&place.db, &key, 1, &truncated);
    assert_tampered(&vault, &key, 1);
    let mut short_nonce = original.clone();
    short_nonce.0.pop();
    store(&place.db, &key, 1, &short_nonce);
    assert_tampered(&vault, &key, 1);
    // Putting the original back makes it whole again: the checks were about the bytes.
    store(&place.db, &key, 1, &original);
    assert!(vault.material(&key, 1).is_ok());
}

#[test]
fn material_swapped_between_keys_or_versions_is_tampering() {
    let (place, vault) = new_vault();
    let a = new_key(&vault);
    let b = new_key(&vault);
    vault
        .add_material(&a, RotationType::OnDemand, at(1))
        .unwrap();
    let (a1, a2, b1) = (
        stored(&place.db, &a, 1),
        stored(&place.db, &a, 2),
        stored(&place.db, &b, 1),
    );
    store(&place.db, &a, 1, &b1);
    store(&place.db, &b, 1, &a1);
    assert_tampered(&vault, &a, 1);
    assert_tampered(&vault, &b, 1);
    store(&place.db, &a, 1, &a2);
    store(&place.db, &a, 2, &a1);
    assert_tampered(&vault, &a, 1);
    assert_tampered(&vault, &a, 2);
    store(&place.db, &a, 1, &a1);
    store(&place.db, &a, 2, &a2);
    store(&place.db, &b, 1, &b1);
    for (key, version) in [(a, 1), (a, 2), (b, 1)] {
        assert!(vault.material(&key, version).is_ok());
    }
}

#[test]
fn destroyed_material_is_gone_but_its_versions_are_listed() {
    let (_place, vault) = new_vault();
    let key = new_key(&vault);
    let kept = new_key(&vault);
    vault
        .add_material(&key, RotationType::OnDemand, at(1))
        .unwrap();
    vault.destroy_material(&key).unwrap();
    for version in [1, 2] {
        assert!(matches!(
            vault.material(&key, version),
            Err(VaultError::Destroyed { key_id }) if key_id == key
        ));
    }
    assert!(vault.versions(&key).unwrap().iter().all(|v| v.destroyed));
    assert_eq!(vault.newest_version(&key).unwrap(), 2);
    // Other keys are untouched.
    assert!(vault.material(&kept, 1).is_ok());
    assert!(!vault.versions(&kept).unwrap()[0].destroyed);
}

/// Whether `needle` occurs in the database or either of its WAL sidecars.
fn vault_files_contain(db: &Path, needle: &[u8]) -> bool {
    ["", "-wal", "-shm"].iter().any(|suffix| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        fs::read(&name)
            .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
            .unwrap_or(false)
    })
}

fn checkpoint(db: &Path) {
    let busy: i64 = raw(db)
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
        .unwrap();
    assert_eq!(busy, 0);
}

#[test]
fn sqlite_secure_delete_leaves_no_sealed_bytes_in_the_files() {
    let (place, vault) = new_vault();
    // Enough keys to spread key_material over several b-tree pages, so that
    // erasure meets split pages and free blocks, not just the newest cell.
    let keys: Vec<KeyId> = (0..60)
        .map(|_| {
            let key = new_key(&vault);
            vault
                .add_material(&key, RotationType::OnDemand, at(1))
                .unwrap();
            key
        })
        .collect();
    let (destroyed, kept): (Vec<_>, Vec<_>) =
        keys.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let sealed_of = |keys: &[(usize, &KeyId)]| -> Vec<Blob> {
        keys.iter()
            .flat_map(|(_, key)| [1, 2].map(|version| stored(&place.db, key, version).1))
            .collect()
    };
    let (erased, kept) = (sealed_of(&destroyed), sealed_of(&kept));
    // Partner check: before erasure the sealed bytes are in the database file itself.
    checkpoint(&place.db);
    let db_bytes = fs::read(&place.db).unwrap();
    assert!(erased
        .iter()
        .all(|blob| db_bytes.windows(blob.len()).any(|w| w == blob)));

    for (_, key) in &destroyed {
        vault.destroy_material(key).unwrap();
    }
    checkpoint(&place.db);
    let left: Vec<_> = erased
        .iter()
        .filter(|blob| vault_files_contain(&place.db, blob))
        .collect();
    assert!(
        left.is_empty(),
        "{} of {} erased blobs are still in the files",
        left.len(),
        erased.len()
    );
    assert!(kept.iter().all(|blob| vault_files_contain(&place.db, blob)));
}

#[test]
fn destroying_inside_a_transaction_purges_the_wal_on_commit() {
    let (place, vault) = new_vault();
    let key = new_key(&vault);
    let sealed = stored(&place.db, &key, 1).1;
    assert!(vault_files_contain(&place.db, &sealed));
    vault
        .atomically(|v| {
            let mut record = v.key(&key)?.unwrap();
            record.state = crate::model::KeyState::Destroyed;
            v.update_key(&record)?;
            v.destroy_material(&key)
        })
        .unwrap();
    // No explicit checkpoint: the vault emptied its write-ahead log itself.
    assert!(!vault_files_contain(&place.db, &sealed));
}
