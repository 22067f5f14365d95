//! Real FUSE mounts for tests: a fresh vault, key and volume mounted through the
//! real `kmsfs mount`, unmounted on Drop (lazily if busy). Tests skip, with a
//! printed reason, when not root or without /dev/fuse; with KMSFS_REQUIRE_FUSE=1
//! a skip is a failure.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::{s, Sandbox};

/// The key every mounted volume is created under.
pub const KEY: &str = "alias/myFirstKey";
/// The uid and name of the other user of the policy tests.
pub const NOBODY: u32 = 65534;

/// Why real mounts cannot run here, if they cannot.
pub fn fuse_unusable() -> Option<&'static str> {
    if kmsfs::sys::effective_uid() != 0 {
        Some("not root")
    } else if !Path::new("/dev/fuse").exists() {
        Some("no /dev/fuse")
    } else {
        None
    }
}

/// True if real mounts can run; otherwise prints why `test` is skipped, or
/// panics when KMSFS_REQUIRE_FUSE=1.
pub fn fuse_available(test: &str) -> bool {
    available(test, fuse_unusable())
}

/// As [`fuse_available`], for tests that need root only (e.g. to mount a small tmpfs).
pub fn root_available(test: &str) -> bool {
    available(
        test,
        (kmsfs::sys::effective_uid() != 0).then_some("not root"),
    )
}

fn available(test: &str, unusable: Option<&'static str>) -> bool {
    let Some(reason) = unusable else {
        return true;
    };
    if std::env::var("KMSFS_REQUIRE_FUSE").as_deref() == Ok("1") {
        panic!("{test}: KMSFS_REQUIRE_FUSE=1 but real mounts cannot run here: {reason}");
    }
    eprintln!("skipping {test}: {reason} (real FUSE mounts need root and /dev/fuse)");
    false
}

/// A volume mounted for one test.
pub struct MountedVolume {
    pub sandbox: Sandbox,
    pub backing: PathBuf,
    pub mnt: PathBuf,
    /// Extra `kmsfs mount` flags used by every (re)mount.
    pub mount_flags: Vec<String>,
    mounted: bool,
}

impl MountedVolume {
    /// An AES-256-GCM volume with the default chunk size; `None` means skip.
    pub fn new(test: &str) -> Option<MountedVolume> {
        MountedVolume::with(test, &[])
    }

    /// A volume made with extra `volume create` flags (`--cipher`, `--chunk-size`).
    pub fn with(test: &str, create_flags: &[&str]) -> Option<MountedVolume> {
        let volume = MountedVolume::unmounted(test, create_flags)?;
        Some(volume.mounted())
    }

    /// Vault, key and volume, not mounted yet; `None` means skip.
    pub fn unmounted(test: &str, create_flags: &[&str]) -> Option<MountedVolume> {
        if !fuse_available(test) {
            return None;
        }
        let sandbox = Sandbox::initialized();
        // Other users (the policy tests' nobody) must reach the mount point.
        std::fs::set_permissions(sandbox.dir.path(), PermissionsExt::from_mode(0o755)).unwrap();
        sandbox.ok(&["key", "create", "--alias", KEY]);
        let backing = sandbox.path("backing");
        let mnt = sandbox.path("mnt");
        std::fs::create_dir(&backing).unwrap();
        std::fs::create_dir(&mnt).unwrap();
        let mut create = vec!["volume", "create", s(&backing), "--key-id", KEY];
        create.extend_from_slice(create_flags);
        sandbox.ok(&create);
        Some(MountedVolume {
            sandbox,
            backing,
            mnt,
            mount_flags: Vec::new(),
            mounted: false,
        })
    }

    /// An existing vault (in `sandbox`) and volume (`backing`), mounted at a new
    /// `mnt` in the sandbox with `mount_flags`; `None` means skip.
    pub fn adopt(
        test: &str,
        sandbox: Sandbox,
        backing: PathBuf,
        mount_flags: &[&str],
    ) -> Option<MountedVolume> {
        if !fuse_available(test) {
            return None;
        }
        let mnt = sandbox.path("mnt");
        std::fs::create_dir_all(&mnt).unwrap();
        let volume = MountedVolume {
            sandbox,
            backing,
            mnt,
            mount_flags: mount_flags.iter().map(|flag| flag.to_string()).collect(),
            mounted: false,
        };
        Some(volume.mounted())
    }

    fn mounted(mut self) -> MountedVolume {
        self.mount();
        self
    }

