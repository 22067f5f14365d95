//! Regular files: sizes, offsets, holes, appends, truncation, unlinked open
//! files, concurrent writers, integrity failures, read-only volumes.

use std::sync::Arc;

use super::*;
use crate::fs::backing::RenameMode;
use crate::fs::error::FsError;
use crate::fs::types::SetAttr;
use crate::object::ObjectError;

#[test]
fn files_of_every_size_read_back_with_plaintext_sizes_and_no_plaintext_on_disk() {
    for cipher in [Cipher::Aes256Gcm, Cipher::XChaCha20Poly1305] {
        let f = fixture_with(cipher, FsOptions::default());
        let marker = b"PLAINTEXT-MARKER-kmsfs";
        for (i, len) in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7, 200_000]
            .into_iter()
            .enumerate()
        {
            let mut data = pattern(len, i as u8);
            if len >= marker.len() {
                data[..marker.len()].copy_from_slice(marker);
            }
            let id = f.file_with(&format!("secret-name-{len}"), &data);
            assert_eq!(
                f.fs.getattr(id).unwrap().size,
                len as u64,
                "{cipher:?} {len}"
            );
            assert_eq!(f.content(id), data, "{cipher:?} {len}");
            let on_disk = std::fs::metadata(f.backing_path(id)).unwrap().len();
            assert!(
                on_disk > len as u64,
                "the object is larger than its plaintext"
            );
        }
        for (path, bytes) in f.backing_tree() {
            assert!(
                !path.contains("secret-name"),
                "plaintext name on disk: {path}"
            );
            assert!(!contains(&bytes, marker), "plaintext in {path}");
        }
    }
}

#[test]
fn writes_at_any_offset_patch_across_chunks() {
    let f = fixture();
    let (attr, fh) = f.create(ROOT_ID, "f");
    let mut model = pattern(3 * CHUNK, 1);
    f.write(fh, 0, &model);
    for (at, len) in [
        (5, 10),
        (CHUNK - 3, 7),
        (2 * CHUNK - 1, CHUNK),
        (3 * CHUNK - 1, 1),
    ] {
        let patch = pattern(len, at as u8);
        f.write(fh, at as u64, &patch);
        model[at..at + len].copy_from_slice(&patch);
    }
    assert_eq!(f.read(fh, 0, model.len() + 10), model);
    assert_eq!(f.read(fh, CHUNK as u64 - 2, 4), model[CHUNK - 2..CHUNK + 2]);
    assert!(f.read(fh, model.len() as u64, 10).is_empty());
    f.fs.release(fh).unwrap();
    assert_eq!(f.content(attr.id), model);
}

#[test]
fn a_write_past_the_end_leaves_a_hole_of_zeros_and_a_sparse_object() {
    let f = fixture();
    let (attr, fh) = f.create(ROOT_ID, "sparse");
    f.write(fh, 0, b"head");
    let far = 64 * CHUNK as u64;
    f.write(fh, far, b"tail");
    assert_eq!(f.fs.getattr(attr.id).unwrap().size, far + 4);
    let data = f.read(fh, 0, far as usize + 4);
    assert_eq!(&data[..4], b"head");
    assert!(data[4..far as usize].iter().all(|&b| b == 0));
    assert_eq!(&data[far as usize..], b"tail");
    let meta = std::fs::metadata(f.backing_path(attr.id)).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert!(
        meta.blocks() * 512 < meta.len() / 2,
        "the hole takes no space on disk"
    );
}

#[test]
fn append_handles_write_at_the_end_whatever_the_offset() {
    let f = fixture();
    let id = f.file_with("log", b"one\n");
    let append = OpenFlags {
        append: true,
        ..flags(true)
    };
    let fh = f.fs.open(&owner(), id, append).unwrap().handle;
    f.write(fh, 0, b"two\n");
    f.write(fh, 1, b"three\n");
    f.fs.release(fh).unwrap();
    assert_eq!(f.content(id), b"one\ntwo\nthree\n");
    // Without O_APPEND the offset is obeyed.
    let fh = f.fs.open(&owner(), id, flags(true)).unwrap().handle;
    f.write(fh, 0, b"ONE");
    f.fs.release(fh).unwrap();
    assert_eq!(f.content(id), b"ONE\ntwo\nthree\n");
}

