//! docs/SECURITY.md, "Key hygiene": a content key's AES key schedule lives on
//! AWS-LC's heap and is wiped when the key is dropped; an XChaCha content key
//! and its per-frame subkeys likewise. The test looks for the data key's bytes
//! (an AES-256 schedule begins with them) in this process's heap, read through
//! /proc/self/mem: found while a content key is alive and in use (so the
//! search works), gone once it is dropped. Runs on the main thread
//! (`harness = false`), whose allocations are in the `[heap]` mapping.

use std::fs::File;
use std::os::unix::fs::FileExt;

use kmsfs::crypto::{random_bytes, Cipher, ContentKey, DataKey};
use zeroize::Zeroizing;

/// The start and end of this process's `[heap]` mapping.
fn heap_range() -> (u64, u64) {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    let line = maps
        .lines()
        .find(|line| line.ends_with("[heap]"))
        .expect("a [heap] mapping");
    let range = line.split_whitespace().next().unwrap();
    let (start, end) = range.split_once('-').unwrap();
    (
        u64::from_str_radix(start, 16).unwrap(),
        u64::from_str_radix(end, 16).unwrap(),
    )
}

/// Whether the heap holds `secret`. The copy of the heap is read into a
/// buffer that is wiped when dropped, so that no later search finds it.
fn heap_holds(secret: &[u8]) -> bool {
    let (start, end) = heap_range();
    let mem = File::open("/proc/self/mem").expect("/proc/self/mem");
    let mut copy = Zeroizing::new(vec![0u8; (end - start) as usize]);
    mem.read_exact_at(&mut copy, start).expect("read the heap");
    copy.windows(secret.len()).any(|window| window == secret)
}

/// Makes a content key for a fresh data key, seals a frame with it and
/// reports whether the heap held the key meanwhile and after the drop.
fn held_while_alive_and_after(cipher: Cipher) -> (bool, bool) {
    let mut bytes = Zeroizing::new([0u8; 32]);
    random_bytes(bytes.as_mut()).expect("random");
    let dek = DataKey::from_slice(bytes.as_ref()).expect("a data key");
    let key = Box::new(ContentKey::new(&dek, cipher));
    let mut frame = vec![0u8; cipher.nonce_len() + 4096 + kmsfs::crypto::TAG_LEN];
    key.seal_frame(b"aad", &mut frame).expect("seal");
    let alive = heap_holds(bytes.as_ref());
    drop(key);
    (alive, heap_holds(bytes.as_ref()))
}

fn main() {
    let mut failures = 0;
    for cipher in [Cipher::Aes256Gcm, Cipher::XChaCha20Poly1305] {
        let (alive, after) = held_while_alive_and_after(cipher);
        // Seen while alive (AES: the schedule starts with the key; XChaCha:
        // the key in the boxed content key), gone after the drop.
        let ok = alive && !after;
        println!(
            "test {cipher:?}: key in the heap while alive: {alive}, after drop: {after} ... {}",
            if ok { "ok" } else { "FAILED" }
        );
        failures += usize::from(!ok);
    }
    if failures > 0 {
        std::process::exit(1);
    }
}
