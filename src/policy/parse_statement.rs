//! Reading one policy statement: `Sid`, `Effect`, `Principal`, `Action`,
//! `Resource` and `Condition`, each refusal naming the statement and the field.
//! Pure: imports only `crate::model`, serde_json and the rest of `policy`.

use serde_json::{Map, Value};

use crate::model::{Arn, KeyId, ParseError};

use super::actions::matches_a_known_action;
use super::condition::{Condition, ConditionKey, ConditionOperator, KEY_NAMES, OPERATOR_NAMES};
use super::document::{Effect, PolicyError, Statement};
use super::parse::describe;
use super::Principal;

const STATEMENT_FIELDS: &str = "Sid, Effect, Principal, Action, Resource or Condition";

/// Where a statement is, for its errors.
struct At {
    index: usize,
    sid: Option<String>,
}

impl At {
    fn error(&self, problem: impl Into<String>) -> PolicyError {
        PolicyError::Statement {
            index: self.index,
            sid: self.sid.clone(),
            problem: problem.into(),
        }
    }

    /// A string or a non-empty array of strings.
    fn strings<'v>(&self, field: &str, value: &'v Value) -> Result<Vec<&'v str>, PolicyError> {
        let wrong = |got: &Value| {
            self.error(format!(
                "{field} must be a string or an array of strings, got {}",
                describe(got)
            ))
        };
        match value {
            Value::String(text) => Ok(vec![text.as_str()]),
            Value::Array(items) if items.is_empty() => {
                Err(self.error(format!("{field} must not be an empty list")))
            }
            Value::Array(items) => items
                .iter()
                .map(|item| item.as_str().ok_or_else(|| wrong(item)))
                .collect(),
            other => Err(wrong(other)),
        }
    }

    fn required<'v>(
        &self,
        fields: &'v Map<String, Value>,
        name: &str,
        hint: &str,
    ) -> Result<&'v Value, PolicyError> {
        fields
            .get(name)
            .ok_or_else(|| self.error(format!("{name} is required{hint}")))
    }
}

pub(super) fn parse_statement(index: usize, item: &Value) -> Result<Statement, PolicyError> {
    let mut at = At { index, sid: None };
    let Value::Object(fields) = item else {
        return Err(at.error(format!("must be a JSON object, got {}", describe(item))));
    };
    at.sid = match fields.get("Sid") {
        None => None,
        Some(Value::String(sid)) => Some(sid.clone()),
        Some(other) => {
            return Err(at.error(format!("Sid must be a string, got {}", describe(other))))
        }
    };
    for name in fields.keys() {
        match name.as_str() {
            "Sid" | "Effect" | "Principal" | "Action" | "Resource" | "Condition" => {}
            "NotPrincipal" | "NotAction" | "NotResource" => {
                let positive = &name[3..];
                return Err(at.error(format!(
                    "{name} is not supported in kmsfs key policies; list what the statement is about in {positive}"
                )));
            }
            _ => {
                return Err(at.error(format!(
                    "unknown field {name:?} (expected {STATEMENT_FIELDS})"
                )))
            }
        }
    }
    let effect = match at.required(fields, "Effect", " (\"Allow\" or \"Deny\")")? {
        Value::String(e) if e == "Allow" => Effect::Allow,
        Value::String(e) if e == "Deny" => Effect::Deny,
        other => {
            return Err(at.error(format!(
                "Effect must be \"Allow\" or \"Deny\", got {}",
                describe(other)
            )))
        }
    };
    let principals = parse_principals(
        &at,
        at.required(
            fields,
            "Principal",
            ", e.g. {\"Unix\": [\"user:alice\"]} or \"*\"",
        )?,
    )?;
    let actions = parse_actions(
        &at,
        at.required(fields, "Action", ", e.g. \"kms:Decrypt\"")?,
    )?;
    let resources = parse_resources(
        &at,
        at.required(fields, "Resource", " (\"*\" means this key)")?,
    )?;
    let conditions = match fields.get("Condition") {
        None => Vec::new(),
        Some(value) => parse_conditions(&at, value)?,
    };
    Ok(Statement {
        sid: at.sid,
        effect,
        principals,
        actions,
        resources,
        conditions,
    })
}