    /// A path inside the mount.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.mnt.join(relative)
    }

    /// `kmsfs mount BACKING MNT` (with `mount_flags`), which must succeed and
    /// leave a live mount.
    pub fn mount(&mut self) {
        let out = self.try_mount();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "kmsfs mount failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        self.mounted = true;
        assert!(
            self.is_mounted(),
            "kmsfs mount returned before the mount was live"
        );
    }

    /// `kmsfs mount BACKING MNT --foreground` (with `mount_flags`) as a child
    /// process, its stderr (the daemon's log) piped to the caller; returns
    /// once the mount is live. The child is the daemon.
    pub fn mount_foreground(&mut self) -> std::process::Child {
        let mut args = vec!["mount", s(&self.backing), s(&self.mnt), "--foreground"];
        args.extend(self.mount_flags.iter().map(String::as_str));
        let mut child = self
            .sandbox
            .command()
            .args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.is_mounted() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("kmsfs mount --foreground ended before mounting: {status}");
            }
            assert!(Instant::now() < deadline, "the mount did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.mounted = true;
        child
    }

    /// `kmsfs mount` as it is, for tests of its failures.
    pub fn try_mount(&self) -> Output {
        let mut args = vec!["mount", s(&self.backing), s(&self.mnt)];
        args.extend(self.mount_flags.iter().map(String::as_str));
        self.sandbox.run(&args)
    }

    /// Whether the mount table shows a kmsfs mount at the mount point.
    pub fn is_mounted(&self) -> bool {
        is_kmsfs_mount(&self.mnt)
    }

    /// `kmsfs umount`, which must succeed, then waits for the daemon to exit.
    pub fn unmount(&mut self) {
        let daemon = self.daemon_pid();
        self.sandbox.ok(&["umount", s(&self.mnt)]);
        self.mounted = false;
        assert!(!self.is_mounted(), "kmsfs umount left the mount behind");
        if let Some(pid) = daemon {
            wait_for_exit(pid);
        }
    }

    pub fn remount(&mut self) {
        self.unmount();
        self.mount();
    }

    /// The pid of the daemon serving this mount, if it runs.
    pub fn daemon_pid(&self) -> Option<u32> {
        daemon_pid_serving(&self.mnt)
    }

    /// Forgets the mount without unmounting (after a test tore it down itself).
    pub fn forget_mount(&mut self) {
        self.mounted = false;
    }

    /// Every audit record so far, oldest first.
    pub fn records(&self) -> Vec<serde_json::Value> {
        self.sandbox.records()
    }
}

impl Drop for MountedVolume {
    fn drop(&mut self) {
        if !self.mounted && !self.is_mounted() {
            return;
        }
        let daemon = self.daemon_pid();
        let out = self.sandbox.run(&["umount", s(&self.mnt)]);
        if !out.status.success() {
            // Busy after a failed test, or dead: never leave it behind.
            let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
        }
        if let Some(pid) = daemon {
            wait_for_exit(pid);
        }
    }
}

/// Whether /proc/self/mountinfo shows a kmsfs mount at `mnt`.
pub fn is_kmsfs_mount(mnt: &Path) -> bool {
    let mnt = mnt.canonicalize().unwrap_or_else(|_| mnt.to_path_buf());
    kmsfs::fs::mountinfo::mount_at(&mnt)
        .unwrap()
        .is_some_and(|entry| entry.fs_type == kmsfs::fs::mountinfo::KMSFS_FS_TYPE)
}

/// The daemon whose command line names `mnt` (`kmsfs ... mount BACKING MNT --foreground`).
pub fn daemon_pid_serving(mnt: &Path) -> Option<u32> {
    let mnt = mnt.as_os_str().as_encoded_bytes();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let is_daemon = args.contains(&&b"mount"[..])
                && args.contains(&&b"--foreground"[..])
                && args.contains(&mnt);
            is_daemon.then_some(pid)
        })
}

/// Waits until process `pid` is gone (or a zombie).
pub fn wait_for_exit(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return,
            Ok(stat)
                if stat
                    .rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z')) =>
            {
                return
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    panic!("the daemon {pid} did not exit");
}

/// `program args` run as `uid` (same gid, no supplementary groups) through setpriv.
pub fn as_user(uid: u32, program: &str, args: &[&str]) -> Command {
    let mut command = Command::new("setpriv");
    command
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={uid}"))
        .arg("--clear-groups")
        .arg(program)
        .args(args);
    command
}

/// The errno of a failed I/O result, for asserting EACCES and EIO.
pub fn errno<T: std::fmt::Debug>(result: std::io::Result<T>) -> i32 {
    result
        .expect_err("expected the operation to fail")
        .raw_os_error()
        .expect("an OS error")
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}
