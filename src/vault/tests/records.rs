//! Keys, aliases, policies and grants: round trips, ordering, uniqueness, and
//! rows that do not parse.

use super::*;
use crate::model::{AliasName, EncryptionContext};
use crate::vault::{AliasRecord, GrantRecord, VaultError};

fn assert_corrupt<T: std::fmt::Debug>(result: Result<T, VaultError>, table: &str, column: &str) {
    match result {
        Err(VaultError::Corrupt(message)) => assert!(
            message.contains(table) && message.contains(column),
            "{message}"
        ),
        other => panic!("expected Corrupt naming {table}.{column}, got {other:?}"),
    }
}

#[test]
fn keys_round_trip_in_creation_order() {
    let (_place, vault) = new_vault();
    let records = [key_record(at(30)), key_record(at(10)), key_record(at(20))];
    for record in &records {
        vault.insert_key(record).unwrap();
    }
    assert_eq!(
        vault.key(&records[0].key_id).unwrap().as_ref(),
        Some(&records[0])
    );
    let listed = vault.keys().unwrap();
    assert_eq!(
        listed,
        [records[1].clone(), records[2].clone(), records[0].clone()]
    );
    assert_eq!(vault.key(&KeyId::new_random()).unwrap(), None);
    assert!(
        vault.insert_key(&records[0]).is_err(),
        "duplicate key id accepted"
    );
}

#[test]
fn update_key_writes_state_dates_and_rotation() {
    let (_place, vault) = new_vault();
    let mut record = key_record(at(0));
    vault.insert_key(&record).unwrap();
    record.description = "renamed".into();
    record.state = KeyState::PendingDeletion;
    record.deletion_date = Some(at(7 * 86_400));
    record.rotation_enabled = true;
    record.rotation_period_days = 90;
    record.next_rotation_date = Some(at(90 * 86_400));
    vault.update_key(&record).unwrap();
    assert_eq!(vault.key(&record.key_id).unwrap(), Some(record.clone()));

    // The creation date is fixed at insertion.
    let mut moved = record.clone();
    moved.creation_date = at(5);
    vault.update_key(&moved).unwrap();
    assert_eq!(vault.key(&record.key_id).unwrap(), Some(record));

    let stranger = key_record(at(0));
    assert!(matches!(
        vault.update_key(&stranger),
        Err(VaultError::Sqlite(rusqlite::Error::QueryReturnedNoRows))
    ));
}

#[test]
fn unparseable_key_rows_are_corrupt_naming_table_and_column() {
    let (place, vault) = new_vault();
    let key = new_key(&vault);
    let conn = raw(&place.db);
    let set = |assignment: &str| {
        conn.execute(&format!("UPDATE keys SET {assignment}"), [])
            .unwrap();
    };
    set("state = 'Sleeping'");
    assert_corrupt(vault.key(&key), "keys", "state");
    assert_corrupt(vault.keys(), "keys", "state");
    set("state = 'Enabled', deletion_date = 'next tuesday'");
    assert_corrupt(vault.key(&key), "keys", "deletion_date");
    set("deletion_date = NULL, rotation_period_days = -1");
    assert_corrupt(vault.key(&key), "keys", "rotation_period_days");
    set("rotation_period_days = 365");
    assert!(vault.key(&key).unwrap().is_some());
    conn.execute("UPDATE key_material SET rotation = 'WHENEVER'", [])
        .unwrap();
    assert_corrupt(vault.versions(&key), "key_material", "rotation");
    conn.execute("PRAGMA foreign_keys = OFF", []).unwrap();
    set("key_id = 'not-a-uuid'");
    assert_corrupt(vault.keys(), "keys", "key_id");
}

fn alias(name: &str, key: KeyId, secs: i64) -> AliasRecord {
    AliasRecord {
        name: name.parse().unwrap(),
        key_id: key,
        creation_date: at(secs),
        last_updated_date: at(secs),
    }
}

