//! Directories and names: lookup, large listings, long names, mkdir and
//! rmdir, unlink, rename in all its forms, mknod.

use super::*;
use crate::fs::backing::{Kind, RenameMode};
use crate::fs::error::FsError;

#[test]
fn a_large_directory_lists_every_name_once_across_many_replies() {
    let f = fixture();
    let dir = f.fs.mkdir(&owner(), ROOT_ID, os("big"), 0o755, 0).unwrap();
    let mut expected: Vec<String> = (0..1500).map(|i| format!("entry-{i:05}")).collect();
    for name in &expected {
        let (_, fh) = f.create(dir.id, name);
        f.fs.release(fh).unwrap();
    }
    let listed = f.list(dir.id, 37);
    let mut names: Vec<String> = listed
        .iter()
        .map(|e| e.name.to_string_lossy().into_owned())
        .collect();
    names.sort();
    expected.sort();
    assert_eq!(names, expected);
    assert!(listed.iter().all(|e| e.kind == Kind::RegularFile));
    // Backing names are not the plaintext ones, and kmsfs's own files are hidden.
    let backing: Vec<String> = std::fs::read_dir(f.backing_path(dir.id))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(backing.len(), 1501);
    assert!(backing.contains(&"kmsfs.dirid".to_string()));
    assert!(!backing.iter().any(|n| n.starts_with("entry-")));
}

#[test]
fn listings_show_kinds_ids_and_dot_entries_and_skip_foreign_files() {
    let f = fixture();
    let file = f.file_with("file", b"x");
    let dir = f.fs.mkdir(&owner(), ROOT_ID, os("dir"), 0o755, 0).unwrap();
    f.fs.symlink(&owner(), ROOT_ID, os("link"), Path::new("file"))
        .unwrap();
    // A file dropped into the backing directory behind kmsfs's back.
    std::fs::write(f.backing().join("not-encrypted"), b"x").unwrap();
    let fh = f.fs.opendir(ROOT_ID).unwrap();
    let mut all = Vec::new();
    f.fs.readdir(fh, 0, |entry, _| {
        all.push(entry.clone());
        false
    })
    .unwrap();
    f.fs.releasedir(fh).unwrap();
    let find = |name: &str| all.iter().find(|e| e.name == name).cloned();
    assert_eq!(find(".").map(|e| e.id), Some(ROOT_ID));
    assert_eq!(find("..").map(|e| e.id), Some(ROOT_ID));
    assert_eq!(
        find("file").map(|e| (e.id, e.kind)),
        Some((file, Kind::RegularFile))
    );
    assert_eq!(
        find("dir").map(|e| (e.id, e.kind)),
        Some((dir.id, Kind::Directory))
    );
    assert_eq!(find("link").map(|e| e.kind), Some(Kind::Symlink));
    assert_eq!(all.len(), 5, "{all:?}");
    assert!(find("not-encrypted").is_none() && find("kmsfs.volume").is_none());
}

#[test]
fn the_same_name_in_two_directories_has_two_backing_names() {
    let f = fixture();
    let a = f.fs.mkdir(&owner(), ROOT_ID, os("a"), 0o755, 0).unwrap();
    let b = f.fs.mkdir(&owner(), ROOT_ID, os("b"), 0o755, 0).unwrap();
    let (in_a, fh) = f.create(a.id, "same");
    f.fs.release(fh).unwrap();
    let (in_b, fh) = f.create(b.id, "same");
    f.fs.release(fh).unwrap();
    let name_of = |id| f.backing_path(id).file_name().unwrap().to_owned();
    assert_ne!(name_of(in_a.id), name_of(in_b.id));
    assert_eq!(f.lookup(a.id, "same").unwrap().id, in_a.id);
    assert_eq!(f.lookup(b.id, "same").unwrap().id, in_b.id);
    assert!(f.lookup(a.id, "other").is_none());
}

