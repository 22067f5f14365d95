//! The tamper matrix on the backing objects of a mounted volume: a flipped byte,
//! swapped chunks, a chunk from another file, a header from another file, a cut
//! at a chunk boundary, an appended chunk; also a flipped nonce byte, an edited
//! file id and a broken magic. Each read fails with EIO and leaves an
//! IntegrityCheckFailed record (an edited file id: the refused Decrypt's record);
//! no read ever returns bytes that were not written.

mod common;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use kmsfs::crypto::Cipher;
use kmsfs::format::object::FixedHeader;
use kmsfs::object::layout::Layout;

use common::files_under;
use common::mount::{pattern, MountedVolume};

const CHUNK: usize = 4096;

/// A plaintext file written through the mount and its backing object.
struct Written {
    plain: PathBuf,
    object: PathBuf,
    bytes: Vec<u8>,
}

fn write_file(vol: &MountedVolume, name: &str, bytes: Vec<u8>) -> Written {
    let before = files_under(&vol.backing);
    let plain = vol.path(name);
    std::fs::write(&plain, &bytes).unwrap();
    let after = files_under(&vol.backing);
    let new: Vec<_> = after.difference(&before).cloned().collect();
    assert_eq!(new.len(), 1, "one new object for {name}: {new:?}");
    Written {
        plain,
        object: new.into_iter().next().unwrap(),
        bytes,
    }
}

fn layout_of(object: &Path) -> Layout {
    let bytes = std::fs::read(object).unwrap();
    let fixed = FixedHeader::read(&bytes).unwrap();
    Layout::new(fixed.header_len() as u64, fixed.cipher, fixed.chunk_size)
}

/// The byte range of chunk `n` (a full chunk) in an object.
fn frame(layout: &Layout, n: u64) -> std::ops::Range<usize> {
    let start = layout.cipher_off(n) as usize;
    start..start + layout.frame_len(layout.chunk_size()) as usize
}

type Tamper = fn(victim: &mut Vec<u8>, donor: &[u8], layout: &Layout);

/// The record a chunk that fails authentication leaves.
const INTEGRITY: &str = "IntegrityCheckFailed";
/// An edited file id no longer matches the context its data key was wrapped
/// with: the KMS refuses the Decrypt of the open, which is EIO and its record.
const WRONG_CONTEXT: &str = "InvalidCiphertextException";

const MATRIX: [(&str, &str, Tamper); 9] = [
    ("a flipped byte in a chunk", INTEGRITY, |v, _, l| {
        let at = frame(l, 1).start + 40;
        v[at] ^= 0x01;
    }),
    ("a flipped byte in a nonce", INTEGRITY, |v, _, l| {
        let at = frame(l, 2).start;
        v[at] ^= 0x80;
    }),
    ("swapped chunks", INTEGRITY, |v, _, l| {
        let (a, b) = (frame(l, 0), frame(l, 1));
        let first = v[a.clone()].to_vec();
        let second = v[b.clone()].to_vec();
        v[a].copy_from_slice(&second);
        v[b].copy_from_slice(&first);
    }),
    ("a chunk from another file", INTEGRITY, |v, d, l| {
        let f = frame(l, 1);
        v[f.clone()].copy_from_slice(&d[f]);
    }),
    ("a header from another file", INTEGRITY, |v, d, l| {
        let h = l.header_len() as usize;
        v[..h].copy_from_slice(&d[..h]);
    }),
    (
        "a flipped byte in the header's file id",
        WRONG_CONTEXT,
        |v, _, _| {
            // Magic 4, version 2, cipher 1, reserved 1, chunk size 4: the file id follows.
            v[12] ^= 0x01;
        },
    ),
    ("a broken magic", INTEGRITY, |v, _, _| {
        v[0] ^= 0xFF;
    }),
    ("a cut at a chunk boundary", INTEGRITY, |v, _, l| {
        v.truncate(frame(l, 2).start);
    }),
    ("an appended chunk", INTEGRITY, |v, _, l| {
        let copy = v[frame(l, 1)].to_vec();
        v.extend_from_slice(&copy);
    }),
];