/// `"*"`, `{"Unix": "user:x"}`, `{"Unix": [..]}`, or `{"AWS": "*"}` (everyone).
fn parse_principals(at: &At, value: &Value) -> Result<Vec<Principal>, PolicyError> {
    let kinds = match value {
        Value::String(star) if star == "*" => return Ok(vec![Principal::Any]),
        Value::Object(kinds) if !kinds.is_empty() => kinds,
        other => {
            return Err(at.error(format!(
                "Principal must be \"*\" or an object like {{\"Unix\": [\"user:alice\"]}}, got {}",
                describe(other)
            )))
        }
    };
    let mut principals = Vec::new();
    for (kind, names) in kinds {
        let names = at.strings(&format!("Principal {kind:?}"), names)?;
        match kind.as_str() {
            "Unix" => {
                for name in names {
                    let principal = name.parse().map_err(|e: ParseError| at.error(e.0))?;
                    principals.push(principal);
                }
            }
            "AWS" if names == ["*"] => principals.push(Principal::Any),
            "AWS" => {
                return Err(at.error(
                    "Principal \"AWS\" may only be \"*\"; name Unix principals as {\"Unix\": [\"user:NAME\", \"uid:N\", \"group:NAME\", \"gid:N\"]}",
                ))
            }
            _ => {
                return Err(at.error(format!(
                    "Principal type {kind:?} is not supported (expected \"Unix\", or \"AWS\": \"*\")"
                )))
            }
        }
    }
    Ok(principals)
}

/// `*` or `kms:NAME` patterns that match at least one known action.
fn parse_actions(at: &At, value: &Value) -> Result<Vec<String>, PolicyError> {
    at.strings("Action", value)?
        .into_iter()
        .map(|action| {
            let is_kms = action == "*"
                || action
                    .get(..4)
                    .is_some_and(|service| service.eq_ignore_ascii_case("kms:"));
            if !is_kms {
                return Err(at.error(format!(
                    "Action {action:?} is not a KMS action (expected \"kms:NAME\" or \"*\")"
                )));
            }
            if !matches_a_known_action(action) {
                return Err(at.error(format!("Action {action:?} matches no KMS action")));
            }
            Ok(action.to_string())
        })
        .collect()
}

/// `*` or a key ARN `arn:kmsfs:kms:local:ACCOUNT:key/ID`.
fn parse_resources(at: &At, value: &Value) -> Result<Vec<String>, PolicyError> {
    at.strings("Resource", value)?
        .into_iter()
        .map(|resource| {
            if resource == "*" {
                return Ok(resource.to_string());
            }
            let arn = resource.parse::<Arn>().ok();
            if arn.as_ref().is_some_and(|arn| arn.resource.starts_with("alias/")) {
                return Err(at.error(format!(
                    "Resource {resource:?} is an alias ARN; a key policy's Resource is \"*\" or the key's ARN"
                )));
            }
            let names_a_key = arn
                .as_ref()
                .and_then(|arn| arn.resource.strip_prefix("key/"))
                .is_some_and(|id| id.parse::<KeyId>().is_ok());
            if !names_a_key {
                return Err(at.error(format!(
                    "Resource {resource:?} must be \"*\" or a key ARN (arn:kmsfs:kms:local:ACCOUNT:key/ID)"
                )));
            }
            Ok(resource.to_string())
        })
        .collect()
}

/// `{ OPERATOR: { CONDITION_KEY: string | [string] } }`.
fn parse_conditions(at: &At, value: &Value) -> Result<Vec<Condition>, PolicyError> {
    let example = "{\"StringEquals\": {\"kms:EncryptionContext:KEY\": \"VALUE\"}}";
    let operators = match value {
        Value::Object(operators) if !operators.is_empty() => operators,
        other => {
            return Err(at.error(format!(
                "Condition must be an object like {example}, got {}",
                describe(other)
            )))
        }
    };
    let mut conditions: Vec<Condition> = Vec::new();
    for (operator_name, keys) in operators {
        let operator = ConditionOperator::parse(operator_name).ok_or_else(|| {
            at.error(format!(
                "Condition operator {operator_name:?} is not supported (expected {OPERATOR_NAMES})"
            ))
        })?;
        let keys = match keys {
            Value::Object(keys) if !keys.is_empty() => keys,
            other => {
                return Err(at.error(format!(
                    "Condition {operator_name} must map condition keys to values, got {}",
                    describe(other)
                )))
            }
        };
        for (key_name, values) in keys {
            let key = ConditionKey::parse(key_name).ok_or_else(|| {
                at.error(format!(
                    "Condition key {key_name:?} is not supported (expected {KEY_NAMES})"
                ))
            })?;
            if key.is_multivalued() && operator.qualifier.is_none() {
                return Err(at.error(format!(
                    "Condition {operator_name} on {key_name}: the key has several values; use ForAnyValue:{operator_name} or ForAllValues:{operator_name}"
                )));
            }
            if conditions
                .iter()
                .any(|c| c.operator == operator && c.key == key)
            {
                return Err(at.error(format!("Condition {operator_name} names {key} twice")));
            }
            let values = at.strings(&format!("Condition {operator_name} {key_name}"), values)?;
            conditions.push(Condition {
                operator,
                key,
                values: values.into_iter().map(str::to_string).collect(),
            });
        }
    }
    Ok(conditions)
}

