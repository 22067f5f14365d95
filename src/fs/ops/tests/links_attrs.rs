//! Symlinks, hard links and attributes: readlink, link counts, chmod, chown,
//! utimens, statfs, access.

use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::fs::backing::{Kind, TimeSet};
use crate::fs::error::FsError;
use crate::fs::ops::attr::{MAY_EXECUTE, MAY_READ, MAY_WRITE};
use crate::fs::types::SetAttr;

#[test]
fn symlinks_keep_encrypted_targets_that_read_back_plain() {
    let f = fixture();
    let target = "../some/secret-target.txt";
    let link =
        f.fs.symlink(&owner(), ROOT_ID, os("link"), Path::new(target))
            .unwrap();
    assert_eq!(link.kind, Kind::Symlink);
    assert_eq!(
        link.size,
        target.len() as u64,
        "size is the target's length"
    );
    assert_eq!(f.fs.readlink(link.id).unwrap(), target);
    let on_disk = std::fs::read_link(f.backing_path(link.id)).unwrap();
    assert!(!on_disk.to_string_lossy().contains("secret"));
    // A symlink keeps its target through a rename to another directory.
    let dir = f.fs.mkdir(&owner(), ROOT_ID, os("d"), 0o755, 0).unwrap();
    f.fs.rename(
        ROOT_ID,
        os("link"),
        dir.id,
        os("moved"),
        crate::fs::backing::RenameMode::Replace,
    )
    .unwrap();
    let moved = f.lookup(dir.id, "moved").unwrap();
    assert_eq!(f.fs.readlink(moved.id).unwrap(), target);
    let file = f.file_with("file", b"x");
    assert!(matches!(f.fs.readlink(file), Err(FsError::Invalid(_))));
}

#[test]
fn hard_links_share_one_node_and_survive_the_other_name() {
    let f = fixture();
    let id = f.file_with("first", b"shared content");
    let dir = f.fs.mkdir(&owner(), ROOT_ID, os("d"), 0o755, 0).unwrap();
    let second = f.fs.link(id, dir.id, os("second")).unwrap();
    assert_eq!(second.id, id);
    assert_eq!(second.nlink, 2);
    f.fs.unlink(ROOT_ID, os("first")).unwrap();
    assert_eq!(f.fs.getattr(id).unwrap().nlink, 1);
    assert_eq!(
        f.content(f.lookup(dir.id, "second").unwrap().id),
        b"shared content"
    );
    let err = f.fs.link(dir.id, ROOT_ID, os("dirlink")).unwrap_err();
    assert!(matches!(&err, FsError::Io(e) if e.kind() == std::io::ErrorKind::PermissionDenied));
}

#[test]
fn chmod_chown_and_utimens_change_the_backing_inode() {
    let f = fixture();
    let id = f.file_with("f", b"data");
    let when = UNIX_EPOCH + Duration::new(1_000_000_000, 123_000_000);
    let changes = SetAttr {
        mode: Some(0o100600),
        atime: Some(TimeSet::At(when)),
        mtime: Some(TimeSet::At(when)),
        ..SetAttr::default()
    };
    let attr = f.fs.setattr(&owner(), id, None, &changes).unwrap();
    assert_eq!(attr.perm, 0o600);
    assert_eq!((attr.atime, attr.mtime), (when, when));
    assert_eq!(attr.size, 4, "attributes keep the plaintext size");
    let before_epoch = UNIX_EPOCH - Duration::new(10, 500_000_000);
    let old = SetAttr {
        mtime: Some(TimeSet::At(before_epoch)),
        ..SetAttr::default()
    };
    assert_eq!(
        f.fs.setattr(&owner(), id, None, &old).unwrap().mtime,
        before_epoch
    );
    let now = SetAttr {
        mtime: Some(TimeSet::Now),
        ..SetAttr::default()
    };
    assert!(f.fs.setattr(&owner(), id, None, &now).unwrap().mtime > when);
    if me().uid == 0 {
        let chown = SetAttr {
            uid: Some(4242),
            gid: Some(4343),
            ..SetAttr::default()
        };
        let attr = f.fs.setattr(&owner(), id, None, &chown).unwrap();
        assert_eq!((attr.uid, attr.gid), (4242, 4343));
    }
    // A symlink has times too (its own, not its target's).
    let link =
        f.fs.symlink(&owner(), ROOT_ID, os("l"), Path::new("f"))
            .unwrap();
    let attr =
        f.fs.setattr(
            &owner(),
            link.id,
            None,
            &SetAttr {
                mtime: Some(TimeSet::At(when)),
                ..SetAttr::default()
            },
        )
        .unwrap();
    assert_eq!(attr.mtime, when);
    assert_ne!(f.fs.getattr(id).unwrap().mtime, when);
}