#[test]
fn names_up_to_255_bytes_work_through_sidecars_that_follow_them() {
    let f = fixture();
    let long = "L".repeat(255);
    let id = f.file_with(&long, b"long");
    assert_eq!(f.names(ROOT_ID), vec![long.clone()]);
    assert_eq!(f.lookup(ROOT_ID, &long).unwrap().id, id);
    let sidecars = |f: &Fixture| {
        f.backing_tree()
            .keys()
            .filter(|k| k.ends_with(".name"))
            .count()
    };
    assert_eq!(sidecars(&f), 1);
    let long2 = "M".repeat(200);
    f.fs.rename(ROOT_ID, os(&long), ROOT_ID, os(&long2), RenameMode::Replace)
        .unwrap();
    assert_eq!(f.names(ROOT_ID), vec![long2.clone()]);
    assert_eq!(sidecars(&f), 1, "the old sidecar left with its name");
    assert_eq!(f.content(id), b"long");
    f.fs.unlink(ROOT_ID, os(&long2)).unwrap();
    assert_eq!(sidecars(&f), 0);
    let too_long = "N".repeat(256);
    let err =
        f.fs.create(&owner(), ROOT_ID, os(&too_long), 0o644, 0, flags(true))
            .unwrap_err();
    assert!(matches!(err, FsError::Name(_)), "{err}");
}

#[test]
fn mkdir_gives_mode_and_an_id_and_rmdir_refuses_a_non_empty_directory() {
    let f = fixture();
    let dir =
        f.fs.mkdir(&owner(), ROOT_ID, os("d"), 0o777, 0o022)
            .unwrap();
    assert_eq!(dir.kind, Kind::Directory);
    assert_eq!(dir.perm, 0o755);
    assert!(f.backing_path(dir.id).join("kmsfs.dirid").exists());
    let (_, fh) = f.create(dir.id, "inside");
    f.fs.release(fh).unwrap();
    assert!(matches!(
        f.fs.rmdir(ROOT_ID, os("d")),
        Err(FsError::NotEmpty)
    ));
    assert!(
        f.backing_path(dir.id).join("kmsfs.dirid").exists(),
        "id kept"
    );
    assert_eq!(f.names(dir.id), ["inside"]);
    f.fs.unlink(dir.id, os("inside")).unwrap();
    f.fs.rmdir(ROOT_ID, os("d")).unwrap();
    assert!(f.lookup(ROOT_ID, "d").is_none());
    assert!(f.names(ROOT_ID).is_empty());
    assert_eq!(
        f.backing_tree().len(),
        2,
        "only kmsfs.volume and kmsfs.dirid"
    );
    let err = f.fs.mkdir(&owner(), ROOT_ID, os("d"), 0o755, 0).map(|_| ());
    assert!(err.is_ok());
    let again =
        f.fs.mkdir(&owner(), ROOT_ID, os("d"), 0o755, 0)
            .unwrap_err();
    assert!(matches!(&again, FsError::Io(e) if e.kind() == std::io::ErrorKind::AlreadyExists));
    assert!(matches!(
        f.fs.rmdir(ROOT_ID, os("nope")),
        Err(FsError::Io(_))
    ));
}

#[test]
fn rename_moves_files_and_directories_with_their_contents() {
    let f = fixture();
    let a = f.fs.mkdir(&owner(), ROOT_ID, os("a"), 0o755, 0).unwrap();
    let sub = f.fs.mkdir(&owner(), a.id, os("sub"), 0o755, 0).unwrap();
    let (file, fh) = f.create(sub.id, "f");
    f.write(fh, 0, b"deep");
    f.fs.release(fh).unwrap();
    let b = f.fs.mkdir(&owner(), ROOT_ID, os("b"), 0o755, 0).unwrap();
    f.fs.rename(a.id, os("sub"), b.id, os("moved"), RenameMode::Replace)
        .unwrap();
    assert!(f.lookup(a.id, "sub").is_none());
    let moved = f.lookup(b.id, "moved").unwrap();
    assert_eq!(moved.id, sub.id);
    assert_eq!(f.lookup(moved.id, "f").unwrap().id, file.id);
    assert_eq!(f.content(file.id), b"deep");
    // The path in the next record is the new one.
    assert_eq!(
        f.records("Decrypt")[0]["requestParameters"]["encryptionContext"]["kmsfs:path"],
        "/b/moved/f"
    );
}

