//! Policy conditions on the encryption context: operators, condition keys and
//! their evaluation with AWS semantics.
//! Pure: imports only `crate::model`.

use std::fmt;

use crate::model::EncryptionContext;

use super::matching::{eq_ignore_case, wildcard_match, Case};

/// How each request value is compared with the policy's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StringTest {
    Equals,
    NotEquals,
    EqualsIgnoreCase,
    NotEqualsIgnoreCase,
    Like,
    NotLike,
}

/// How a test over several request values is combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetQualifier {
    /// True if at least one request value passes; false when there are none.
    ForAnyValue,
    /// True if every request value passes; true when there are none.
    ForAllValues,
}

/// A condition operator such as `StringEquals` or `ForAllValues:StringLike`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConditionOperator {
    pub qualifier: Option<SetQualifier>,
    pub test: StringTest,
}

/// The request values a condition looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConditionKey {
    /// `kms:EncryptionContext:KEY`: the value of KEY in the request's context
    /// (single-valued). As in AWS, KEY is matched ignoring case; the value's case
    /// counts as the operator says.
    EncryptionContext(String),
    /// `kms:EncryptionContextKeys`: the keys of the request's context (multivalued).
    EncryptionContextKeys,
}

/// One condition: an operator applied to one key with a list of values (OR-ed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub operator: ConditionOperator,
    pub key: ConditionKey,
    pub values: Vec<String>,
}

/// The operators [`ConditionOperator::parse`] accepts, for error messages.
pub const OPERATOR_NAMES: &str = "StringEquals, StringNotEquals, StringEqualsIgnoreCase, \
     StringNotEqualsIgnoreCase, StringLike or StringNotLike, optionally prefixed \
     ForAnyValue: or ForAllValues:";

/// The condition keys [`ConditionKey::parse`] accepts, for error messages.
pub const KEY_NAMES: &str = "kms:EncryptionContext:KEY or kms:EncryptionContextKeys";

const CONTEXT_KEY_PREFIX: &str = "kms:EncryptionContext:";
const CONTEXT_KEYS: &str = "kms:EncryptionContextKeys";

impl StringTest {
    const ALL: [StringTest; 6] = [
        StringTest::Equals,
        StringTest::NotEquals,
        StringTest::EqualsIgnoreCase,
        StringTest::NotEqualsIgnoreCase,
        StringTest::Like,
        StringTest::NotLike,
    ];

    fn name(self) -> &'static str {
        match self {
            StringTest::Equals => "StringEquals",
            StringTest::NotEquals => "StringNotEquals",
            StringTest::EqualsIgnoreCase => "StringEqualsIgnoreCase",
            StringTest::NotEqualsIgnoreCase => "StringNotEqualsIgnoreCase",
            StringTest::Like => "StringLike",
            StringTest::NotLike => "StringNotLike",
        }
    }

    /// The `Not` forms pass a value that matches none of the policy's values.
    fn is_negated(self) -> bool {
        matches!(
            self,
            StringTest::NotEquals | StringTest::NotEqualsIgnoreCase | StringTest::NotLike
        )
    }

    /// The positive comparison of one policy value with one request value.
    fn compares_equal(self, policy_value: &str, request_value: &str) -> bool {
        match self {
            StringTest::Equals | StringTest::NotEquals => policy_value == request_value,
            StringTest::EqualsIgnoreCase | StringTest::NotEqualsIgnoreCase => {
                eq_ignore_case(policy_value, request_value)
            }
            StringTest::Like | StringTest::NotLike => {
                wildcard_match(policy_value, request_value, Case::Sensitive)
            }
        }
    }
}

impl SetQualifier {
    const ALL: [SetQualifier; 2] = [SetQualifier::ForAnyValue, SetQualifier::ForAllValues];

    fn name(self) -> &'static str {
        match self {
            SetQualifier::ForAnyValue => "ForAnyValue",
            SetQualifier::ForAllValues => "ForAllValues",
        }
    }
}

impl ConditionOperator {
    /// Parses an operator name; operator names are case-sensitive, as in AWS.
    pub fn parse(name: &str) -> Option<ConditionOperator> {
        let (qualifier, test_name) = match name.split_once(':') {
            Some((prefix, rest)) => {
                let qualifier = SetQualifier::ALL.into_iter().find(|q| q.name() == prefix)?;
                (Some(qualifier), rest)
            }
            None => (None, name),
        };
        let test = StringTest::ALL
            .into_iter()
            .find(|t| t.name() == test_name)?;
        Some(ConditionOperator { qualifier, test })
    }
}

impl fmt::Display for ConditionOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(qualifier) = self.qualifier {
            write!(f, "{}:", qualifier.name())?;
        }
        f.write_str(self.test.name())
    }
}

