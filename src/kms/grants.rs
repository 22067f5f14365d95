//! Grants: narrower, revocable permissions for one principal.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::error::{ErrorCode, KmsError};
use super::keys::parse_principals;
use super::metadata::grant_entry;
use super::{now, Call, Kms, Operation};
use crate::crypto::{random_bytes, SecretBytes};
use crate::model::{Caller, EncryptionContext};
use crate::policy::{Grant, GrantConstraints, GrantOperation, Principal};
use crate::vault::{GrantRecord, KeyRecord};

/// What `grant create` asks for.
pub struct NewGrant<'a> {
    pub grantee: &'a str,
    pub operations: &'a [String],
    pub retiring_principal: Option<&'a str>,
    pub name: Option<&'a str>,
    pub encryption_context_equals: Option<EncryptionContext>,
    pub encryption_context_subset: Option<EncryptionContext>,
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Kms {
    /// CreateGrant: answers the GrantId and the GrantToken (shown once; only its hash is stored).
    pub fn create_grant(
        &self,
        caller: &Caller,
        key: &str,
        new: &NewGrant,
    ) -> Result<Value, KmsError> {
        let mut constraints = serde_json::Map::new();
        if let Some(ctx) = &new.encryption_context_equals {
            constraints.insert("encryptionContextEquals".into(), ctx.to_json());
        }
        if let Some(ctx) = &new.encryption_context_subset {
            constraints.insert("encryptionContextSubset".into(), ctx.to_json());
        }
        let params = json!({
            "keyId": key,
            "granteePrincipal": new.grantee,
            "operations": new.operations,
            "retiringPrincipal": new.retiring_principal,
            "name": new.name,
            "constraints": if constraints.is_empty() { Value::Null } else { Value::Object(constraints) },
        });
        self.run(Call::new(caller, Operation::CreateGrant, params), |call| {
            let record = self.authorized_key(call, key, call.op.action(), &EncryptionContext::new())?;
            if new.encryption_context_equals.is_some() && new.encryption_context_subset.is_some() {
                return Err(KmsError::validation(
                    "a grant takes either --encryption-context-equals or --encryption-context-subset, not both",
                ));
            }
            let grantee = parse_principals(&[new.grantee.to_string()])?.remove(0);
            let retiring = match new.retiring_principal {
                Some(p) => Some(parse_principals(&[p.to_string()])?.remove(0)),
                None => None,
            };
            let operations = parse_operations(new.operations)?;
            let mut id_bytes = [0u8; 32];
            random_bytes(&mut id_bytes).map_err(|e| KmsError::internal(e.to_string()))?;
            let grant_id: String = id_bytes.iter().map(|b| format!("{b:02x}")).collect();
            let token = grant_token()?;
            let grant = GrantRecord {
                grant_id: grant_id.clone(),
                key_id: record.key_id,
                name: new.name.map(str::to_string),
                grantee: grantee.to_string(),
                retiring_principal: retiring.map(|p| p.to_string()),
                issuing_principal: caller.principal(),
                operations: operations.iter().map(|op| op.to_string()).collect(),
                encryption_context_equals: new.encryption_context_equals.clone(),
                encryption_context_subset: new.encryption_context_subset.clone(),
                token_hash: token_hash(&token),
                creation_date: now(),
            };
            self.vault.insert_grant(&grant)?;
            call.response_elements = json!({ "grantId": grant_id });
            Ok(json!({ "GrantToken": token, "GrantId": grant_id }))
        })
    }

    pub fn list_grants(&self, caller: &Caller, key: &str) -> Result<Value, KmsError> {
        let call = Call::new(caller, Operation::ListGrants, json!({ "keyId": key }));
        self.run(call, |call| {
            let record =
                self.authorized_key(call, key, call.op.action(), &EncryptionContext::new())?;
            let grants: Vec<Value> = self
                .vault
                .grants(&record.key_id)?
                .iter()
                .map(|g| grant_entry(g, self.account()))
                .collect();
            Ok(json!({ "Grants": grants, "Truncated": false }))
        })
    }

    pub fn revoke_grant(
        &self,
        caller: &Caller,
        key: &str,
        grant_id: &str,
    ) -> Result<Value, KmsError> {
        let call = Call::new(
            caller,
            Operation::RevokeGrant,
            json!({ "keyId": key, "grantId": grant_id }),
        );
        self.run(call, |call| {
            let record =
                self.authorized_key(call, key, call.op.action(), &EncryptionContext::new())?;
            let exists = self
                .vault
                .grants(&record.key_id)?
                .iter()
                .any(|g| g.grant_id == grant_id);
            if !exists || !self.vault.delete_grant(grant_id)? {
                return Err(KmsError::not_found(format!(
                    "Grant ID {grant_id} not found for key {}",
                    record.key_id.arn(self.account())
                )));
            }
            Ok(Value::Null)
        })
    }

    /// RetireGrant by token: allowed to the grantee, the retiring principal and the vault owner.
    pub fn retire_grant(&self, caller: &Caller, token: &str) -> Result<Value, KmsError> {
        // The token is a secret: it is not recorded.
        let call = Call::new(
            caller,
            Operation::RetireGrant,
            json!({ "grantToken": "HIDDEN_DUE_TO_SECURITY_REASONS" }),
        );
        self.run(call, |call| {
            let grant = self
                .vault
                .grant_by_token_hash(&token_hash(token))?
                .ok_or_else(|| KmsError::new(ErrorCode::InvalidGrantToken, "the grant token is not valid"))?;
            call.resources.push(grant.key_id.arn(self.account()).to_string());
            call.request_parameters["grantId"] = json!(grant.grant_id);
            let may_retire = |text: &Option<String>| {
                text.as_deref().and_then(|t| t.parse::<Principal>().ok()).is_some_and(|p| p.matches(caller))
            };
            let owner = self.vault.info().owner_uid;
            if !(may_retire(&Some(grant.grantee.clone())) || may_retire(&grant.retiring_principal) || caller.uid == owner) {
                return Err(KmsError::new(
                    ErrorCode::AccessDenied,
                    format!(
                        "User: {} (uid {}) is not authorized to perform: kms:RetireGrant on grant {} because it is neither the grantee nor the retiring principal",
                        caller.principal(),
                        caller.uid,
                        grant.grant_id
                    ),
                ));
            }
            self.vault.delete_grant(&grant.grant_id)?;
            Ok(Value::Null)
        })
    }

    /// The key's grants, as the policy evaluator reads them. A stored grant that
    /// no longer parses is an internal error, never silently dropped.
    pub(super) fn policy_grants(&self, key: &KeyRecord) -> Result<Vec<Grant>, KmsError> {
        self.vault
            .grants(&key.key_id)?
            .into_iter()
            .map(|record| {
                let corrupt = |what: String| {
                    KmsError::internal(format!("grant {} is corrupt: {what}", record.grant_id))
                };
                Ok(Grant {
                    grantee: record
                        .grantee
                        .parse()
                        .map_err(|e| corrupt(format!("{e}")))?,
                    operations: record
                        .operations
                        .iter()
                        .map(|op| {
                            op.parse::<GrantOperation>()
                                .map_err(|e| corrupt(format!("{e}")))
                        })
                        .collect::<Result<_, _>>()?,
                    constraints: GrantConstraints {
                        encryption_context_equals: record.encryption_context_equals.clone(),
                        encryption_context_subset: record.encryption_context_subset.clone(),
                    },
                    grant_id: record.grant_id,
                })
            })
            .collect()
    }
}

fn parse_operations(texts: &[String]) -> Result<Vec<GrantOperation>, KmsError> {
    if texts.is_empty() {
        return Err(KmsError::validation("a grant needs at least one operation"));
    }
    texts
        .iter()
        .map(|text| {
            text.parse::<GrantOperation>()
                .map_err(|e| KmsError::validation(format!("{e}")))
        })
        .collect()
}

/// A fresh grant token: 32 random bytes, base64url.
fn grant_token() -> Result<String, KmsError> {
    use base64::Engine;
    let bytes = SecretBytes::random(32).map_err(|e| KmsError::internal(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.expose()))
}