#[test]
fn rename_over_an_existing_file_replaces_it_and_over_a_directory_only_if_empty() {
    let f = fixture();
    f.file_with("src", b"new");
    f.file_with("dst", b"old");
    f.fs.rename(ROOT_ID, os("src"), ROOT_ID, os("dst"), RenameMode::Replace)
        .unwrap();
    assert_eq!(f.names(ROOT_ID), ["dst"]);
    assert_eq!(f.content(f.lookup(ROOT_ID, "dst").unwrap().id), b"new");
    let d1 = f.fs.mkdir(&owner(), ROOT_ID, os("d1"), 0o755, 0).unwrap();
    let d2 = f.fs.mkdir(&owner(), ROOT_ID, os("d2"), 0o755, 0).unwrap();
    let (_, fh) = f.create(d2.id, "keep");
    f.fs.release(fh).unwrap();
    let err =
        f.fs.rename(ROOT_ID, os("d1"), ROOT_ID, os("d2"), RenameMode::Replace)
            .unwrap_err();
    assert!(matches!(err, FsError::NotEmpty), "{err}");
    f.fs.unlink(d2.id, os("keep")).unwrap();
    f.fs.rename(ROOT_ID, os("d1"), ROOT_ID, os("d2"), RenameMode::Replace)
        .unwrap();
    assert_eq!(f.lookup(ROOT_ID, "d2").unwrap().id, d1.id);
    assert_eq!(f.names(ROOT_ID), ["d2", "dst"]);
    // A file cannot replace a directory.
    let err =
        f.fs.rename(ROOT_ID, os("dst"), ROOT_ID, os("d2"), RenameMode::Replace)
            .unwrap_err();
    assert!(
        matches!(&err, FsError::Io(e) if e.raw_os_error() == Some(21)),
        "{err}"
    );
}

#[test]
fn rename_noreplace_refuses_an_existing_target_and_exchange_swaps() {
    let f = fixture();
    let one = f.file_with("one", b"1");
    let dir = f.fs.mkdir(&owner(), ROOT_ID, os("two"), 0o755, 0).unwrap();
    let err =
        f.fs.rename(
            ROOT_ID,
            os("one"),
            ROOT_ID,
            os("two"),
            RenameMode::NoReplace,
        )
        .unwrap_err();
    assert!(matches!(&err, FsError::Io(e) if e.kind() == std::io::ErrorKind::AlreadyExists));
    f.fs.rename(
        ROOT_ID,
        os("one"),
        ROOT_ID,
        os("three"),
        RenameMode::NoReplace,
    )
    .unwrap();
    f.fs.rename(
        ROOT_ID,
        os("three"),
        ROOT_ID,
        os("two"),
        RenameMode::Exchange,
    )
    .unwrap();
    assert_eq!(f.lookup(ROOT_ID, "two").unwrap().id, one);
    assert_eq!(f.lookup(ROOT_ID, "three").unwrap().id, dir.id);
    assert_eq!(f.content(one), b"1");
    let missing =
        f.fs.rename(
            ROOT_ID,
            os("two"),
            ROOT_ID,
            os("nothing"),
            RenameMode::Exchange,
        )
        .unwrap_err();
    assert!(matches!(&missing, FsError::Io(e) if e.kind() == std::io::ErrorKind::NotFound));
}

#[test]
fn mknod_makes_pipes_and_plain_files() {
    let f = fixture();
    let fifo =
        f.fs.mknod(&owner(), ROOT_ID, os("pipe"), 0o010640, 0, 0)
            .unwrap();
    assert_eq!((fifo.kind, fifo.perm), (Kind::NamedPipe, 0o640));
    let file =
        f.fs.mknod(&owner(), ROOT_ID, os("plain"), 0o100600, 0, 0)
            .unwrap();
    assert_eq!((file.kind, file.size), (Kind::RegularFile, 0));
    assert!(f.content(file.id).is_empty());
    let err =
        f.fs.mknod(&owner(), ROOT_ID, os("dir"), 0o040755, 0, 0)
            .unwrap_err();
    assert!(matches!(err, FsError::Invalid(_)));
    assert_eq!(f.names(ROOT_ID), ["pipe", "plain"]);
}

