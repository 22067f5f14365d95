//! Real mounts of a one-directory filesystem: readiness, the mount table entry,
//! unmounting, and the mount point checks. Skipped without root or /dev/fuse
//! (a failure with KMSFS_REQUIRE_FUSE=1).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, UNIX_EPOCH};

use fuser::{FileAttr, FileHandle, FileType, INodeNo, ReplyAttr, Request};

use super::*;
use crate::fs::mountinfo::{mount_at, KMSFS_FS_TYPE};
use crate::fs::unmount::unmount_kmsfs;

/// An empty root directory, nothing else.
struct EmptyRoot;

impl Filesystem for EmptyRoot {
    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        if ino != INodeNo::ROOT {
            reply.error(fuser::Errno::ENOENT);
            return;
        }
        let attr = FileAttr {
            ino,
            size: 0,
            blocks: 0,
            atime: UNIX_EPOCH,
            mtime: UNIX_EPOCH,
            ctime: UNIX_EPOCH,
            crtime: UNIX_EPOCH,
            kind: FileType::Directory,
            perm: 0o755,
            nlink: 2,
            uid: 0,
            gid: 0,
            rdev: 0,
            flags: 0,
            blksize: 4096,
        };
        reply.attr(&Duration::from_secs(1), &attr);
    }
}

fn fuse_available() -> bool {
    let reason = if crate::sys::effective_uid() != 0 {
        "not root"
    } else if !Path::new("/dev/fuse").exists() {
        "no /dev/fuse"
    } else {
        return true;
    };
    assert!(
        std::env::var_os("KMSFS_REQUIRE_FUSE").is_none_or(|v| v != "1"),
        "KMSFS_REQUIRE_FUSE=1 but FUSE is unusable: {reason}"
    );
    eprintln!("skipping a real mount: {reason}");
    false
}

fn options(backing: &Path) -> MountOptions {
    MountOptions {
        backing: backing.to_path_buf(),
        read_only: false,
        allow_other: true,
        default_permissions: true,
    }
}

/// `EmptyRoot` served in a thread; detached lazily if a test fails before `stop`.
struct Served {
    mnt: PathBuf,
    server: Option<thread::JoinHandle<Result<(), MountError>>>,
}

impl Served {
    /// Serves `EmptyRoot` on `mnt`; returns once it is ready.
    fn start(mnt: &Path, options: MountOptions) -> Served {
        let (tx, rx) = mpsc::channel();
        let path = mnt.to_path_buf();
        let server = thread::spawn(move || {
            let ready = ReadySignal::new(move || tx.send(()).unwrap());
            serve(
                EmptyRoot,
                &path,
                &options,
                ready,
                StatusProbe::new(String::new),
            )
        });
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            panic!("not ready: {:?}", server.join());
        }
        Served {
            mnt: mnt.canonicalize().unwrap(),
            server: Some(server),
        }
    }

    /// Unmounts as `kmsfs umount` does and returns what `serve` returned.
    fn stop(mut self) -> Result<(), MountError> {
        unmount_kmsfs(&self.mnt, false).unwrap();
        let server = self.server.take().unwrap();
        server.join().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.server.is_some() {
            let _ = crate::fs::unmount::unmount(&self.mnt, true);
        }
    }
}

#[test]
fn serves_until_unmounted_and_shows_in_the_mount_table() {
    if !fuse_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (backing, mnt) = (dir.path().join("backing"), dir.path().join("mnt"));
    std::fs::create_dir(&backing).unwrap();
    std::fs::create_dir(&mnt).unwrap();
    let before = mnt.metadata().unwrap().dev();
    let served = Served::start(&mnt, options(&backing));

    let mnt = mnt.canonicalize().unwrap();
    assert_ne!(mnt.metadata().unwrap().dev(), before, "ready means live");
    let entry = mount_at(&mnt).unwrap().expect("in the mount table");
    assert_eq!(entry.fs_type, KMSFS_FS_TYPE);
    assert_eq!(
        entry.source,
        format!("kmsfs:{}", backing.canonicalize().unwrap().display())
    );
    let superblock = mountinfo_line(&mnt);
    assert!(superblock.contains("allow_other"), "{superblock}");
    assert!(superblock.contains("default_permissions"), "{superblock}");

    // A second mount on the same place is refused with a clear reason.
    match check_mountpoint(&mnt, &backing) {
        Err(MountError::AlreadyMounted(path)) => assert_eq!(path, mnt),
        other => panic!("{other:?}"),
    }

    served.stop().unwrap();
    assert!(mount_at(&mnt).unwrap().is_none());
    assert_eq!(mnt.metadata().unwrap().dev(), before);
}

