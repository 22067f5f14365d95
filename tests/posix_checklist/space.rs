//! Checklist rows "statfs", "a sparse file past 4 GiB", "fallocate" and
//! "extended attributes".

use std::fs;
use std::os::unix::fs::{FileExt, MetadataExt};

use rustix::fs::{FallocateFlags, XattrFlags};
use rustix::io::Errno;

use super::common::mount::MountedVolume;
use super::errno_of;

#[test]
fn statfs_reports_the_backing_filesystem_and_a_name_length_that_holds() {
    let Some(vol) =
        MountedVolume::new("statfs_reports_the_backing_filesystem_and_a_name_length_that_holds")
    else {
        return;
    };
    let mounted = rustix::fs::statvfs(&vol.mnt).unwrap();
    let backing = rustix::fs::statvfs(&vol.backing).unwrap();
    assert_eq!(mounted.f_bsize, backing.f_bsize);
    assert_eq!(mounted.f_frsize, backing.f_frsize);
    assert_eq!(mounted.f_blocks, backing.f_blocks);
    assert_eq!(mounted.f_files, backing.f_files);
    assert!(mounted.f_blocks > 0 && mounted.f_bfree <= mounted.f_blocks);
    assert!(mounted.f_bavail <= mounted.f_bfree);
    assert!(mounted.f_ffree <= mounted.f_files);
    // The longest name statfs promises can be made, one more byte cannot.
    let longest = mounted.f_namemax as usize;
    assert!((1..=255).contains(&longest), "f_namemax {longest}");
    let name = "n".repeat(longest);
    fs::write(vol.path(&name), b"long name").unwrap();
    assert_eq!(fs::read(vol.path(&name)).unwrap(), b"long name");
    assert!(fs::read_dir(&vol.mnt)
        .unwrap()
        .any(|e| e.unwrap().file_name() == name.as_str()));
    let too_long = fs::write(vol.path(&"n".repeat(longest + 1)), b"");
    assert_eq!(
        too_long.unwrap_err().raw_os_error(),
        Some(Errno::NAMETOOLONG.raw_os_error())
    );
}

#[test]
fn a_sparse_file_past_4_gib_reads_zeros_in_its_hole_and_its_tail_back() {
    let Some(mut vol) =
        MountedVolume::new("a_sparse_file_past_4_gib_reads_zeros_in_its_hole_and_its_tail_back")
    else {
        return;
    };
    const AT: u64 = 5 << 30;
    const FOUR_GIB: u64 = 4 << 30;
    let tail = b"the tail, five gibibytes in";
    let path = vol.path("sparse");
    let file = fs::File::create(&path).unwrap();
    file.write_all_at(b"head", 0).unwrap();
    file.write_all_at(tail, AT).unwrap();
    drop(file);
    let check = |vol: &MountedVolume| {
        let path = vol.path("sparse");
        assert_eq!(fs::metadata(&path).unwrap().len(), AT + tail.len() as u64);
        let file = fs::File::open(&path).unwrap();
        let read = |at: u64, len: usize| {
            let mut buf = vec![0xAAu8; len];
            file.read_exact_at(&mut buf, at).unwrap();
            buf
        };
        assert_eq!(&read(0, 4)[..], b"head");
        assert!(read(4, 65_536).iter().all(|b| *b == 0), "the hole's start");
        assert!(
            read(FOUR_GIB - 4096, 8192).iter().all(|b| *b == 0),
            "across 4 GiB"
        );
        let end = read(AT - 100, 100 + tail.len());
        assert!(end[..100].iter().all(|b| *b == 0), "before the tail");
        assert_eq!(&end[100..], tail);
        // The backing object stays sparse: no 5 GiB of sealed zeros.
        let objects: u64 = walk_allocated(&vol.backing);
        assert!(objects < 64 << 20, "backing allocates {objects} bytes");
    };
    check(&vol);
    vol.remount();
    check(&vol);
    // Cut back to just past 4 GiB: the new last byte is a hole's zero.
    let file = fs::OpenOptions::new()
        .write(true)
        .open(vol.path("sparse"))
        .unwrap();
    file.set_len(FOUR_GIB + 1).unwrap();
    let mut last = [0xAAu8; 2];
    assert_eq!(
        file.read_at(&mut last, FOUR_GIB).unwrap_or(0),
        0,
        "write-only handle"
    );
    drop(file);
    let file = fs::File::open(vol.path("sparse")).unwrap();
    assert_eq!(file.read_at(&mut last, FOUR_GIB).unwrap(), 1);
    assert_eq!(last[0], 0);
}

/// Bytes allocated to the files under `dir` (st_blocks, not st_size).
fn walk_allocated(dir: &std::path::Path) -> u64 {
    fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                walk_allocated(&path)
            } else {
                meta.blocks() * 512
            }
        })
        .sum()
}

#[test]
fn fallocate_and_xattrs_are_refused_clearly_and_change_nothing() {
    let Some(vol) =
        MountedVolume::new("fallocate_and_xattrs_are_refused_clearly_and_change_nothing")
    else {
        return;
    };
    let path = vol.path("file");
    fs::write(&path, b"content").unwrap();
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    // fallocate: EOPNOTSUPP in every mode; the file keeps its size and bytes.
    for mode in [
        FallocateFlags::empty(),
        FallocateFlags::KEEP_SIZE,
        FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
    ] {
        assert_eq!(
            errno_of(rustix::fs::fallocate(&file, mode, 0, 1 << 20)),
            Errno::OPNOTSUPP,
            "{mode:?}"
        );
    }
    assert_eq!(fs::read(&path).unwrap(), b"content");

    // Extended attributes: ENOTSUP (= EOPNOTSUPP) for each call, on files
    // and directories, so cp, tar and rsync skip them quietly.
    for target in [path.clone(), vol.mnt.clone()] {
        assert_eq!(
            errno_of(rustix::fs::setxattr(
                &target,
                "user.k",
                b"v",
                XattrFlags::empty()
            )),
            Errno::OPNOTSUPP
        );
        let mut buf = [0u8; 64];
        assert_eq!(
            errno_of(rustix::fs::getxattr(&target, "user.k", &mut buf)),
            Errno::OPNOTSUPP
        );
        assert_eq!(
            errno_of(rustix::fs::listxattr(&target, &mut buf)),
            Errno::OPNOTSUPP
        );
        assert_eq!(
            errno_of(rustix::fs::removexattr(&target, "user.k")),
            Errno::OPNOTSUPP
        );
    }
}