#[test]
fn new_files_belong_to_their_creator_when_the_daemon_is_root() {
    if me().uid != 0 {
        return;
    }
    let f = fixture();
    // The stranger's own files: the KMS must allow it to create them.
    f.edit_policy(PolicyEdit::AddUser, "uid:4242");
    let creator = stranger();
    let (file, fh) =
        f.fs.create(&creator, ROOT_ID, os("theirs"), 0o640, 0, flags(true))
            .unwrap();
    f.fs.release(fh).unwrap();
    let dir = f.fs.mkdir(&creator, ROOT_ID, os("dir"), 0o750, 0).unwrap();
    let link =
        f.fs.symlink(&creator, ROOT_ID, os("link"), Path::new("x"))
            .unwrap();
    for attr in [file, dir, link] {
        assert_eq!((attr.uid, attr.gid), (4242, 4242), "{:?}", attr.kind);
    }
    assert_eq!((file.perm, dir.perm), (0o640, 0o750));
}

#[test]
fn statfs_reports_the_backing_filesystem() {
    let f = fixture();
    let stats = f.fs.statfs().unwrap();
    assert!(stats.stats.blocks > 0 && stats.stats.block_size > 0);
    assert_eq!(stats.max_name_len, 255);
}

#[test]
fn access_follows_mode_bits() {
    let f = fixture();
    let id = f.file_with("f", b"x");
    f.fs.setattr(
        &owner(),
        id,
        None,
        &SetAttr {
            mode: Some(0o640),
            ..SetAttr::default()
        },
    )
    .unwrap();
    let attr = f.fs.getattr(id).unwrap();
    let other = Requester {
        uid: attr.uid + 1000,
        gid: attr.gid + 1000,
        pid: 0,
    };
    let group = Requester {
        uid: attr.uid + 1000,
        gid: attr.gid,
        pid: 0,
    };
    let the_owner = Requester {
        uid: attr.uid,
        gid: attr.gid,
        pid: 0,
    };
    assert!(f.fs.access(&other, id, 0).is_ok(), "existence");
    assert!(matches!(
        f.fs.access(&other, id, MAY_READ),
        Err(FsError::PermissionDenied)
    ));
    assert!(f.fs.access(&group, id, MAY_READ).is_ok());
    assert!(matches!(
        f.fs.access(&group, id, MAY_WRITE),
        Err(FsError::PermissionDenied)
    ));
    assert!(f.fs.access(&the_owner, id, MAY_READ | MAY_WRITE).is_ok());
    assert!(matches!(
        f.fs.access(&the_owner, id, MAY_EXECUTE),
        Err(FsError::PermissionDenied)
    ));
    if attr.uid != 0 {
        return;
    }
    let root = Requester {
        uid: 0,
        gid: 0,
        pid: 0,
    };
    assert!(f.fs.access(&root, id, MAY_READ | MAY_WRITE).is_ok());
    assert!(matches!(
        f.fs.access(&root, id, MAY_EXECUTE),
        Err(FsError::PermissionDenied)
    ));
    assert!(f.fs.access(&root, ROOT_ID, MAY_EXECUTE).is_ok());
}
