//! The tamper matrix (docs/FORMAT.md, "What is detected"): every change an
//! attacker with write access to the backing file can make is refused with an
//! integrity error for the right chunk, and no read returns wrong bytes.

use std::ops::Range;

use super::*;
use crate::object::layout::Layout;
use crate::object::{plain_len_of, IntegrityFailure};

const AUTH: IntegrityFailure = IntegrityFailure::Authentication;

/// A file of `len` plaintext bytes, its plaintext and its backing bytes.
fn written(cipher: Cipher, len: usize) -> (TestObject, Vec<u8>, Vec<u8>) {
    let t = TestObject::new(cipher, CHUNK as u32);
    let data = pattern(len, 5);
    t.object().write_at(0, &data).unwrap();
    let bytes = t.bytes();
    (t, data, bytes)
}

fn frame_range(t: &TestObject, chunk_no: u64, plain_len: usize) -> Range<usize> {
    let layout = Layout::for_header(&t.header);
    let start = layout.cipher_off(chunk_no) as usize;
    start..start + layout.frame_len(layout.chunk_len(chunk_no, plain_len as u64)) as usize
}

/// Whole-file reads fail at `chunk_no` for `reason`; reads of single chunks
/// return either the original bytes or an error, never other bytes.
fn assert_refused(
    t: &TestObject,
    key: &ContentKey,
    original: &[u8],
    chunk_no: u64,
    reason: IntegrityFailure,
) {
    let (header, _) = read_header(&t.file).unwrap();
    let object = Object::new(&t.file, &header, key);
    match object.read_at(0, &mut vec![0u8; original.len() + 2 * CHUNK]) {
        Err(ObjectError::Integrity {
            chunk_no: c,
            reason: r,
        }) => {
            assert_eq!((c, r), (chunk_no, reason));
        }
        other => panic!("expected an integrity failure in chunk {chunk_no}, got {other:?}"),
    }
    for start in (0..original.len() + CHUNK).step_by(CHUNK) {
        let mut buf = vec![0u8; CHUNK];
        if let Ok(n) = object.read_at(start as u64, &mut buf) {
            let expected = &original[start.min(original.len())..(start + n).min(original.len())];
            assert!(
                buf[..n] == *expected,
                "the read at {start} gave other bytes"
            );
        }
    }
}

#[test]
fn a_flipped_byte_anywhere_in_any_chunk_is_refused() {
    for cipher in Cipher::ALL {
        let len = 3 * CHUNK + 7;
        let (t, data, bytes) = written(cipher, len);
        let nonce_len = cipher.nonce_len();
        for chunk_no in 0..4 {
            let range = frame_range(&t, chunk_no, len);
            let body_end = range.end - 16;
            let mut positions = vec![
                range.start,
                range.start + nonce_len - 1,
                range.start + nonce_len,
                body_end - 1,
                body_end,
                range.end - 1,
            ];
            positions.extend((range.start..range.end).step_by(397));
            for pos in positions {
                let mut tampered = bytes.clone();
                tampered[pos] ^= 0x01;
                t.put_bytes(&tampered);
                assert_refused(&t, &t.key, &data, chunk_no, AUTH);
            }
        }
        // Partner: the untouched bytes read back.
        t.put_bytes(&bytes);
        assert_eq!(t.read_all().unwrap(), data);
    }
}

#[test]
fn swapped_and_reordered_chunks_are_refused() {
    for cipher in Cipher::ALL {
        let len = 3 * CHUNK + 7;
        let (t, data, bytes) = written(cipher, len);
        let [c0, c1, c2] = [0, 1, 2].map(|i| bytes[frame_range(&t, i, len)].to_vec());
        let mut swapped = bytes.clone();
        swapped[frame_range(&t, 0, len)].copy_from_slice(&c1);
        swapped[frame_range(&t, 1, len)].copy_from_slice(&c0);
        t.put_bytes(&swapped);
        assert_refused(&t, &t.key, &data, 0, AUTH);
        let mut rotated = bytes.clone();
        rotated[frame_range(&t, 0, len)].copy_from_slice(&c2);
        rotated[frame_range(&t, 1, len)].copy_from_slice(&c0);
        rotated[frame_range(&t, 2, len)].copy_from_slice(&c1);
        t.put_bytes(&rotated);
        assert_refused(&t, &t.key, &data, 0, AUTH);
        // A chunk duplicated within the file.
        let mut duplicated = bytes.clone();
        duplicated[frame_range(&t, 2, len)].copy_from_slice(&c0);
        t.put_bytes(&duplicated);
        assert_refused(&t, &t.key, &data, 2, AUTH);
    }
}

