//! The digest signing key and the audit trail state kept in the vault.

use super::*;

#[test]
fn the_signing_seed_is_made_once_and_survives_reopening() {
    let (place, vault) = new_vault();
    let first = vault.digest_signing_seed().unwrap();
    let again = vault.digest_signing_seed().unwrap();
    assert_eq!(first.expose(), again.expose());
    drop(vault);
    let reopened = Vault::open(&place.db, None).unwrap();
    assert_eq!(
        reopened.digest_signing_seed().unwrap().expose(),
        first.expose()
    );
    // Sealed at rest: the seed's bytes are nowhere in the database file.
    let raw = raw(&place.db);
    let sealed: Vec<u8> = raw
        .query_row("SELECT signing_sealed FROM audit_trail", [], |r| r.get(0))
        .unwrap();
    assert!(!sealed.windows(32).any(|w| w == first.expose()));
}

#[test]
fn a_changed_byte_in_the_sealed_seed_is_refused() {
    let (place, vault) = new_vault();
    vault.digest_signing_seed().unwrap();
    let raw = raw(&place.db);
    let mut sealed: Vec<u8> = raw
        .query_row("SELECT signing_sealed FROM audit_trail", [], |r| r.get(0))
        .unwrap();
    sealed[3] ^= 1;
    raw.execute("UPDATE audit_trail SET signing_sealed = ?1", [sealed])
        .unwrap();
    let error = match vault.digest_signing_seed() {
        Ok(_) => panic!("a tampered seed was accepted"),
        Err(error) => error,
    };
    assert!(
        error.to_string().contains("does not authenticate"),
        "{error}"
    );
}

#[test]
fn the_trail_state_round_trips() {
    let (_place, vault) = new_vault();
    assert_eq!(vault.audit_trail_state().unwrap(), None);
    vault.set_audit_trail_state("{\"a\":1}").unwrap();
    assert_eq!(
        vault.audit_trail_state().unwrap().as_deref(),
        Some("{\"a\":1}")
    );
    vault.set_audit_trail_state("{\"a\":2}").unwrap();
    assert_eq!(
        vault.audit_trail_state().unwrap().as_deref(),
        Some("{\"a\":2}")
    );
}

#[test]
fn a_version_1_vault_is_migrated_to_hold_the_audit_trail() {
    let (place, vault) = new_vault();
    drop(vault);
    let raw = raw(&place.db);
    raw.execute_batch("DROP TABLE audit_trail; PRAGMA user_version = 1;")
        .unwrap();
    let vault = Vault::open(&place.db, None).unwrap();
    vault.digest_signing_seed().unwrap();
    let version: u32 = raw
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);
}
