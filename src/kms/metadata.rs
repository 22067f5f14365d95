//! Response shapes of the AWS KMS API (as the AWS CLI prints them).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::model::KeyState;
use crate::vault::{AliasRecord, GrantRecord, KeyRecord, KeyVersion};

/// Dates as the AWS CLI prints them: `2026-11-24T07:40:00+00:00`.
pub fn aws_date(date: DateTime<Utc>) -> String {
    date.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// `KeyMetadata` of DescribeKey, CreateKey, ScheduleKeyDeletion's answer.
pub fn key_metadata(key: &KeyRecord, account: &str) -> Value {
    let mut meta = json!({
        "AWSAccountId": account,
        "KeyId": key.key_id.to_string(),
        "Arn": key.key_id.arn(account).to_string(),
        "CreationDate": aws_date(key.creation_date),
        "Enabled": key.state == KeyState::Enabled,
        "Description": key.description,
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": key.state.as_str(),
        "Origin": "AWS_KMS",
        "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "MultiRegion": false,
    });
    if let Some(date) = key.deletion_date {
        meta["DeletionDate"] = json!(aws_date(date));
    }
    meta
}

pub fn alias_entry(alias: &AliasRecord, account: &str) -> Value {
    json!({
        "AliasName": alias.name.as_str(),
        "AliasArn": alias.name.arn(account).to_string(),
        "TargetKeyId": alias.key_id.to_string(),
        "CreationDate": aws_date(alias.creation_date),
        "LastUpdatedDate": aws_date(alias.last_updated_date),
    })
}

pub fn grant_entry(grant: &GrantRecord, account: &str) -> Value {
    let mut entry = json!({
        "KeyId": grant.key_id.arn(account).to_string(),
        "GrantId": grant.grant_id,
        "Name": grant.name.clone().unwrap_or_default(),
        "CreationDate": aws_date(grant.creation_date),
        "GranteePrincipal": grant.grantee,
        "IssuingAccount": account,
        "IssuingPrincipal": grant.issuing_principal,
        "Operations": grant.operations,
    });
    if let Some(retiring) = &grant.retiring_principal {
        entry["RetiringPrincipal"] = json!(retiring);
    }
    let mut constraints = serde_json::Map::new();
    if let Some(ctx) = &grant.encryption_context_equals {
        constraints.insert("EncryptionContextEquals".into(), ctx.to_json());
    }
    if let Some(ctx) = &grant.encryption_context_subset {
        constraints.insert("EncryptionContextSubset".into(), ctx.to_json());
    }
    if !constraints.is_empty() {
        entry["Constraints"] = Value::Object(constraints);
    }
    entry
}

pub fn rotation_entry(key: &KeyRecord, version: &KeyVersion) -> Value {
    json!({
        "KeyId": key.key_id.to_string(),
        "Version": version.version,
        "RotationDate": aws_date(version.created),
        "RotationType": version.rotation.as_str(),
        "Destroyed": version.destroyed,
    })
}
