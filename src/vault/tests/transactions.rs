//! `atomically`, and several connections (threads and processes) sharing one vault.

use std::process::{Command, Stdio};
use std::thread;

use super::*;
use crate::vault::VaultError;

#[derive(Debug)]
struct Abort;

impl From<VaultError> for Abort {
    fn from(e: VaultError) -> Self {
        panic!("unexpected vault error: {e}")
    }
}

#[test]
fn atomically_commits_on_ok_and_rolls_back_on_error() {
    let (place, vault) = new_vault();
    let kept = key_record(at(0));
    let id = vault
        .atomically(|v| -> Result<_, VaultError> {
            v.insert_key(&kept)?;
            v.add_material(&kept.key_id, RotationType::Initial, at(0))
        })
        .unwrap();
    assert_eq!(id, 1);

    let dropped = key_record(at(1));
    let result: Result<(), Abort> = vault.atomically(|v| {
        v.insert_key(&dropped)?;
        v.add_material(&dropped.key_id, RotationType::Initial, at(1))?;
        v.destroy_material(&kept.key_id)?;
        Err(Abort)
    });
    assert!(result.is_err());
    assert_eq!(vault.key(&dropped.key_id).unwrap(), None);
    assert!(vault.versions(&dropped.key_id).unwrap().is_empty());
    assert!(vault.material(&kept.key_id, 1).is_ok());
    // Seen from another connection too: nothing of the failed transaction reached the file.
    let count: i64 = raw(&place.db)
        .query_row("SELECT count(*) FROM keys", [], |row| row.get(0))
        .unwrap();
    assert_eq!(count, 1);
    // The connection is usable afterwards.
    assert!(vault.atomically(|v| v.keys()).is_ok());
}

#[test]
fn atomically_rolls_back_when_the_closure_panics() {
    let (_place, vault) = new_vault();
    let record = key_record(at(0));
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _: Result<(), VaultError> = vault.atomically(|v| {
            v.insert_key(&record)?;
            panic!("closure failed");
        });
    }));
    assert!(panicked.is_err());
    assert_eq!(vault.key(&record.key_id).unwrap(), None);
    assert!(vault.atomically(|v| v.insert_key(&record)).is_ok());
}

#[test]
#[should_panic(expected = "BUG: Vault::atomically called inside a transaction")]
fn atomically_is_not_nestable() {
    let (_place, vault) = new_vault();
    let _: Result<(), VaultError> = vault.atomically(|v| v.atomically(|_| Ok(())));
}

/// Opens the vault at `db` and adds `count` keys, each with its material in one transaction.
fn add_keys(db: &std::path::Path, count: usize) {
    let vault = Vault::open(db, None).unwrap();
    for _ in 0..count {
        let record = key_record(Utc::now());
        vault
            .atomically(|v| {
                v.insert_key(&record)?;
                v.add_material(&record.key_id, RotationType::Initial, Utc::now())
            })
            .unwrap();
        // Readers between the writers.
        assert!(vault.material(&record.key_id, 1).is_ok());
    }
}

fn assert_keys_complete(vault: &Vault, expected: usize) {
    let keys = vault.keys().unwrap();
    assert_eq!(keys.len(), expected);
    for key in keys {
        assert_eq!(vault.newest_version(&key.key_id).unwrap(), 1);
        assert!(vault.material(&key.key_id, 1).is_ok());
    }
}

#[test]
fn concurrent_threads_share_the_vault() {
    let (place, vault) = new_vault();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let db = place.db.clone();
            thread::spawn(move || add_keys(&db, 25))
        })
        .collect();
    for t in threads {
        t.join().expect("a writer thread failed");
    }
    assert_keys_complete(&vault, 100);
}

const CHILD_DB_ENV: &str = "KMSFS_VAULT_TEST_CHILD_DB";

/// Not a test by itself: the body of each process in `concurrent_processes_share_the_vault`.
#[test]
#[ignore = "run as a child process by concurrent_processes_share_the_vault"]
fn child_process_adds_keys() {
    let db = std::env::var_os(CHILD_DB_ENV).expect("run by concurrent_processes_share_the_vault");
    add_keys(std::path::Path::new(&db), 25);
}

#[test]
fn concurrent_processes_share_the_vault() {
    let (place, vault) = new_vault();
    let test_binary = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            Command::new(&test_binary)
                .args([
                    "--exact",
                    "vault::tests::transactions::child_process_adds_keys",
                    "--ignored",
                    "--test-threads=1",
                ])
                .env(CHILD_DB_ENV, &place.db)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // This process writes too, while the children do.
    add_keys(&place.db, 25);
    for child in children {
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "child failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_keys_complete(&vault, 100);
}