#[test]
fn a_chunk_copied_from_another_file_is_refused_even_under_the_same_key() {
    for cipher in Cipher::ALL {
        let len = 2 * CHUNK;
        let dek = DataKey::generate().unwrap();
        let a = TestObject::with_dek(cipher, CHUNK as u32, &dek);
        let b = TestObject::with_dek(cipher, CHUNK as u32, &dek);
        let other_key = TestObject::new(cipher, CHUNK as u32);
        let data = pattern(len, 6);
        for t in [&a, &b, &other_key] {
            t.object().write_at(0, &data).unwrap();
        }
        for donor in [&b, &other_key] {
            let mut bytes = a.bytes();
            let range = frame_range(&a, 0, len);
            bytes[range.clone()].copy_from_slice(&donor.bytes()[range]);
            a.put_bytes(&bytes);
            assert_refused(&a, &a.key, &data, 0, AUTH);
        }
    }
}

#[test]
fn a_header_swapped_from_another_file_is_refused() {
    for cipher in Cipher::ALL {
        let len = 2 * CHUNK + 1;
        let (a, data, a_bytes) = written(cipher, len);
        let (b, _, b_bytes) = written(cipher, len);
        let header_len = a.header.encoded_len();
        assert_eq!(header_len, b.header.encoded_len());
        let mut swapped = a_bytes.clone();
        swapped[..header_len].copy_from_slice(&b_bytes[..header_len]);
        a.put_bytes(&swapped);
        // Opened as the header says: B's file id and B's DEK.
        assert_refused(&a, &b.key, &data, 0, AUTH);
        // Or with A's DEK somehow kept: B's file id still does not match.
        assert_refused(&a, &a.key, &data, 0, AUTH);
    }
}

#[test]
fn header_fields_edited_in_place_are_refused() {
    for cipher in Cipher::ALL {
        let len = 2 * CHUNK + 1;
        let (t, data, bytes) = written(cipher, len);
        let mut bigger_chunks = bytes.clone();
        bigger_chunks[8..12].copy_from_slice(&(2 * CHUNK as u32).to_be_bytes());
        t.put_bytes(&bigger_chunks);
        // The chunk size is in the associated data, whatever the lengths say.
        let (header, _) = read_header(&t.file).unwrap();
        let object = Object::new(&t.file, &header, &t.key);
        assert!(object.read_at(0, &mut vec![0u8; len]).is_err());
        let mut file_id = bytes.clone();
        file_id[12] ^= 1;
        t.put_bytes(&file_id);
        assert_refused(&t, &t.key, &data, 0, AUTH);
        let other = match cipher {
            Cipher::Aes256Gcm => Cipher::XChaCha20Poly1305,
            Cipher::XChaCha20Poly1305 => Cipher::Aes256Gcm,
        };
        let mut cipher_id = bytes.clone();
        cipher_id[6] = other.id();
        t.put_bytes(&cipher_id);
        let (header, _) = read_header(&t.file).unwrap();
        let dek_for_other = ContentKey::new(&DataKey::generate().unwrap(), other);
        let object = Object::new(&t.file, &header, &dek_for_other);
        assert!(object.read_at(0, &mut vec![0u8; len]).is_err());
    }
}

#[test]
fn a_file_cut_at_a_chunk_boundary_is_refused() {
    for cipher in Cipher::ALL {
        let len = 3 * CHUNK + 7;
        let (t, data, bytes) = written(cipher, len);
        for kept in [1, 2, 3] {
            let cut = frame_range(&t, kept, len).start;
            t.put_bytes(&bytes[..cut]);
            assert_eq!(plain_len_of(&t.file).unwrap(), kept * CHUNK as u64);
            assert_refused(&t, &t.key, &data, kept - 1, AUTH);
        }
    }
}

