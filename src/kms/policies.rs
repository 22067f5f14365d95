//! Key policies: get, put (validated, with the lockout safety check), the
//! console's user/admin edits, and simulation.

use serde_json::{json, Value};

use super::error::{ErrorCode, KmsError};
use super::keys::parse_principals;
use super::{Call, Kms, Operation};
use crate::model::{Caller, EncryptionContext};
use crate::policy::{self, PolicyDocument, Principal, KNOWN_ACTIONS};
use crate::sys;

/// Which statement edit `policy add-user|remove-user|add-admin|remove-admin` makes.
#[derive(Clone, Copy, Debug)]
pub enum PolicyEdit {
    AddUser,
    RemoveUser,
    AddAdmin,
    RemoveAdmin,
}

/// The answer of `policy simulate`.
pub struct Simulation {
    pub allowed: bool,
    pub decided_by: String,
}

fn malformed(message: impl Into<String>) -> KmsError {
    KmsError::new(ErrorCode::MalformedPolicyDocument, message)
}

/// AWS refuses policies naming principals that do not exist; so does kmsfs for
/// user and group names (uids and gids need no entry in the databases).
pub(super) fn check_principal_exists(principal: &Principal) -> Result<(), KmsError> {
    match principal {
        Principal::User(name) if sys::user_id(name).is_none() => Err(malformed(format!(
            "principal user:{name} names no user on this host"
        ))),
        Principal::Group(name) if sys::group_id(name).is_none() => Err(malformed(format!(
            "principal group:{name} names no group on this host"
        ))),
        _ => Ok(()),
    }
}

impl Kms {
    pub fn get_key_policy(&self, caller: &Caller, key: &str) -> Result<Value, KmsError> {
        let call = Call::new(
            caller,
            Operation::GetKeyPolicy,
            json!({ "keyId": key, "policyName": "default" }),
        );
        self.run(call, |call| {
            let record =
                self.authorized_key(call, key, call.op.action(), &EncryptionContext::new())?;
            Ok(json!({ "Policy": self.vault.policy(&record.key_id)?, "PolicyName": "default" }))
        })
    }

    pub fn put_key_policy(
        &self,
        caller: &Caller,
        key: &str,
        text: &str,
        bypass_lockout_check: bool,
    ) -> Result<Value, KmsError> {
        let call = Call::new(
            caller,
            Operation::PutKeyPolicy,
            json!({
                "keyId": key,
                "policyName": "default",
                "policy": text,
                "bypassPolicyLockoutSafetyCheck": bypass_lockout_check,
            }),
        );
        self.run(call, |call| {
            let record =
                self.authorized_key(call, key, call.op.action(), &EncryptionContext::new())?;
            let document = PolicyDocument::parse(text).map_err(|e| malformed(e.to_string()))?;
            self.store_policy(caller, &record.key_id, &document, bypass_lockout_check)?;
            Ok(Value::Null)
        })
    }

    /// The console's edits of the key users and key administrators statements,
    /// recorded as the PutKeyPolicy they amount to.
    pub fn edit_key_policy(
        &self,
        caller: &Caller,
        key: &str,
        edit: PolicyEdit,
        principal: &str,
    ) -> Result<Value, KmsError> {
        let call = Call::new(
            caller,
            Operation::PutKeyPolicy,
            json!({ "keyId": key, "policyName": "default" }),
        );
        self.run(call, |call| {
            let record =
                self.authorized_key(call, key, call.op.action(), &EncryptionContext::new())?;
            let principal = parse_principals(&[principal.to_string()])?.remove(0);
            let mut document = PolicyDocument::clone(&*self.stored_policy(&record)?);
            let changed = match edit {
                PolicyEdit::AddUser => document.add_user(&principal),
                PolicyEdit::RemoveUser => document.remove_user(&principal),
                PolicyEdit::AddAdmin => document.add_admin(&principal),
                PolicyEdit::RemoveAdmin => document.remove_admin(&principal),
            };
            if changed {
                self.store_policy(caller, &record.key_id, &document, false)?;
            }
            call.request_parameters["policy"] = json!(document.to_json_pretty());
            Ok(json!({ "Changed": changed, "Policy": document.to_json_pretty() }))
        })
    }

    fn store_policy(
        &self,
        caller: &Caller,
        key_id: &crate::model::KeyId,
        document: &PolicyDocument,
        bypass_lockout_check: bool,
    ) -> Result<(), KmsError> {
        document
            .check_resources_name(&key_id.arn(self.account()))
            .map_err(|e| malformed(e.to_string()))?;
        for principal in document.principals_named() {
            check_principal_exists(principal)?;
        }
        if !bypass_lockout_check {
            let request = policy::Request {
                caller,
                action: "kms:PutKeyPolicy",
                context: &EncryptionContext::new(),
            };
            if !policy::evaluate(document, &[], &request).is_allowed() {
                return Err(malformed(
                    "The new key policy will not allow you to update the key policy in the future. \
                     (use --bypass-policy-lockout-safety-check to store it anyway)",
                ));
            }
        }
        self.vault.put_policy(key_id, &document.to_json_pretty())?;
        Ok(())
    }

    /// Answers whether `principal` may perform `action` on the key, and which
    /// statement or grant decides. Needs kms:GetKeyPolicy; recorded as SimulateKeyPolicy.
    pub fn simulate(
        &self,
        caller: &Caller,
        key: &str,
        principal: &str,
        action: &str,
        context: &EncryptionContext,
    ) -> Result<Simulation, KmsError> {
        let call = Call::new(
            caller,
            Operation::SimulateKeyPolicy,
            json!({ "keyId": key, "principal": principal, "action": action, "encryptionContext": context.to_json() }),
        );
        self.run(call, |call| {
            let record = self.authorized_key(call, key, call.op.action(), &EncryptionContext::new())?;
            let action = normalize_action(action)?;
            let subject = simulated_caller(principal)?;
            let policy = self.stored_policy(&record)?;
            let grants = self.policy_grants(&record)?;
            let decision = policy::evaluate(&policy, &grants, &policy::Request { caller: &subject, action, context });
            let decided_by = decision.explain(action, principal);
            call.response_elements = json!({ "decision": if decision.is_allowed() { "Allowed" } else { "Denied" }, "decidedBy": decided_by });
            Ok(Simulation { allowed: decision.is_allowed(), decided_by })
        })
    }
}

/// `kms:Decrypt` or `Decrypt`, as a known action.
fn normalize_action(action: &str) -> Result<&'static str, KmsError> {
    let wanted = action.strip_prefix("kms:").unwrap_or(action);
    KNOWN_ACTIONS
        .iter()
        .find(|known| {
            known
                .strip_prefix("kms:")
                .is_some_and(|name| name.eq_ignore_ascii_case(wanted))
        })
        .copied()
        .ok_or_else(|| {
            KmsError::validation(format!(
                "'{action}' is not a KMS action (for example kms:Decrypt)"
            ))
        })
}

/// The identity a principal has when it makes a request: a user with its groups.
fn simulated_caller(principal: &str) -> Result<Caller, KmsError> {
    let parsed: Principal = principal
        .parse()
        .map_err(|e| KmsError::validation(format!("{e}")))?;
    match parsed {
        Principal::User(name) => sys::caller_for_user_name(&name)
            .ok_or_else(|| KmsError::validation(format!("user:{name} names no user on this host"))),
        Principal::Uid(uid) => Ok(sys::caller_for_uid_lookup(uid)),
        _ => Err(KmsError::validation(format!(
            "simulate needs a user to act as: user:NAME or uid:N, not '{principal}'"
        ))),
    }
}