#[cfg(test)]
mod tests {
    use crate::policy::test_support::{error_of, with_statement};

    #[test]
    fn every_statement_refusal_says_where() {
        let allow = |fields: &str| {
            with_statement(&format!(
                r#"{{"Sid": "S", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"{fields}}}"#
            ))
        };
        let table: Vec<(String, String)> = vec![
            (
                with_statement(r#"{"Sid": "ok", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"},
                                  {"Sid": "Allow use of the key", "Effect": "allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}"#),
                r#"Statement[1] (Sid "Allow use of the key"): Effect must be "Allow" or "Deny", got "allow""#.into(),
            ),
            (
                with_statement(r#"{"Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}"#),
                r#"Statement[0]: Effect is required ("Allow" or "Deny")"#.into(),
            ),
            (
                with_statement(r#"{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrpyt", "Resource": "*"}"#),
                r#"Statement[0]: Action "kms:Decrpyt" matches no KMS action"#.into(),
            ),
            (
                with_statement(r#"{"Effect": "Allow", "Principal": "*", "Action": ["kms:Decrypt", "s3:GetObject"], "Resource": "*"}"#),
                r#"Statement[0]: Action "s3:GetObject" is not a KMS action (expected "kms:NAME" or "*")"#.into(),
            ),
            (
                with_statement(r#"{"Effect": "Allow", "Principal": "*", "Action": [], "Resource": "*"}"#),
                "Statement[0]: Action must not be an empty list".into(),
            ),
            (
                with_statement(r#"{"Effect": "Allow", "Principal": "*", "Action": ["kms:Decrypt", 7], "Resource": "*"}"#),
                "Statement[0]: Action must be a string or an array of strings, got 7".into(),
            ),
            (
                with_statement(r#"{"Effect": "Allow", "Principal": "*", "Resource": "*"}"#),
                r#"Statement[0]: Action is required, e.g. "kms:Decrypt""#.into(),
            ),
            (
                with_statement(r#"{"Sid": "S", "Effect": "Allow", "Principal": {"Unix": ["user:alice", "usr:bob"]}, "Action": "kms:Decrypt", "Resource": "*"}"#),
                r#"Statement[0] (Sid "S"): invalid principal "usr:bob": expected user:NAME, uid:N, group:NAME, gid:N or *"#.into(),
            ),
            (
                with_statement(r#"{"Effect": "Allow", "Principal": "alice", "Action": "kms:Decrypt", "Resource": "*"}"#),
                r#"Statement[0]: Principal must be "*" or an object like {"Unix": ["user:alice"]}, got "alice""#.into(),
            ),
            (
                with_statement(r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "kms:Decrypt", "Resource": "*"}"#),
                r#"Statement[0]: Principal "AWS" may only be "*"; name Unix principals as {"Unix": ["user:NAME", "uid:N", "group:NAME", "gid:N"]}"#.into(),
            ),
            (
                with_statement(r#"{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "kms:Decrypt", "Resource": "*"}"#),
                r#"Statement[0]: Principal type "Service" is not supported (expected "Unix", or "AWS": "*")"#.into(),
            ),
            (
                with_statement(r#"{"Effect": "Allow", "Principal": {"Unix": []}, "Action": "kms:Decrypt", "Resource": "*"}"#),
                r#"Statement[0]: Principal "Unix" must not be an empty list"#.into(),
            ),
            (
                with_statement(r#"{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}"#),
                r#"Statement[0]: Principal is required, e.g. {"Unix": ["user:alice"]} or "*""#.into(),
            ),
            (
                with_statement(r#"{"Sid": "S", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt"}"#),
                r#"Statement[0] (Sid "S"): Resource is required ("*" means this key)"#.into(),
            ),
            (
                allow(r#", "Resources": "*""#).replace(r#", "Resource": "*""#, ""),
                r#"Statement[0] (Sid "S"): unknown field "Resources" (expected Sid, Effect, Principal, Action, Resource or Condition)"#.into(),
            ),
            (
                with_statement(r#"{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:us-east-1:1:key/x"}"#),
                r#"Statement[0]: Resource "arn:aws:kms:us-east-1:1:key/x" must be "*" or a key ARN (arn:kmsfs:kms:local:ACCOUNT:key/ID)"#.into(),
            ),
            (
                with_statement(r#"{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "arn:kmsfs:kms:local:1:key/not-a-uuid"}"#),
                r#"Statement[0]: Resource "arn:kmsfs:kms:local:1:key/not-a-uuid" must be "*" or a key ARN (arn:kmsfs:kms:local:ACCOUNT:key/ID)"#.into(),
            ),
            (
                with_statement(r#"{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "arn:kmsfs:kms:local:1:alias/x"}"#),
                r#"Statement[0]: Resource "arn:kmsfs:kms:local:1:alias/x" is an alias ARN; a key policy's Resource is "*" or the key's ARN"#.into(),
            ),
            (
                with_statement(r#"{"Sid": "S", "Effect": "Allow", "Principal": "*", "NotAction": "kms:Decrypt", "Resource": "*"}"#),
                r#"Statement[0] (Sid "S"): NotAction is not supported in kmsfs key policies; list what the statement is about in Action"#.into(),
            ),
            (
                with_statement(r#"{"Effect": "Deny", "NotPrincipal": {"Unix": "uid:0"}, "Action": "kms:*", "Resource": "*"}"#),
                "Statement[0]: NotPrincipal is not supported in kmsfs key policies; list what the statement is about in Principal".into(),
            ),
            (
                with_statement(r#"{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "NotResource": "*"}"#),
                "Statement[0]: NotResource is not supported in kmsfs key policies; list what the statement is about in Resource".into(),
            ),
            (
                with_statement(r#"{"Sid": 5, "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}"#),
                "Statement[0]: Sid must be a string, got 5".into(),
            ),
            (
                with_statement(r#"{"Sid": "A", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
                                  {"Sid": "A", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"}"#),
                r#"Statement[1] (Sid "A"): Sid "A" is already used by Statement[0]"#.into(),
            ),
            (with_statement(r#"["Allow"]"#), "Statement[0]: must be a JSON object, got an array".into()),
            // Conditions.
            (
                allow(r#", "Condition": {"StringEqual": {"kms:EncryptionContext:a": "b"}}"#),
                r#"Statement[0] (Sid "S"): Condition operator "StringEqual" is not supported (expected StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike or StringNotLike, optionally prefixed ForAnyValue: or ForAllValues:)"#.into(),
            ),
            (
                allow(r#", "Condition": {"StringEquals": {"kms:CallerAccount": "1"}}"#),
                r#"Statement[0] (Sid "S"): Condition key "kms:CallerAccount" is not supported (expected kms:EncryptionContext:KEY or kms:EncryptionContextKeys)"#.into(),
            ),
            (
                allow(r#", "Condition": {"StringEquals": {"kms:EncryptionContextKeys": "a"}}"#),
                r#"Statement[0] (Sid "S"): Condition StringEquals on kms:EncryptionContextKeys: the key has several values; use ForAnyValue:StringEquals or ForAllValues:StringEquals"#.into(),
            ),
            (
                allow(r#", "Condition": {"StringEquals": {"kms:EncryptionContext:a": "b", "KMS:ENCRYPTIONCONTEXT:a": "c"}}"#),
                r#"Statement[0] (Sid "S"): Condition StringEquals names kms:EncryptionContext:a twice"#.into(),
            ),
            (
                allow(r#", "Condition": {"StringEquals": {"kms:EncryptionContext:a": 1}}"#),
                r#"Statement[0] (Sid "S"): Condition StringEquals kms:EncryptionContext:a must be a string or an array of strings, got 1"#.into(),
            ),
            (
                allow(r#", "Condition": {"StringEquals": {}}"#),
                r#"Statement[0] (Sid "S"): Condition StringEquals must map condition keys to values, got an object"#.into(),
            ),
            (
                allow(r#", "Condition": {}"#),
                r#"Statement[0] (Sid "S"): Condition must be an object like {"StringEquals": {"kms:EncryptionContext:KEY": "VALUE"}}, got an object"#.into(),
            ),
        ];
        for (json, expected) in &table {
            assert_eq!(&error_of(json), expected, "for {json}");
        }
    }
}
