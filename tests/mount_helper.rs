//! The mount(8) path: `kmsfs install-helper` makes /sbin/mount.fuse.kmsfs,
//! then `mount -t fuse.kmsfs BACKING MNT -o vault=...` and a line of a
//! temporary fstab (`mount -T FILE MNT`) mount the volume, `umount` unmounts
//! it; an unknown option is refused and mounts nothing. The symlink is
//! removed afterwards.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::mount::{is_kmsfs_mount, MountedVolume};
use common::s;

const HELPER: &str = "/sbin/mount.fuse.kmsfs";

/// Removes the helper link on drop, if it is the one this test binary's kmsfs made.
struct HelperLink;

impl Drop for HelperLink {
    fn drop(&mut self) {
        if std::fs::read_link(HELPER).ok() == Some(PathBuf::from(env!("CARGO_BIN_EXE_kmsfs"))) {
            let _ = std::fs::remove_file(HELPER);
        }
    }
}

fn umount(mnt: &std::path::Path) {
    let status = Command::new("umount").arg(mnt).status().unwrap();
    assert!(status.success());
    assert!(!is_kmsfs_mount(mnt));
}

#[test]
fn mount_t_fuse_kmsfs_and_an_fstab_line() {
    let Some(mut volume) = MountedVolume::unmounted("mount_t_fuse_kmsfs_and_an_fstab_line", &[])
    else {
        return;
    };
    let _link = HelperLink;
    volume.sandbox.ok(&["install-helper"]);
    assert_eq!(
        std::fs::read_link(HELPER).unwrap(),
        PathBuf::from(env!("CARGO_BIN_EXE_kmsfs"))
    );
    let vault_option = format!("vault={}", s(&volume.sandbox.vault()));

    // An unknown option: refused, nothing mounted.
    let out = Command::new("mount")
        .args(["-t", "fuse.kmsfs", s(&volume.backing), s(&volume.mnt), "-o"])
        .arg(format!("{vault_option},bogus"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus"));
    assert!(!is_kmsfs_mount(&volume.mnt));

    // mount -t fuse.kmsfs, then umount.
    let status = Command::new("mount")
        .args(["-t", "fuse.kmsfs", s(&volume.backing), s(&volume.mnt), "-o"])
        .arg(&vault_option)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(is_kmsfs_mount(&volume.mnt));
    std::fs::write(volume.path("hello.txt"), b"through mount(8)\n").unwrap();
    umount(&volume.mnt);

    // A read-only fstab line.
    let fstab = volume.sandbox.path("fstab");
    std::fs::write(
        &fstab,
        format!(
            "# a test fstab\n{} {} fuse.kmsfs {vault_option},ro,noauto,nofail 0 0\n",
            s(&volume.backing),
            s(&volume.mnt)
        ),
    )
    .unwrap();
    let status = Command::new("mount")
        .args(["-T", s(&fstab), s(&volume.mnt)])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(is_kmsfs_mount(&volume.mnt));
    assert_eq!(
        std::fs::read(volume.path("hello.txt")).unwrap(),
        b"through mount(8)\n"
    );
    assert!(
        std::fs::write(volume.path("other.txt"), b"x").is_err(),
        "ro was ignored"
    );
    umount(&volume.mnt);
    volume.forget_mount();
}
