//! The KMS ciphertext blob parser, and opening what it parses under a fixed
//! key: any bytes fail cleanly or round-trip; opening never panics.
#![no_main]

use kmsfs::crypto::{open, KeyMaterial};
use kmsfs::format::blob::CiphertextBlob;
use kmsfs::model::EncryptionContext;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(blob) = CiphertextBlob::read(data) else {
        return;
    };
    assert_eq!(blob.encode(), data);
    let key = KeyMaterial::from_slice(&[7; 32]).expect("32 bytes make a key");
    let mut aad = CiphertextBlob::header(blob.cipher, &blob.key_id, blob.material_version);
    aad.extend_from_slice(&EncryptionContext::new().canonical_bytes());
    // Random bytes never authenticate; the point is that trying is safe.
    let _ = open(&key, blob.cipher, &blob.nonce, &aad, &blob.sealed);
});
