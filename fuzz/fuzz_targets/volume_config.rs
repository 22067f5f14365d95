//! The volume config parser: any text is refused with an error or parses to a
//! config that encodes and parses back to itself.
#![no_main]

use kmsfs::format::volume_config::VolumeConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = VolumeConfig::parse(text) else {
        return;
    };
    let again = VolumeConfig::parse(&config.encode()).expect("an encoded config parses");
    assert_eq!(again.encode(), config.encode());
    assert_eq!(again.config_binding(), config.config_binding());
    let _ = config.name_key_context();
});
