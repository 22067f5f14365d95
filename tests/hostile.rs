//! Hostile inputs and hostile surroundings through the real binary: each ends
//! in one clear line and a non-zero exit, never a panic or a wrong answer; and
//! the mount daemon keeps its keys out of core files (docs/SECURITY.md).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

use common::mount::{as_user, root_available, wait_for_exit, MountedVolume};
use common::{s, Sandbox};

/// `kill -SIG pid`.
fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{sig} {pid}");
}

/// Lets process `pid` write core files of any size.
fn allow_core_files(pid: u32) {
    let status = Command::new("prlimit")
        .args([
            format!("--pid={pid}"),
            "--core=unlimited:unlimited".to_string(),
        ])
        .status()
        .expect("prlimit");
    assert!(status.success(), "prlimit --pid {pid}");
}

/// Whether this machine writes a plain `core` file into the dumping
/// process's working directory: the only setting this test can observe.
fn cores_land_in_the_working_directory() -> bool {
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    let uses_pid = std::fs::read_to_string("/proc/sys/kernel/core_uses_pid").unwrap_or_default();
    pattern.trim() == "core" && uses_pid.trim() == "0"
}

#[test]
fn the_mount_daemon_is_not_dumpable() {
    const TEST: &str = "the_mount_daemon_is_not_dumpable";
    if !cores_land_in_the_working_directory() {
        eprintln!("skipping {TEST}: core_pattern is not a plain `core`");
        return;
    }
    let Some(mut vol) = MountedVolume::new(TEST) else {
        return;
    };
    // The partner: an ordinary process aborted the same way leaves a core.
    let cwd = tempfile::tempdir().expect("tempdir");
    let mut sleeper = Command::new("sleep")
        .arg("60")
        .current_dir(cwd.path())
        .spawn()
        .expect("sleep");
    allow_core_files(sleeper.id());
    signal(sleeper.id(), "ABRT");
    let status = sleeper.wait().expect("wait");
    assert!(status.core_dumped(), "{status}");
    assert!(cwd.path().join("core").exists());

    // The daemon works from `/`, where its core would land.
    let core = Path::new("/core");
    assert!(!core.exists(), "remove the old /core first");
    std::fs::write(vol.path("secret.txt"), b"keys are in memory now").expect("write");
    let pid = vol.daemon_pid().expect("the daemon");
    allow_core_files(pid);
    signal(pid, "ABRT");
    wait_for_exit(pid);
    let dumped = core.exists();
    if dumped {
        let _ = std::fs::remove_file(core);
    }
    vol.forget_mount();
    assert!(!dumped, "the daemon wrote a core file");
}

#[test]
fn a_vault_from_a_newer_version_is_refused_in_one_line() {
    let sb = Sandbox::initialized();
    sb.ok(&["key", "create", "--alias", "alias/k"]);
    rusqlite::Connection::open(sb.vault())
        .expect("open")
        .pragma_update(None, "user_version", 99)
        .expect("user_version");
    for args in [
        &["key", "list"][..],
        &["audit", "verify"],
        &["policy", "get", "--key-id", "alias/k"],
    ] {
        sb.fails(
            args,
            3,
            "vault schema version 99 is newer than this kmsfs supports",
        );
    }
}

/// A volume's config with `field` set to `value` by hand.
fn edited_volume(sb: &Sandbox, field: &str, value: serde_json::Value) -> std::path::PathBuf {
    let backing = sb.path(&format!("backing-{field}"));
    std::fs::create_dir(&backing).expect("mkdir");
    sb.ok(&["volume", "create", s(&backing), "--key-id", "alias/k"]);
    let config = backing.join("kmsfs.volume");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).expect("read")).expect("json");
    json[field] = value;
    std::fs::write(&config, json.to_string()).expect("write");
    backing
}

#[test]
fn a_hand_edited_volume_config_is_refused_in_one_line() {
    let sb = Sandbox::initialized();
    sb.ok(&["key", "create", "--alias", "alias/k"]);
    let untouched = sb.path("untouched");
    std::fs::create_dir(&untouched).expect("mkdir");
    sb.ok(&["volume", "create", s(&untouched), "--key-id", "alias/k"]);
    sb.ok(&["volume", "info", s(&untouched)]);
    for (field, value, says) in [
        ("chunkSize", serde_json::json!(5000), "5000"),
        ("cipher", serde_json::json!("rot13"), "rot13"),
        ("formatVersion", serde_json::json!(9), "version 9"),
        ("keyId", serde_json::json!("not-a-key"), "keyId"),
        ("wrappedNameKey", serde_json::json!("!!"), "wrappedNameKey"),
        ("volumeId", serde_json::json!(17), "volumeId"),
    ] {
        let backing = edited_volume(&sb, field, value);
        let line = sb.fails(&["volume", "info", s(&backing)], 3, says);
        assert!(
            line.contains("kmsfs.volume") || line.contains(s(&backing)),
            "{line}"
        );
    }
}

#[test]
fn an_unwritable_audit_directory_refuses_requests_in_one_line() {
    const TEST: &str = "an_unwritable_audit_directory_refuses_requests_in_one_line";
    // Root writes anywhere: the refusal is seen as an ordinary user.
    if !root_available(TEST) {
        return;
    }
    const NOBODY: u32 = 65534;
    let sb = Sandbox::new();
    std::fs::set_permissions(sb.dir.path(), PermissionsExt::from_mode(0o755)).expect("chmod");
    let home = sb.path("home");
    std::fs::create_dir(&home).expect("mkdir");
    let owned = Command::new("chown")
        .args([&format!("{NOBODY}:{NOBODY}"), s(&home)])
        .status()
        .expect("chown");
    assert!(owned.success());
    let vault = home.join("vault/vault.db");
    let kmsfs = env!("CARGO_BIN_EXE_kmsfs");
    let run = |args: &[&str]| {
        let mut all = vec!["--vault", s(&vault)];
        all.extend_from_slice(args);
        as_user(NOBODY, kmsfs, &all)
            .env_remove("KMSFS_VAULT")
            .output()
            .expect("kmsfs")
    };
    for args in [&["init"][..], &["key", "create", "--alias", "alias/k"]] {
        let out = run(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    let audit = home.join("vault/audit");
    std::fs::remove_file(audit.join("active.jsonl")).expect("rm the active log");
    std::fs::set_permissions(&audit, PermissionsExt::from_mode(0o500)).expect("chmod");
    let out = run(&["key", "describe", "--key-id", "alias/k"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("kmsfs: "), "{stderr}");
    assert!(stderr.contains(s(&audit)), "{stderr}");
    assert!(out.stdout.is_empty(), "no answer without its record");
    // Writable again, the same request is answered and recorded.
    std::fs::set_permissions(&audit, PermissionsExt::from_mode(0o700)).expect("chmod");
    let out = run(&["key", "describe", "--key-id", "alias/k"]);
    assert!(out.status.success(), "{out:?}");
    assert!(audit.join("active.jsonl").exists());
}
