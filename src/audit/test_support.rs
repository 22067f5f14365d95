//! Shared helpers of the audit tests: callers, records, and reading a log back.

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

use super::{build_record, AuditEvent, EventType};
use crate::model::Caller;

pub(super) const ACCOUNT: &str = "000000001000";

pub(super) fn caller(uid: u32, name: Option<&str>, comm: &str) -> Caller {
    Caller {
        uid,
        user_name: name.map(str::to_string),
        gid: uid,
        groups: vec![uid],
        group_names: name.map(str::to_string).into_iter().collect(),
        pid: Some(1000 + uid),
        comm: Some(comm.to_string()),
        exe: Some(format!("/usr/bin/{comm}")),
    }
}

pub(super) fn key_arn(key_id: &str) -> String {
    format!("arn:kmsfs:kms:local:{ACCOUNT}:key/{key_id}")
}

/// A Decrypt record by alice of `/docs/file-N.txt`.
pub(super) fn decrypt_record(n: usize) -> Value {
    let alice = caller(1001, Some("alice"), "cat");
    let arn = key_arn("1234abcd-12ab-34cd-56ef-1234567890ab");
    build_record(&AuditEvent {
        caller: Some(&alice),
        account_id: ACCOUNT,
        event_name: "Decrypt",
        event_type: EventType::AwsApiCall,
        read_only: true,
        request_parameters: json!({
            "keyId": arn,
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "encryptionContext": {"kmsfs:path": format!("/docs/file-{n}.txt")},
        }),
        response_elements: Value::Null,
        resources: vec![arn.clone()],
        error: None,
        user_agent: "kmsfs-fs/0.1.0",
        additional_event_data: None,
    })
}

/// Every line of the file at `path`, each parsed; panics on a torn or invalid line.
pub(super) fn read_records(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).expect("log is readable text");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "log ends inside a record"
    );
    text.lines()
        .map(|line| serde_json::from_str(line).expect("each line is one JSON record"))
        .collect()
}
