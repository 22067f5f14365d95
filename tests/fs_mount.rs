//! `kmsfs mount` and `kmsfs umount` as a user meets them: the daemon returns once
//! the mount is live, errors are one line and a non-zero exit, signals and
//! `umount` leave no mount behind, a dead mount is named and cleaned up.

mod common;

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::mount::{daemon_pid_serving, is_kmsfs_mount, wait_for_exit, MountedVolume, KEY};
use common::{s, Sandbox};

/// Asserts a failed command: exit `code`, one stderr line starting `kmsfs: `
/// and containing `needle`.
fn assert_one_line_failure(out: &std::process::Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    assert!(stderr.starts_with("kmsfs: "), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
}

fn mountinfo_line(mnt: &std::path::Path) -> String {
    let needle = format!(" {} ", mnt.display());
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .rev()
        .find(|line| line.contains(&needle))
        .unwrap_or_else(|| panic!("{} is not mounted", mnt.display()))
        .to_string()
}

#[test]
fn mount_returns_once_live_and_umount_leaves_nothing() {
    let Some(mut vol) = MountedVolume::new("mount_returns_once_live_and_umount_leaves_nothing")
    else {
        return;
    };
    // Live as soon as `kmsfs mount` returned: another device, answered by the daemon.
    assert_ne!(
        vol.mnt.metadata().unwrap().dev(),
        vol.sandbox.dir.path().metadata().unwrap().dev()
    );
    let line = mountinfo_line(&vol.mnt);
    assert!(line.contains(" - fuse.kmsfs "), "{line}");
    assert!(
        line.contains(&format!("kmsfs:{}", vol.backing.display())),
        "{line}"
    );
    for option in ["allow_other", "default_permissions", "nosuid", "nodev"] {
        assert!(line.contains(option), "{option} missing: {line}");
    }

    // The daemon is detached: its own session, stdio on /dev/null.
    let pid = vol.daemon_pid().expect("a daemon serves the mount");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        after_comm[3],
        pid.to_string(),
        "session id = own pid: {stat}"
    );
    for fd in 0..3 {
        let target = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
        assert_eq!(target, std::path::Path::new("/dev/null"), "fd {fd}");
    }
    // Serving threads: more than one.
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count();
    assert!(threads > 2, "{threads} threads");

    vol.unmount();
    assert!(!is_kmsfs_mount(&vol.mnt));
    assert!(!std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(&format!(" {} ", vol.mnt.display())));
    assert!(daemon_pid_serving(&vol.mnt).is_none());

    // A second umount has nothing to unmount.
    let out = vol.sandbox.run(&["umount", s(&vol.mnt)]);
    assert_one_line_failure(&out, 3, "is not a kmsfs mount");
    // Nor is any other kind of mount touched.
    let out = vol.sandbox.run(&["umount", "/proc"]);
    assert_one_line_failure(&out, 3, "/proc is not a kmsfs mount");
}

#[test]
fn mount_errors_are_one_line_and_non_zero() {
    let Some(mut vol) = MountedVolume::unmounted("mount_errors_are_one_line_and_non_zero", &[])
    else {
        return;
    };
    let sb = &vol.sandbox;
    let empty = sb.path("empty");
    std::fs::create_dir(&empty).unwrap();
    let file = sb.write("file", b"x");
    let (nowhere, missing) = (sb.path("nowhere"), sb.path("missing"));
    let (backing, mnt) = (s(&vol.backing), s(&vol.mnt));

    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["mount", s(&empty), mnt], 3, "is not a kmsfs volume"),
        (vec!["mount", s(&nowhere), mnt], 3, "is not a kmsfs volume"),
        (vec!["mount", backing, s(&missing)], 3, "does not exist"),
        (vec!["mount", backing, s(&file)], 3, "is not a directory"),
        (vec!["mount", backing, "/proc"], 3, "already mounted"),
        (
            vec!["mount", backing, backing],
            3,
            "must not contain one another",
        ),
    ];
    for (args, code, needle) in &cases {
        assert_one_line_failure(&sb.run(args), *code, needle);
        assert!(!is_kmsfs_mount(&vol.mnt));
    }

    // The key decides whether the volume opens at all.
    sb.ok(&["key", "disable", "--key-id", KEY]);
    assert_one_line_failure(&vol.try_mount(), 1, "DisabledException");
    sb.ok(&["key", "enable", "--key-id", KEY]);
    sb.ok(&[
        "key",
        "schedule-deletion",
        "--key-id",
        KEY,
        "--pending-window-days",
        "7",
    ]);
    assert_one_line_failure(&vol.try_mount(), 1, "KMSInvalidStateException");
    sb.ok(&["key", "cancel-deletion", "--key-id", KEY]);
    sb.ok(&["key", "enable", "--key-id", KEY]);
    assert!(!is_kmsfs_mount(&vol.mnt));
    assert!(daemon_pid_serving(&vol.mnt).is_none(), "no daemon lingers");

    // No vault.
    let out = sb
        .command()
        .env("KMSFS_VAULT", sb.path("novault/vault.db"))
        .args(["mount", backing, mnt])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    assert!(!is_kmsfs_mount(&vol.mnt));

    // A mount on a busy mount point is refused, the first one untouched.
    vol.mount();
    assert_one_line_failure(&vol.try_mount(), 3, "already mounted");
    assert!(vol.is_mounted());
    vol.unmount();
}

