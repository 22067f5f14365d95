//! docs/kmsfs@.service, the unit that mounts a volume at boot. systemd cannot
//! run here as PID 1, so the test checks the unit twice: `systemd-analyze
//! verify` reads it as systemd would (syntax, specifiers, executables), and its
//! ExecStartPre/ExecStart/ExecStop lines, expanded for one instance as
//! systemd expands them, are run: the service mounts, logs to its stderr (the
//! journal), and stops cleanly by ExecStop and by its KillSignal.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::mount::{is_kmsfs_mount, wait_for_exit, MountedVolume};
use common::s;

const UNIT: &str = include_str!("../docs/kmsfs@.service");
const INSTALLED_BINARY: &str = "/usr/local/bin/kmsfs";

/// The value of `key=` in the unit's [Service] section (the one line of it).
fn service_setting<'a>(key: &str) -> &'a str {
    let mut values = UNIT
        .lines()
        .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='));
    let value = values
        .next()
        .unwrap_or_else(|| panic!("the unit has no {key}="));
    assert!(values.next().is_none(), "the unit has two {key}= lines");
    value
}

/// The unit's command line `key=` for the instance whose mount point is
/// `mountpoint` (`%f`), with `${BACKING}` from its environment file and the
/// binary under test in place of the installed one.
fn command_line(key: &str, mountpoint: &Path, backing: &Path) -> Vec<String> {
    service_setting(key)
        .split_whitespace()
        .map(|word| {
            word.replace("%f", s(mountpoint))
                .replace("${BACKING}", s(backing))
                .replace(INSTALLED_BINARY, env!("CARGO_BIN_EXE_kmsfs"))
        })
        .collect()
}

fn run_to_end(argv: &[String], vault: &Path) {
    let status = Command::new(&argv[0])
        .args(&argv[1..])
        .env("KMSFS_VAULT", vault)
        .status()
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    assert!(status.success(), "{argv:?}: {status}");
}

/// ExecStart, as the service's main process, its stderr captured (the journal).
fn start(argv: &[String], vault: &Path, mountpoint: &Path) -> Child {
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .env("KMSFS_VAULT", vault)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !is_kmsfs_mount(mountpoint) {
        assert!(
            std::time::Instant::now() < deadline,
            "ExecStart did not mount"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}

/// Waits for the main process; it must exit 0, having logged its mount and unmount.
fn stopped(mut child: Child, mountpoint: &Path) -> String {
    let status = child.wait().unwrap();
    let mut journal = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut journal)
        .unwrap();
    wait_for_exit(child.id());
    assert!(status.success(), "the service failed: {status}\n{journal}");
    assert!(!is_kmsfs_mount(mountpoint), "the service left its mount");
    assert!(journal.contains("mounted "), "{journal}");
    assert!(journal.contains("unmounted"), "{journal}");
    journal
}

#[test]
fn systemd_reads_the_unit_without_complaint() {
    let Ok(out) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("skipped: systemd-analyze is not installed");
        return;
    };
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let unit = UNIT.replace(INSTALLED_BINARY, env!("CARGO_BIN_EXE_kmsfs"));
    std::fs::write(dir.path().join("kmsfs@.service"), unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no", "./kmsfs@srv-secret.service"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(
        said.trim().is_empty(),
        "systemd complains about the unit: {said}"
    );
}

#[test]
fn the_units_commands_mount_log_and_stop() {
    let Some(volume) = MountedVolume::unmounted("the_units_commands_mount_log_and_stop", &[])
    else {
        return;
    };
    assert_eq!(service_setting("KillSignal"), "SIGTERM");
    let vault = volume.sandbox.vault();
    // %f: a mount point that ExecStartPre creates.
    let mountpoint = volume.sandbox.path("srv/secret");
    let pre = command_line("ExecStartPre", &mountpoint, &volume.backing);
    let exec_start = command_line("ExecStart", &mountpoint, &volume.backing);
    let exec_stop = command_line("ExecStop", &mountpoint, &volume.backing);

    // Started, used, stopped by ExecStop.
    run_to_end(&pre, &vault);
    let service = start(&exec_start, &vault, &mountpoint);
    std::fs::write(mountpoint.join("note.txt"), b"written under systemd").unwrap();
    run_to_end(&exec_stop, &vault);
    stopped(service, &mountpoint);

    // Started again (ExecStartPre is idempotent), stopped by systemd's KillSignal.
    run_to_end(&pre, &vault);
    let service = start(&exec_start, &vault, &mountpoint);
    assert_eq!(
        std::fs::read(mountpoint.join("note.txt")).unwrap(),
        b"written under systemd"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &service.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let journal = stopped(service, &mountpoint);
    assert!(journal.contains("signal 15: unmounting"), "{journal}");
}
