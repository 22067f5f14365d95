//! Object tests on real files in a temporary directory: round trips, holes,
//! a model test, the tamper matrix, crash states and frozen vectors.

mod crash;
mod model;
mod round_trip;
mod tamper;
mod vectors;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;

use tempfile::TempDir;

use super::{read_header, Object, ObjectError};
use crate::crypto::{Cipher, ContentKey, DataKey};
use crate::format::blob::CiphertextBlob;
use crate::format::object::{FileId, ObjectHeader};
use crate::model::KeyId;

/// The smallest chunk size: many chunks from few bytes.
pub(super) const CHUNK: usize = 4096;

/// A structurally valid KMS blob; the object layer never opens it.
pub(super) fn fake_wrapped_dek() -> Vec<u8> {
    CiphertextBlob {
        cipher: Cipher::Aes256Gcm,
        key_id: KeyId::new_random(),
        material_version: 1,
        nonce: vec![3; 12],
        sealed: vec![4; 48],
    }
    .encode()
}

/// Deterministic, position-dependent bytes, different per `seed`.
pub(super) fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(31)
                .wrapping_add(u32::from(seed) * 7) as u8
                ^ (i >> 8) as u8
        })
        .collect()
}

/// One object file in its own temporary directory, with its header and key.
pub(super) struct TestObject {
    _dir: TempDir,
    pub file: File,
    pub header: ObjectHeader,
    pub key: ContentKey,
}

impl TestObject {
    pub fn new(cipher: Cipher, chunk_size: u32) -> TestObject {
        TestObject::with_dek(cipher, chunk_size, &DataKey::generate().unwrap())
    }

    /// An object sealed with a given DEK (to show that the file id alone
    /// keeps two files with one key apart).
    pub fn with_dek(cipher: Cipher, chunk_size: u32, dek: &DataKey) -> TestObject {
        let dir = tempfile::tempdir().unwrap();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.path().join("object"))
            .unwrap();
        let header = ObjectHeader {
            cipher,
            chunk_size,
            file_id: FileId::random().unwrap(),
            wrapped_dek: fake_wrapped_dek(),
        };
        let key = ContentKey::new(dek, cipher);
        Object::create(&file, &header, &key).unwrap();
        TestObject {
            _dir: dir,
            file,
            header,
            key,
        }
    }

    pub fn object(&self) -> Object<'_> {
        Object::new(&self.file, &self.header, &self.key)
    }

    /// Reads the whole plaintext through a fresh header read, as a new open would.
    pub fn read_all(&self) -> Result<Vec<u8>, ObjectError> {
        let (header, header_len) = read_header(&self.file)?;
        assert_eq!(header_len, self.header.encoded_len() as u64);
        let object = Object::new(&self.file, &header, &self.key);
        let mut buf = vec![0u8; object.plain_len()? as usize + 10];
        let n = object.read_at(0, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// The backing file's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.file.metadata().unwrap().len() as usize];
        self.file.read_exact_at(&mut out, 0).unwrap();
        out
    }

    /// Replaces the backing file's bytes.
    pub fn put_bytes(&self, bytes: &[u8]) {
        self.file.set_len(0).unwrap();
        self.file.write_all_at(bytes, 0).unwrap();
    }
}

/// docs/FORMAT.md names the functions and tests behind its claims; each of
/// them (every inline code word with two or more underscores) must exist in
/// src/ or tests/.
#[test]
fn every_function_named_in_the_format_document_exists() {
    fn sources(dir: &std::path::Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut code = String::new();
    sources(&root.join("src"), &mut code);
    // The real-mount tests of the volume vectors live under tests/.
    sources(&root.join("tests"), &mut code);
    let doc = std::fs::read_to_string(root.join("docs/FORMAT.md")).unwrap();
    // Fenced blocks are notation, not names; drop them.
    let prose: String = doc.split("```").step_by(2).collect();
    let mut checked = 0;
    for span in prose.split('`').skip(1).step_by(2) {
        let words =
            span.split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        for word in words.filter(|w| w.matches('_').count() >= 2) {
            assert!(
                code.contains(&format!("fn {word}(")),
                "docs/FORMAT.md names `{word}`, which is not a function"
            );
            checked += 1;
        }
    }
    assert!(
        checked > 30,
        "only {checked} names found: is the document still there?"
    );
}
