//! Crash states (docs/FORMAT.md, "Writes and crashes"): a write or truncate
//! stopped at any point, in any order of its chunk writes, even in the middle
//! of one, leaves a file whose every chunk reads as its old plaintext, its new
//! plaintext, or an integrity error; never other bytes.

use std::collections::BTreeSet;

use super::*;
use crate::object::layout::Layout;

/// Plaintext of a file, padded with zeros: what a hole or a not yet written
/// region reads as.
fn padded(plain: &[u8], len: usize) -> Vec<u8> {
    let mut out = plain.to_vec();
    out.resize(len, 0);
    out
}

/// Every chunk of the file in `t` reads as `old` or `new`, or fails.
fn assert_old_new_or_refused(t: &TestObject, old: &[u8], new: &[u8], state: &str) {
    for start in (0..old.len()).step_by(CHUNK) {
        let mut buf = vec![0u8; CHUNK];
        match t.object().read_at(start as u64, &mut buf) {
            Ok(n) => {
                let got = &buf[..n];
                assert!(
                    got == &old[start..start + n] || got == &new[start..start + n],
                    "{state}: chunk at {start} reads as neither its old nor its new bytes"
                );
            }
            Err(ObjectError::Integrity { .. }) => {}
            Err(e) => panic!("{state}: unexpected error {e}"),
        }
    }
}

/// Applies `op` to a file made by `setup`, then checks every mixture of the
/// before and after images: per chunk slot old or new, cut at every length
/// a sequence of pwrites and truncates can leave, and single torn chunks.
fn check_crash_states(cipher: Cipher, setup: impl Fn(&Object<'_>), op: impl Fn(&Object<'_>)) {
    let t = TestObject::new(cipher, CHUNK as u32);
    setup(&t.object());
    let (before, before_plain) = (t.bytes(), t.read_all().unwrap());
    op(&t.object());
    let (after, after_plain) = (t.bytes(), t.read_all().unwrap());
    let layout = Layout::for_header(&t.header);
    let header_len = layout.header_len() as usize;
    let max_len = before.len().max(after.len());
    let plain_max = before_plain.len().max(after_plain.len()) + CHUNK;
    let (old, new) = (
        padded(&before_plain, plain_max),
        padded(&after_plain, plain_max),
    );
    let slots = layout.chunk_count(plain_max as u64);
    let slot_range = |i: u64| {
        let start = (layout.cipher_off(i) as usize).min(max_len);
        start..(layout.cipher_off(i + 1) as usize).min(max_len)
    };
    let mut lengths = BTreeSet::from([before.len(), after.len()]);
    for i in 0..slots {
        for plain_len in [before_plain.len(), after_plain.len()] {
            let frame_end =
                layout.cipher_off(i) + layout.frame_len(layout.chunk_len(i, plain_len as u64));
            lengths.insert(layout.cipher_off(i) as usize);
            lengths.insert(frame_end as usize);
        }
    }
    lengths.retain(|&len| (header_len..=max_len).contains(&len));
    let image = |source: &[u8], range: std::ops::Range<usize>, into: &mut Vec<u8>| {
        let end = range.end.min(source.len());
        if range.start < end {
            into[range.start..end].copy_from_slice(&source[range.start..end]);
        }
    };
    for mask in 0u32..1 << slots {
        let mut mixed = vec![0u8; max_len];
        mixed[..header_len].copy_from_slice(&after[..header_len]);
        for i in 0..slots {
            let source = if mask & (1 << i) != 0 {
                &after
            } else {
                &before
            };
            image(source, slot_range(i), &mut mixed);
        }
        for &len in &lengths {
            t.put_bytes(&mixed[..len]);
            assert_old_new_or_refused(&t, &old, &new, &format!("mask {mask:b}, length {len}"));
        }
    }
    // One chunk torn: the start of its new frame over the rest of the old one.
    for i in 0..slots {
        let range = slot_range(i);
        for cut in [
            1,
            cipher.nonce_len(),
            range.len() / 2,
            range.len().saturating_sub(1),
        ] {
            let mut torn = after.clone();
            torn.resize(max_len, 0);
            image(&before, range.start + cut..range.end, &mut torn);
            for len in [before.len(), after.len()] {
                t.put_bytes(&torn[..len]);
                assert_old_new_or_refused(&t, &old, &new, &format!("chunk {i} torn at {cut}"));
            }
        }
    }
}

const C: u64 = CHUNK as u64;

fn write(off: u64, len: usize, seed: u8) -> impl Fn(&Object<'_>) {
    move |object| object.write_at(off, &pattern(len, seed)).unwrap()
}

fn set_len(len: u64) -> impl Fn(&Object<'_>) {
    move |object| object.set_len(len).unwrap()
}

#[test]
fn an_interrupted_extending_write_never_yields_wrong_bytes() {
    for cipher in Cipher::ALL {
        check_crash_states(
            cipher,
            write(0, 2 * CHUNK + 100, 1),
            write(2 * C + 50, 2 * CHUNK, 2),
        );
        check_crash_states(cipher, write(0, CHUNK + 10, 1), write(3 * C + 5, 100, 2));
    }
}

#[test]
fn an_interrupted_overwrite_never_yields_wrong_bytes() {
    for cipher in Cipher::ALL {
        check_crash_states(
            cipher,
            write(0, 3 * CHUNK + 7, 1),
            write(C - 3, CHUNK + 6, 2),
        );
    }
}

#[test]
fn an_interrupted_truncate_never_yields_wrong_bytes() {
    for cipher in Cipher::ALL {
        check_crash_states(cipher, write(0, 4 * CHUNK + 7, 1), set_len(2 * C + 5));
        check_crash_states(cipher, write(0, 4 * CHUNK + 7, 1), set_len(2 * C));
        check_crash_states(cipher, write(0, CHUNK + 10, 1), set_len(3 * C + 5));
        check_crash_states(cipher, write(0, 10, 1), set_len(100));
    }
}
