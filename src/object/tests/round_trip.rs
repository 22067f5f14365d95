//! Plaintext in, the same plaintext out, at every size boundary, for both
//! ciphers; holes, truncation and the size limits.

use super::*;
use crate::object::layout::Layout;
use crate::object::{plain_len_of, IntegrityFailure};

const MIB: usize = 1 << 20;

fn read_in_pieces(object: &Object<'_>, piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; piece];
    loop {
        let n = object.read_at(out.len() as u64, &mut buf).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn every_size_round_trips_for_both_ciphers_and_two_chunk_sizes() {
    for cipher in Cipher::ALL {
        for chunk_size in [4096u32, 32768] {
            let chunk = chunk_size as usize;
            for size in [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk + 7, MIB + 3] {
                let t = TestObject::new(cipher, chunk_size);
                let data = pattern(size, 1);
                t.object().write_at(0, &data).unwrap();
                assert_eq!(t.read_all().unwrap(), data, "{cipher} {chunk_size} {size}");
                // Odd pieces; larger ones for the large file to keep debug builds quick.
                let piece = if size > MIB { 100_003 } else { 1000 };
                assert_eq!(read_in_pieces(&t.object(), piece), data);
                let layout = Layout::for_header(&t.header);
                let cipher_len = t.file.metadata().unwrap().len();
                assert_eq!(cipher_len, layout.cipher_len(size as u64));
                assert_eq!(plain_len_of(&t.file).unwrap(), size as u64);
                if size > 0 {
                    // Negative partner: another key gets an error, not bytes.
                    let other = ContentKey::new(&DataKey::generate().unwrap(), cipher);
                    let err = Object::new(&t.file, &t.header, &other)
                        .read_at(0, &mut [0u8; 1])
                        .unwrap_err();
                    assert!(
                        matches!(err, ObjectError::Integrity { chunk_no: 0, .. }),
                        "{err}"
                    );
                }
            }
        }
    }
}

#[test]
fn appending_in_odd_pieces_gives_the_same_file() {
    for cipher in Cipher::ALL {
        let t = TestObject::new(cipher, CHUNK as u32);
        let data = pattern(3 * CHUNK + 7, 2);
        for piece in data.chunks(1000) {
            let end = t.object().plain_len().unwrap();
            t.object().write_at(end, piece).unwrap();
        }
        assert_eq!(t.read_all().unwrap(), data);
    }
}

#[test]
fn no_plaintext_reaches_the_backing_file() {
    let marker = b"KMSFS-PLAINTEXT-MARKER-7f3a";
    for cipher in Cipher::ALL {
        let t = TestObject::new(cipher, CHUNK as u32);
        let data: Vec<u8> = marker.iter().copied().cycle().take(3 * CHUNK).collect();
        t.object().write_at(0, &data).unwrap();
        t.object().write_at(CHUNK as u64 - 5, marker).unwrap();
        assert_eq!(t.read_all().unwrap().len(), 3 * CHUNK);
        assert!(!t.bytes().windows(8).any(|w| w == &marker[..8]));
        // The check can fail: the plaintext itself does contain it.
        assert!(data.windows(8).any(|w| w == &marker[..8]));
    }
}

/// The frame of `chunk_no` in the backing bytes.
fn frame<'b>(t: &TestObject, bytes: &'b [u8], chunk_no: u64, plain_len: u64) -> &'b [u8] {
    let layout = Layout::for_header(&t.header);
    let start = layout.cipher_off(chunk_no) as usize;
    &bytes[start..start + layout.frame_len(layout.chunk_len(chunk_no, plain_len)) as usize]
}

#[test]
fn a_write_past_the_end_leaves_holes_that_read_as_zeros() {
    for cipher in Cipher::ALL {
        let t = TestObject::new(cipher, CHUNK as u32);
        let off = 5 * CHUNK as u64 + 3;
        t.object().write_at(off, b"tail data").unwrap();
        let mut expected = vec![0u8; off as usize];
        expected.extend_from_slice(b"tail data");
        assert_eq!(t.read_all().unwrap(), expected);
        let bytes = t.bytes();
        for chunk_no in 0..5 {
            assert!(frame(&t, &bytes, chunk_no, off + 9).iter().all(|&b| b == 0));
        }
        assert!(frame(&t, &bytes, 5, off + 9).iter().any(|&b| b != 0));
        // Writing into a hole fills it; the rest of the hole still reads zeros.
        t.object().write_at(CHUNK as u64 + 10, b"middle").unwrap();
        expected[CHUNK + 10..CHUNK + 16].copy_from_slice(b"middle");
        assert_eq!(t.read_all().unwrap(), expected);
    }
}