#[test]
fn truncate_down_and_up_through_a_handle_and_by_path() {
    let f = fixture();
    let data = pattern(3 * CHUNK + 100, 9);
    let id = f.file_with("t", &data);
    let fh = f.fs.open(&owner(), id, flags(true)).unwrap().handle;
    let cut = SetAttr {
        size: Some(CHUNK as u64 + 5),
        ..SetAttr::default()
    };
    let attr = f.fs.setattr(&owner(), id, Some(fh), &cut).unwrap();
    assert_eq!(attr.size, CHUNK as u64 + 5);
    assert_eq!(f.read(fh, 0, 10 * CHUNK), data[..CHUNK + 5]);
    f.fs.release(fh).unwrap();
    // By path, without a handle: its own Decrypt, and zeros beyond the old end.
    let decrypts = f.records("Decrypt").len();
    let grow = SetAttr {
        size: Some(2 * CHUNK as u64),
        ..SetAttr::default()
    };
    assert_eq!(
        f.fs.setattr(&owner(), id, None, &grow).unwrap().size,
        2 * CHUNK as u64
    );
    assert_eq!(f.records("Decrypt").len(), decrypts + 1);
    let mut expected = data[..CHUNK + 5].to_vec();
    expected.resize(2 * CHUNK, 0);
    assert_eq!(f.content(id), expected);
}

#[test]
fn truncating_to_zero_by_path_or_with_o_trunc_gives_a_fresh_key() {
    let f = fixture();
    let id = f.file_with("t", b"old content");
    let file_id = |f: &Fixture| std::fs::read(f.backing_path(id)).unwrap()[12..28].to_vec();
    let first = file_id(&f);
    let zero = SetAttr {
        size: Some(0),
        ..SetAttr::default()
    };
    assert_eq!(f.fs.setattr(&owner(), id, None, &zero).unwrap().size, 0);
    let second = file_id(&f);
    assert_ne!(first, second, "a new file id (and key) after truncate to 0");
    let generated = f.records("GenerateDataKey").len();
    let trunc = OpenFlags {
        truncate: true,
        ..flags(true)
    };
    let fh = f.fs.open(&owner(), id, trunc).unwrap().handle;
    assert_eq!(f.records("GenerateDataKey").len(), generated + 1);
    f.write(fh, 0, b"new");
    f.fs.release(fh).unwrap();
    assert_ne!(file_id(&f), second);
    assert_eq!(f.content(id), b"new");
}

#[test]
fn a_truncating_open_gives_every_open_handle_the_new_key() {
    let f = fixture();
    let id = f.file_with("shared", b"before");
    let reader = f.fs.open(&owner(), id, flags(false)).unwrap().handle;
    let trunc = OpenFlags {
        truncate: true,
        ..flags(true)
    };
    let writer = f.fs.open(&owner(), id, trunc).unwrap().handle;
    f.write(writer, 0, b"after!");
    assert_eq!(f.read(reader, 0, 100), b"after!");
    f.fs.release(writer).unwrap();
    assert_eq!(f.read(reader, 0, 100), b"after!");
    f.fs.release(reader).unwrap();
}

#[test]
fn an_unlinked_open_file_stays_readable_and_writable_until_released() {
    let f = fixture();
    let (attr, fh) = f.create(ROOT_ID, "doomed");
    f.write(fh, 0, b"still here");
    f.fs.unlink(ROOT_ID, os("doomed")).unwrap();
    assert!(f.lookup(ROOT_ID, "doomed").is_none());
    assert!(f.names(ROOT_ID).is_empty());
    f.write(fh, 10, b", and more");
    assert_eq!(f.read(fh, 0, 100), b"still here, and more");
    assert_eq!(f.fs.getattr(attr.id).unwrap().nlink, 0);
    f.fs.release(fh).unwrap();
    assert!(matches!(f.fs.release(fh), Err(FsError::BadHandle)));
}