#[test]
fn an_appended_chunk_is_refused() {
    for cipher in Cipher::ALL {
        let len = 3 * CHUNK;
        let (t, data, bytes) = written(cipher, len);
        let chunk1 = bytes[frame_range(&t, 1, len)].to_vec();
        // A copy of a real chunk: the old last chunk was sealed as last.
        t.put_bytes(&[bytes.as_slice(), &chunk1].concat());
        assert_refused(&t, &t.key, &data, 2, AUTH);
        // A zero chunk (a "hole") appended: the same, and it cannot be last.
        t.put_bytes(&[bytes.as_slice(), &vec![0u8; chunk1.len()]].concat());
        assert_refused(&t, &t.key, &data, 2, AUTH);
        // The last chunk of an earlier, longer version of this file: it
        // authenticates on its own (see the known limits), but the old last
        // chunk in front of it does not, so the file does not read.
        t.put_bytes(&bytes);
        t.object().write_at(0, &pattern(4 * CHUNK, 5)).unwrap();
        let chunk3 = t.bytes()[frame_range(&t, 3, 4 * CHUNK)].to_vec();
        t.put_bytes(&[bytes.as_slice(), &chunk3].concat());
        let err = t.read_all().unwrap_err();
        assert!(
            matches!(
                err,
                ObjectError::Integrity {
                    chunk_no: 2,
                    reason: AUTH
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn a_length_no_plaintext_gives_is_refused() {
    for cipher in Cipher::ALL {
        let (t, data, bytes) = written(cipher, 3 * CHUNK);
        t.put_bytes(&[bytes.as_slice(), b"extra"].concat());
        let impossible = IntegrityFailure::ImpossibleLength {
            cipher_len: bytes.len() as u64 + 5,
        };
        assert_refused(&t, &t.key, &data, 3, impossible);
        assert!(matches!(
            plain_len_of(&t.file),
            Err(ObjectError::Integrity { chunk_no: 3, reason }) if reason == impossible
        ));
        // One byte more on a partial last chunk is a possible length, but
        // the last chunk no longer authenticates.
        let (t, data, bytes) = written(cipher, 3 * CHUNK + 7);
        t.put_bytes(&[bytes.as_slice(), b"x"].concat());
        assert_refused(&t, &t.key, &data, 3, AUTH);
    }
}

#[test]
fn a_zeroed_last_chunk_is_refused() {
    for cipher in Cipher::ALL {
        let len = 3 * CHUNK + 7;
        let (t, data, mut bytes) = written(cipher, len);
        bytes[frame_range(&t, 3, len)].fill(0);
        t.put_bytes(&bytes);
        assert_refused(&t, &t.key, &data, 3, IntegrityFailure::HoleAtEnd);
    }
}

#[test]
fn writes_into_a_tampered_chunk_are_refused_and_leave_it_as_it_was() {
    for cipher in Cipher::ALL {
        let len = 3 * CHUNK + 7;
        let (t, _, mut bytes) = written(cipher, len);
        bytes[frame_range(&t, 1, len).start + 30] ^= 1;
        t.put_bytes(&bytes);
        let err = t.object().write_at(CHUNK as u64 + 10, b"x").unwrap_err();
        assert!(
            matches!(err, ObjectError::Integrity { chunk_no: 1, .. }),
            "{err}"
        );
        let err = t.object().set_len(CHUNK as u64 + 10).unwrap_err();
        assert!(
            matches!(err, ObjectError::Integrity { chunk_no: 1, .. }),
            "{err}"
        );
        assert_eq!(t.bytes(), bytes);
        // Overwriting the whole chunk needs none of its old bytes.
        t.object()
            .write_at(CHUNK as u64, &pattern(CHUNK, 8))
            .unwrap();
        assert_eq!(t.read_all().unwrap()[CHUNK..2 * CHUNK], pattern(CHUNK, 8));
    }
}

/// Known limits, pinned so that a change of them is a decision: an attacker
/// who can write the backing file can zero a chunk in the middle of a file
/// (it reads as a hole) or put back an older version of the same chunk of
/// the same file (docs/FORMAT.md, "Known limits").
#[test]
fn known_limits_zeroed_middle_chunk_and_rolled_back_chunk() {
    let len = 3 * CHUNK + 7;
    let (t, data, bytes) = written(Cipher::Aes256Gcm, len);
    let mut zeroed = bytes.clone();
    zeroed[frame_range(&t, 1, len)].fill(0);
    t.put_bytes(&zeroed);
    let mut expected = data.clone();
    expected[CHUNK..2 * CHUNK].fill(0);
    assert_eq!(t.read_all().unwrap(), expected);

    t.put_bytes(&bytes);
    t.object().write_at(CHUNK as u64, b"newer").unwrap();
    let mut rolled_back = t.bytes();
    rolled_back[frame_range(&t, 1, len)].copy_from_slice(&bytes[frame_range(&t, 1, len)]);
    t.put_bytes(&rolled_back);
    assert_eq!(t.read_all().unwrap(), data);
}
