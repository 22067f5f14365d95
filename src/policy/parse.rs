//! Reading a key policy document: JSON, size and the top level (`Version`, `Id`,
//! `Statement`); each statement is read by `parse_statement`. Every refusal
//! says where the document is wrong.
//! Pure: imports only serde_json and the rest of `policy`.

use serde_json::Value;

use super::document::{PolicyDocument, PolicyError, Statement, MAX_POLICY_BYTES, VERSIONS};
use super::parse_statement::parse_statement;
use super::strict_json;

impl PolicyDocument {
    /// Parses and validates a key policy (at most [`MAX_POLICY_BYTES`] bytes).
    pub fn parse(json: &str) -> Result<PolicyDocument, PolicyError> {
        if json.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge { size: json.len() });
        }
        let value = strict_json::from_str(json).map_err(json_error)?;
        let Value::Object(top) = value else {
            return Err(document_error(format!(
                "a policy document must be a JSON object, got {}",
                describe(&value)
            )));
        };
        if let Some(unknown) = top
            .keys()
            .find(|k| !matches!(k.as_str(), "Version" | "Id" | "Statement"))
        {
            return Err(document_error(format!(
                "unknown field {unknown:?} (expected Version, Id or Statement)"
            )));
        }
        let version = match top.get("Version") {
            None => return Err(document_error("Version is required (use \"2012-10-17\")")),
            Some(Value::String(v)) if VERSIONS.contains(&v.as_str()) => v.clone(),
            Some(other) => {
                return Err(document_error(format!(
                    "Version must be \"2012-10-17\" or \"2008-10-17\", got {}",
                    describe(other)
                )))
            }
        };
        let id = match top.get("Id") {
            None => None,
            Some(Value::String(id)) => Some(id.clone()),
            Some(other) => {
                return Err(document_error(format!(
                    "Id must be a string, got {}",
                    describe(other)
                )))
            }
        };
        let items = match top.get("Statement") {
            None => return Err(document_error("Statement is required")),
            Some(Value::Array(items)) if items.is_empty() => {
                return Err(document_error("Statement must hold at least one statement"))
            }
            Some(Value::Array(items)) => items.iter().collect(),
            Some(single @ Value::Object(_)) => vec![single],
            Some(other) => {
                return Err(document_error(format!(
                    "Statement must be an object or an array of objects, got {}",
                    describe(other)
                )))
            }
        };
        let mut statements: Vec<Statement> = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            let statement = parse_statement(index, item)?;
            if let Some(sid) = &statement.sid {
                if let Some(first) = statements.iter().position(|s| s.sid.as_ref() == Some(sid)) {
                    return Err(statement.error(
                        index,
                        format!("Sid {sid:?} is already used by Statement[{first}]"),
                    ));
                }
            }
            statements.push(statement);
        }
        Ok(PolicyDocument {
            version,
            id,
            statements,
        })
    }
}

fn document_error(problem: impl Into<String>) -> PolicyError {
    PolicyError::Document(problem.into())
}

/// serde_json's message without its own " at line L column C" suffix, which
/// [`PolicyError::InvalidJson`] puts in front instead.
fn json_error(error: serde_json::Error) -> PolicyError {
    let full = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    PolicyError::InvalidJson {
        line: error.line(),
        column: error.column(),
        message: full.strip_suffix(&suffix).unwrap_or(&full).to_string(),
    }
}

