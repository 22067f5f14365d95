//! A hostile backing store under a live mount: a backing filesystem that
//! fills up during writes (ENOSPC to the writer, nothing earlier lost, the
//! daemon serves on and writes work again once space is freed), and objects
//! added, removed and replaced behind the daemon's back (reads give the new
//! content, EIO or ENOENT, never wrong plaintext; the daemon survives and
//! says what it refused in one log line or audit record). A mountpoint that
//! is a file is tests/fs_mount.rs's `mount_errors_are_one_line_and_non_zero`.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::mount::{pattern, MountedVolume, KEY};
use common::{files_under, s, Sandbox};

/// A small tmpfs, unmounted and removed on Drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn new(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "kmsfs-test",
            ])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount -t tmpfs");
        SmallDisk { dir }
    }

    /// Waits until the disk has `bytes` free; fails after ten seconds.
    fn wait_for_free(&self, bytes: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let fs = rustix::fs::statvfs(self.dir.path()).unwrap();
            let free = fs.f_bavail * fs.f_frsize;
            if free >= bytes {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{free} bytes free 10 s after the unlink, wanted {bytes}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// The errno of an I/O error.
fn code(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

#[test]
fn a_full_backing_disk_gives_the_writer_enospc_and_loses_nothing_earlier() {
    const TEST: &str = "a_full_backing_disk_gives_the_writer_enospc_and_loses_nothing_earlier";
    if !common::mount::fuse_available(TEST) {
        return;
    }
    // The backing directory on an 8 MiB tmpfs; the vault and its audit log
    // stay on the ordinary disk (tests/audit_disk_full.rs fills that one).
    let disk = SmallDisk::new("8m");
    let backing = disk.dir.path().join("backing");
    fs::create_dir(&backing).unwrap();
    let sandbox = Sandbox::initialized();
    sandbox.ok(&["key", "create", "--alias", KEY]);
    sandbox.ok(&["volume", "create", s(&backing), "--key-id", KEY]);
    let Some(vol) = MountedVolume::adopt(TEST, sandbox, backing, &[]) else {
        return;
    };

    // Earlier files, synced.
    let early: Vec<(PathBuf, Vec<u8>)> = (0..3)
        .map(|i| (vol.path(&format!("early-{i}")), pattern(300_000, i)))
        .collect();
    for (path, bytes) in &early {
        let mut file = fs::File::create(path).unwrap();
        file.write_all(bytes).unwrap();
        file.sync_all().unwrap();
    }

    // A writer fills the disk: ENOSPC at a write, or at fsync/close.
    let filler = vol.path("filler");
    let block = pattern(256 * 1024, 99);
    let mut file = fs::File::create(&filler).unwrap();
    let mut acknowledged = 0usize;
    let refusal = loop {
        match file.write(&block) {
            Ok(n) => acknowledged += n,
            Err(e) => break e,
        }
        assert!(acknowledged < 64 << 20, "wrote 64 MiB to an 8 MiB disk");
    };
    assert_eq!(
        code(&refusal),
        libc::ENOSPC,
        "the writer's error: {refusal}"
    );
    let synced = file.sync_all();
    drop(file);
    eprintln!("ENOSPC after {acknowledged} acknowledged bytes; fsync then: {synced:?}");

    // Nothing earlier is lost; the daemon serves on.
    assert!(vol.daemon_pid().is_some(), "the daemon died");
    for (path, bytes) in &early {
        assert_eq!(&fs::read(path).unwrap(), bytes, "{}", path.display());
    }
    // What the filler holds is its own bytes, or EIO; never other bytes.
    match fs::read(&filler) {
        Ok(bytes) => {
            let expected: Vec<u8> = block.iter().cycle().take(bytes.len()).copied().collect();
            assert!(bytes == expected, "the filler reads back other bytes");
        }
        Err(e) => assert_eq!(code(&e), libc::EIO, "reading the filler: {e}"),
    }

    // Space freed, writes work again. The backing inode lives until the
    // kernel's RELEASE and FORGET for the filler reach the daemon, and both
    // are sent after close and unlink have returned: wait for the space.
    fs::remove_file(&filler).unwrap();
    let after = pattern(1 << 20, 7);
    disk.wait_for_free(2 << 20);
    fs::write(vol.path("after"), &after).unwrap();
    assert_eq!(fs::read(vol.path("after")).unwrap(), after);
    drop(vol);
    drop(disk);
}

/// A daemon run with --foreground on an unmounted volume, its log in a file.
struct ForegroundDaemon {
    child: Child,
    log: PathBuf,
}

impl ForegroundDaemon {
    fn start(vol: &MountedVolume) -> ForegroundDaemon {
        let log = vol.sandbox.path("daemon.log");
        let child = vol
            .sandbox
            .command()
            .args(["mount", s(&vol.backing), s(&vol.mnt), "--foreground"])
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !vol.is_mounted() {
            assert!(
                Instant::now() < deadline,
                "the foreground mount never came up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        ForegroundDaemon { child, log }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for ForegroundDaemon {
    fn drop(&mut self) {
        // The volume's Drop has unmounted by now; never leave the child behind.
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.log.with_file_name("mnt"))
                .status();
            let _ = self.child.wait();
        }
    }
}

/// A second volume of a test volume's vault and key, mounted; unmounted on Drop.
struct Sibling<'a> {
    sandbox: &'a Sandbox,
    backing: PathBuf,
    mnt: PathBuf,
}

impl Sibling<'_> {
    fn new(vol: &MountedVolume) -> Sibling<'_> {
        let (backing, mnt) = (vol.sandbox.path("backing2"), vol.sandbox.path("mnt2"));
        fs::create_dir(&backing).unwrap();
        fs::create_dir(&mnt).unwrap();
        vol.sandbox
            .ok(&["volume", "create", s(&backing), "--key-id", KEY]);
        vol.sandbox.ok(&["mount", s(&backing), s(&mnt)]);
        Sibling {
            sandbox: &vol.sandbox,
            backing,
            mnt,
        }
    }
}

impl Drop for Sibling<'_> {
    fn drop(&mut self) {
        let daemon = common::mount::daemon_pid_serving(&self.mnt);
        if !self.sandbox.run(&["umount", s(&self.mnt)]).status.success() {
            let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
        }
        if let Some(pid) = daemon {
            common::mount::wait_for_exit(pid);
        }
    }
}