impl ConditionKey {
    /// Parses a condition key; its `kms:EncryptionContext...` part ignores case, as in AWS.
    pub fn parse(name: &str) -> Option<ConditionKey> {
        if name.eq_ignore_ascii_case(CONTEXT_KEYS) {
            return Some(ConditionKey::EncryptionContextKeys);
        }
        let prefix = name.get(..CONTEXT_KEY_PREFIX.len())?;
        let context_key = &name[CONTEXT_KEY_PREFIX.len()..];
        (prefix.eq_ignore_ascii_case(CONTEXT_KEY_PREFIX) && !context_key.is_empty())
            .then(|| ConditionKey::EncryptionContext(context_key.to_string()))
    }

    /// Whether the key can have several values in one request.
    pub fn is_multivalued(&self) -> bool {
        matches!(self, ConditionKey::EncryptionContextKeys)
    }

    /// The values the request holds for this key.
    fn request_values<'c>(&self, context: &'c EncryptionContext) -> Vec<&'c str> {
        match self {
            ConditionKey::EncryptionContext(wanted) => context
                .iter()
                .filter(|(key, _)| eq_ignore_case(key, wanted))
                .map(|(_, value)| value)
                .collect(),
            ConditionKey::EncryptionContextKeys => context.keys().collect(),
        }
    }
}

impl fmt::Display for ConditionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConditionKey::EncryptionContext(key) => write!(f, "{CONTEXT_KEY_PREFIX}{key}"),
            ConditionKey::EncryptionContextKeys => f.write_str(CONTEXT_KEYS),
        }
    }
}

