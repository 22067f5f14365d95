//! One audit record in CloudTrail's shape (docs/AUDIT.md, "Record fields"):
//! what a KMS request was, who made it, from which process, and how it ended.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::view::RecordFacts;
use super::writer::LogRecord;
use crate::model::{Caller, ARN_PARTITION, REGION};

/// CloudTrail's record format version that kmsfs records follow.
pub const EVENT_VERSION: &str = "1.08";
/// `eventSource` of every record, and `invokedBy` of service events.
pub const EVENT_SOURCE: &str = "kms.kmsfs.local";
/// The encryption context entry that names a file's path; `lookup` globs on it.
pub const PATH_CONTEXT_KEY: &str = "kmsfs:path";

/// CloudTrail's `eventType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// A request made by a caller.
    AwsApiCall,
    /// Something the service did by itself (scheduled deletion, rotation).
    AwsServiceEvent,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::AwsApiCall => "AwsApiCall",
            EventType::AwsServiceEvent => "AwsServiceEvent",
        }
    }
}

/// What happened, as the KMS knows it when it answers a request.
#[derive(Clone, Debug)]
pub struct AuditEvent<'a> {
    /// `None` for service events.
    pub caller: Option<&'a Caller>,
    pub account_id: &'a str,
    /// `Decrypt`, `CreateKey`, ...
    pub event_name: &'a str,
    pub event_type: EventType,
    pub read_only: bool,
    /// May be `Null`.
    pub request_parameters: Value,
    /// `Null` for data-plane calls: plaintext and ciphertext are never logged.
    pub response_elements: Value,
    /// Key ARNs the request touched.
    pub resources: Vec<String>,
    /// `(exception name, message)` of a failed request.
    pub error: Option<(&'a str, String)>,
    /// `kmsfs-cli/0.1.0` or `kmsfs-fs/0.1.0`.
    pub user_agent: &'a str,
    pub additional_event_data: Option<Value>,
}

/// The record of one event, stamped when it was made and with fresh request
/// and event ids; serializes in CloudTrail's field order, straight from the
/// event (the mount daemon writes one per open, so no `Value` is built).
pub struct Record<'a> {
    event: &'a AuditEvent<'a>,
    time: DateTime<Utc>,
    request_id: Uuid,
    event_id: Uuid,
}

impl<'a> Record<'a> {
    pub fn new(event: &'a AuditEvent<'a>) -> Record<'a> {
        Record {
            event,
            time: Utc::now(),
            request_id: Uuid::new_v4(),
            event_id: Uuid::new_v4(),
        }
    }
}

impl Serialize for Record<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let event = self.event;
        let mut record = serializer.serialize_map(None)?;
        record.serialize_entry("eventVersion", EVENT_VERSION)?;
        let identity = UserIdentity {
            caller: event.caller,
            account_id: event.account_id,
        };
        record.serialize_entry("userIdentity", &identity)?;
        let time = self.time.to_rfc3339_opts(SecondsFormat::Millis, true);
        record.serialize_entry("eventTime", &time)?;
        record.serialize_entry("eventSource", EVENT_SOURCE)?;
        record.serialize_entry("eventName", event.event_name)?;
        record.serialize_entry("awsRegion", REGION)?;
        if let Some(process) = event.caller.and_then(SourceProcess::of) {
            record.serialize_entry("sourceProcess", &process)?;
        }
        record.serialize_entry("userAgent", event.user_agent)?;
        if let Some((code, message)) = &event.error {
            record.serialize_entry("errorCode", cloudtrail_error_code(code))?;
            record.serialize_entry("errorMessage", message)?;
        }
        record.serialize_entry("requestParameters", &event.request_parameters)?;
        record.serialize_entry("responseElements", &event.response_elements)?;
        if let Some(data) = &event.additional_event_data {
            record.serialize_entry("additionalEventData", data)?;
        }
        let mut id = Uuid::encode_buffer();
        record.serialize_entry(
            "requestID",
            self.request_id.hyphenated().encode_lower(&mut id),
        )?;
        record.serialize_entry("eventID", self.event_id.hyphenated().encode_lower(&mut id))?;
        record.serialize_entry("readOnly", &event.read_only)?;
        let resources = Resources {
            arns: &event.resources,
            account_id: event.account_id,
        };
        record.serialize_entry("resources", &resources)?;
        record.serialize_entry("eventType", event.event_type.as_str())?;
        record.serialize_entry("managementEvent", &true)?;
        record.serialize_entry("recipientAccountId", event.account_id)?;
        record.serialize_entry("eventCategory", "Management")?;
        record.end()
    }
}

