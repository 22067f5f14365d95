//! Key lifecycle: create, describe, list, enable, disable, deletion and rotation.

use chrono::Duration;
use serde_json::{json, Value};

use super::error::{ErrorCode, KmsError};
use super::metadata::{aws_date, key_metadata, rotation_entry};
use super::{now, Call, Kms, Operation};
use crate::model::{AliasName, Caller, EncryptionContext, KeyId, KeyState};
use crate::policy::{PolicyDocument, Principal};
use crate::vault::{KeyRecord, RotationType};

pub const MAX_DESCRIPTION_LEN: usize = 8192;
pub const DELETION_WINDOW_DAYS: std::ops::RangeInclusive<u32> = 7..=30;
pub const DEFAULT_DELETION_WINDOW_DAYS: u32 = 30;
pub const ROTATION_PERIOD_DAYS: std::ops::RangeInclusive<u32> = 90..=2560;
pub const DEFAULT_ROTATION_PERIOD_DAYS: u32 = 365;
/// AWS allows 25 on-demand rotations per key.
pub const MAX_ON_DEMAND_ROTATIONS: usize = 25;

/// What `key create` asks for.
pub struct NewKey<'a> {
    pub description: &'a str,
    pub alias: Option<&'a str>,
    pub admins: &'a [String],
    pub users: &'a [String],
}