impl Condition {
    /// Whether the condition holds for a request with this encryption context.
    ///
    /// Without a qualifier (single-valued keys) a positive test needs the value to be
    /// present and to match one of the listed values; a `Not` test holds when the
    /// value is absent or matches none. With `ForAnyValue:` some request value must
    /// pass the test (none: false); with `ForAllValues:` every one must (none: true).
    pub fn holds(&self, context: &EncryptionContext) -> bool {
        let test = self.operator.test;
        let passes = |request_value: &&str| {
            let equal_to_one = self
                .values
                .iter()
                .any(|policy_value| test.compares_equal(policy_value, request_value));
            equal_to_one != test.is_negated()
        };
        let request_values = self.key.request_values(context);
        match self.operator.qualifier {
            Some(SetQualifier::ForAnyValue) => request_values.iter().any(passes),
            Some(SetQualifier::ForAllValues) => request_values.iter().all(passes),
            None if test.is_negated() => request_values.iter().all(passes),
            None => request_values.iter().any(passes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::test_support::{context, Pairs};

    fn condition(operator: &str, key: &str, values: &[&str]) -> Condition {
        Condition {
            operator: ConditionOperator::parse(operator).unwrap(),
            key: ConditionKey::parse(key).unwrap(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn operator_names_round_trip_and_unknown_ones_are_refused() {
        for test in StringTest::ALL {
            for prefix in ["", "ForAnyValue:", "ForAllValues:"] {
                let name = format!("{prefix}{}", test.name());
                assert_eq!(ConditionOperator::parse(&name).unwrap().to_string(), name);
            }
        }
        for bad in [
            "StringEqual",
            "stringequals",
            "ForAnyValues:StringEquals",
            "ForAnyValue:",
            "ForAnyValue:ForAllValues:StringEquals",
            "NumericEquals",
            "Bool",
            "StringEqualsIfExists",
        ] {
            assert!(ConditionOperator::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn condition_keys_parse() {
        assert_eq!(
            ConditionKey::parse("kms:EncryptionContext:Dept"),
            Some(ConditionKey::EncryptionContext("Dept".into()))
        );
        assert_eq!(
            ConditionKey::parse("KMS:encryptioncontext:Dept"),
            Some(ConditionKey::EncryptionContext("Dept".into()))
        );
        assert_eq!(
            ConditionKey::parse("kms:EncryptionContextKeys"),
            Some(ConditionKey::EncryptionContextKeys)
        );
        for bad in [
            "kms:EncryptionContext:",
            "kms:EncryptionContext",
            "kms:CallerAccount",
            "aws:username",
            "",
        ] {
            assert_eq!(ConditionKey::parse(bad), None, "{bad}");
        }
    }

    /// The evaluation table: (operator, key, policy values, request context, holds).
    #[test]
    fn every_operator_on_present_and_absent_values() {
        let dept = "kms:EncryptionContext:dept";
        let keys = "kms:EncryptionContextKeys";
        let it: Pairs = &[("dept", "IT")];
        let ops: Pairs = &[("dept", "ops")];
        let none: Pairs = &[];
        let table: &[(&str, &str, &[&str], Pairs, bool)] = &[
            // Single-valued, present.
            ("StringEquals", dept, &["IT"], it, true),
            ("StringEquals", dept, &["it"], it, false),
            ("StringEquals", dept, &["HR", "IT"], it, true), // values are OR-ed
            ("StringNotEquals", dept, &["IT"], it, false),
            ("StringNotEquals", dept, &["HR"], it, true),
            ("StringNotEquals", dept, &["HR", "IT"], it, false),
            ("StringEqualsIgnoreCase", dept, &["it"], it, true),
            ("StringEqualsIgnoreCase", dept, &["hr"], it, false),
            ("StringNotEqualsIgnoreCase", dept, &["it"], it, false),
            ("StringNotEqualsIgnoreCase", dept, &["hr"], it, true),
            ("StringLike", dept, &["o*"], ops, true),
            ("StringLike", dept, &["o?s"], ops, true),
            ("StringLike", dept, &["O*"], ops, false), // Like is case-sensitive
            ("StringLike", dept, &["x*"], ops, false),
            ("StringNotLike", dept, &["o*"], ops, false),
            ("StringNotLike", dept, &["x*"], ops, true),
            // The context key in the condition key ignores case (AWS).
            (
                "StringEquals",
                "kms:EncryptionContext:DEPT",
                &["IT"],
                it,
                true,
            ),
            // Single-valued, absent: positive tests fail, negated ones hold.
            ("StringEquals", dept, &["IT"], none, false),
            ("StringEqualsIgnoreCase", dept, &["IT"], none, false),
            ("StringLike", dept, &["*"], none, false),
            ("StringNotEquals", dept, &["IT"], none, true),
            ("StringNotEqualsIgnoreCase", dept, &["IT"], none, true),
            ("StringNotLike", dept, &["*"], none, true),
            ("StringEquals", dept, &["IT"], &[("team", "IT")], false),
            // Set qualifiers on a single-valued key: none present.
            ("ForAnyValue:StringEquals", dept, &["IT"], none, false),
            ("ForAllValues:StringEquals", dept, &["IT"], none, true),
            // Multivalued: the context's keys.
            (
                "ForAnyValue:StringEquals",
                keys,
                &["dept"],
                &[("dept", "IT"), ("app", "x")],
                true,
            ),
            (
                "ForAnyValue:StringEquals",
                keys,
                &["team"],
                &[("dept", "IT"), ("app", "x")],
                false,
            ),
            ("ForAnyValue:StringEquals", keys, &["dept"], none, false),
            (
                "ForAllValues:StringEquals",
                keys,
                &["dept", "app"],
                &[("dept", "IT"), ("app", "x")],
                true,
            ),
            (
                "ForAllValues:StringEquals",
                keys,
                &["dept"],
                &[("dept", "IT"), ("app", "x")],
                false,
            ),
            ("ForAllValues:StringEquals", keys, &["dept"], none, true),
            ("ForAllValues:StringEquals", keys, &["Dept"], it, false), // keys are case-sensitive here
            (
                "ForAllValues:StringEqualsIgnoreCase",
                keys,
                &["Dept"],
                it,
                true,
            ),
            (
                "ForAllValues:StringLike",
                keys,
                &["aws:*", "dept"],
                &[("aws:x", "1"), ("dept", "IT")],
                true,
            ),
            (
                "ForAnyValue:StringLike",
                keys,
                &["a*"],
                &[("app", "1"), ("dept", "IT")],
                true,
            ),
            (
                "ForAnyValue:StringNotEquals",
                keys,
                &["dept"],
                &[("dept", "IT"), ("app", "x")],
                true,
            ),
            ("ForAnyValue:StringNotEquals", keys, &["dept"], it, false),
            (
                "ForAllValues:StringNotEquals",
                keys,
                &["secret"],
                &[("dept", "IT"), ("app", "x")],
                true,
            ),
            (
                "ForAllValues:StringNotEquals",
                keys,
                &["app"],
                &[("dept", "IT"), ("app", "x")],
                false,
            ),
            (
                "ForAllValues:StringNotLike",
                keys,
                &["tmp*"],
                &[("tmpfile", "1")],
                false,
            ),
            (
                "ForAnyValue:StringNotEqualsIgnoreCase",
                keys,
                &["APP"],
                &[("app", "1")],
                false,
            ),
        ];
        for (operator, key, values, pairs, expected) in table {
            let condition = condition(operator, key, values);
            assert_eq!(
                condition.holds(&context(pairs)),
                *expected,
                "{operator} {key} {values:?} on {pairs:?}"
            );
        }
    }
}
