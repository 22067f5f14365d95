//! The compact human table of `kmsfs audit lookup` (`--output text`).

use serde_json::Value;

use super::view::{short_key_id, RecordView};

const HEADERS: [&str; 7] = [
    "EventTime",
    "EventName",
    "User",
    "Key",
    "Process",
    "Path",
    "Error",
];
const COLUMN_GAP: &str = "  ";

/// One line per record under a header line; `-` where a record has no value.
pub fn format_table(records: &[Value]) -> String {
    let header = HEADERS.map(str::to_string);
    let rows: Vec<[String; 7]> = std::iter::once(header)
        .chain(records.iter().map(|record| cells(RecordView(record))))
        .collect();
    let mut widths = [0; 7];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut table = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        table.push_str(line.join(COLUMN_GAP).trim_end());
        table.push('\n');
    }
    table
}

/// One record as a table row (no header, columns not aligned to others): for `tail -f`.
pub fn format_row(record: &Value) -> String {
    format!("{}\n", cells(RecordView(record)).join(COLUMN_GAP))
}

fn cells(record: RecordView) -> [String; 7] {
    let user = record.user_name().or(record.identity_type());
    let key = record.key_names().next().map(short_key_id);
    [
        record.event_time(),
        record.event_name(),
        user,
        key,
        record.comm(),
        record.path(),
        record.error_code(),
    ]
    .map(|value| printable(value.unwrap_or("-")))
}

/// `text` with control characters escaped: paths and process names are
/// chosen by users, and must not be able to forge lines or move the cursor.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:kmsfs:kms:local:000000001000:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn one_aligned_line_per_record() {
        let records = [
            json!({
                "eventTime": "2026-11-24T07:41:00.000Z",
                "eventName": "Decrypt",
                "userIdentity": {"type": "UnixUser", "userName": "nobody"},
                "sourceProcess": {"pid": 9, "comm": "cat", "exe": null},
                "errorCode": "AccessDenied",
                "requestParameters": {"keyId": ARN, "encryptionContext": {"kmsfs:path": "/docs/a.txt"}},
                "resources": [{"ARN": ARN}],
            }),
            json!({
                "eventTime": "2026-11-24T07:40:00.123Z",
                "eventName": "DeleteKey",
                "userIdentity": {"type": "AWSService", "invokedBy": "kms.kmsfs.local"},
                "requestParameters": null,
                "resources": [],
            }),
        ];
        assert_eq!(
            format_table(&records),
            "\
EventTime                 EventName  User        Key       Process  Path         Error
2026-11-24T07:41:00.000Z  Decrypt    nobody      1234abcd  cat      /docs/a.txt  AccessDenied
2026-11-24T07:40:00.123Z  DeleteKey  AWSService  -         -        -            -
"
        );
    }

    #[test]
    fn no_records_is_the_header_alone() {
        assert_eq!(
            format_table(&[]),
            "EventTime  EventName  User  Key  Process  Path  Error\n"
        );
    }

    #[test]
    fn control_characters_in_user_chosen_names_are_escaped() {
        let record = json!({
            "eventTime": "2026-11-24T07:41:00.000Z",
            "eventName": "Decrypt",
            "sourceProcess": {"comm": "evil\u{1b}[2J"},
            "requestParameters": {"encryptionContext": {"kmsfs:path": "/a\n2026-11-24 Decrypt alice"}},
        });
        let table = format_table(&[record]);
        assert_eq!(table.lines().count(), 2, "{table}");
        assert!(table.contains("/a\\n2026-11-24 Decrypt alice"), "{table}");
        assert!(
            table.contains("evil\\u{1b}[2J") && !table.contains('\u{1b}'),
            "{table}"
        );
    }
}
