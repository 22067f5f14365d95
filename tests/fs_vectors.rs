//! The frozen whole-volume test vectors (tests/vectors/volume-v1, docs/FORMAT.md
//! section 7): a key-file vault and one volume per cipher, made once by an early
//! version. Every later version must mount them read-only and read every file,
//! name and link target of MANIFEST.tsv unchanged; a tampered object still fails
//! with EIO and one record.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use common::mount::{errno, MountedVolume};
use common::Sandbox;

/// Each volume of the set and the id it was created with: a regenerated set has
/// new ids, so this test refuses it instead of silently reading new bytes.
const VOLUMES: [(&str, &str); 2] = [
    ("aes-256-gcm", "48e0d0d5-3c91-473e-a850-e2a09454b067"),
    ("xchacha20-poly1305", "bf8d2de9-c578-4dc9-aa49-29fd7e319008"),
];

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/volume-v1")
}

/// One plaintext entry of MANIFEST.tsv.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Dir,
    File { size: u64, sha256: String },
    Symlink { target: String },
    HardLink { other: String },
}

fn manifest() -> BTreeMap<String, Entry> {
    let text = std::fs::read_to_string(vectors().join("MANIFEST.tsv")).unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let [kind, path, size, sha256, link] = fields[..] else {
                panic!("bad manifest line: {line}");
            };
            let entry = match kind {
                "dir" => Entry::Dir,
                "file" => Entry::File {
                    size: size.parse().unwrap(),
                    sha256: sha256.to_string(),
                },
                "symlink" => Entry::Symlink {
                    target: link.to_string(),
                },
                "hardlink" => Entry::HardLink {
                    other: link.to_string(),
                },
                _ => panic!("bad manifest type: {line}"),
            };
            (path.to_string(), entry)
        })
        .collect()
}

/// Copies `from` to `to` (files, directories, symlinks; git keeps no hard links).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_tree(&src, &dst);
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// Gives the copied volume back what git does not keep: the modes kmsfs writes
/// its own files with, and hard links (two objects with the same bytes can only
/// be one object under two names, since every object has its own random file id).
fn restore_volume(dir: &Path, seen: &mut HashMap<Vec<u8>, PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let name = entry.file_name().into_string().unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            restore_volume(&path, seen);
        } else if name == "kmsfs.volume" {
            set_mode(&path, 0o600);
        } else if name == "kmsfs.dirid" || name.ends_with(".name") {
            set_mode(&path, 0o400);
        } else if kind.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            if let Some(first) = seen.get(&bytes) {
                std::fs::remove_file(&path).unwrap();
                std::fs::hard_link(first, &path).unwrap();
            } else {
                seen.insert(bytes, path);
            }
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, PermissionsExt::from_mode(mode)).unwrap();
}

/// A sandbox holding a copy of the vault (modes as kmsfs requires) and of the volume `cipher`.
fn copied(cipher: &str) -> (Sandbox, PathBuf) {
    let sandbox = Sandbox::new();
    let vault = sandbox.path("vault");
    copy_tree(&vectors().join("vault"), &vault);
    set_mode(&vault, 0o700);
    set_mode(&vault.join("vault.db"), 0o600);
    set_mode(&vault.join("vault.key"), 0o400);
    let backing = sandbox.path(cipher);
    copy_tree(&vectors().join(cipher), &backing);
    restore_volume(&backing, &mut HashMap::new());
    (sandbox, backing)
}

