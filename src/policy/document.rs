//! Key policy documents: the parsed form of the AWS policy grammar with Unix
//! principals, its errors, and its JSON rendering.
//! Pure: imports only `crate::model`, serde_json and the rest of `policy`.

use std::fmt;

use serde_json::{json, Map, Value};

use crate::model::Arn;

use super::condition::Condition;
use super::Principal;

/// The largest policy document accepted, in bytes (AWS: 32 KiB).
pub const MAX_POLICY_BYTES: usize = 32768;

/// The policy language versions AWS accepts.
pub const VERSIONS: [&str; 2] = ["2012-10-17", "2008-10-17"];

/// A validated key policy. Build one with [`PolicyDocument::parse`] or
/// [`PolicyDocument::default_for`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyDocument {
    pub version: String,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// One statement. `principals`, `actions` and `resources` are never empty; a
/// statement applies to a request when a principal matches, an action pattern
/// matches and every condition holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principals: Vec<Principal>,
    /// Action patterns as written (`kms:Decrypt`, `kms:GenerateDataKey*`, `*`).
    pub actions: Vec<String>,
    /// `*` or key ARNs.
    pub resources: Vec<String>,
    /// AND-ed, in document order.
    pub conditions: Vec<Condition>,
}

/// Why a policy document was refused, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyError {
    TooLarge {
        size: usize,
    },
    InvalidJson {
        line: usize,
        column: usize,
        message: String,
    },
    /// A problem with the document's top level.
    Document(String),
    /// A problem inside `Statement[index]`.
    Statement {
        index: usize,
        sid: Option<String>,
        problem: String,
    },
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::TooLarge { size } => write!(
                f,
                "policy document is {size} bytes; at most {MAX_POLICY_BYTES} are allowed"
            ),
            PolicyError::InvalidJson {
                line,
                column,
                message,
            } => write!(f, "invalid JSON at line {line} column {column}: {message}"),
            PolicyError::Document(problem) => f.write_str(problem),
            PolicyError::Statement {
                index,
                sid: Some(sid),
                problem,
            } => write!(f, "Statement[{index}] (Sid {sid:?}): {problem}"),
            PolicyError::Statement {
                index,
                sid: None,
                problem,
            } => write!(f, "Statement[{index}]: {problem}"),
        }
    }
}

impl std::error::Error for PolicyError {}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Statement {
    /// An Allow statement on `*` without conditions.
    pub fn allow(sid: &str, actions: &[&str], principals: Vec<Principal>) -> Statement {
        Statement {
            sid: Some(sid.to_string()),
            effect: Effect::Allow,
            principals,
            actions: actions.iter().map(|a| a.to_string()).collect(),
            resources: vec!["*".to_string()],
            conditions: Vec::new(),
        }
    }

    /// The error for a problem in this statement, at position `index`.
    pub(super) fn error(&self, index: usize, problem: impl Into<String>) -> PolicyError {
        PolicyError::Statement {
            index,
            sid: self.sid.clone(),
            problem: problem.into(),
        }
    }

    fn to_json(&self) -> Value {
        let mut out = Map::new();
        if let Some(sid) = &self.sid {
            out.insert("Sid".into(), json!(sid));
        }
        out.insert("Effect".into(), json!(self.effect.as_str()));
        let principal = if self.principals == [Principal::Any] {
            json!("*")
        } else {
            json!({ "Unix": one_or_many(self.principals.iter().map(Principal::to_string)) })
        };
        out.insert("Principal".into(), principal);
        out.insert("Action".into(), one_or_many(self.actions.iter().cloned()));
        out.insert(
            "Resource".into(),
            one_or_many(self.resources.iter().cloned()),
        );
        if !self.conditions.is_empty() {
            out.insert("Condition".into(), conditions_to_json(&self.conditions));
        }
        Value::Object(out)
    }
}