#[test]
fn read_only_and_owner_only_options_reach_the_kernel() {
    if !fuse_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (backing, mnt) = (dir.path().join("backing"), dir.path().join("mnt"));
    std::fs::create_dir(&backing).unwrap();
    std::fs::create_dir(&mnt).unwrap();
    let served = Served::start(
        &mnt,
        MountOptions {
            read_only: true,
            allow_other: false,
            default_permissions: false,
            ..options(&backing)
        },
    );
    let mnt = mnt.canonicalize().unwrap();
    let line = mountinfo_line(&mnt);
    served.stop().unwrap();
    let mount_options = line.split(' ').nth(5).unwrap();
    assert!(mount_options.split(',').any(|o| o == "ro"), "{line}");
    assert!(!line.contains("allow_other"), "{line}");
    assert!(!line.contains("default_permissions"), "{line}");
}

/// The raw mountinfo line of the mount at `mnt`.
fn mountinfo_line(mnt: &Path) -> String {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let needle = format!(" {} ", mnt.display());
    table
        .lines()
        .rev()
        .find(|line| line.contains(&needle))
        .unwrap_or_else(|| panic!("{} not mounted:\n{table}", mnt.display()))
        .to_string()
}

#[test]
fn mountpoint_checks_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let backing = root.join("backing");
    std::fs::create_dir(&backing).unwrap();
    std::fs::write(root.join("file"), b"x").unwrap();
    std::fs::create_dir(root.join("mnt")).unwrap();

    let err = check_mountpoint(&root.join("missing"), &backing).unwrap_err();
    assert!(matches!(err, MountError::MountpointMissing(_)), "{err}");
    assert!(err.to_string().ends_with("does not exist"), "{err}");
    let err = check_mountpoint(&root.join("missing/deeper"), &backing).unwrap_err();
    assert!(matches!(err, MountError::MountpointMissing(_)), "{err}");
    let err = check_mountpoint(&root.join("file"), &backing).unwrap_err();
    assert!(matches!(err, MountError::NotADirectory(_)), "{err}");
    let err = check_mountpoint(Path::new("/proc"), &backing).unwrap_err();
    assert!(matches!(err, MountError::AlreadyMounted(_)), "{err}");
    let err = check_mountpoint(&backing, &backing).unwrap_err();
    assert!(matches!(err, MountError::Overlap { .. }), "{err}");
    std::fs::create_dir(backing.join("inside")).unwrap();
    let err = check_mountpoint(&backing.join("inside"), &backing).unwrap_err();
    assert!(matches!(err, MountError::Overlap { .. }), "{err}");
    let err = check_mountpoint(&root, &backing).unwrap_err();
    assert!(matches!(err, MountError::Overlap { .. }), "{err}");

    let fine = check_mountpoint(&root.join("mnt"), &backing).unwrap();
    assert_eq!(fine.path, root.join("mnt"));
    for err in [
        MountError::MountpointMissing(root.clone()),
        MountError::DeadMount(root.clone()),
    ] {
        assert_eq!(err.to_string().lines().count(), 1);
    }
}

#[test]
fn options_become_the_session_config() {
    let config = session_config(&options(Path::new("/srv/back")));
    assert!(config
        .mount_options
        .contains(&MountOption::FSName("kmsfs:/srv/back".into())));
    assert!(config
        .mount_options
        .contains(&MountOption::CUSTOM("subtype=kmsfs".into())));
    assert!(config
        .mount_options
        .contains(&MountOption::DefaultPermissions));
    assert!(!config.mount_options.contains(&MountOption::RO));
    assert_eq!(config.acl, SessionACL::All);
    assert!(config.n_threads.unwrap() >= 4);

    let config = session_config(&MountOptions {
        read_only: true,
        allow_other: false,
        default_permissions: false,
        ..options(Path::new("/srv/back"))
    });
    assert!(config.mount_options.contains(&MountOption::RO));
    assert!(!config
        .mount_options
        .contains(&MountOption::DefaultPermissions));
    assert_eq!(config.acl, SessionACL::Owner);
}