/// Writes `bytes` to `name` through the mount and returns its new backing object.
fn write_object(vol: &MountedVolume, name: &str, bytes: &[u8]) -> PathBuf {
    let before = files_under(&vol.backing);
    fs::write(vol.path(name), bytes).unwrap();
    let new: Vec<_> = files_under(&vol.backing)
        .difference(&before)
        .cloned()
        .collect();
    assert_eq!(new.len(), 1, "one new object for {name}: {new:?}");
    new.into_iter().next().unwrap()
}

/// A read of `path` gives exactly one of `allowed`, or fails with one of `errnos`.
fn assert_reads_one_of(path: &Path, allowed: &[&[u8]], errnos: &[i32], what: &str) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            assert!(
                allowed.contains(&bytes.as_slice()),
                "{what}: read {} bytes that are none of the allowed contents",
                bytes.len()
            );
            "content".to_string()
        }
        Err(e) => {
            assert!(errnos.contains(&code(&e)), "{what}: {e}");
            e.to_string()
        }
    }
}

/// Longer than the kernel's 1 s entry and attribute cache of kmsfs.
fn after_the_caches() {
    std::thread::sleep(Duration::from_millis(1200));
}

#[test]
fn objects_added_removed_or_replaced_underneath_read_new_eio_or_enoent() {
    const TEST: &str = "objects_added_removed_or_replaced_underneath_read_new_eio_or_enoent";
    let Some(vol) = MountedVolume::unmounted(TEST, &[]) else {
        return;
    };
    // Another vault's volume, and a second volume of this vault (same key).
    let Some(other) = MountedVolume::new(TEST) else {
        return;
    };
    let sibling = Sibling::new(&vol);
    let daemon = ForegroundDaemon::start(&vol);
    fs::create_dir(vol.path("d1")).unwrap();
    fs::create_dir(vol.path("d2")).unwrap();
    let [a, b, c, a2, b2, b3] = [1u64, 2, 3, 4, 5, 8].map(|seed| pattern(100_000, seed));
    let obj_a = write_object(&vol, "d1/a", &a);
    let obj_b = write_object(&vol, "d1/b", &b);
    let obj_c = write_object(&vol, "d2/c", &c);
    let obj_a2 = write_object(&vol, "d1/a2", &a2);
    let obj_b2 = write_object(&vol, "d1/b2", &b2);
    let obj_b3 = write_object(&vol, "d1/b3", &b3);
    let x = pattern(100_000, 6);
    let obj_x = write_object(&other, "x", &x);
    let y = pattern(100_000, 7);
    let before = files_under(&sibling.backing);
    fs::write(sibling.mnt.join("y"), &y).unwrap();
    let obj_y = files_under(&sibling.backing)
        .difference(&before)
        .next()
        .unwrap()
        .clone();
    let d1 = obj_a.parent().unwrap().to_path_buf();

    // Added: another volume's object under its own name, another directory's
    // object under its name, and a file that is no kmsfs name at all.
    fs::copy(&obj_x, d1.join(obj_x.file_name().unwrap())).unwrap();
    fs::copy(&obj_c, d1.join(obj_c.file_name().unwrap())).unwrap();
    fs::write(d1.join("not-a-kmsfs-name"), b"planted").unwrap();
    after_the_caches();
    let listed: BTreeSet<String> = fs::read_dir(vol.path("d1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let expected: BTreeSet<String> = ["a", "b", "a2", "b2", "b3"].map(String::from).into();
    // A moved-in name does not decrypt in its new directory (docs/SECURITY.md):
    // each planted entry is left out, none is lost.
    assert_eq!(listed, expected);
    assert!(
        daemon.log().contains("skipping backing entry"),
        "no log line for the planted entries: {}",
        daemon.log()
    );

    // Removed: the name is gone (ENOENT), its neighbours read on.
    fs::remove_file(&obj_b).unwrap();
    after_the_caches();
    let gone = fs::read(vol.path("d1/b")).unwrap_err();
    assert_eq!(code(&gone), libc::ENOENT, "{gone}");
    assert_eq!(fs::read(vol.path("d1/a")).unwrap(), a);

    // Replaced by another file's object of the same volume, as a new inode
    // (rename over) and in place: that file's content or EIO, never a mix.
    let records_before = vol.records().len();
    let swapped = d1.join("swapped.tmp");
    fs::copy(&obj_c, &swapped).unwrap();
    fs::rename(&swapped, &obj_a).unwrap();
    fs::write(&obj_a2, fs::read(&obj_c).unwrap()).unwrap();
    // Replaced by the object of another volume of the same key: EIO. By an
    // object of another vault: its key is not in this vault, which reads as
    // a file whose key is gone does (EACCES).
    fs::write(&obj_b3, fs::read(&obj_y).unwrap()).unwrap();
    fs::write(&obj_b2, fs::read(&obj_x).unwrap()).unwrap();
    after_the_caches();
    let outcomes = [
        assert_reads_one_of(&vol.path("d1/a"), &[&c], &[libc::EIO], "a replaced by c"),
        assert_reads_one_of(
            &vol.path("d1/a2"),
            &[&c],
            &[libc::EIO],
            "a2 overwritten by c",
        ),
        assert_reads_one_of(&vol.path("d1/b3"), &[], &[libc::EIO], "b3 overwritten by y"),
        assert_reads_one_of(
            &vol.path("d1/b2"),
            &[],
            &[libc::EACCES],
            "b2 overwritten by x",
        ),
    ];
    eprintln!("replaced objects read as: {outcomes:?}");
    let refusals = vol.records()[records_before..]
        .iter()
        .filter(|r| !r["errorCode"].is_null())
        .count();
    let eios = outcomes.iter().filter(|o| *o != "content").count();
    assert!(
        refusals >= eios,
        "{eios} EIO reads but {refusals} refusal records in the audit log"
    );

    // The daemon serves on: new files work, untouched files read.
    assert!(
        daemon.log().lines().all(|line| !line.contains("panicked")),
        "{}",
        daemon.log()
    );
    fs::write(vol.path("d1/new"), b"still serving").unwrap();
    assert_eq!(fs::read(vol.path("d1/new")).unwrap(), b"still serving");
    assert_eq!(fs::read(vol.path("d2/c")).unwrap(), c);
    assert_eq!(fs::read(other.path("x")).unwrap(), x);
    assert_eq!(fs::read(sibling.mnt.join("y")).unwrap(), y);
    drop(sibling);
    drop(vol);
    drop(daemon);
}
