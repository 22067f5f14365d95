//! A tampered vault is one clear error line through the real binary, never a wrong key.

mod common;

use common::{s, Sandbox};

fn sandbox_with_two_keys() -> (Sandbox, std::path::PathBuf) {
    let sb = Sandbox::initialized();
    sb.ok(&["key", "create", "--alias", "alias/a"]);
    sb.ok(&["key", "create", "--alias", "alias/b"]);
    let plain = sb.write("p", b"attack at dawn");
    let blob = sb.path("blob");
    sb.ok(&[
        "encrypt",
        "--key-id",
        "alias/a",
        "--plaintext-file",
        s(&plain),
        "--output-file",
        s(&blob),
    ]);
    (sb, blob)
}

fn sql(sb: &Sandbox, statement: &str) {
    let conn = rusqlite::Connection::open(sb.vault()).unwrap();
    conn.execute_batch(statement).unwrap();
}

#[test]
fn a_changed_byte_in_stored_material_is_refused() {
    let (sb, blob) = sandbox_with_two_keys();
    // Flip one bit of the first key's sealed material.
    let conn = rusqlite::Connection::open(sb.vault()).unwrap();
    let (key_id, mut sealed): (String, Vec<u8>) = conn
        .query_row(
            "SELECT key_id, sealed FROM key_material ORDER BY rowid LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    sealed[3] ^= 0x10;
    conn.execute(
        "UPDATE key_material SET sealed = ?1 WHERE key_id = ?2",
        rusqlite::params![sealed, key_id],
    )
    .unwrap();
    drop(conn);
    let line = sb.fails(
        &["decrypt", "--ciphertext-file", s(&blob)],
        1,
        "KMSInternalException",
    );
    assert!(
        line.contains("tamper")
            || line.contains("modified")
            || line.contains("failed authentication"),
        "{line}"
    );
}

#[test]
fn material_swapped_between_keys_is_refused() {
    let (sb, blob) = sandbox_with_two_keys();
    sql(
        &sb,
        "CREATE TEMP TABLE m AS SELECT key_id, nonce, sealed FROM key_material;
         UPDATE key_material SET nonce = (SELECT nonce FROM m WHERE m.key_id != key_material.key_id),
                                 sealed = (SELECT sealed FROM m WHERE m.key_id != key_material.key_id);",
    );
    sb.fails(
        &["decrypt", "--ciphertext-file", s(&blob)],
        1,
        "KMSInternalException",
    );
    let plain = sb.write("q", b"x");
    sb.fails(
        &[
            "encrypt",
            "--key-id",
            "alias/b",
            "--plaintext-file",
            s(&plain),
        ],
        1,
        "KMSInternalException",
    );
}

#[test]
fn a_wrong_key_file_is_refused() {
    let (sb, blob) = sandbox_with_two_keys();
    let key_file = sb.dir.path().join("vault/vault.key");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&key_file, [7u8; 32]).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o400)).unwrap();
    let line = sb.fails(&["decrypt", "--ciphertext-file", s(&blob)], 3, "key file");
    assert!(
        line.contains(s(&key_file)) || line.contains("does not"),
        "{line}"
    );
}
