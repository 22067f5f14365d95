//! Aliases: friendly names for keys, with AWS's rules.

use serde_json::{json, Value};

use super::error::KmsError;
use super::metadata::alias_entry;
use super::{now, Call, Kms, Operation};
use crate::model::{AliasName, Caller, EncryptionContext, KeyRef};
use crate::vault::AliasRecord;

impl Kms {
    pub fn create_alias(
        &self,
        caller: &Caller,
        alias: &str,
        target_key: &str,
    ) -> Result<Value, KmsError> {
        let call = Call::new(
            caller,
            Operation::CreateAlias,
            json!({ "aliasName": alias, "targetKeyId": target_key }),
        );
        self.run(call, |call| {
            let name = self.check_new_alias(alias)?;
            let key = self.target_key(call, target_key)?;
            let at = now();
            self.vault.insert_alias(&AliasRecord {
                name,
                key_id: key,
                creation_date: at,
                last_updated_date: at,
            })?;
            Ok(Value::Null)
        })
    }

    pub fn update_alias(
        &self,
        caller: &Caller,
        alias: &str,
        target_key: &str,
    ) -> Result<Value, KmsError> {
        let call = Call::new(
            caller,
            Operation::UpdateAlias,
            json!({ "aliasName": alias, "targetKeyId": target_key }),
        );
        self.run(call, |call| {
            let name = self.existing_alias(alias)?;
            // UpdateAlias needs kms:UpdateAlias on the key the alias leaves and on the one it joins.
            self.authorized_key(
                call,
                &name.key_id.to_string(),
                call.op.action(),
                &EncryptionContext::new(),
            )?;
            let key = self.target_key(call, target_key)?;
            self.vault.update_alias(&name.name, &key, now())?;
            Ok(Value::Null)
        })
    }

    pub fn delete_alias(&self, caller: &Caller, alias: &str) -> Result<Value, KmsError> {
        let call = Call::new(
            caller,
            Operation::DeleteAlias,
            json!({ "aliasName": alias }),
        );
        self.run(call, |call| {
            let record = self.existing_alias(alias)?;
            self.authorized_key(
                call,
                &record.key_id.to_string(),
                call.op.action(),
                &EncryptionContext::new(),
            )?;
            self.vault.delete_alias(&record.name)?;
            Ok(Value::Null)
        })
    }

    /// ListAliases, of every key or of one.
    pub fn list_aliases(&self, caller: &Caller, key: Option<&str>) -> Result<Value, KmsError> {
        let call = Call::new(caller, Operation::ListAliases, json!({ "keyId": key }));
        self.run(call, |call| {
            let key_id = match key {
                Some(key) => Some(
                    self.authorized_key(call, key, call.op.action(), &EncryptionContext::new())?
                        .key_id,
                ),
                None => {
                    self.authorize_account(caller, Operation::ListAliases)?;
                    None
                }
            };
            let aliases: Vec<Value> = self
                .vault
                .aliases(key_id.as_ref())?
                .iter()
                .map(|a| alias_entry(a, self.account()))
                .collect();
            Ok(json!({ "Aliases": aliases }))
        })
    }

    /// The key an alias is to point to: named by key id or key ARN (not by an alias, as AWS).
    fn target_key(
        &self,
        call: &mut Call,
        target_key: &str,
    ) -> Result<crate::model::KeyId, KmsError> {
        if let Ok(KeyRef::Alias(_)) = KeyRef::parse(target_key, self.account()) {
            return Err(KmsError::validation(format!(
                "the target of an alias must be a key id or key ARN, not the alias '{target_key}'"
            )));
        }
        Ok(self
            .authorized_key(
                call,
                target_key,
                call.op.action(),
                &EncryptionContext::new(),
            )?
            .key_id)
    }

    fn existing_alias(&self, alias: &str) -> Result<AliasRecord, KmsError> {
        let name: AliasName = alias
            .parse()
            .map_err(|e: crate::model::ParseError| KmsError::validation(e.to_string()))?;
        self.vault.alias(&name)?.ok_or_else(|| {
            KmsError::not_found(format!("Alias {} is not found.", name.arn(self.account())))
        })
    }
}
