//! The ciphertext object header parser: any bytes either fail with an error
//! or parse to a header that encodes back to the bytes it was read from.
#![no_main]

use kmsfs::format::object::{FixedHeader, ObjectHeader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fixed = FixedHeader::read(data);
    match ObjectHeader::read(data) {
        Ok((header, len)) => {
            assert_eq!(len, header.encoded_len());
            assert_eq!(header.encode(), data[..len]);
            let fixed = fixed.expect("a whole header has a valid fixed part");
            assert_eq!(fixed.header_len(), len);
            assert_eq!(fixed.file_id, header.file_id);
        }
        Err(_) => {
            if let Ok(fixed) = fixed {
                // The fixed part parsed: only the wrapped DEK can be wrong.
                assert!(fixed.header_len() > 0);
            }
        }
    }
});