/// A JSON value as an error message shows it: strings quoted, containers by kind.
pub(super) fn describe(value: &Value) -> String {
    match value {
        Value::String(text) => format!("{text:?}"),
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(_) => "an array".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::test_support::error_of;
    use crate::policy::{ConditionKey, Effect, Principal, SetQualifier, StringTest};

    const KEY_ARN: &str =
        "arn:kmsfs:kms:local:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn reads_the_full_grammar() {
        let json = format!(
            r#"{{
              "Version": "2008-10-17",
              "Id": "my-policy",
              "Statement": [
                {{
                  "Sid": "Use",
                  "Effect": "Allow",
                  "Principal": {{"Unix": ["user:alice", "uid:1001", "group:staff", "gid:50"]}},
                  "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                  "Resource": ["*", "{KEY_ARN}"],
                  "Condition": {{
                    "StringEquals": {{"kms:EncryptionContext:dept": ["IT", "HR"]}},
                    "ForAllValues:StringLike": {{"kms:EncryptionContextKeys": "dept*"}}
                  }}
                }},
                {{"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}},
                {{"Effect": "Deny", "Principal": {{"AWS": "*"}}, "Action": "KMS:decrypt", "Resource": "*"}}
              ]
            }}"#
        );
        let policy = PolicyDocument::parse(&json).unwrap();
        assert_eq!(policy.version, "2008-10-17");
        assert_eq!(policy.id.as_deref(), Some("my-policy"));
        let use_ = &policy.statements[0];
        assert_eq!(use_.sid.as_deref(), Some("Use"));
        assert_eq!(use_.effect, Effect::Allow);
        assert_eq!(
            use_.principals,
            vec![
                Principal::User("alice".into()),
                Principal::Uid(1001),
                Principal::Group("staff".into()),
                Principal::Gid(50)
            ]
        );
        assert_eq!(use_.actions, ["kms:Decrypt", "kms:GenerateDataKey*"]);
        assert_eq!(use_.resources, ["*", KEY_ARN]);
        assert_eq!(use_.conditions.len(), 2);
        assert_eq!(use_.conditions[0].operator.test, StringTest::Equals);
        assert_eq!(
            use_.conditions[0].key,
            ConditionKey::EncryptionContext("dept".into())
        );
        assert_eq!(use_.conditions[0].values, ["IT", "HR"]);
        assert_eq!(
            use_.conditions[1].operator.qualifier,
            Some(SetQualifier::ForAllValues)
        );
        assert_eq!(use_.conditions[1].key, ConditionKey::EncryptionContextKeys);
        assert_eq!(policy.statements[1].sid, None);
        assert_eq!(policy.statements[1].principals, [Principal::Any]);
        assert_eq!(policy.statements[2].principals, [Principal::Any]);
        // A single statement object instead of an array.
        let single = r#"{"Version": "2012-10-17", "Statement":
            {"Effect": "Allow", "Principal": "*", "Action": "kms:DescribeKey", "Resource": "*"}}"#;
        assert_eq!(PolicyDocument::parse(single).unwrap().statements.len(), 1);
    }

    #[test]
    fn round_trips_through_json() {
        let json = format!(
            r#"{{"Version": "2012-10-17", "Id": "x", "Statement": [
              {{"Sid": "B first", "Effect": "Deny", "Principal": {{"Unix": "user:mallory"}},
                "Action": "kms:*", "Resource": "*",
                "Condition": {{"StringNotEquals": {{"kms:EncryptionContext:app": "x"}},
                               "ForAnyValue:StringEquals": {{"kms:EncryptionContextKeys": ["a", "b"]}}}}}},
              {{"Sid": "A second", "Effect": "Allow", "Principal": {{"Unix": ["group:staff", "*"]}},
                "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": ["{KEY_ARN}"]}},
              {{"Effect": "Allow", "Principal": "*", "Action": "kms:DescribeKey", "Resource": "*"}}
            ]}}"#
        );
        let policy = PolicyDocument::parse(&json).unwrap();
        let rendered = policy.to_json_pretty();
        assert_eq!(PolicyDocument::parse(&rendered).unwrap(), policy);
        // Order and shapes: Sids in document order, single values as strings.
        let value: Value = serde_json::from_str(&rendered).unwrap();
        assert_eq!(value["Statement"][0]["Sid"], "B first");
        assert_eq!(value["Statement"][1]["Sid"], "A second");
        assert_eq!(value["Statement"][0]["Principal"]["Unix"], "user:mallory");
        assert_eq!(value["Statement"][1]["Principal"]["Unix"][1], "*");
        assert_eq!(value["Statement"][1]["Resource"], KEY_ARN);
        assert_eq!(value["Statement"][2]["Principal"], "*");
        assert!(value["Statement"][2].get("Sid").is_none());
        assert_eq!(
            value["Statement"][0]["Condition"]["ForAnyValue:StringEquals"]
                ["kms:EncryptionContextKeys"][1],
            "b"
        );
        let fields: Vec<&String> = value["Statement"][0].as_object().unwrap().keys().collect();
        assert_eq!(
            fields,
            [
                "Sid",
                "Effect",
                "Principal",
                "Action",
                "Resource",
                "Condition"
            ]
        );
        // A changed document renders differently: the round trip is not vacuous.
        let mut changed = policy.clone();
        changed.statements[0].conditions[0].values[0] = "y".into();
        assert_ne!(
            PolicyDocument::parse(&changed.to_json_pretty()).unwrap(),
            policy
        );
    }

    #[test]
    fn top_level_and_json_refusals() {
        let table: Vec<(String, String)> = vec![
            // The top level.
            (
                r#"{"Statement": []}"#.into(),
                r#"Version is required (use "2012-10-17")"#.into(),
            ),
            (
                r#"{"Version": "2020-01-01", "Statement": []}"#.into(),
                r#"Version must be "2012-10-17" or "2008-10-17", got "2020-01-01""#.into(),
            ),
            (
                r#"{"Version": "2012-10-17"}"#.into(),
                "Statement is required".into(),
            ),
            (
                r#"{"Version": "2012-10-17", "Statement": []}"#.into(),
                "Statement must hold at least one statement".into(),
            ),
            (
                r#"{"Version": "2012-10-17", "Statement": "x"}"#.into(),
                r#"Statement must be an object or an array of objects, got "x""#.into(),
            ),
            (
                r#"{"Version": "2012-10-17", "Id": 1, "Statement": []}"#.into(),
                "Id must be a string, got 1".into(),
            ),
            (
                r#"{"Version": "2012-10-17", "Statment": []}"#.into(),
                r#"unknown field "Statment" (expected Version, Id or Statement)"#.into(),
            ),
            (
                "[]".into(),
                "a policy document must be a JSON object, got an array".into(),
            ),
            // JSON itself.
            (
                "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\" []\n}".into(),
                "invalid JSON at line 3 column 15: expected `:`".into(),
            ),
            (
                "{\"Version\": \"2012-10-17\",\n\"Version\": \"2012-10-17\"}".into(),
                "invalid JSON at line 2 column 9: duplicate key \"Version\"".into(),
            ),
            (
                "".into(),
                "invalid JSON at line 1 column 0: EOF while parsing a value".into(),
            ),
        ];
        for (json, expected) in &table {
            assert_eq!(&error_of(json), expected, "for {json}");
        }
    }

    #[test]
    fn size_limit_is_32_kib() {
        let padding = |total: usize| {
            let head = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}]}"#;
            format!("{head}{}", " ".repeat(total - head.len()))
        };
        assert!(PolicyDocument::parse(&padding(MAX_POLICY_BYTES)).is_ok());
        let too_large = padding(MAX_POLICY_BYTES + 1);
        assert_eq!(
            PolicyDocument::parse(&too_large),
            Err(PolicyError::TooLarge { size: 32769 })
        );
        assert_eq!(
            error_of(&too_large),
            "policy document is 32769 bytes; at most 32768 are allowed"
        );
    }
}
