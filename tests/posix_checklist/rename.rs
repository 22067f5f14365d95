//! Checklist rows "rename corner cases" (over a file, over an empty and a
//! non-empty directory, into its own subdirectory, onto itself, across
//! directories, RENAME_NOREPLACE, RENAME_EXCHANGE) and "link counts".

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::fs::{RenameFlags, CWD};
use rustix::io::Errno;

use super::common::mount::MountedVolume;
use super::{errno_of, meta, nlink};

fn rename(from: &Path, to: &Path) -> rustix::io::Result<()> {
    rustix::fs::rename(from, to)
}

fn renameat2(from: &Path, to: &Path, flags: RenameFlags) -> rustix::io::Result<()> {
    rustix::fs::renameat_with(CWD, from, CWD, to, flags)
}

#[test]
fn rename_corner_cases_follow_posix_and_linux() {
    let Some(mut vol) = MountedVolume::new("rename_corner_cases_follow_posix_and_linux") else {
        return;
    };
    let p = |name: &str| vol.path(name);
    fs::create_dir_all(p("a/sub")).unwrap();
    fs::create_dir(p("b")).unwrap();
    fs::create_dir(p("empty")).unwrap();
    fs::write(p("a/one"), b"one").unwrap();
    fs::write(p("a/two"), b"two").unwrap();
    fs::write(p("a/sub/deep"), b"deep").unwrap();

    // Over an existing file: the target is replaced, the source name gone.
    rename(&p("a/one"), &p("a/two")).unwrap();
    assert_eq!(fs::read(p("a/two")).unwrap(), b"one");
    assert!(!p("a/one").exists());

    // Onto itself, and onto another hard link of itself: nothing changes.
    rename(&p("a/two"), &p("a/two")).unwrap();
    fs::hard_link(p("a/two"), p("a/twin")).unwrap();
    rename(&p("a/two"), &p("a/twin")).unwrap();
    assert_eq!(fs::read(p("a/two")).unwrap(), b"one");
    assert_eq!(fs::read(p("a/twin")).unwrap(), b"one");
    assert_eq!(nlink(&p("a/two")), 2);

    // Directories: over an empty one works; onto a non-empty one is
    // ENOTEMPTY; a file over a directory EISDIR, a directory over a file
    // ENOTDIR; into its own subdirectory EINVAL.
    fs::create_dir(p("b/gone")).unwrap();
    rename(&p("b/gone"), &p("empty")).unwrap();
    assert!(p("empty").is_dir() && !p("b/gone").exists());
    assert_eq!(errno_of(rename(&p("empty"), &p("a"))), Errno::NOTEMPTY);
    assert_eq!(errno_of(rename(&p("a/twin"), &p("empty"))), Errno::ISDIR);
    assert_eq!(errno_of(rename(&p("empty"), &p("a/twin"))), Errno::NOTDIR);
    assert_eq!(errno_of(rename(&p("a"), &p("a/sub/a"))), Errno::INVAL);
    assert_eq!(errno_of(rename(&p("a"), &p("a/sub"))), Errno::INVAL);
    assert_eq!(errno_of(rename(&p("missing"), &p("b/x"))), Errno::NOENT);

    // Across directories, a file and a whole tree; contents still decrypt.
    rename(&p("a/twin"), &p("b/twin")).unwrap();
    assert_eq!(fs::read(p("b/twin")).unwrap(), b"one");
    rename(&p("a/sub"), &p("b/sub")).unwrap();
    assert_eq!(fs::read(p("b/sub/deep")).unwrap(), b"deep");
    assert!(!p("a/sub").exists());

    // RENAME_NOREPLACE: EEXIST over a name, a rename to a free one.
    assert_eq!(
        errno_of(renameat2(&p("a/two"), &p("b/twin"), RenameFlags::NOREPLACE)),
        Errno::EXIST
    );
    renameat2(&p("a/two"), &p("b/three"), RenameFlags::NOREPLACE).unwrap();
    assert_eq!(fs::read(p("b/three")).unwrap(), b"one");

    // RENAME_EXCHANGE: two files swap, a file and a directory swap, and a
    // missing partner is ENOENT.
    fs::write(p("b/three"), b"three").unwrap();
    renameat2(&p("b/three"), &p("b/sub/deep"), RenameFlags::EXCHANGE).unwrap();
    assert_eq!(fs::read(p("b/three")).unwrap(), b"deep");
    assert_eq!(fs::read(p("b/sub/deep")).unwrap(), b"three");
    renameat2(&p("b/three"), &p("b/sub"), RenameFlags::EXCHANGE).unwrap();
    assert_eq!(fs::read(p("b/sub")).unwrap(), b"deep");
    assert_eq!(fs::read(p("b/three/deep")).unwrap(), b"three");
    assert_eq!(
        errno_of(renameat2(&p("b/sub"), &p("b/none"), RenameFlags::EXCHANGE)),
        Errno::NOENT
    );
    let both = RenameFlags::EXCHANGE | RenameFlags::NOREPLACE;
    assert_eq!(
        errno_of(renameat2(&p("b/sub"), &p("b/three"), both)),
        Errno::INVAL
    );

    // After a remount every name and content is where the renames left it.
    vol.remount();
    let names = |dir: &str| {
        let mut names: Vec<String> = fs::read_dir(vol.path(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names("a"), Vec::<String>::new());
    assert_eq!(names("b"), ["sub", "three", "twin"]);
    assert_eq!(fs::read(vol.path("b/three/deep")).unwrap(), b"three");
    assert_eq!(fs::read(vol.path("b/sub")).unwrap(), b"deep");
}

#[test]
fn link_counts_follow_hard_links_and_subdirectories() {
    let Some(vol) = MountedVolume::new("link_counts_follow_hard_links_and_subdirectories") else {
        return;
    };
    let p = |name: &str| vol.path(name);
    fs::write(p("file"), b"linked").unwrap();
    assert_eq!(nlink(&p("file")), 1);
    fs::hard_link(p("file"), p("second")).unwrap();
    fs::create_dir(p("d")).unwrap();
    fs::hard_link(p("file"), p("d/third")).unwrap();
    for name in ["file", "second", "d/third"] {
        assert_eq!(nlink(&p(name)), 3, "{name}");
        assert_eq!(meta(&p(name)).ino(), meta(&p("file")).ino(), "{name}");
        assert_eq!(fs::read(p(name)).unwrap(), b"linked", "{name}");
    }
    // A write through one name is seen through the others.
    fs::write(p("d/third"), b"changed").unwrap();
    assert_eq!(fs::read(p("second")).unwrap(), b"changed");
    fs::remove_file(p("file")).unwrap();
    assert_eq!(nlink(&p("second")), 2);
    fs::remove_file(p("d/third")).unwrap();
    assert_eq!(nlink(&p("second")), 1);
    // Hard links to a directory are refused as everywhere (EPERM).
    assert_eq!(errno_of(rustix::fs::link(p("d"), p("dlink"))), Errno::PERM);

    // A directory: 2, plus one per subdirectory; files do not count.
    assert_eq!(nlink(&p("d")), 2);
    fs::create_dir(p("d/x")).unwrap();
    fs::create_dir(p("d/y")).unwrap();
    fs::write(p("d/f"), b"").unwrap();
    assert_eq!(nlink(&p("d")), 4);
    fs::create_dir(p("e")).unwrap();
    fs::rename(p("d/y"), p("e/y")).unwrap();
    assert_eq!(nlink(&p("d")), 3);
    assert_eq!(nlink(&p("e")), 3);
    fs::remove_dir(p("d/x")).unwrap();
    assert_eq!(nlink(&p("d")), 2);
    let root_links = nlink(&vol.mnt);
    fs::create_dir(p("z")).unwrap();
    assert_eq!(
        nlink(&vol.mnt),
        root_links + 1,
        "the root counts its subdirectories"
    );
}