#[test]
fn aliases_are_unique_sorted_and_movable() {
    let (_place, vault) = new_vault();
    let (a, b) = (new_key(&vault), new_key(&vault));
    let first = alias("alias/zeta", a, 1);
    vault.insert_alias(&first).unwrap();
    vault.insert_alias(&alias("alias/alpha", a, 2)).unwrap();
    vault.insert_alias(&alias("alias/mid", b, 3)).unwrap();

    let taken = vault.insert_alias(&alias("alias/zeta", b, 4)).err();
    assert!(
        matches!(&taken, Some(VaultError::AliasExists(n)) if *n == first.name),
        "{taken:?}"
    );
    assert_eq!(vault.alias(&first.name).unwrap(), Some(first.clone()));

    let names = |key: Option<&KeyId>| -> Vec<String> {
        vault
            .aliases(key)
            .unwrap()
            .into_iter()
            .map(|a| a.name.to_string())
            .collect()
    };
    assert_eq!(names(None), ["alias/alpha", "alias/mid", "alias/zeta"]);
    assert_eq!(names(Some(&a)), ["alias/alpha", "alias/zeta"]);
    assert_eq!(names(Some(&b)), ["alias/mid"]);

    vault.update_alias(&first.name, &b, at(9)).unwrap();
    let moved = vault.alias(&first.name).unwrap().unwrap();
    assert_eq!(
        (moved.key_id, moved.creation_date, moved.last_updated_date),
        (b, at(1), at(9))
    );
    assert!(vault.delete_alias(&first.name).unwrap());
    assert!(!vault.delete_alias(&first.name).unwrap());
    assert_eq!(vault.alias(&first.name).unwrap(), None);

    let nowhere: AliasName = "alias/nowhere".parse().unwrap();
    assert!(vault.update_alias(&nowhere, &a, at(9)).is_err());
    // An alias must point at a key the vault holds: a constraint error, not AliasExists.
    assert!(matches!(
        vault.insert_alias(&alias("alias/orphan", KeyId::new_random(), 5)),
        Err(VaultError::Sqlite(_))
    ));
}

#[test]
fn policies_are_stored_and_replaced() {
    let (_place, vault) = new_vault();
    let key = new_key(&vault);
    assert_corrupt(vault.policy(&key), "policies", "");
    vault
        .put_policy(&key, r#"{"Version":"2012-10-17"}"#)
        .unwrap();
    assert_eq!(vault.policy(&key).unwrap(), r#"{"Version":"2012-10-17"}"#);
    vault.put_policy(&key, r#"{"Statement":[]}"#).unwrap();
    assert_eq!(vault.policy(&key).unwrap(), r#"{"Statement":[]}"#);
    let other = new_key(&vault);
    assert!(vault.policy(&other).is_err());
}

fn grant(key: KeyId, id: &str, token_byte: u8, secs: i64) -> GrantRecord {
    let mut equals = EncryptionContext::new();
    equals.insert("volume", "v-1");
    equals.insert("path", "/a b/ü");
    GrantRecord {
        grant_id: id.into(),
        key_id: key,
        name: Some(format!("{id}-name")),
        grantee: "user:bob".into(),
        retiring_principal: Some("uid:0".into()),
        issuing_principal: "user:root".into(),
        operations: vec!["Decrypt".into(), "GenerateDataKey".into()],
        encryption_context_equals: Some(equals),
        encryption_context_subset: None,
        token_hash: [token_byte; 32],
        creation_date: at(secs),
    }
}

#[test]
fn grants_round_trip_and_are_found_by_token_hash() {
    let (place, vault) = new_vault();
    let (a, b) = (new_key(&vault), new_key(&vault));
    let later = grant(a, "g-later", 1, 20);
    let mut earlier = grant(a, "g-earlier", 2, 10);
    earlier.name = None;
    earlier.retiring_principal = None;
    earlier.encryption_context_equals = None;
    earlier.encryption_context_subset = Some(EncryptionContext::new());
    let on_b = grant(b, "g-b", 3, 5);
    for g in [&later, &earlier, &on_b] {
        vault.insert_grant(g).unwrap();
    }
    assert_eq!(vault.grants(&a).unwrap(), [earlier.clone(), later.clone()]);
    assert_eq!(vault.grants(&b).unwrap(), std::slice::from_ref(&on_b));
    assert_eq!(
        vault.grant_by_token_hash(&[1; 32]).unwrap(),
        Some(later.clone())
    );
    assert_eq!(vault.grant_by_token_hash(&[3; 32]).unwrap(), Some(on_b));
    assert_eq!(vault.grant_by_token_hash(&[9; 32]).unwrap(), None);
    // A token hash names one grant only.
    assert!(vault.insert_grant(&grant(b, "g-dup", 1, 30)).is_err());

    assert!(vault.delete_grant("g-later").unwrap());
    assert!(!vault.delete_grant("g-later").unwrap());
    assert_eq!(vault.grant_by_token_hash(&[1; 32]).unwrap(), None);

    raw(&place.db)
        .execute(
            "UPDATE grants SET operations = '[\"Decrypt\"' WHERE grant_id = 'g-earlier'",
            [],
        )
        .unwrap();
    assert_corrupt(vault.grants(&a), "grants", "operations");
    raw(&place.db)
        .execute(
            "UPDATE grants SET operations = '[]', token_hash = x'00' WHERE grant_id = 'g-earlier'",
            [],
        )
        .unwrap();
    assert_corrupt(vault.grants(&a), "grants", "token_hash");
}