#[test]
fn truncating_up_leaves_holes_and_seals_the_new_last_chunk() {
    for cipher in Cipher::ALL {
        let t = TestObject::new(cipher, CHUNK as u32);
        t.object().write_at(0, b"0123456789").unwrap();
        t.object().set_len(100).unwrap();
        let mut expected = b"0123456789".to_vec();
        expected.resize(100, 0);
        assert_eq!(t.read_all().unwrap(), expected);
        let new_len = 3 * CHUNK as u64 + 5;
        t.object().set_len(new_len).unwrap();
        expected.resize(new_len as usize, 0);
        assert_eq!(t.read_all().unwrap(), expected);
        let bytes = t.bytes();
        assert!(frame(&t, &bytes, 1, new_len).iter().all(|&b| b == 0));
        assert!(frame(&t, &bytes, 2, new_len).iter().all(|&b| b == 0));
        assert!(frame(&t, &bytes, 3, new_len).iter().any(|&b| b != 0));
    }
}

#[test]
fn truncating_down_keeps_the_prefix_and_forgets_the_rest() {
    for cipher in Cipher::ALL {
        let t = TestObject::new(cipher, CHUNK as u32);
        let data = pattern(3 * CHUNK + 7, 3);
        t.object().write_at(0, &data).unwrap();
        for len in [3 * CHUNK + 6, 2 * CHUNK + 1, CHUNK, CHUNK - 1, 5, 0] {
            t.object().set_len(len as u64).unwrap();
            assert_eq!(t.read_all().unwrap(), data[..len], "{len}");
            assert_eq!(plain_len_of(&t.file).unwrap(), len as u64);
        }
        t.object().write_at(0, &data).unwrap();
        t.object().set_len(10).unwrap();
        // Growing again shows zeros, not the old bytes.
        t.object().set_len(2 * CHUNK as u64).unwrap();
        let mut expected = data[..10].to_vec();
        expected.resize(2 * CHUNK, 0);
        assert_eq!(t.read_all().unwrap(), expected);
    }
}

#[test]
fn reads_stop_at_the_end_and_empty_writes_change_nothing() {
    let t = TestObject::new(Cipher::Aes256Gcm, CHUNK as u32);
    t.object().write_at(100, &[]).unwrap();
    assert_eq!(t.object().plain_len().unwrap(), 0);
    t.object().write_at(0, b"abc").unwrap();
    let mut buf = [0u8; 10];
    assert_eq!(t.object().read_at(3, &mut buf).unwrap(), 0);
    assert_eq!(t.object().read_at(1000, &mut buf).unwrap(), 0);
    assert_eq!(t.object().read_at(1, &mut buf).unwrap(), 2);
    assert_eq!(&buf[..2], b"bc");
    assert_eq!(t.object().read_at(0, &mut []).unwrap(), 0);
}

#[test]
fn sizes_beyond_the_largest_object_are_refused() {
    let t = TestObject::new(Cipher::Aes256Gcm, CHUNK as u32);
    let max = Layout::for_header(&t.header).max_plain_len();
    assert!(matches!(
        t.object().write_at(u64::MAX - 1, b"ab"),
        Err(ObjectError::TooLarge { .. })
    ));
    assert!(matches!(
        t.object().write_at(max, b"a"),
        Err(ObjectError::TooLarge { .. })
    ));
    assert!(matches!(
        t.object().set_len(max + 1),
        Err(ObjectError::TooLarge { .. })
    ));
    assert_eq!(t.object().plain_len().unwrap(), 0);
}

#[test]
fn create_replaces_old_content_with_an_empty_object() {
    let t = TestObject::new(Cipher::XChaCha20Poly1305, CHUNK as u32);
    t.object().write_at(0, &pattern(2 * CHUNK, 4)).unwrap();
    let fresh = ObjectHeader {
        file_id: FileId::random().unwrap(),
        ..t.header.clone()
    };
    let key = ContentKey::new(&DataKey::generate().unwrap(), fresh.cipher);
    let object = Object::create(&t.file, &fresh, &key).unwrap();
    assert_eq!(object.plain_len().unwrap(), 0);
    assert_eq!(read_header(&t.file).unwrap().0, fresh);
    object.write_at(0, b"new").unwrap();
    let mut buf = [0u8; 3];
    object.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"new");
}

#[test]
fn a_file_too_short_for_its_header_is_refused() {
    let t = TestObject::new(Cipher::Aes256Gcm, CHUNK as u32);
    let bytes = t.bytes();
    for len in [0, 10] {
        t.put_bytes(&bytes[..len]);
        assert!(matches!(read_header(&t.file), Err(ObjectError::Header(_))));
        assert!(matches!(plain_len_of(&t.file), Err(ObjectError::Header(_))));
    }
    t.put_bytes(&bytes[..bytes.len() - 1]);
    assert!(matches!(read_header(&t.file), Err(ObjectError::Header(_))));
    let impossible = |result: Result<u64, ObjectError>| {
        matches!(
            result,
            Err(ObjectError::Integrity {
                chunk_no: 0,
                reason: IntegrityFailure::ImpossibleLength { .. }
            })
        )
    };
    // The fixed part is whole, so the keyless size sees an impossible length,
    // and so does an object opened before the cut.
    assert!(impossible(plain_len_of(&t.file)));
    assert!(impossible(t.object().plain_len()));
}
