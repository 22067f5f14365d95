//! `kmsfs demo` as the test suite runs it: exit 0, the refused read and its
//! record shown, and nothing left behind.

mod common;

use common::mount::fuse_available;

fn demo_leftovers() -> (Vec<String>, Vec<String>) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|line| line.contains("kmsfs-demo-"))
        .map(str::to_string)
        .collect();
    let dirs = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("kmsfs-demo-"))
        .collect();
    (mounts, dirs)
}

#[test]
fn the_demo_runs_and_leaves_nothing_behind() {
    if !fuse_available("the_demo_runs_and_leaves_nothing_behind") {
        return;
    }
    let before = demo_leftovers();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kmsfs"))
        .arg("demo")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("every step behaved as it should"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Permission denied"),
        "the refused read is shown: {stdout}"
    );
    assert!(
        stdout.contains("user=nobody process=cat path=/secret.txt AccessDenied"),
        "{stdout}"
    );
    assert_eq!(
        demo_leftovers(),
        before,
        "the demo left a mount or a directory behind"
    );
}

#[test]
fn the_demo_needs_root_and_says_so() {
    if kmsfs::sys::effective_uid() != 0 {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_kmsfs"))
            .arg("demo")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&output.stderr).contains("needs root"));
        return;
    }
    // As root: the same check, run as nobody.
    let output = common::mount::as_user(
        common::mount::NOBODY,
        env!("CARGO_BIN_EXE_kmsfs"),
        &["demo"],
    )
    .output()
    .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("needs root"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
