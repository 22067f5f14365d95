//! The key management service: the only path from a request to key material.
//! Every request is resolved, checked against the key state, authorized by the
//! key policy and grants for the calling user, and recorded in the audit log
//! before it is answered. Must not import fs or cli.

mod aliases;
mod data;
mod error;
mod files;
mod grants;
mod keys;
mod maintenance;
mod metadata;
pub use metadata::aws_date;
mod operation;
mod policies;

pub use data::{DataKeyOutput, DecryptOutput, EncryptOutput, KeySpec, ALGORITHM};
pub use error::{ErrorCode, KmsError};
pub use files::{FileContext, CONTEXT_FILE, CONTEXT_PATH, CONTEXT_VOLUME};
pub use grants::NewGrant;
pub use keys::NewKey;
pub use operation::Operation;
pub use policies::PolicyEdit;
pub use policies::Simulation;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::audit::{AuditEvent, AuditLog, EventType, LogRecord, Record};
use crate::model::{Caller, EncryptionContext, KeyId, KeyRef};
use crate::policy::{self, PolicyDocument};
use crate::vault::{KeyRecord, Vault, VaultError};

/// One vault and its audit log, serving requests.
pub struct Kms {
    vault: Vault,
    audit: AuditLog,
    user_agent: String,
    /// Key policies as parsed, with the text they were parsed from: every
    /// request still reads the stored text (a change applies to the next
    /// request) but parses it only when it changed.
    parsed_policies: RefCell<HashMap<KeyId, (String, Arc<PolicyDocument>)>>,
}

/// A request in flight: what its audit record will say.
struct Call<'a> {
    caller: &'a Caller,
    op: Operation,
    request_parameters: Value,
    response_elements: Value,
    resources: Vec<String>,
}

impl<'a> Call<'a> {
    fn new(caller: &'a Caller, op: Operation, request_parameters: Value) -> Self {
        Call {
            caller,
            op,
            request_parameters,
            response_elements: Value::Null,
            resources: Vec::new(),
        }
    }
}

impl From<VaultError> for KmsError {
    fn from(err: VaultError) -> Self {
        KmsError::internal(err.to_string())
    }
}

/// The time of a request.
fn now() -> DateTime<Utc> {
    Utc::now()
}

impl Kms {
    /// Serves `vault`, recording into `audit`. Performs what is due first:
    /// destroys keys past their deletion date and rotates keys whose rotation is due.
    pub fn new(vault: Vault, audit: AuditLog, user_agent: &str) -> Result<Kms, KmsError> {
        let kms = Kms {
            vault,
            audit,
            user_agent: user_agent.to_string(),
            parsed_policies: RefCell::default(),
        };
        kms.run_due_maintenance()?;
        Ok(kms)
    }

