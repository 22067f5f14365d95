//! `kmsfs vault passwd` and `kmsfs vault backup` through the real binary:
//! key file to passphrase, passphrase to passphrase, back to a key file; each
//! time the old secret is refused, the new one accepted, blobs made before
//! still decrypt and the audit trail (signed by a re-sealed key) verifies.
//! An interrupted key file change is finished by the next open. A backup
//! opens (with the key file copied beside it by hand) and is mode 0600.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{s, Sandbox};

/// Encrypts a small plaintext under a new key; returns the blob file.
fn blob(sb: &Sandbox) -> std::path::PathBuf {
    sb.ok(&["key", "create", "--alias", "alias/kept"]);
    let plain = sb.write("plain.txt", b"still here\n");
    let blob = sb.path("blob.bin");
    sb.ok(&[
        "encrypt",
        "--key-id",
        "alias/kept",
        "--plaintext-file",
        s(&plain),
        "--output-file",
        s(&blob),
    ]);
    blob
}

/// Decrypts the blob with `extra` global flags; its exit code and stderr.
fn decrypt(sb: &Sandbox, vault: &Path, blob: &Path, extra: &[&str]) -> (i32, String) {
    let out_file = sb.path("decrypted.txt");
    let _ = std::fs::remove_file(&out_file);
    let mut args: Vec<&str> = extra.to_vec();
    args.extend([
        "decrypt",
        "--ciphertext-file",
        s(blob),
        "--output-file",
        s(&out_file),
    ]);
    let out = sb
        .command()
        .env("KMSFS_VAULT", vault)
        .args(&args)
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    if code == 0 {
        assert_eq!(std::fs::read(&out_file).unwrap(), b"still here\n");
    }
    (code, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn audit_verifies(sb: &Sandbox, extra: &[&str]) {
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(["audit", "flush", "--digest"]);
    sb.ok(&args);
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(["--output", "json", "audit", "verify"]);
    let verified: serde_json::Value = serde_json::from_str(&sb.ok(&args)).unwrap();
    assert_eq!(verified["Valid"], true, "{verified:#}");
}

#[test]
fn passwd_switches_and_changes_the_root_key() {
    let sb = Sandbox::initialized();
    let vault = sb.vault();
    let blob = blob(&sb);
    audit_verifies(&sb, &[]);
    let key_file = sb.path("vault/vault.key");
    let old_key_file = std::fs::read(&key_file).unwrap();
    let p1 = sb.write("p1", b"first passphrase\n");
    let p2 = sb.write("p2", b"second passphrase\n");

    // Key file -> passphrase: the key file is gone and no longer needed.
    sb.ok(&[
        "vault",
        "passwd",
        "--to-passphrase",
        "--new-passphrase-file",
        s(&p1),
    ]);
    assert!(!key_file.exists());
    let with_p1 = ["--passphrase-file", s(&p1)];
    assert_eq!(decrypt(&sb, &vault, &blob, &with_p1).0, 0);
    // The old key file, put back, does not open it.
    std::fs::write(&key_file, &old_key_file).unwrap();
    std::fs::set_permissions(&key_file, PermissionsExt::from_mode(0o400)).unwrap();
    let (code, stderr) = decrypt(&sb, &vault, &blob, &["--passphrase-file", s(&p2)]);
    assert_ne!(code, 0);
    assert!(stderr.contains("wrong passphrase"), "{stderr}");
    std::fs::remove_file(&key_file).unwrap();
    audit_verifies(&sb, &with_p1);

    // Passphrase -> passphrase: the first is refused, the second accepted.
    sb.ok(&[
        "--passphrase-file",
        s(&p1),
        "vault",
        "passwd",
        "--new-passphrase-file",
        s(&p2),
    ]);
    let (code, stderr) = decrypt(&sb, &vault, &blob, &with_p1);
    assert_ne!(code, 0);
    assert!(stderr.contains("wrong passphrase"), "{stderr}");
    let with_p2 = ["--passphrase-file", s(&p2)];
    assert_eq!(decrypt(&sb, &vault, &blob, &with_p2).0, 0);
    audit_verifies(&sb, &with_p2);

    // Passphrase -> key file: no passphrase needed, a new key file.
    sb.ok(&[
        "--passphrase-file",
        s(&p2),
        "vault",
        "passwd",
        "--to-key-file",
    ]);
    let new_key_file = std::fs::read(&key_file).unwrap();
    assert_ne!(new_key_file, old_key_file);
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o400
    );
    assert_eq!(decrypt(&sb, &vault, &blob, &[]).0, 0);
    audit_verifies(&sb, &[]);

    // Each change is one record naming what it changed from and to, never a secret.
    let found = sb.json(&["audit", "lookup", "--event-name", "ChangeVaultRootKey"]);
    let mut changes: Vec<(String, String)> = found["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["readOnly"], false);
            assert_eq!(r["userIdentity"]["uid"], kmsfs::sys::effective_uid());
            let p = &r["requestParameters"];
            (p["from"].to_string(), p["to"].to_string())
        })
        .collect();
    changes.reverse(); // lookup lists the newest first
    let expected: Vec<(String, String)> = [
        ("KeyFile", "Passphrase"),
        ("Passphrase", "Passphrase"),
        ("Passphrase", "KeyFile"),
    ]
    .iter()
    .map(|(from, to)| (format!("\"{from}\""), format!("\"{to}\"")))
    .collect();
    assert_eq!(changes, expected);
    assert!(!found.to_string().contains("passphrase\\n"));

    // Key file -> key file, interrupted after the commit: the old key file is
    // still in place and the new one waits beside it; the next open finishes.
    sb.ok(&["vault", "passwd"]);
    let newest = std::fs::read(&key_file).unwrap();
    assert_ne!(newest, new_key_file);
    let pending = sb.path("vault/vault.key.new");
    std::fs::rename(&key_file, &pending).unwrap();
    std::fs::write(&key_file, &new_key_file).unwrap();
    std::fs::set_permissions(&key_file, PermissionsExt::from_mode(0o400)).unwrap();
    assert_eq!(decrypt(&sb, &vault, &blob, &[]).0, 0);
    assert_eq!(std::fs::read(&key_file).unwrap(), newest);
    assert!(!pending.exists());
    // Its partner: a stray key file that unlocks nothing is not taken.
    std::fs::write(&pending, &old_key_file).unwrap();
    std::fs::set_permissions(&pending, PermissionsExt::from_mode(0o400)).unwrap();
    std::fs::write(&key_file, [7u8; 32]).unwrap_or_else(|_| {
        std::fs::remove_file(&key_file).unwrap();
        std::fs::write(&key_file, [7u8; 32]).unwrap();
    });
    std::fs::set_permissions(&key_file, PermissionsExt::from_mode(0o400)).unwrap();
    let (code, stderr) = decrypt(&sb, &vault, &blob, &[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("wrong key file"), "{stderr}");
}

#[test]
fn backup_is_a_private_working_copy_without_the_key_file() {
    let sb = Sandbox::initialized();
    let blob = blob(&sb);
    let backup_dir = sb.path("backup");
    std::fs::create_dir(&backup_dir).unwrap();
    std::fs::set_permissions(&backup_dir, PermissionsExt::from_mode(0o700)).unwrap();
    let backup = backup_dir.join("vault.db");
    let out = sb.json(&["vault", "backup", s(&backup)]);
    assert!(out["KeyFileNotCopied"]
        .as_str()
        .unwrap()
        .ends_with("vault.key"));
    assert_eq!(
        std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!backup_dir.join("vault.key").exists());
    // Without the key file it does not open; with a copy of it, it works.
    let (code, stderr) = decrypt(&sb, &backup, &blob, &[]);
    assert_ne!(code, 0, "{stderr}");
    std::fs::copy(sb.path("vault/vault.key"), backup_dir.join("vault.key")).unwrap();
    assert_eq!(decrypt(&sb, &backup, &blob, &[]).0, 0);
    let backups = sb.json(&["audit", "lookup", "--event-name", "BackupVault"])["Events"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(backups.len(), 1);
    assert_eq!(backups[0]["requestParameters"]["destination"], s(&backup));
    assert_eq!(backups[0]["readOnly"], true);
    // It never replaces a file.
    let out = sb.run(&["vault", "backup", s(&backup)]);
    assert_ne!(out.status.code(), Some(0));
}