#[test]
fn forgotten_nodes_are_found_again_by_lookup() {
    let f = fixture();
    let id = f.file_with("f", b"x");
    // create counted one lookup; the kernel forgets it.
    f.fs.forget(id, 1);
    assert!(matches!(f.fs.getattr(id), Err(FsError::NotFound)));
    assert_eq!(f.lookup(ROOT_ID, "f").unwrap().id, id);
    assert_eq!(f.fs.getattr(id).unwrap().size, 1);
}

#[test]
fn readdirplus_gives_attributes_and_counts_a_lookup_per_delivered_entry() {
    let f = fixture();
    let a = f.file_with("a", b"12345");
    let b = f.file_with("b", b"x");
    // Each create counted one lookup; the kernel forgets both.
    f.fs.forget(a, 1);
    f.fs.forget(b, 1);
    let fh = f.fs.opendir(ROOT_ID).unwrap();
    // A reply with room for `.`, `..` and one file: the second does not fit.
    let mut delivered = Vec::new();
    f.fs.readdirplus(fh, 0, |entry, attr, _next| {
        if delivered.len() == 3 {
            return true;
        }
        delivered.push((
            entry.name.to_string_lossy().into_owned(),
            attr.id,
            attr.size,
        ));
        false
    })
    .unwrap();
    f.fs.releasedir(fh).unwrap();
    assert_eq!(delivered[0].0, ".");
    assert_eq!(delivered[1].0, "..");
    let (name, id, size) = delivered[2].clone();
    let (sent, held_back, sent_size) = if name == "a" { (a, b, 5) } else { (b, a, 1) };
    assert_eq!((id, size), (sent, sent_size));
    // The delivered file holds exactly one lookup; the one held back none.
    assert_eq!(f.fs.getattr(sent).unwrap().size, sent_size);
    f.fs.forget(sent, 1);
    assert!(matches!(f.fs.getattr(sent), Err(FsError::NotFound)));
    assert!(matches!(f.fs.getattr(held_back), Err(FsError::NotFound)));
}

#[test]
fn readdirplus_of_a_bad_handle_fails_and_counts_nothing() {
    let f = fixture();
    let a = f.file_with("a", b"x");
    f.fs.forget(a, 1);
    let err = f.fs.readdirplus(9999, 0, |_, _, _| false).unwrap_err();
    assert!(matches!(err, FsError::BadHandle));
    assert!(matches!(f.fs.getattr(a), Err(FsError::NotFound)));
}

#[test]
fn readdirplus_leaves_out_names_unlinked_or_renamed_since_the_listing() {
    let f = fixture();
    // All three nodes known to the daemon (one lookup each, from the creates).
    f.file_with("gone", b"1");
    f.file_with("moved", b"2");
    let kept = f.file_with("kept", b"3");
    let fh = f.fs.opendir(ROOT_ID).unwrap();
    // The first reply takes `.` and `..` only; the listing is read now.
    let mut first = 0;
    f.fs.readdirplus(fh, 0, |_, _, _| {
        first += 1;
        first > 2
    })
    .unwrap();
    f.fs.unlink(ROOT_ID, os("gone")).unwrap();
    f.fs.rename(
        ROOT_ID,
        os("moved"),
        ROOT_ID,
        os("renamed"),
        RenameMode::Replace,
    )
    .unwrap();
    let mut rest = Vec::new();
    f.fs.readdirplus(fh, 2, |entry, attr, _next| {
        rest.push((entry.name.to_string_lossy().into_owned(), attr.id));
        false
    })
    .unwrap();
    f.fs.releasedir(fh).unwrap();
    // The listing still names all three; only the one still there is given.
    assert_eq!(rest, vec![("kept".to_string(), kept)]);
}
