//! Checklist rows "permission checks under default_permissions with several
//! uids" and "sticky directories": other users run ordinary tools on the
//! mount through setpriv, the kernel checks the mode bits kmsfs reports.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::common::mount::{as_user, MountedVolume, KEY};

const ALICE: u32 = 61_001;
const BOB: u32 = 61_002;
const CAROL: u32 = 61_003;

/// A volume whose key policy lets every uid use the key: the mode bits,
/// not the key policy (tests/fs_policy.rs), are under test here.
fn volume(test: &str) -> Option<MountedVolume> {
    let vol = MountedVolume::new(test)?;
    vol.sandbox
        .ok(&["policy", "add-user", "--key-id", KEY, "*"]);
    Some(vol)
}

/// `sh -c script` as `uid` in `dir`: whether it succeeded, stdout, stderr.
fn sh_as(uid: u32, dir: &Path, script: &str) -> (bool, String, String) {
    let out = as_user(uid, "sh", &["-c", script])
        .current_dir(dir)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `script` as `uid` must succeed; returns its stdout.
fn allowed(uid: u32, dir: &Path, script: &str) -> String {
    let (ok, stdout, stderr) = sh_as(uid, dir, script);
    assert!(ok, "uid {uid}: `{script}` refused: {stderr}");
    stdout
}

/// `script` as `uid` must fail with `error` ("Permission denied", ...).
fn refused(uid: u32, dir: &Path, script: &str, error: &str) {
    let (ok, _, stderr) = sh_as(uid, dir, script);
    assert!(!ok, "uid {uid}: `{script}` was allowed");
    assert!(stderr.contains(error), "uid {uid}: `{script}`: {stderr}");
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, PermissionsExt::from_mode(mode)).unwrap();
}

const EACCES: &str = "Permission denied";
const EPERM: &str = "Operation not permitted";

#[test]
fn mode_bits_decide_for_each_uid_under_default_permissions() {
    let Some(vol) = volume("mode_bits_decide_for_each_uid_under_default_permissions") else {
        return;
    };
    let shared = vol.path("shared");
    std::fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o777);
    let d = shared.as_path();

    // Owner-only file: its owner reads, others do not; chmod opens it.
    allowed(
        ALICE,
        d,
        "umask 077; printf secret > a; mkdir private; printf x > private/f",
    );
    assert_eq!(allowed(ALICE, d, "cat a"), "secret");
    refused(BOB, d, "cat a", EACCES);
    allowed(ALICE, d, "chmod 644 a");
    assert_eq!(allowed(BOB, d, "cat a"), "secret");
    refused(BOB, d, "printf more >> a", EACCES);
    refused(BOB, d, "chmod 666 a", EPERM);
    refused(BOB, d, &format!("chown {BOB} a"), EPERM);
    refused(ALICE, d, &format!("chown {BOB} a"), EPERM);
    // A 0700 directory: no listing, no lookup below it for others.
    refused(BOB, d, "ls private", EACCES);
    refused(BOB, d, "cat private/f", EACCES);
    // A directory without write permission refuses new entries and removals.
    allowed(ALICE, d, "umask 022; mkdir ro; printf x > ro/kept");
    refused(BOB, d, "printf y > ro/new", EACCES);
    refused(BOB, d, "rm -f ro/kept", EACCES);
    assert!(shared.join("ro/kept").exists() && !shared.join("ro/new").exists());

    // The group class decides for the group even when "other" would allow.
    let g = shared.join("g");
    std::fs::write(&g, b"group").unwrap();
    std::os::unix::fs::chown(&g, Some(ALICE), Some(BOB)).unwrap();
    chmod(&g, 0o640);
    assert_eq!(allowed(BOB, d, "cat g"), "group");
    refused(CAROL, d, "cat g", EACCES);
    chmod(&g, 0o604);
    refused(BOB, d, "cat g", EACCES);
    assert_eq!(allowed(CAROL, d, "cat g"), "group");

    // Root passes the mode bits (the key policy lets root use the key).
    chmod(&g, 0o000);
    assert_eq!(std::fs::read(&g).unwrap(), b"group");
    // The owner gets EACCES from 0000 like anyone else.
    refused(ALICE, d, "cat g", EACCES);
}

#[test]
fn a_sticky_directory_keeps_other_users_off_your_files() {
    let Some(vol) = volume("a_sticky_directory_keeps_other_users_off_your_files") else {
        return;
    };
    let tmp = vol.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    chmod(&tmp, 0o1777);
    assert_eq!(
        std::fs::metadata(&tmp).unwrap().permissions().mode() & 0o7777,
        0o1777
    );
    let d = tmp.as_path();
    allowed(ALICE, d, "umask 0; printf alice > a");
    allowed(BOB, d, "umask 0; printf bob > b");

    // Bob may write Alice's 0666 file but not remove, rename or replace it.
    refused(BOB, d, "rm -f a", EPERM);
    refused(BOB, d, "mv a stolen", EPERM);
    refused(BOB, d, "mv -f b a", EPERM);
    assert_eq!(std::fs::read(tmp.join("a")).unwrap(), b"alice");
    assert!(tmp.join("b").exists() && !tmp.join("stolen").exists());

    // Each owner moves and removes their own; root removes anyone's.
    allowed(ALICE, d, "mv a a2 && rm a2");
    allowed(BOB, d, "mv b b2");
    allowed(ALICE, d, "printf again > a");
    std::fs::remove_file(tmp.join("a")).unwrap();

    // The owner of a sticky directory removes anyone's file in it.
    allowed(CAROL, &vol.mnt, "mkdir -m 1777 tmp/carols");
    allowed(BOB, d, "printf bob > carols/b");
    refused(ALICE, d, "rm -f carols/b", EPERM);
    allowed(CAROL, d, "rm carols/b");

    // Without the sticky bit, anyone with write permission removes anything.
    chmod(&tmp, 0o777);
    allowed(ALICE, d, "rm b2");
}
