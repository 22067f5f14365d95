//! Checklist rows "open flags": O_CREAT|O_EXCL, O_TRUNC, O_APPEND, writes on
//! an O_RDONLY descriptor, O_DIRECTORY, O_NOFOLLOW.

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::common::mount::MountedVolume;
use super::errno_of;

fn open(path: &std::path::Path, flags: OFlags) -> rustix::io::Result<std::os::fd::OwnedFd> {
    rustix::fs::open(path, flags | OFlags::CLOEXEC, Mode::from_raw_mode(0o644))
}

#[test]
fn open_flags_do_what_posix_says() {
    let Some(vol) = MountedVolume::new("open_flags_do_what_posix_says") else {
        return;
    };
    let file = vol.path("file");
    let excl = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY;

    // O_CREAT|O_EXCL creates once, then EEXIST; also on a dangling symlink.
    drop(open(&file, excl).expect("O_CREAT|O_EXCL on a new name"));
    assert_eq!(errno_of(open(&file, excl)), Errno::EXIST);
    std::os::unix::fs::symlink("nowhere", vol.path("dangling")).unwrap();
    assert_eq!(errno_of(open(&vol.path("dangling"), excl)), Errno::EXIST);
    assert!(!vol.path("nowhere").exists(), "O_EXCL followed the symlink");

    // O_TRUNC empties an existing file; the next write starts at 0.
    std::fs::write(&file, b"hello world").unwrap();
    let fd = open(&file, OFlags::WRONLY | OFlags::TRUNC).unwrap();
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 0);
    rustix::io::write(&fd, b"new").unwrap();
    drop(fd);
    assert_eq!(std::fs::read(&file).unwrap(), b"new");

    // O_APPEND writes at the end whatever the file offset says.
    let fd = open(&file, OFlags::WRONLY | OFlags::APPEND).unwrap();
    rustix::fs::seek(&fd, rustix::fs::SeekFrom::Start(0)).unwrap();
    rustix::io::write(&fd, b"+tail").unwrap();
    drop(fd);
    assert_eq!(std::fs::read(&file).unwrap(), b"new+tail");

    // Writes on O_RDONLY and reads on O_WRONLY descriptors are EBADF.
    let fd = open(&file, OFlags::RDONLY).unwrap();
    assert_eq!(errno_of(rustix::io::write(&fd, b"x")), Errno::BADF);
    let fd = open(&file, OFlags::WRONLY).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(errno_of(rustix::io::read(&fd, &mut buf)), Errno::BADF);
    assert_eq!(std::fs::read(&file).unwrap(), b"new+tail");

    // O_DIRECTORY: a directory opens, a file is ENOTDIR; a directory is
    // EISDIR for writing.
    std::fs::create_dir(vol.path("dir")).unwrap();
    open(&vol.path("dir"), OFlags::RDONLY | OFlags::DIRECTORY).expect("O_DIRECTORY on a dir");
    assert_eq!(
        errno_of(open(&file, OFlags::RDONLY | OFlags::DIRECTORY)),
        Errno::NOTDIR
    );
    assert_eq!(
        errno_of(open(&vol.path("dir"), OFlags::WRONLY)),
        Errno::ISDIR
    );

    // O_NOFOLLOW: ELOOP on a symlink, a plain file opens.
    std::os::unix::fs::symlink("file", vol.path("link")).unwrap();
    assert_eq!(
        errno_of(open(&vol.path("link"), OFlags::RDONLY | OFlags::NOFOLLOW)),
        Errno::LOOP
    );
    open(&file, OFlags::RDONLY | OFlags::NOFOLLOW).expect("O_NOFOLLOW on a file");

    // A path through a file is ENOTDIR; a missing parent ENOENT.
    assert_eq!(
        errno_of(open(&file.join("below"), OFlags::CREATE | OFlags::WRONLY)),
        Errno::NOTDIR
    );
    assert_eq!(
        errno_of(open(
            &vol.path("missing/below"),
            OFlags::CREATE | OFlags::WRONLY
        )),
        Errno::NOENT
    );
}