#[test]
fn signals_unmount_cleanly_in_the_foreground_and_in_the_background() {
    let Some(mut vol) = MountedVolume::unmounted("signals_unmount_cleanly", &[]) else {
        return;
    };
    for signal in ["TERM", "INT"] {
        let mut daemon = vol
            .sandbox
            .command()
            .args(["mount", "--foreground", s(&vol.backing), s(&vol.mnt)])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        wait_until(|| vol.is_mounted(), "the foreground mount");
        std::fs::write(vol.path("kept"), b"written before the signal").unwrap();
        send(daemon.id(), signal);
        let status = daemon.wait().unwrap();
        assert!(status.success(), "SIG{signal}: {status}");
        assert!(!vol.is_mounted(), "SIG{signal} left the mount");
    }
    // The background daemon too; the data written before is there after a remount.
    vol.mount();
    assert_eq!(
        std::fs::read(vol.path("kept")).unwrap(),
        b"written before the signal"
    );
    let pid = vol.daemon_pid().unwrap();
    send(pid, "TERM");
    wait_for_exit(pid);
    assert!(!vol.is_mounted());
    vol.forget_mount();
}

#[test]
fn a_busy_mount_is_detached_lazily_on_request_or_signal() {
    let Some(mut vol) = MountedVolume::new("a_busy_mount_is_detached_lazily") else {
        return;
    };
    std::fs::write(vol.path("open"), b"held open").unwrap();
    let held = std::fs::File::open(vol.path("open")).unwrap();
    let out = vol.sandbox.run(&["umount", s(&vol.mnt)]);
    assert_one_line_failure(&out, 3, "is busy");
    assert!(vol.is_mounted());
    vol.sandbox.ok(&["umount", "--lazy", s(&vol.mnt)]);
    assert!(!vol.is_mounted(), "detached at once");
    // The open file still works until closed; then the daemon exits.
    let pid = vol.daemon_pid().expect("still serving the open file");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut &held, &mut text).unwrap();
    assert_eq!(text, "held open");
    drop(held);
    wait_for_exit(pid);
    vol.forget_mount();

    // The same through a signal: SIGTERM on a busy mount detaches it.
    vol.mount();
    let held = std::fs::File::open(vol.path("open")).unwrap();
    let pid = vol.daemon_pid().unwrap();
    send(pid, "TERM");
    wait_until(|| !vol.is_mounted(), "the lazy detach");
    drop(held);
    wait_for_exit(pid);
    vol.forget_mount();
}

#[test]
fn a_dead_mount_is_named_and_cleaned_up_by_umount() {
    let Some(mut vol) = MountedVolume::new("a_dead_mount_is_named_and_cleaned_up_by_umount") else {
        return;
    };
    let pid = vol.daemon_pid().unwrap();
    send(pid, "KILL");
    wait_for_exit(pid);
    let err = std::fs::read_dir(&vol.mnt).unwrap_err();
    assert!(
        matches!(
            err.raw_os_error(),
            Some(libc::ENOTCONN | libc::ECONNABORTED)
        ),
        "{err}"
    );
    assert_one_line_failure(&vol.try_mount(), 3, "daemon is gone");
    vol.sandbox.ok(&["umount", s(&vol.mnt)]);
    assert!(!vol.is_mounted());
    vol.forget_mount();
    vol.mount();
}

#[test]
fn read_only_mounts_refuse_writes() {
    let Some(mut vol) = MountedVolume::new("read_only_mounts_refuse_writes") else {
        return;
    };
    std::fs::write(vol.path("before"), b"written read-write").unwrap();
    vol.unmount();
    vol.mount_flags = vec!["--read-only".into()];
    vol.mount();
    assert!(mountinfo_line(&vol.mnt).contains(" ro,"));
    assert_eq!(
        std::fs::read(vol.path("before")).unwrap(),
        b"written read-write"
    );
    for result in [
        std::fs::write(vol.path("new"), b"x"),
        std::fs::write(vol.path("before"), b"x"),
        std::fs::create_dir(vol.path("dir")),
        std::fs::remove_file(vol.path("before")),
    ] {
        assert_eq!(result.unwrap_err().raw_os_error(), Some(libc::EROFS));
    }
}