impl LogRecord for Record<'_> {
    fn facts(&self) -> RecordFacts<'_> {
        let event = self.event;
        RecordFacts {
            event_type: Some(event.event_type.as_str()),
            time: Some(self.time),
            event_name: Some(event.event_name),
            error_code: event
                .error
                .as_ref()
                .map(|(code, _)| cloudtrail_error_code(code)),
            user: event.caller.map(|caller| match &caller.user_name {
                Some(name) => Cow::Borrowed(name.as_str()),
                None => Cow::Owned(caller.uid.to_string()),
            }),
            key_arn: event.resources.first().map(String::as_str),
        }
    }
}

/// The record of `event` as a JSON value, for tests that read its fields.
#[cfg(test)]
pub(crate) fn build_record(event: &AuditEvent) -> Value {
    serde_json::to_value(Record::new(event)).expect("a record serializes")
}

/// The `errorCode` CloudTrail records for a KMS exception name: AWS logs
/// AccessDeniedException as `AccessDenied` and every other exception by its name.
pub fn cloudtrail_error_code(exception: &str) -> &str {
    match exception {
        "AccessDeniedException" => "AccessDenied",
        other => other,
    }
}

/// `userIdentity`: the Unix user who made the request, or the service itself.
struct UserIdentity<'a> {
    caller: Option<&'a Caller>,
    account_id: &'a str,
}

impl Serialize for UserIdentity<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut identity = serializer.serialize_map(None)?;
        let Some(caller) = self.caller else {
            identity.serialize_entry("type", "AWSService")?;
            identity.serialize_entry("invokedBy", EVENT_SOURCE)?;
            return identity.end();
        };
        let uid = caller.uid.to_string();
        let user_name = caller.user_name.as_deref().unwrap_or(&uid);
        let account_id = self.account_id;
        identity.serialize_entry("type", "UnixUser")?;
        identity.serialize_entry("principalId", &uid)?;
        let arn = format!("arn:{ARN_PARTITION}:iam::{account_id}:user/{user_name}");
        identity.serialize_entry("arn", &arn)?;
        identity.serialize_entry("accountId", account_id)?;
        identity.serialize_entry("userName", user_name)?;
        identity.serialize_entry("uid", &caller.uid)?;
        identity.serialize_entry("gid", &caller.gid)?;
        identity.serialize_entry("groups", &caller.groups)?;
        identity.end()
    }
}

/// The calling process, in place of CloudTrail's sourceIPAddress; present when
/// the pid is known, with `comm`/`exe` null when they could not be read.
#[derive(Serialize)]
struct SourceProcess<'a> {
    pid: u32,
    comm: &'a Option<String>,
    exe: &'a Option<String>,
}

impl<'a> SourceProcess<'a> {
    fn of(caller: &'a Caller) -> Option<SourceProcess<'a>> {
        Some(SourceProcess {
            pid: caller.pid?,
            comm: &caller.comm,
            exe: &caller.exe,
        })
    }
}

/// `resources`: the keys the request touched.
struct Resources<'a> {
    arns: &'a [String],
    account_id: &'a str,
}

impl Serialize for Resources<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut list = serializer.serialize_seq(Some(self.arns.len()))?;
        for arn in self.arns {
            list.serialize_element(&KeyResource {
                account_id: self.account_id,
                kind: "AWS::KMS::Key",
                arn,
            })?;
        }
        list.end()
    }
}

