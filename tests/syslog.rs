//! The detached mount daemon logs through syslog(3): its messages reach the
//! socket at /dev/log with facility daemon, ident `kmsfs` and its pid. The
//! test listens on its own datagram socket put at /dev/log: through a symlink
//! when the host has no /dev/log (containers, CI), else by a bind mount over
//! it in a private mount namespace (`unshare`), so a host's journal is left
//! alone. Root only, like every mount test.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::mount::{wait_for_exit, MountedVolume};
use common::s;

const DEV_LOG: &str = "/dev/log";
/// `<PRI>` of daemon.info: facility 3 (daemon) * 8 + severity 6 (info).
const DAEMON_INFO: &str = "<30>";

/// Removes the /dev/log symlink this test made.
struct DevLogLink;

impl Drop for DevLogLink {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(DEV_LOG);
    }
}

/// The next datagram containing `needle`, within ten seconds.
fn wait_for(socket: &UnixDatagram, needle: &str, seen: &mut Vec<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = vec![0u8; 8192];
    while Instant::now() < deadline {
        if let Ok(len) = socket.recv(&mut buf) {
            let message = String::from_utf8_lossy(&buf[..len]).into_owned();
            seen.push(message.clone());
            if message.contains(needle) {
                return message;
            }
        }
    }
    panic!("no syslog message with {needle:?}; got {seen:#?}");
}

/// The pid in a syslog line's `kmsfs[PID]:` tag.
fn tagged_pid(message: &str) -> u32 {
    let tag = message
        .find("kmsfs[")
        .unwrap_or_else(|| panic!("no kmsfs[PID] tag: {message}"));
    let rest = &message[tag + "kmsfs[".len()..];
    rest[..rest.find(']').expect("]")].parse().expect("a pid")
}

/// `kmsfs mount` of `volume` (default verbosity), run so that its /dev/log is `socket_path`.
fn mount_logging_to(
    volume: &MountedVolume,
    socket_path: &Path,
) -> (std::process::Output, Option<DevLogLink>) {
    let mut kmsfs = volume.sandbox.command();
    kmsfs.args(["mount", s(&volume.backing), s(&volume.mnt)]);
    if std::fs::symlink_metadata(DEV_LOG).is_err() {
        std::os::unix::fs::symlink(socket_path, DEV_LOG).expect("symlink /dev/log");
        let link = DevLogLink;
        return (kmsfs.output().expect("kmsfs mount"), Some(link));
    }
    let mut unshared = Command::new("unshare");
    unshared
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$1\" /dev/log && shift && exec \"$@\"")
        .arg("sh")
        .arg(socket_path)
        .arg(kmsfs.get_program())
        .args(kmsfs.get_args());
    for (name, value) in kmsfs.get_envs() {
        match value {
            Some(value) => unshared.env(name, value),
            None => unshared.env_remove(name),
        };
    }
    (unshared.output().expect("unshare"), None)
}

#[test]
fn the_detached_daemon_logs_to_syslog() {
    let Some(mut volume) = MountedVolume::unmounted("the_detached_daemon_logs_to_syslog", &[])
    else {
        return;
    };
    let socket_path: PathBuf = volume.sandbox.path("log.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the log socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let (out, _link) = mount_logging_to(&volume, &socket_path);
    assert!(out.status.success(), "kmsfs mount: {out:?}");
    // The foreground part reported on stderr only what went wrong: nothing.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut seen = Vec::new();
    let mounted = wait_for(
        &socket,
        &format!("mounted {}", s(&volume.backing)),
        &mut seen,
    );
    assert!(mounted.starts_with(DAEMON_INFO), "{mounted}");
    let daemon = tagged_pid(&mounted);
    // The daemon is the one logging, not the command that started it.
    assert!(Path::new(&format!("/proc/{daemon}")).exists(), "{mounted}");

    // SIGTERM unmounts; the daemon says so in the same log, then exits.
    let killed = Command::new("kill")
        .args(["-TERM", &daemon.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let unmounting = wait_for(&socket, "signal 15: unmounting", &mut seen);
    assert_eq!(tagged_pid(&unmounting), daemon);
    wait_for_exit(daemon);
    volume.forget_mount();
}
