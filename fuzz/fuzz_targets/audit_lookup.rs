//! The audit record readers: the input (after one mode byte) becomes the
//! active log of an audit directory, and also a delivered gzip log file when
//! mode bit 7 is set; `lookup` with a filter picked by the mode, the lookup
//! table, and `insights` (bit 6) must read it or end in an error, never panic.
#![no_main]

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use flate2::write::GzEncoder;
use flate2::Compression;
use kmsfs::audit::{format_table, insights, lookup, AuditLog, InsightConfig, LookupFilter};
use libfuzzer_sys::fuzz_target;

static AUDIT_DIR: LazyLock<(tempfile::TempDir, PathBuf)> = LazyLock::new(|| {
    let root = tempfile::tempdir().expect("a temporary directory");
    let dir = root.path().join("audit");
    fs::create_dir(&dir).expect("the audit directory");
    (root, dir)
});

fn time(text: &str) -> DateTime<Utc> {
    text.parse().expect("a time")
}

fn filter(mode: u8) -> LookupFilter {
    let pick = |bit: u8| mode & (1 << bit) != 0;
    LookupFilter {
        event_name: pick(0).then(|| "Decrypt".to_string()),
        user: pick(1).then(|| "alice".to_string()),
        key_ids: pick(2).then(|| vec!["1234abcd-12ab-34cd-56ef-1234567890ab".to_string()]),
        path_glob: pick(3).then(|| "/home/*/[a-m]*.txt".to_string()),
        error_code: pick(4).then(|| "AccessDeniedException".to_string()),
        errors_only: pick(4) && pick(0),
        read_only: pick(5).then_some(pick(1)),
        start_time: pick(2).then(|| time("2026-01-01T00:00:00Z")),
        end_time: pick(3).then(|| time("2026-12-31T23:59:59Z")),
        max: pick(5).then_some(3),
    }
}

fuzz_target!(|data: &[u8]| {
    let [mode, log @ ..] = data else {
        return;
    };
    let (_, dir) = &*AUDIT_DIR;
    fs::write(AuditLog::active_path(dir), log).expect("the active log");
    let delivered = dir.join("2026/03/01");
    let _ = fs::remove_dir_all(dir.join("2026"));
    if mode & 0x80 != 0 {
        fs::create_dir_all(&delivered).expect("a dated folder");
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(log).expect("gzip");
        let name = "v_kmsfs_h_20260301T1200Z_AAAAAAAAAAAAAAAA.json.gz";
        fs::write(delivered.join(name), gz.finish().expect("gzip")).expect("a log file");
    }
    if let Ok(found) = lookup(dir, &filter(*mode)) {
        let _ = format_table(&found);
    }
    if mode & 0x40 != 0 {
        let _ = insights(dir, &InsightConfig::new("111122223333"), None, None);
    }
});