fn check_range(
    name: &str,
    value: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<(), KmsError> {
    if range.contains(&value) {
        return Ok(());
    }
    Err(KmsError::validation(format!(
        "1 validation error detected: Value '{value}' at '{name}' failed to satisfy constraint: Member must have value between {} and {} (inclusive)",
        range.start(),
        range.end()
    )))
}

impl Kms {
    pub fn create_key(&self, caller: &Caller, new: &NewKey) -> Result<Value, KmsError> {
        let params = json!({
            "description": new.description,
            "keyUsage": "ENCRYPT_DECRYPT",
            "keySpec": "SYMMETRIC_DEFAULT",
            "origin": "AWS_KMS",
        });
        let created = self.run(Call::new(caller, Operation::CreateKey, params), |call| {
            self.authorize_account(caller, Operation::CreateKey)?;
            if new.description.chars().count() > MAX_DESCRIPTION_LEN {
                return Err(KmsError::validation(format!(
                    "the description is longer than {MAX_DESCRIPTION_LEN} characters"
                )));
            }
            let admins = parse_principals(new.admins)?;
            let users = parse_principals(new.users)?;
            // The alias is created by its own request below; check it first so that
            // a taken or invalid name does not leave a key without the alias.
            if let Some(alias) = new.alias {
                self.check_new_alias(alias)?;
            }
            let policy = PolicyDocument::default_for(self.vault.info().owner_uid, &admins, &users);
            let created_at = now();
            let key = KeyRecord {
                key_id: KeyId::new_random(),
                description: new.description.to_string(),
                state: KeyState::Enabled,
                creation_date: created_at,
                deletion_date: None,
                rotation_enabled: false,
                rotation_period_days: DEFAULT_ROTATION_PERIOD_DAYS,
                next_rotation_date: None,
            };
            self.vault.insert_key(&key)?;
            self.vault
                .add_material(&key.key_id, RotationType::Initial, created_at)?;
            self.vault
                .put_policy(&key.key_id, &policy.to_json_pretty())?;
            call.resources
                .push(key.key_id.arn(self.account()).to_string());
            let metadata = key_metadata(&key, self.account());
            call.response_elements = json!({ "keyMetadata": metadata });
            Ok(key)
        })?;
        if let Some(alias) = new.alias {
            self.create_alias(caller, alias, &created.key_id.to_string())?;
        }
        Ok(json!({ "KeyMetadata": key_metadata(&created, self.account()) }))
    }

    pub fn describe_key(&self, caller: &Caller, key: &str) -> Result<Value, KmsError> {
        let call = Call::new(caller, Operation::DescribeKey, json!({ "keyId": key }));
        self.run(call, |call| {
            let record =
                self.authorized_key(call, key, call.op.action(), &EncryptionContext::new())?;
            Ok(json!({ "KeyMetadata": key_metadata(&record, self.account()) }))
        })
    }

    pub fn list_keys(&self, caller: &Caller) -> Result<Value, KmsError> {
        self.run(Call::new(caller, Operation::ListKeys, Value::Null), |_| {
            self.authorize_account(caller, Operation::ListKeys)?;
            let keys: Vec<Value> = self
                .vault
                .keys()?
                .iter()
                .filter(|key| key.state != KeyState::Destroyed)
                .map(|key| {
                    json!({ "KeyId": key.key_id.to_string(), "KeyArn": key.key_id.arn(self.account()).to_string() })
                })
                .collect();
            Ok(json!({ "Keys": keys }))
        })
    }

    /// Resolves and authorizes the key, applies `change` to its record and stores
    /// it. Returns the updated key.
    fn update_key(
        &self,
        call: &mut Call,
        key: &str,
        change: impl FnOnce(&mut KeyRecord),
    ) -> Result<KeyRecord, KmsError> {
        let mut record =
            self.authorized_key(call, key, call.op.action(), &EncryptionContext::new())?;
        change(&mut record);
        self.vault.update_key(&record)?;
        Ok(record)
    }

    pub fn enable_key(&self, caller: &Caller, key: &str) -> Result<Value, KmsError> {
        let call = Call::new(caller, Operation::EnableKey, json!({ "keyId": key }));
        self.run(call, |call| {
            self.update_key(call, key, |record| record.state = KeyState::Enabled)?;
            Ok(Value::Null)
        })
    }

    pub fn disable_key(&self, caller: &Caller, key: &str) -> Result<Value, KmsError> {
        let call = Call::new(caller, Operation::DisableKey, json!({ "keyId": key }));
        self.run(call, |call| {
            self.update_key(call, key, |record| record.state = KeyState::Disabled)?;
            Ok(Value::Null)
        })
    }

    pub fn schedule_key_deletion(
        &self,
        caller: &Caller,
        key: &str,
        window_days: Option<u32>,
    ) -> Result<Value, KmsError> {
        let days = window_days.unwrap_or(DEFAULT_DELETION_WINDOW_DAYS);
        let call = Call::new(
            caller,
            Operation::ScheduleKeyDeletion,
            json!({ "keyId": key, "pendingWindowInDays": days }),
        );
        self.run(call, |call| {
            check_range("pendingWindowInDays", days, DELETION_WINDOW_DAYS)?;
            let deletion_date = now() + Duration::days(days.into());
            let record = self.update_key(call, key, |record| {
                record.state = KeyState::PendingDeletion;
                record.deletion_date = Some(deletion_date);
            })?;
            let response = json!({
                "KeyId": record.key_id.arn(self.account()).to_string(),
                "DeletionDate": aws_date(deletion_date),
                "KeyState": "PendingDeletion",
                "PendingWindowInDays": days,
            });
            call.response_elements = json!({
                "keyId": record.key_id.arn(self.account()).to_string(),
                "deletionDate": aws_date(deletion_date),
                "keyState": "PendingDeletion",
                "pendingWindowInDays": days,
            });
            Ok(response)
        })
    }

    pub fn cancel_key_deletion(&self, caller: &Caller, key: &str) -> Result<Value, KmsError> {
        let call = Call::new(
            caller,
            Operation::CancelKeyDeletion,
            json!({ "keyId": key }),
        );
        self.run(call, |call| {
            let record = self.update_key(call, key, |record| {
                record.state = KeyState::Disabled;
                record.deletion_date = None;
            })?;
            let arn = record.key_id.arn(self.account()).to_string();
            call.response_elements = json!({ "keyId": arn });
            Ok(json!({ "KeyId": arn }))
        })
    }

    pub fn update_key_description(
        &self,
        caller: &Caller,
        key: &str,
        description: &str,
    ) -> Result<Value, KmsError> {
        let call = Call::new(
            caller,
            Operation::UpdateKeyDescription,
            json!({ "keyId": key, "description": description }),
        );
        self.run(call, |call| {
            if description.chars().count() > MAX_DESCRIPTION_LEN {
                return Err(KmsError::validation(format!(
                    "the description is longer than {MAX_DESCRIPTION_LEN} characters"
                )));
            }
            self.update_key(call, key, |record| {
                record.description = description.to_string()
            })?;
            Ok(Value::Null)
        })
    }

    pub fn rotate_key_on_demand(&self, caller: &Caller, key: &str) -> Result<Value, KmsError> {
        let call = Call::new(
            caller,
            Operation::RotateKeyOnDemand,
            json!({ "keyId": key }),
        );
        self.run(call, |call| {
            let record = self.authorized_key(call, key, call.op.action(), &EncryptionContext::new())?;
            let on_demand = self
                .vault
                .versions(&record.key_id)?
                .iter()
                .filter(|v| v.rotation == RotationType::OnDemand)
                .count();
            if on_demand >= MAX_ON_DEMAND_ROTATIONS {
                return Err(KmsError::new(
                    ErrorCode::LimitExceeded,
                    format!("key {} has reached the limit of {MAX_ON_DEMAND_ROTATIONS} on-demand rotations", record.key_id),
                ));
            }
            let version = self.vault.add_material(&record.key_id, RotationType::OnDemand, now())?;
            call.response_elements = json!({ "keyId": record.key_id.to_string(), "version": version });
            Ok(json!({ "KeyId": record.key_id.to_string(), "Version": version }))
        })
    }

    pub fn enable_key_rotation(
        &self,
        caller: &Caller,
        key: &str,
        period_days: Option<u32>,
    ) -> Result<Value, KmsError> {
        let days = period_days.unwrap_or(DEFAULT_ROTATION_PERIOD_DAYS);
        let call = Call::new(
            caller,
            Operation::EnableKeyRotation,
            json!({ "keyId": key, "rotationPeriodInDays": days }),
        );
        self.run(call, |call| {
            check_range("rotationPeriodInDays", days, ROTATION_PERIOD_DAYS)?;
            self.update_key(call, key, |record| {
                record.rotation_enabled = true;
                record.rotation_period_days = days;
                record.next_rotation_date = Some(now() + Duration::days(days.into()));
            })?;
            Ok(Value::Null)
        })
    }

    pub fn disable_key_rotation(&self, caller: &Caller, key: &str) -> Result<Value, KmsError> {
        let call = Call::new(
            caller,
            Operation::DisableKeyRotation,
            json!({ "keyId": key }),
        );
        self.run(call, |call| {
            self.update_key(call, key, |record| {
                record.rotation_enabled = false;
                record.next_rotation_date = None;
            })?;
            Ok(Value::Null)
        })
    }

    pub fn get_key_rotation_status(&self, caller: &Caller, key: &str) -> Result<Value, KmsError> {
        let call = Call::new(
            caller,
            Operation::GetKeyRotationStatus,
            json!({ "keyId": key }),
        );
        self.run(call, |call| {
            let record =
                self.authorized_key(call, key, call.op.action(), &EncryptionContext::new())?;
            let mut status = json!({
                "KeyId": record.key_id.to_string(),
                "KeyRotationEnabled": record.rotation_enabled,
            });
            if record.rotation_enabled {
                status["RotationPeriodInDays"] = json!(record.rotation_period_days);
            }
            if let Some(next) = record.next_rotation_date {
                status["NextRotationDate"] = json!(aws_date(next));
            }
            Ok(status)
        })
    }

    pub fn list_key_rotations(&self, caller: &Caller, key: &str) -> Result<Value, KmsError> {
        let call = Call::new(caller, Operation::ListKeyRotations, json!({ "keyId": key }));
        self.run(call, |call| {
            let record =
                self.authorized_key(call, key, call.op.action(), &EncryptionContext::new())?;
            let rotations: Vec<Value> = self
                .vault
                .versions(&record.key_id)?
                .iter()
                .map(|v| rotation_entry(&record, v))
                .collect();
            Ok(json!({ "Rotations": rotations }))
        })
    }
}

/// Principals from the command line, refused with AWS's policy error if malformed.
pub(super) fn parse_principals(texts: &[String]) -> Result<Vec<Principal>, KmsError> {
    texts
        .iter()
        .map(|text| {
            let principal: Principal = text
                .parse()
                .map_err(|e| KmsError::new(ErrorCode::MalformedPolicyDocument, format!("{e}")))?;
            super::policies::check_principal_exists(&principal)?;
            Ok(principal)
        })
        .collect()
}

/// Checks an alias name for a new alias: valid and not taken.
impl Kms {
    pub(super) fn check_new_alias(&self, alias: &str) -> Result<AliasName, KmsError> {
        let name: AliasName = alias
            .parse()
            .map_err(|e: crate::model::ParseError| KmsError::validation(e.to_string()))?;
        if self.vault.alias(&name)?.is_some() {
            return Err(KmsError::new(
                ErrorCode::AlreadyExists,
                format!(
                    "An alias with the name {} already exists",
                    name.arn(self.account())
                ),
            ));
        }
        Ok(name)
    }
}
