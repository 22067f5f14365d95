//! Frozen objects of format version 1, one per cipher (vectors/*.kfso, made
//! once by this version with the DEK and header below). Every later version
//! must read them unchanged; a flipped byte must keep failing.

use std::fs::File;

use super::*;
use crate::crypto::open;
use crate::object::IntegrityFailure;

fn vector_dek() -> DataKey {
    DataKey::from_slice(&(0u8..32).collect::<Vec<u8>>()).unwrap()
}

fn vector_plaintext() -> Vec<u8> {
    b"kmsfs object format 1, test vector.\n"
        .iter()
        .copied()
        .cycle()
        .take(CHUNK + 37)
        .collect()
}

fn vector_header(cipher: Cipher) -> ObjectHeader {
    ObjectHeader {
        cipher,
        chunk_size: CHUNK as u32,
        file_id: FileId(*b"kmsfs-vector-id!"),
        wrapped_dek: CiphertextBlob {
            cipher: Cipher::Aes256Gcm,
            key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".parse().unwrap(),
            material_version: 1,
            nonce: vec![0xaa; 12],
            sealed: vec![0xbb; 48],
        }
        .encode(),
    }
}

fn vector_path(cipher: Cipher) -> String {
    format!(
        "{}/src/object/tests/vectors/{}.kfso",
        env!("CARGO_MANIFEST_DIR"),
        cipher.name()
    )
}

#[test]
fn frozen_objects_read_back_unchanged() {
    // The worked sizes of docs/FORMAT.md: a 116-byte header, then a full and
    // a 37-byte chunk, each with its nonce and tag.
    for (cipher, size) in [(Cipher::Aes256Gcm, 4305), (Cipher::XChaCha20Poly1305, 4329)] {
        let file = File::open(vector_path(cipher)).unwrap();
        assert_eq!(file.metadata().unwrap().len(), size);
        let (header, header_len) = read_header(&file).unwrap();
        assert_eq!(header, vector_header(cipher));
        assert_eq!(header_len, 116);
        let key = ContentKey::new(&vector_dek(), cipher);
        let object = Object::new(&file, &header, &key);
        let mut buf = vec![0u8; CHUNK + 100];
        let n = object.read_at(0, &mut buf).unwrap();
        assert_eq!(buf[..n], vector_plaintext());
    }
}

#[test]
fn frozen_chunks_open_with_the_documented_associated_data() {
    // Built by hand from the spec, not by `chunk_aad`, to pin the bytes.
    for cipher in Cipher::ALL {
        let bytes = std::fs::read(vector_path(cipher)).unwrap();
        let nonce_len = cipher.nonce_len();
        let chunk1 = &bytes[116 + nonce_len + CHUNK + 16..];
        let mut aad = b"KFSC".to_vec();
        aad.extend_from_slice(b"kmsfs-vector-id!");
        aad.extend_from_slice(&1u64.to_be_bytes());
        aad.push(1); // last
        aad.push(cipher.id());
        aad.extend_from_slice(&(CHUNK as u32).to_be_bytes());
        let plain = open(
            &vector_dek(),
            cipher,
            &chunk1[..nonce_len],
            &aad,
            &chunk1[nonce_len..],
        )
        .unwrap();
        assert_eq!(plain.expose(), &vector_plaintext()[CHUNK..]);
        aad[28] = 0;
        assert!(open(
            &vector_dek(),
            cipher,
            &chunk1[..nonce_len],
            &aad,
            &chunk1[nonce_len..]
        )
        .is_err());
    }
}

#[test]
fn frozen_objects_with_a_flipped_byte_keep_failing() {
    for cipher in Cipher::ALL {
        let mut bytes = std::fs::read(vector_path(cipher)).unwrap();
        bytes[116 + 100] ^= 0x20;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flipped.kfso");
        std::fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        let (header, _) = read_header(&file).unwrap();
        let key = ContentKey::new(&vector_dek(), cipher);
        let err = Object::new(&file, &header, &key)
            .read_at(0, &mut [0u8; 10])
            .unwrap_err();
        assert!(matches!(
            err,
            ObjectError::Integrity {
                chunk_no: 0,
                reason: IntegrityFailure::Authentication
            }
        ));
    }
}