#[test]
fn every_tampered_object_reads_as_eio_with_a_record_never_wrong_bytes() {
    for cipher in ["aes-256-gcm", "xchacha20-poly1305"] {
        let Some(mut vol) = MountedVolume::with(
            "every_tampered_object_reads_as_eio_with_a_record_never_wrong_bytes",
            &["--cipher", cipher, "--chunk-size", &CHUNK.to_string()],
        ) else {
            return;
        };
        // Four full chunks, so that every case (even the append) leaves lengths a
        // plaintext could have.
        let size = 4 * CHUNK;
        let pairs: Vec<(Written, Written)> = (0..MATRIX.len())
            .map(|i| {
                let victim = write_file(&vol, &format!("victim-{i}"), pattern(size, i as u64));
                let donor = write_file(&vol, &format!("donor-{i}"), pattern(size, 100 + i as u64));
                (victim, donor)
            })
            .collect();
        let layout = layout_of(&pairs[0].0.object);
        let expected_cipher = match cipher {
            "aes-256-gcm" => Cipher::Aes256Gcm,
            _ => Cipher::XChaCha20Poly1305,
        };
        assert_eq!(
            FixedHeader::read(&std::fs::read(&pairs[0].0.object).unwrap())
                .unwrap()
                .cipher,
            expected_cipher
        );
        // A cold cache: every read below reaches the daemon.
        vol.remount();

        for ((what, error_code, tamper), (victim, donor)) in MATRIX.iter().zip(&pairs) {
            // Untouched, it reads back (the positive partner of each case).
            assert_eq!(
                std::fs::read(&victim.plain).unwrap(),
                victim.bytes,
                "{what}"
            );
            let mut object = std::fs::read(&victim.object).unwrap();
            let donor_object = std::fs::read(&donor.object).unwrap();
            tamper(&mut object, &donor_object, &layout);
            std::fs::write(&victim.object, &object).unwrap();
            let records_before = vol.records().len();

            assert_reads_are_eio_or_true(&victim.plain, &victim.bytes, what);
            let name = victim.plain.file_name().unwrap().to_str().unwrap();
            let failures: Vec<_> = vol.records()[records_before..]
                .iter()
                .filter(|r| r["errorCode"] == *error_code)
                .cloned()
                .collect();
            assert!(
                !failures.is_empty(),
                "{cipher}, {what}: no {error_code} record"
            );
            for record in &failures {
                if *error_code == INTEGRITY {
                    assert_eq!(record["eventName"], INTEGRITY, "{record}");
                } else {
                    assert_eq!(record["eventName"], "Decrypt", "{record}");
                }
                assert_eq!(
                    record["requestParameters"]["encryptionContext"]["kmsfs:path"],
                    format!("/{name}"),
                    "{record}"
                );
            }
            // The donor is untouched and still reads.
            assert_eq!(std::fs::read(&donor.plain).unwrap(), donor.bytes, "{what}");
        }
    }
}

/// A whole read fails with EIO; reads of each chunk alone give the true bytes or EIO.
fn assert_reads_are_eio_or_true(path: &Path, truth: &[u8], what: &str) {
    match std::fs::read(path) {
        Ok(bytes) => panic!(
            "{what}: the tampered file read back ({} bytes)",
            bytes.len()
        ),
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EIO), "{what}: {e}"),
    }
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        // A header from another file may already fail at open.
        Err(e) => {
            assert_eq!(e.raw_os_error(), Some(libc::EIO), "{what}: open: {e}");
            return;
        }
    };
    for chunk_no in 0..=truth.len() / CHUNK + 1 {
        let mut buf = vec![0u8; CHUNK];
        let offset = chunk_no * CHUNK;
        match file.read_at(&mut buf, offset as u64) {
            Ok(n) => {
                // A short read (a cut file) is fine; a byte that differs is not.
                let start = offset.min(truth.len());
                assert!(start + n <= truth.len(), "{what}: {n} bytes past the end");
                assert!(
                    buf[..n] == truth[start..start + n],
                    "{what}: wrong bytes in chunk {chunk_no}"
                );
            }
            Err(e) => assert_eq!(
                e.raw_os_error(),
                Some(libc::EIO),
                "{what}: chunk {chunk_no}: {e}"
            ),
        }
    }
}