/// Every entry under `dir` of the mount, by its path inside the volume.
fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, std::fs::Metadata>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = path.symlink_metadata().unwrap();
        let inside = format!("/{}", path.strip_prefix(root).unwrap().to_str().unwrap());
        if meta.is_dir() {
            walk(root, &path, out);
        }
        out.insert(inside, meta);
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn assert_matches_manifest(vol: &MountedVolume, cipher: &str) {
    let manifest = manifest();
    let mut found = BTreeMap::new();
    walk(&vol.mnt, &vol.mnt, &mut found);
    assert_eq!(
        found.keys().collect::<Vec<_>>(),
        manifest.keys().collect::<Vec<_>>(),
        "{cipher}: the names in the volume"
    );
    for (path, entry) in &manifest {
        let plain = vol.path(&path[1..]);
        let meta = &found[path];
        match entry {
            Entry::Dir => assert!(meta.is_dir(), "{cipher} {path}: a directory"),
            Entry::File { size, sha256 } => {
                assert!(meta.is_file(), "{cipher} {path}: a regular file");
                assert_eq!(meta.len(), *size, "{cipher} {path}: stat size");
                let bytes = std::fs::read(&plain).unwrap();
                assert_eq!(bytes.len() as u64, *size, "{cipher} {path}: bytes read");
                assert_eq!(&sha256_hex(&bytes), sha256, "{cipher} {path}: content");
            }
            Entry::Symlink { target } => {
                assert!(meta.is_symlink(), "{cipher} {path}: a symlink");
                assert_eq!(
                    std::fs::read_link(&plain).unwrap(),
                    Path::new(target),
                    "{cipher} {path}: target"
                );
            }
            Entry::HardLink { other } => {
                let first = &found[other];
                assert_eq!(
                    meta.ino(),
                    first.ino(),
                    "{cipher} {path}: same inode as {other}"
                );
                assert_eq!(meta.nlink(), 2, "{cipher} {path}: two names");
                let bytes = std::fs::read(&plain).unwrap();
                assert_eq!(bytes, std::fs::read(vol.path(&other[1..])).unwrap());
            }
        }
    }
}

#[test]
fn the_frozen_volumes_read_back_unchanged_through_a_read_only_mount() {
    for (cipher, volume_id) in VOLUMES {
        let (sandbox, backing) = copied(cipher);
        let info = sandbox.json(&["volume", "info", common::s(&backing)]);
        assert_eq!(
            info["Volume"]["VolumeId"], volume_id,
            "{cipher}: the frozen volume"
        );
        assert_eq!(info["Volume"]["ChunkSize"], 4096);
        let test = "the_frozen_volumes_read_back_unchanged_through_a_read_only_mount";
        let Some(vol) = MountedVolume::adopt(test, sandbox, backing, &["--read-only"]) else {
            return;
        };
        assert_matches_manifest(&vol, cipher);
        let write = std::fs::write(vol.path("new"), b"x");
        assert_eq!(errno(write), libc::EROFS, "{cipher}: mounted read-only");
    }
}

#[test]
fn a_tampered_frozen_object_reads_as_eio_and_the_others_still_read() {
    for (cipher, _) in VOLUMES {
        let (sandbox, backing) = copied(cipher);
        // The largest object of the root is three-chunks-plus-7: flip a byte of its
        // last chunk's ciphertext.
        let object = std::fs::read_dir(&backing)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.symlink_metadata().unwrap().is_file())
            .max_by_key(|path| path.metadata().unwrap().len())
            .unwrap();
        let mut bytes = std::fs::read(&object).unwrap();
        let at = bytes.len() - 20;
        bytes[at] ^= 0x01;
        std::fs::write(&object, &bytes).unwrap();

        let test = "a_tampered_frozen_object_reads_as_eio_and_the_others_still_read";
        let Some(vol) = MountedVolume::adopt(test, sandbox, backing, &["--read-only"]) else {
            return;
        };
        let read = std::fs::read(vol.path("three-chunks-plus-7"));
        assert_eq!(errno(read), libc::EIO, "{cipher}: the tampered file");
        let Entry::File { sha256, .. } = &manifest()["/chunk-plus-1"] else {
            panic!("BUG: /chunk-plus-1 is a file in the manifest");
        };
        let other = std::fs::read(vol.path("chunk-plus-1")).unwrap();
        assert_eq!(&sha256_hex(&other), sha256, "{cipher}: an untouched file");
        let failures: Vec<_> = vol
            .records()
            .into_iter()
            .filter(|r| r["eventName"] == "IntegrityCheckFailed")
            .collect();
        assert!(
            !failures.is_empty(),
            "{cipher}: an IntegrityCheckFailed record"
        );
        assert!(failures.iter().all(
            |r| r["requestParameters"]["encryptionContext"]["kmsfs:path"] == "/three-chunks-plus-7"
        ));
    }
}