#[test]
fn writers_on_many_threads_never_corrupt_a_file() {
    let f = Arc::new(fixture());
    let (attr, fh) = f.create(ROOT_ID, "busy");
    let writers: Vec<_> = (0..4u8)
        .map(|t| {
            let f = Arc::clone(&f);
            std::thread::spawn(move || {
                for round in 0..20u64 {
                    // Each thread owns every fourth 1000-byte slot; slots straddle chunks.
                    let slot = round * 4 + u64::from(t);
                    f.write(fh, slot * 1000, &[t + 1; 1000]);
                    let back = f.read(fh, slot * 1000, 1000);
                    assert_eq!(back, vec![t + 1; 1000]);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    f.fs.release(fh).unwrap();
    let data = f.content(attr.id);
    assert_eq!(data.len(), 80 * 1000);
    for (slot, bytes) in data.chunks(1000).enumerate() {
        assert_eq!(bytes, vec![(slot % 4) as u8 + 1; 1000], "slot {slot}");
    }
}

#[test]
fn a_flipped_byte_on_disk_is_eio_and_recorded_never_wrong_bytes() {
    let f = fixture();
    let data = pattern(3 * CHUNK, 4);
    let id = f.file_with("victim", &data);
    let path = f.backing_path(id);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - CHUNK - 100; // inside the last chunk but one
    bytes[at] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let fh = f.fs.open(&owner(), id, flags(false)).unwrap().handle;
    // The first chunk still reads; the tampered one does not.
    assert_eq!(f.read(fh, 0, 100), data[..100]);
    let err = f.fs.read(&owner(), fh, 0, data.len() as u32).unwrap_err();
    assert!(
        matches!(
            err,
            FsError::Object(ObjectError::Integrity { chunk_no: 1, .. })
        ),
        "{err}"
    );
    // The same chunk failing again on the same handle (readahead, then the
    // reader's retry) is not recorded again; another handle records its own.
    let again = f.fs.read(&owner(), fh, CHUNK as u64, 10).unwrap_err();
    assert!(matches!(
        again,
        FsError::Object(ObjectError::Integrity { .. })
    ));
    f.fs.release(fh).unwrap();
    assert_eq!(f.records("IntegrityCheckFailed").len(), 1);
    let fh = f.fs.open(&owner(), id, flags(false)).unwrap().handle;
    f.fs.read(&owner(), fh, CHUNK as u64, 10).unwrap_err();
    f.fs.release(fh).unwrap();
    let records = f.records("IntegrityCheckFailed");
    assert_eq!(records.len(), 2);
    let record = &records[0];
    assert_eq!(record["errorCode"], "IntegrityCheckFailed");
    assert_eq!(record["requestParameters"]["chunk"], 1);
    assert_eq!(
        record["requestParameters"]["encryptionContext"]["kmsfs:path"],
        "/victim"
    );
    assert!(record["resources"][0]["ARN"]
        .as_str()
        .unwrap()
        .ends_with(&f.key));
}

#[test]
fn creating_an_existing_name_asks_the_kms_for_no_new_key() {
    let f = fixture();
    f.file_with("there", b"kept");
    let generated = f.records("GenerateDataKey").len();
    let decrypts = f.records("Decrypt").len();
    let exclusive = OpenFlags {
        exclusive: true,
        ..flags(true)
    };
    let err =
        f.fs.create(&owner(), ROOT_ID, os("there"), 0o644, 0o022, exclusive)
            .unwrap_err();
    assert!(matches!(err, FsError::Exists), "{err}");
    assert_eq!(f.records("Decrypt").len(), decrypts);
    // Without O_EXCL the existing file is opened: a Decrypt, its content kept.
    let (attr, fh) = f.create(ROOT_ID, "there");
    assert_eq!(f.read(fh, 0, 10), b"kept");
    f.fs.release(fh).unwrap();
    f.fs.forget(attr.id, 1);
    assert_eq!(f.records("GenerateDataKey").len(), generated);
    assert_eq!(f.records("Decrypt").len(), decrypts + 1);
}

#[test]
fn an_object_of_impossible_length_is_refused_at_open() {
    let f = fixture();
    let id = f.file_with("cut", &pattern(2 * CHUNK, 1));
    let path = f.backing_path(id);
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - CHUNK as u64 - 20)
        .unwrap();
    // stat still answers (so the file can be removed), open refuses.
    assert_eq!(f.fs.getattr(id).unwrap().size, 0);
    let err = f.fs.open(&owner(), id, flags(false)).unwrap_err();
    assert!(
        matches!(err, FsError::Object(ObjectError::Integrity { .. })),
        "{err}"
    );
    assert_eq!(f.records("IntegrityCheckFailed").len(), 1);
    f.fs.unlink(ROOT_ID, os("cut")).unwrap();
}

#[test]
fn a_read_only_volume_reads_and_refuses_every_change() {
    let f = fixture();
    let id = f.file_with("kept", b"data");
    let dir = f.fs.mkdir(&owner(), ROOT_ID, os("d"), 0o755, 0).unwrap();
    let Fixture { dir: tmp, fs, key } = f;
    drop(fs);
    let kms = Kms::new(
        Vault::open(&tmp.path().join("vault/vault.db"), None).unwrap(),
        AuditLog::open(&tmp.path().join("vault/audit")).unwrap(),
        "kmsfs-test",
    )
    .unwrap();
    let volume = Volume::open(&kms, &me(), &tmp.path().join("backing")).unwrap();
    let ro = FsCore::new(volume, kms, FsOptions { read_only: true }).unwrap();
    let f = Fixture {
        dir: tmp,
        fs: ro,
        key,
    };
    // Node ids are backing inode numbers: the same after a remount.
    assert_eq!(f.lookup(ROOT_ID, "kept").unwrap().id, id);
    assert_eq!(f.content(id), b"data");
    let refused = [
        f.fs.open(&owner(), id, flags(true)).err(),
        f.fs.create(&owner(), ROOT_ID, os("new"), 0o644, 0, flags(true))
            .err(),
        f.fs.mkdir(&owner(), ROOT_ID, os("d2"), 0o755, 0).err(),
        f.fs.unlink(ROOT_ID, os("kept")).err(),
        f.fs.rmdir(ROOT_ID, os("d")).err(),
        f.fs.rename(ROOT_ID, os("kept"), ROOT_ID, os("k2"), RenameMode::Replace)
            .err(),
        f.fs.setattr(
            &owner(),
            id,
            None,
            &SetAttr {
                mode: Some(0o600),
                ..SetAttr::default()
            },
        )
        .err(),
        f.fs.symlink(&owner(), ROOT_ID, os("l"), Path::new("x"))
            .err(),
        f.fs.link(id, dir.id, os("l2")).err(),
    ];
    for (i, err) in refused.into_iter().enumerate() {
        assert!(matches!(err, Some(FsError::ReadOnly)), "case {i}: {err:?}");
    }
    assert_eq!(f.names(ROOT_ID), ["d", "kept"]);
}

#[test]
fn a_write_into_a_tampered_chunk_is_refused_recorded_and_changes_nothing() {
    let f = fixture();
    let id = f.file_with("w", &pattern(2 * CHUNK, 2));
    let path = f.backing_path(id);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80; // the tag of the last chunk
    std::fs::write(&path, &bytes).unwrap();
    let fh = f.fs.open(&owner(), id, flags(true)).unwrap().handle;
    // A partial write must read the chunk first: refused.
    let err =
        f.fs.write(&owner(), fh, CHUNK as u64 + 10, b"x")
            .unwrap_err();
    assert!(
        matches!(
            err,
            FsError::Object(ObjectError::Integrity { chunk_no: 1, .. })
        ),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    // A write to an intact chunk still works.
    f.write(fh, 10, b"fine");
    f.fs.release(fh).unwrap();
    assert_eq!(f.records("IntegrityCheckFailed").len(), 1);
}

#[test]
fn a_header_that_does_not_parse_is_eio_and_recorded_at_open() {
    let f = fixture();
    let id = f.file_with("h", b"content");
    let path = f.backing_path(id);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 0xff; // the magic
    std::fs::write(&path, &bytes).unwrap();
    let err = f.fs.open(&owner(), id, flags(false)).unwrap_err();
    assert!(
        matches!(err, FsError::Object(ObjectError::Header(_))),
        "{err}"
    );
    let records = f.records("IntegrityCheckFailed");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["requestParameters"]["chunk"], 0);
    let file_id: String = bytes[12..28].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        records[0]["requestParameters"]["encryptionContext"]["kmsfs:file"],
        file_id.as_str()
    );
    // An intact header opens without a record.
    bytes[0] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(f.content(id), b"content");
    assert_eq!(f.records("IntegrityCheckFailed").len(), 1);
}

#[test]
fn the_status_counts_handles_and_data_keys_until_they_are_released() {
    use crate::fs::ops::status::FsStatus;
    let f = fixture();
    let idle = f.fs.status();
    assert_eq!((idle.handles, idle.data_keys), (0, 0), "{idle}");
    let (attr, first) = f.create(ROOT_ID, "f");
    let second = f.fs.open(&owner(), attr.id, flags(false)).unwrap().handle;
    let other = f.file_with("g", b"g");
    let other_fh = f.fs.open(&owner(), other, flags(false)).unwrap().handle;
    let busy = f.fs.status();
    assert_eq!(
        busy,
        FsStatus {
            handles: 3,
            dirs: 0,
            data_keys: 2,
            nodes: idle.nodes + 2,
        }
    );
    assert_eq!(
        busy.to_string(),
        format!("handles=3 dirs=0 data_keys=2 nodes={}", idle.nodes + 2)
    );
    f.fs.release(first).unwrap();
    assert_eq!(f.fs.status().data_keys, 2, "one handle of f is still open");
    for fh in [second, other_fh] {
        f.fs.release(fh).unwrap();
    }
    let after = f.fs.status();
    assert_eq!((after.handles, after.data_keys), (0, 0), "{after}");
}