/// A list of one is written as a plain string, as the AWS console does.
fn one_or_many(items: impl Iterator<Item = String>) -> Value {
    let mut items: Vec<Value> = items.map(Value::String).collect();
    if items.len() == 1 {
        items.remove(0)
    } else {
        Value::Array(items)
    }
}

/// `{ OPERATOR: { KEY: values } }`, operators in first-seen order.
fn conditions_to_json(conditions: &[Condition]) -> Value {
    let mut by_operator = Map::new();
    for condition in conditions {
        let keys = by_operator
            .entry(condition.operator.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(keys) = keys {
            keys.insert(
                condition.key.to_string(),
                one_or_many(condition.values.iter().cloned()),
            );
        }
    }
    Value::Object(by_operator)
}

impl PolicyDocument {
    /// The document as indented JSON that [`PolicyDocument::parse`] reads back
    /// to an equal document. Sids, statement order and field order are kept.
    pub fn to_json_pretty(&self) -> String {
        let mut out = Map::new();
        out.insert("Version".into(), json!(self.version));
        if let Some(id) = &self.id {
            out.insert("Id".into(), json!(id));
        }
        let statements = self.statements.iter().map(Statement::to_json).collect();
        out.insert("Statement".into(), Value::Array(statements));
        serde_json::to_string_pretty(&Value::Object(out))
            .unwrap_or_else(|e| unreachable!("BUG: a JSON value always serializes: {e}"))
    }

    /// Every principal the document mentions, once each, in order of first mention.
    pub fn principals_named(&self) -> Vec<&Principal> {
        let mut named: Vec<&Principal> = Vec::new();
        for principal in self.statements.iter().flat_map(|s| &s.principals) {
            if !named.contains(&principal) {
                named.push(principal);
            }
        }
        named
    }

    /// The statement with this Sid, if any.
    pub fn statement_by_sid(&self, sid: &str) -> Option<&Statement> {
        self.statements
            .iter()
            .find(|s| s.sid.as_deref() == Some(sid))
    }

    /// Checks that every Resource is `*` or the ARN of the key the policy is for:
    /// evaluation treats every statement as being about that key, so a statement
    /// naming another key must not be stored on this one.
    pub fn check_resources_name(&self, key_arn: &Arn) -> Result<(), PolicyError> {
        let own = key_arn.to_string();
        for (index, statement) in self.statements.iter().enumerate() {
            if let Some(other) = statement
                .resources
                .iter()
                .find(|r| r.as_str() != "*" && **r != own)
            {
                return Err(statement.error(
                    index,
                    format!("Resource {other:?} names another key; this policy is for {own} (use \"*\")"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::KeyId;

    #[test]
    fn resources_must_name_the_policys_own_key() {
        let own = KeyId::new_random().arn("111122223333");
        let other = KeyId::new_random().arn("111122223333");
        let policy_on = |resource: &str| {
            PolicyDocument::parse(&format!(
                r#"{{"Version": "2012-10-17", "Statement": [
                    {{"Effect": "Allow", "Principal": "*", "Action": "kms:DescribeKey", "Resource": "*"}},
                    {{"Sid": "S", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": ["*", "{resource}"]}}]}}"#
            ))
            .unwrap()
        };
        assert_eq!(
            policy_on(&own.to_string()).check_resources_name(&own),
            Ok(())
        );
        let err = policy_on(&other.to_string())
            .check_resources_name(&own)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                r#"Statement[1] (Sid "S"): Resource "{other}" names another key; this policy is for {own} (use "*")"#
            )
        );
    }

    #[test]
    fn principals_named_lists_each_once_in_order() {
        let policy = PolicyDocument::parse(
            r#"{"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Unix": ["user:alice", "group:staff"]}, "Action": "kms:*", "Resource": "*"},
                {"Effect": "Deny", "Principal": {"Unix": ["gid:5", "user:alice", "*"]}, "Action": "kms:*", "Resource": "*"}]}"#,
        )
        .unwrap();
        let named: Vec<String> = policy
            .principals_named()
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(named, ["user:alice", "group:staff", "gid:5", "*"]);
    }
}
