//! Opening chunks of a small object whose bytes on disk were changed: a real
//! object is written under a fixed data key, then edited as the input says
//! (byte flips, a new length, or a whole new body after the header); reading,
//! writing and truncating it must end in data or an error, never a panic.
//!
//! Input: `mode ‖ be16(plaintext length) ‖ rest`. Mode bit 0 picks the cipher;
//! bit 1 set: `rest` replaces everything after the header; clear: `rest` is a
//! list of `be16(offset) ‖ u8(xor)` edits, and bit 2 set cuts the file to the
//! first edit's offset instead.
#![no_main]

use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use kmsfs::crypto::{Cipher, ContentKey, DataKey};
use kmsfs::format::blob::CiphertextBlob;
use kmsfs::object::{read_header, FileId, Object, ObjectHeader};
use libfuzzer_sys::fuzz_target;

const CHUNK_SIZE: u32 = 4096;

fn wrapped_dek(cipher: Cipher) -> Vec<u8> {
    CiphertextBlob {
        cipher,
        key_id: "1234abcd-12ab-34cd-56ef-1234567890ab"
            .parse()
            .expect("a key id"),
        material_version: 1,
        nonce: vec![3; cipher.nonce_len()],
        sealed: vec![4; 48],
    }
    .encode()
}

fuzz_target!(|data: &[u8]| {
    let [mode, len_hi, len_lo, rest @ ..] = data else {
        return;
    };
    let cipher = if mode & 1 == 0 {
        Cipher::Aes256Gcm
    } else {
        Cipher::XChaCha20Poly1305
    };
    let plain_len = usize::from(u16::from_be_bytes([*len_hi, *len_lo])) % (5 * CHUNK_SIZE as usize);
    let dek = DataKey::from_slice(&[9; 32]).expect("32 bytes make a key");
    let header = ObjectHeader {
        cipher,
        chunk_size: CHUNK_SIZE,
        file_id: FileId([1; 16]),
        wrapped_dek: wrapped_dek(cipher),
    };
    let mut file = tempfile::tempfile().expect("a temporary file");
    {
        let key = ContentKey::new(&dek, cipher);
        let object = Object::create(&file, &header, &key).expect("create");
        let plain: Vec<u8> = (0..plain_len).map(|i| (i % 251) as u8).collect();
        object.write_at(0, &plain).expect("write");
    }
    let header_len = header.encoded_len() as u64;
    if mode & 2 != 0 {
        file.set_len(header_len).expect("cut");
        file.seek(SeekFrom::Start(header_len)).expect("seek");
        file.write_all(rest).expect("body");
    } else {
        let file_len = file.metadata().expect("stat").len();
        for edit in rest.chunks_exact(3) {
            let offset = u64::from(u16::from_be_bytes([edit[0], edit[1]])) % file_len.max(1);
            if mode & 4 != 0 {
                file.set_len(offset).expect("cut");
                break;
            }
            let mut byte = [0u8];
            file.read_exact_at(&mut byte, offset).expect("read a byte");
            byte[0] ^= edit[2];
            file.write_all_at(&byte, offset).expect("flip a byte");
        }
    }
    // As the filesystem opens a file: the header, then a key for its cipher.
    let Ok((found, _)) = read_header(&file) else {
        return;
    };
    let key = ContentKey::new(&dek, found.cipher);
    let object = Object::new(&file, &found, &key);
    let Ok(len) = object.plain_len() else {
        return;
    };
    let mut buf = vec![0u8; 3 * CHUNK_SIZE as usize];
    let mut offset = 0;
    while offset < len {
        match object.read_at(offset, &mut buf) {
            Ok(0) => panic!("read_at returned 0 before the end"),
            Ok(n) => offset += n as u64,
            Err(_) => offset += u64::from(CHUNK_SIZE),
        }
    }
    let _ = object.write_at(len / 2, b"written after the damage");
    let _ = object.set_len(len / 3);
    let _ = object.read_at(0, &mut buf);
});
