//! The encrypted-name decoder under a fixed name key. Input: `mode ‖ rest`.
//! Mode 0: `rest` is a backing entry name (and the content of its sidecar, if
//! it is a long entry) to decrypt; mode 1: `rest` is sealed as a name would
//! be, but without padding or checks, so the decoder's unpadding and name
//! checks see any plaintext; mode 2: `rest` is a backing symlink target.
#![no_main]

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use base64::Engine;
use kmsfs::crypto::{NameKey, SecretBytes};
use kmsfs::volume::names::{
    decrypt_link_target, decrypt_name, encrypt_link_target, encrypt_name, is_internal_name, DirId,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else {
        return;
    };
    let key = NameKey::from_secret(&SecretBytes::new(vec![5; NameKey::LEN])).expect("64 bytes");
    let dir = DirId([6; 16]);
    let _ = is_internal_name(OsStr::from_bytes(rest));
    match mode % 3 {
        0 => {
            let text = String::from_utf8_lossy(rest);
            let (entry, sidecar) = text.split_once('\n').unwrap_or((&text, ""));
            let sidecar = sidecar.to_string();
            if let Ok(plain) = decrypt_name(&key, &dir, entry, |_| Ok(sidecar)) {
                // Whatever decrypts is a name that encrypts back to the same entry.
                let again = encrypt_name(&key, &dir, &plain).expect("a decrypted name encrypts");
                assert_eq!(again.entry(), entry);
            }
        }
        1 => {
            let sealed = key.seal(&[&dir.0], rest).expect("seal");
            let entry = BASE64URL.encode(sealed);
            let failing = |_: &str| Err(io::Error::other("no sidecar"));
            if let Ok(plain) = decrypt_name(&key, &dir, &entry, failing) {
                assert!(rest.starts_with(plain.as_bytes()));
            }
        }
        _ => {
            let text = String::from_utf8_lossy(rest);
            if let Ok(target) = decrypt_link_target(&key, &text) {
                let again =
                    encrypt_link_target(&key, &target).expect("a decrypted target encrypts");
                assert_eq!(
                    decrypt_link_target(&key, &again).expect("round trip"),
                    target
                );
            }
        }
    }
});
