//! Named access to the fields of a stored record that lookups and tables use.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::state::parse_time;
use super::writer::LogRecord;
use super::PATH_CONTEXT_KEY;
use crate::model::KeyId;

/// What the live insights read of a record, alike for a stored record and
/// for one being written (`audit::Record`), which has no `Value` to read.
pub struct RecordFacts<'a> {
    pub event_type: Option<&'a str>,
    pub time: Option<DateTime<Utc>>,
    pub event_name: Option<&'a str>,
    pub error_code: Option<&'a str>,
    /// The user name, or the uid as text when the user has no name.
    pub user: Option<Cow<'a, str>>,
    /// The first resource's ARN.
    pub key_arn: Option<&'a str>,
}

impl LogRecord for Value {
    fn facts(&self) -> RecordFacts<'_> {
        let view = RecordView(self);
        RecordFacts {
            event_type: view.text(&["eventType"]),
            time: view.event_time().and_then(parse_time),
            event_name: view.event_name(),
            error_code: view.error_code(),
            user: view.user_name().or(view.principal_id()).map(Cow::Borrowed),
            key_arn: self
                .get("resources")
                .and_then(|resources| resources.get(0))
                .and_then(|resource| resource.get("ARN"))
                .and_then(Value::as_str),
        }
    }
}

/// Where a record may name a key, besides `resources[].ARN`.
const KEY_NAME_PATHS: [&[&str]; 6] = [
    &["requestParameters", "keyId"],
    &["requestParameters", "sourceKeyId"],
    &["requestParameters", "destinationKeyId"],
    &["responseElements", "keyId"],
    &["responseElements", "keyMetadata", "keyId"],
    &["responseElements", "keyMetadata", "arn"],
];

#[derive(Clone, Copy)]
pub(super) struct RecordView<'a>(pub(super) &'a Value);

impl<'a> RecordView<'a> {
    /// The text at `path` of object fields. (Not `Value::pointer`, which
    /// allocates for every step: this runs for every record of a lookup and,
    /// in the mount daemon, of every request.)
    fn text(self, path: &[&str]) -> Option<&'a str> {
        path.iter()
            .try_fold(self.0, |value, field| value.get(field))
            .and_then(Value::as_str)
    }

    pub(super) fn event_time(self) -> Option<&'a str> {
        self.text(&["eventTime"])
    }

    pub(super) fn event_name(self) -> Option<&'a str> {
        self.text(&["eventName"])
    }

    pub(super) fn identity_type(self) -> Option<&'a str> {
        self.text(&["userIdentity", "type"])
    }

    pub(super) fn user_name(self) -> Option<&'a str> {
        self.text(&["userIdentity", "userName"])
    }

    /// The uid, as text.
    pub(super) fn principal_id(self) -> Option<&'a str> {
        self.text(&["userIdentity", "principalId"])
    }

    /// The calling program's name.
    pub(super) fn comm(self) -> Option<&'a str> {
        self.text(&["sourceProcess", "comm"])
    }

    /// The file path in the request's encryption context.
    pub(super) fn path(self) -> Option<&'a str> {
        self.0
            .get("requestParameters")?
            .get("encryptionContext")?
            .get(PATH_CONTEXT_KEY)?
            .as_str()
    }

    pub(super) fn error_code(self) -> Option<&'a str> {
        self.text(&["errorCode"])
    }

    pub(super) fn read_only(self) -> Option<bool> {
        self.0.get("readOnly").and_then(Value::as_bool)
    }

    /// Every key name in the record, in any form: resource ARNs first, then
    /// key ids and ARNs from the request and the response.
    pub(super) fn key_names(self) -> impl Iterator<Item = &'a str> {
        let resource_arns = self
            .0
            .get("resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|resource| resource.get("ARN").and_then(Value::as_str));
        resource_arns.chain(
            KEY_NAME_PATHS
                .iter()
                .filter_map(move |path| self.text(path)),
        )
    }
}

/// The first 8 characters of the key id in a key id or key ARN; any other
/// name (an alias) unchanged.
pub(super) fn short_key_id(name: &str) -> &str {
    let id = name.rsplit_once(":key/").map_or(name, |(_, id)| id);
    if id.parse::<KeyId>().is_ok() {
        &id[..8]
    } else {
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_names_come_from_resources_request_and_response() {
        let record = json!({
            "requestParameters": {"sourceKeyId": "alias/old", "destinationKeyId": "k2"},
            "responseElements": {"keyMetadata": {"keyId": "k3", "arn": "arn-3"}},
            "resources": [{"ARN": "arn-1"}, {"ARN": "arn-2"}],
        });
        let names: Vec<&str> = RecordView(&record).key_names().collect();
        assert_eq!(names, ["arn-1", "arn-2", "alias/old", "k2", "k3", "arn-3"]);
        assert_eq!(
            RecordView(&json!({"resources": null})).key_names().count(),
            0
        );
    }

    #[test]
    fn short_key_id_shortens_key_ids_only() {
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(short_key_id(id), "1234abcd");
        assert_eq!(
            short_key_id(&format!("arn:kmsfs:kms:local:000000001000:key/{id}")),
            "1234abcd"
        );
        assert_eq!(short_key_id("alias/myFirstKey"), "alias/myFirstKey");
        assert_eq!(short_key_id("1234abcd-not-a-uuid"), "1234abcd-not-a-uuid");
    }
}