    pub fn account(&self) -> &str {
        &self.vault.info().account_id
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// Runs one request: `body` does the work (inside one vault transaction when
    /// the operation changes anything) and the record is appended before the
    /// answer; if the record cannot be written the request fails and its changes
    /// are rolled back.
    fn run<T>(
        &self,
        mut call: Call,
        body: impl FnOnce(&mut Call) -> Result<T, KmsError>,
    ) -> Result<T, KmsError> {
        let audit_failed = Cell::new(false);
        let record_success = |call: &Call| {
            self.record(call, None)
                .inspect_err(|_| audit_failed.set(true))
        };
        let outcome = if call.op.read_only() {
            self.vault
                .reading(|| body(&mut call).and_then(|value| record_success(&call).map(|()| value)))
        } else {
            self.vault.atomically(|_| {
                let value = body(&mut call)?;
                record_success(&call)?;
                Ok(value)
            })
        };
        match outcome {
            // A refused or failed request is recorded too, unless recording is what failed.
            Err(err) if !audit_failed.get() => {
                self.record(&call, Some(&err))?;
                Err(err)
            }
            other => other,
        }
    }

    fn record(&self, call: &Call, error: Option<&KmsError>) -> Result<(), KmsError> {
        if cfg!(feature = "bench-no-audit") {
            return Ok(());
        }
        let event = AuditEvent {
            caller: Some(call.caller),
            account_id: self.account(),
            event_name: call.op.event_name(),
            event_type: EventType::AwsApiCall,
            read_only: call.op.read_only(),
            request_parameters: call.request_parameters.clone(),
            response_elements: if error.is_some() {
                Value::Null
            } else {
                call.response_elements.clone()
            },
            resources: call.resources.clone(),
            error: error.map(|e| (e.code.audit_code(), e.message.clone())),
            user_agent: &self.user_agent,
            additional_event_data: None,
        };
        self.append(&Record::new(&event))
    }

    fn append(&self, record: &impl LogRecord) -> Result<(), KmsError> {
        self.audit
            .append(record)
            .map_err(|err| KmsError::internal(err.to_string()))
    }

    /// Finds the key a request names, in any of the four forms.
    fn resolve(&self, key: &str) -> Result<KeyRecord, KmsError> {
        let key_ref =
            KeyRef::parse(key, self.account()).map_err(|e| KmsError::not_found(e.to_string()))?;
        let key_id = match key_ref {
            KeyRef::Id(id) => id,
            KeyRef::Alias(alias) => match self.vault.alias(&alias)? {
                Some(record) => record.key_id,
                None => {
                    return Err(KmsError::not_found(format!(
                        "Alias {} is not found.",
                        alias.arn(self.account())
                    )))
                }
            },
        };
        self.vault.key(&key_id)?.ok_or_else(|| {
            KmsError::not_found(format!(
                "Key '{}' does not exist",
                key_id.arn(self.account())
            ))
        })
    }

    /// Resolves the key, names it in the record, checks its state for the
    /// operation and authorizes `action` for the caller.
    fn authorized_key(
        &self,
        call: &mut Call,
        key: &str,
        action: &str,
        context: &EncryptionContext,
    ) -> Result<KeyRecord, KmsError> {
        let record = self.resolve(key)?;
        let arn = record.key_id.arn(self.account());
        call.resources.push(arn.to_string());
        call.op.check_state(record.state, &arn)?;
        self.authorize(call.caller, &record, action, context)?;
        Ok(record)
    }

    /// Key policy plus grants, for the calling user.
    fn authorize(
        &self,
        caller: &Caller,
        key: &KeyRecord,
        action: &str,
        context: &EncryptionContext,
    ) -> Result<(), KmsError> {
        let policy = self.stored_policy(key)?;
        let grants = self.policy_grants(key)?;
        let request = policy::Request {
            caller,
            action,
            context,
        };
        let decision = policy::evaluate(&policy, &grants, &request);
        if decision.is_allowed() {
            return Ok(());
        }
        Err(KmsError::new(
            ErrorCode::AccessDenied,
            format!(
                "User: {} (uid {}) is not authorized to perform: {action} on resource: {} because {}",
                caller.principal(),
                caller.uid,
                key.key_id.arn(self.account()),
                decision.explain(action, &caller.principal())
            ),
        ))
    }

    /// Account-level requests (CreateKey, ListKeys, ListAliases) have no key
    /// policy: the vault owner and root may make them.
    fn authorize_account(&self, caller: &Caller, op: Operation) -> Result<(), KmsError> {
        let owner = self.vault.info().owner_uid;
        if caller.uid == owner || caller.uid == 0 {
            return Ok(());
        }
        Err(KmsError::new(
            ErrorCode::AccessDenied,
            format!(
                "User: {} (uid {}) is not authorized to perform: {} because only the vault owner (uid {owner}) may",
                caller.principal(),
                caller.uid,
                op.action()
            ),
        ))
    }

    fn stored_policy(&self, key: &KeyRecord) -> Result<Arc<PolicyDocument>, KmsError> {
        let text = self.vault.policy(&key.key_id)?;
        let mut parsed = self.parsed_policies.borrow_mut();
        if let Some((parsed_text, document)) = parsed.get(&key.key_id) {
            if *parsed_text == text {
                return Ok(Arc::clone(document));
            }
        }
        let document = Arc::new(PolicyDocument::parse(&text).map_err(|err| {
            KmsError::internal(format!(
                "the stored policy of key {} does not parse: {err}",
                key.key_id
            ))
        })?);
        parsed.insert(key.key_id, (text, Arc::clone(&document)));
        Ok(document)
    }

    fn audit_service_event(
        &self,
        event_name: &str,
        key: &KeyRecord,
        details: Value,
    ) -> Result<(), KmsError> {
        let event = AuditEvent {
            caller: None,
            account_id: self.account(),
            event_name,
            event_type: EventType::AwsServiceEvent,
            read_only: false,
            request_parameters: Value::Null,
            response_elements: Value::Null,
            resources: vec![key.key_id.arn(self.account()).to_string()],
            error: None,
            user_agent: &self.user_agent,
            additional_event_data: Some(
                json!({"keyId": key.key_id.to_string(), "details": details}),
            ),
        };
        self.append(&Record::new(&event))
    }
}
#[cfg(test)]
mod tests;
