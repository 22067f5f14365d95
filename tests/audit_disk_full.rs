//! Failing closed: with the audit log's filesystem full, a request that needs
//! a record is refused with a clear error, and every record written before
//! is still there. Needs root (mounts a small tmpfs); skipped otherwise.

mod common;

use std::fs;
use std::process::Command;

use common::{read_records, s, Sandbox};

/// Unmounts on drop, so that a failing test leaves no mount behind.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_refuses_the_request_and_keeps_every_record() {
    if !common::mount::root_available("a_full_disk_refuses_the_request_and_keeps_every_record") {
        return;
    }
    let sb = Sandbox::initialized();
    // The audit directory on its own small filesystem; the vault is elsewhere.
    let audit_dir = sb.dir.path().join("vault/audit");
    fs::create_dir_all(&audit_dir).expect("mkdir");
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m,mode=0700", "kmsfs-full-test"])
        .arg(&audit_dir)
        .status()
        .expect("run mount");
    assert!(status.success(), "mounting a tmpfs failed: {status}");
    let _mounted = Mounted(audit_dir.clone());

    sb.ok(&["key", "create", "--alias", "alias/full"]);
    let plain = sb.write("plain.txt", b"secret");
    let encrypt = [
        "encrypt",
        "--key-id",
        "alias/full",
        "--plaintext-file",
        s(&plain),
        "--output-file",
        "/dev/null",
    ];
    sb.ok(&encrypt);
    let before = read_records(&sb.audit_log());

    // Fill the filesystem to the last byte.
    let filler = audit_dir.join("filler");
    let _ = Command::new("dd")
        .args([
            "if=/dev/zero",
            "bs=4096",
            &format!("of={}", filler.display()),
        ])
        .output()
        .expect("run dd");
    // The KMS refuses: KMSInternalException, exit 1, naming the audit log.
    let stderr = sb.fails(&encrypt, 1, "KMSInternalException: audit log");
    assert!(
        stderr.contains("active.jsonl cannot be written: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("No space left on device") || stderr.contains("short write"),
        "{stderr}"
    );
    assert!(
        stderr.trim_end().ends_with("; refusing the request"),
        "{stderr}"
    );
    assert_eq!(
        read_records(&sb.audit_log()),
        before,
        "nothing written is lost, nothing torn"
    );

    // Room again: the next request is served and recorded.
    fs::remove_file(&filler).expect("rm");
    sb.ok(&encrypt);
    assert_eq!(read_records(&sb.audit_log()).len(), before.len() + 1);
}