#[test]
fn a_passphrase_vault_is_unlocked_by_the_waiting_parent() {
    if !common::mount::fuse_available("a_passphrase_vault_is_unlocked_by_the_waiting_parent") {
        return;
    }
    let sb = Sandbox::new();
    std::fs::set_permissions(
        sb.dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let pass = sb.write("pass", b"correct horse\n");
    let wrong = sb.write("wrong", b"battery staple\n");
    let with = |file: &std::path::Path, args: &[&str]| {
        let mut all = vec!["--passphrase-file", s(file)];
        all.extend_from_slice(args);
        sb.run(&all)
    };
    assert!(with(&pass, &["init", "--passphrase"]).status.success());
    assert!(with(&pass, &["key", "create", "--alias", KEY])
        .status
        .success());
    let (backing, mnt) = (sb.path("backing"), sb.path("mnt"));
    std::fs::create_dir(&backing).unwrap();
    std::fs::create_dir(&mnt).unwrap();
    let created = with(&pass, &["volume", "create", s(&backing), "--key-id", KEY]);
    assert!(created.status.success());

    assert_one_line_failure(
        &with(&wrong, &["mount", s(&backing), s(&mnt)]),
        3,
        "passphrase",
    );
    assert!(!is_kmsfs_mount(&mnt));
    // Without a terminal and without a file, the parent says what to do.
    assert_one_line_failure(
        &sb.run(&["mount", s(&backing), s(&mnt)]),
        2,
        "--passphrase-file",
    );

    let out = with(&pass, &["mount", s(&backing), s(&mnt)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _guard = DetachOnDrop(mnt.clone());
    let pid = daemon_pid_serving(&mnt).unwrap();
    // The passphrase reached the daemon through a pipe, not its command line
    // or environment, and the pipe is closed.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    for text in [&cmdline, &environ] {
        assert!(!String::from_utf8_lossy(text).contains("correct horse"));
    }
    // The descriptors named on its command line are closed (or reused for
    // something else than a pipe).
    for arg in String::from_utf8_lossy(&cmdline).split('\0') {
        let Some((_, fd)) = arg.split_once("-fd=") else {
            continue;
        };
        let target = std::fs::read_link(format!("/proc/{pid}/fd/{fd}"));
        assert!(
            !target.is_ok_and(|t| t.to_string_lossy().starts_with("pipe:")),
            "{arg} is still open"
        );
    }
    std::fs::write(mnt.join("f"), b"through a passphrase vault").unwrap();
    assert_eq!(
        std::fs::read(mnt.join("f")).unwrap(),
        b"through a passphrase vault"
    );
    assert!(sb.run(&["umount", s(&mnt)]).status.success());
    wait_for_exit(pid);
}

/// Detaches a mount left behind by a failed assertion.
struct DetachOnDrop(std::path::PathBuf);

impl Drop for DetachOnDrop {
    fn drop(&mut self) {
        if is_kmsfs_mount(&self.0) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

fn send(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_until(mut condition: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A mount by root reads ahead 4 MiB (four max_reads), not the kernel's 128
/// KiB default for FUSE: sequential reads come in requests eight times
/// larger, several at once.
#[test]
fn a_mount_reads_ahead_four_mebibytes() {
    let Some(volume) = MountedVolume::new("a_mount_reads_ahead_four_mebibytes") else {
        return;
    };
    let dev = std::fs::metadata(&volume.mnt).unwrap().dev();
    // glibc's major()/minor() of a dev_t.
    let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff);
    let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0xff);
    let setting = format!("/sys/class/bdi/{major}:{minor}/read_ahead_kb");
    let kib = std::fs::read_to_string(&setting).unwrap_or_else(|e| panic!("{setting}: {e}"));
    assert_eq!(kib.trim(), "4096");
}

/// The ciphertext of a stream of 1 MiB writes goes to disk at once and leaves
/// the page cache once there (RWF_DONTCACHE, Linux 6.14 on): after an fsync
/// the backing object is mostly not cached, and the file reads back whole.
#[test]
fn a_stream_of_large_writes_leaves_little_ciphertext_in_the_cache() {
    let Some(volume) =
        MountedVolume::new("a_stream_of_large_writes_leaves_little_ciphertext_in_the_cache")
    else {
        return;
    };
    let path = volume.path("stream.bin");
    let piece = common::mount::pattern(1 << 20, 7);
    let pieces = 32u64;
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&path).unwrap();
        for _ in 0..pieces {
            file.write_all(&piece).unwrap();
        }
        file.sync_all().unwrap();
    }
    let object = std::fs::read_dir(&volume.backing)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let out = Command::new("fincore")
        .args(["--bytes", "--noheadings", "--raw", "--output", "RES,SIZE"])
        .arg(&object)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fincore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fields: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    let (resident, size) = (fields[0], fields[1]);
    assert!(size > pieces << 20, "{}: {size} bytes", object.display());
    assert!(
        resident <= size / 4,
        "{resident} of {size} bytes of the backing object still cached"
    );
    let back = std::fs::read(&path).unwrap();
    assert_eq!(back.len() as u64, pieces << 20);
    assert!(
        back.chunks(1 << 20).all(|c| c == piece),
        "the stream reads back different"
    );
}