#[derive(Serialize)]
struct KeyResource<'a> {
    #[serde(rename = "accountId")]
    account_id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(rename = "ARN")]
    arn: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration};
    use serde_json::json;

    const ACCOUNT: &str = "000000001000";
    const KEY_ARN: &str =
        "arn:kmsfs:kms:local:000000001000:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn alice() -> Caller {
        Caller {
            uid: 1001,
            user_name: Some("alice".into()),
            gid: 1001,
            groups: vec![1001, 27],
            group_names: vec!["alice".into(), "sudo".into()],
            pid: Some(4242),
            comm: Some("cat".into()),
            exe: Some("/usr/bin/cat".into()),
        }
    }

    fn decrypt_event<'a>(caller: Option<&'a Caller>) -> AuditEvent<'a> {
        AuditEvent {
            caller,
            account_id: ACCOUNT,
            event_name: "Decrypt",
            event_type: EventType::AwsApiCall,
            read_only: true,
            request_parameters: json!({
                "keyId": KEY_ARN,
                "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                "encryptionContext": {"kmsfs:path": "/docs/a.txt"},
            }),
            response_elements: Value::Null,
            resources: vec![KEY_ARN.to_string()],
            error: None,
            user_agent: "kmsfs-fs/0.1.0",
            additional_event_data: None,
        }
    }

    fn field_names(record: &Value) -> Vec<&str> {
        record
            .as_object()
            .expect("record is an object")
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn success_record_has_every_field_in_order() {
        let caller = alice();
        let before = Utc::now();
        let record = build_record(&decrypt_event(Some(&caller)));
        let after = Utc::now();

        assert_eq!(
            field_names(&record),
            [
                "eventVersion",
                "userIdentity",
                "eventTime",
                "eventSource",
                "eventName",
                "awsRegion",
                "sourceProcess",
                "userAgent",
                "requestParameters",
                "responseElements",
                "requestID",
                "eventID",
                "readOnly",
                "resources",
                "eventType",
                "managementEvent",
                "recipientAccountId",
                "eventCategory",
            ]
        );
        assert_eq!(record["eventVersion"], "1.08");
        assert_eq!(
            record["userIdentity"],
            json!({
                "type": "UnixUser",
                "principalId": "1001",
                "arn": "arn:kmsfs:iam::000000001000:user/alice",
                "accountId": ACCOUNT,
                "userName": "alice",
                "uid": 1001,
                "gid": 1001,
                "groups": [1001, 27],
            })
        );
        let time_text = record["eventTime"].as_str().expect("eventTime is text");
        // 2026-11-24T07:40:00.123Z: UTC, millisecond precision.
        assert_eq!(time_text.len(), 24, "{time_text}");
        assert!(time_text.ends_with('Z') && time_text.as_bytes()[19] == b'.');
        let time = DateTime::parse_from_rfc3339(time_text).expect("RFC 3339");
        let slack = Duration::milliseconds(1);
        assert!(time >= before - slack && time <= after + slack);
        assert_eq!(record["eventSource"], "kms.kmsfs.local");
        assert_eq!(record["eventName"], "Decrypt");
        assert_eq!(record["awsRegion"], "local");
        assert_eq!(
            record["sourceProcess"],
            json!({"pid": 4242, "comm": "cat", "exe": "/usr/bin/cat"})
        );
        assert_eq!(record["userAgent"], "kmsfs-fs/0.1.0");
        assert_eq!(
            record["requestParameters"]["encryptionContext"]["kmsfs:path"],
            "/docs/a.txt"
        );
        assert_eq!(record["responseElements"], Value::Null);
        for id in ["requestID", "eventID"] {
            let text = record[id].as_str().expect("id is text");
            let parsed = uuid::Uuid::parse_str(text).expect("a UUID");
            assert_eq!(parsed.get_version_num(), 4, "{id} is a v4 UUID");
        }
        assert_ne!(record["requestID"], record["eventID"]);
        assert_eq!(record["readOnly"], true);
        assert_eq!(
            record["resources"],
            json!([{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": KEY_ARN}])
        );
        assert_eq!(record["eventType"], "AwsApiCall");
        assert_eq!(record["managementEvent"], true);
        assert_eq!(record["recipientAccountId"], ACCOUNT);
        assert_eq!(record["eventCategory"], "Management");
    }

    #[test]
    fn every_record_gets_fresh_ids() {
        let caller = alice();
        let event = decrypt_event(Some(&caller));
        let (first, second) = (build_record(&event), build_record(&event));
        assert_ne!(first["eventID"], second["eventID"]);
        assert_ne!(first["requestID"], second["requestID"]);
    }

    #[test]
    fn denied_record_says_access_denied_and_the_message() {
        let caller = alice();
        let message = format!("User: user:alice is not authorized to perform: kms:Decrypt on resource: {KEY_ARN} because no resource-based policy allows the kms:Decrypt action");
        let event = AuditEvent {
            error: Some(("AccessDeniedException", message.clone())),
            ..decrypt_event(Some(&caller))
        };
        let record = build_record(&event);
        let names = field_names(&record);
        let position = |name| names.iter().position(|n| *n == name).expect(name);
        assert!(position("userAgent") < position("errorCode"));
        assert_eq!(position("errorCode") + 1, position("errorMessage"));
        assert!(position("errorMessage") < position("requestParameters"));
        assert_eq!(record["errorCode"], "AccessDenied");
        assert_eq!(record["errorMessage"], message.as_str());
    }

    #[test]
    fn other_exceptions_keep_their_names() {
        let caller = alice();
        let event = AuditEvent {
            error: Some(("DisabledException", format!("{KEY_ARN} is disabled."))),
            ..decrypt_event(Some(&caller))
        };
        let record = build_record(&event);
        assert_eq!(record["errorCode"], "DisabledException");
        assert_eq!(record["errorMessage"], format!("{KEY_ARN} is disabled."));
        // A success has neither field.
        let success = build_record(&decrypt_event(Some(&caller)));
        assert!(success.get("errorCode").is_none() && success.get("errorMessage").is_none());
    }

    #[test]
    fn uid_without_name_is_named_by_uid_and_unknown_process_is_left_out() {
        let caller = Caller {
            uid: 4242,
            user_name: None,
            gid: 100,
            groups: vec![],
            group_names: vec![],
            pid: None,
            comm: None,
            exe: None,
        };
        let record = build_record(&decrypt_event(Some(&caller)));
        let identity = &record["userIdentity"];
        assert_eq!(identity["userName"], "4242");
        assert_eq!(identity["principalId"], "4242");
        assert_eq!(identity["arn"], "arn:kmsfs:iam::000000001000:user/4242");
        assert_eq!(identity["groups"], json!([]));
        assert!(record.get("sourceProcess").is_none());

        let with_pid_only = Caller {
            pid: Some(7),
            ..caller
        };
        let record = build_record(&decrypt_event(Some(&with_pid_only)));
        assert_eq!(
            record["sourceProcess"],
            json!({"pid": 7, "comm": null, "exe": null})
        );
    }

    #[test]
    fn service_event_is_invoked_by_the_service() {
        let event = AuditEvent {
            event_name: "DeleteKey",
            event_type: EventType::AwsServiceEvent,
            read_only: false,
            request_parameters: Value::Null,
            additional_event_data: Some(json!({"keyId": KEY_ARN})),
            ..decrypt_event(None)
        };
        let record = build_record(&event);
        assert_eq!(
            record["userIdentity"],
            json!({"type": "AWSService", "invokedBy": "kms.kmsfs.local"})
        );
        assert_eq!(record["eventType"], "AwsServiceEvent");
        assert_eq!(record["readOnly"], false);
        assert_eq!(record["requestParameters"], Value::Null);
        assert!(record.get("sourceProcess").is_none());
        let names = field_names(&record);
        let position = |name| names.iter().position(|n| *n == name).expect(name);
        assert_eq!(
            position("responseElements") + 1,
            position("additionalEventData")
        );
        assert_eq!(record["additionalEventData"], json!({"keyId": KEY_ARN}));
    }
}
