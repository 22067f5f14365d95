//! The digest parser and the chain walk of `audit verify`. Input:
//! `mode ‖ ledger state ‖ 0x00 ‖ digest JSON`: the state is what the ledger
//! holds, the JSON becomes one digest file (gzipped unless mode bit 1 is set),
//! signed with the trail's key when mode bit 0 is set so that the walk goes on
//! past the signature check to the log files the digest lists. `verify` must
//! report or fail with an error, never panic.
#![no_main]

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::sync::LazyLock;

use ed25519_dalek::{Signer, SigningKey};
use flate2::write::GzEncoder;
use flate2::Compression;
use kmsfs::audit::{verify, DigestSigner, TrailLedger, VerifyRange};
use kmsfs::crypto::DigestSigningSeed;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sha2::{Digest, Sha256};

const SEED: [u8; 32] = [11; 32];
const DIGEST_DIR: &str = "audit-digest/2026/03/01";
const DIGEST_OBJECT: &str =
    "audit-digest/2026/03/01/v_kmsfs-digest_h_20260301T120000Z_AAAAAAAAAAAAAAAA.json.gz";

static ROOT: LazyLock<(tempfile::TempDir, PathBuf)> = LazyLock::new(|| {
    let root = tempfile::tempdir().expect("a temporary directory");
    let path = root.path().to_path_buf();
    fs::create_dir_all(path.join("audit/2026/03/01")).expect("the log tree");
    // One delivered log file for digests to name.
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(b"{\"Records\":[]}").expect("gzip");
    let log = path.join("audit/2026/03/01/v_kmsfs_h_20260301T1150Z_BBBBBBBBBBBBBBBB.json.gz");
    fs::write(log, gz.finish().expect("gzip")).expect("a log file");
    (root, path)
});

struct Ledger(Option<String>);

impl TrailLedger for Ledger {
    fn load(&self) -> Result<Option<String>, String> {
        Ok(self.0.clone())
    }

    fn store(&self, _: &str) -> Result<(), String> {
        Err("verify never stores".to_string())
    }
}

/// The signature `audit verify` expects on `json` (docs/AUDIT.md, "Digest files").
fn signature(json: &[u8]) -> Option<String> {
    let doc: Value = serde_json::from_slice(json).ok()?;
    let message = format!(
        "{}\n{DIGEST_OBJECT}\n{}\n{}",
        doc.get("digestEndTime")?.as_str()?,
        hex::encode(Sha256::digest(json)),
        doc.get("previousDigestSignature")
            .and_then(Value::as_str)
            .unwrap_or("null")
    );
    Some(hex::encode(
        SigningKey::from_bytes(&SEED)
            .sign(message.as_bytes())
            .to_bytes(),
    ))
}

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else {
        return;
    };
    let (state, json) = match rest.iter().position(|&b| b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let (_, root) = &*ROOT;
    let digest_dir = root.join(DIGEST_DIR);
    let _ = fs::remove_dir_all(root.join("audit-digest"));
    fs::create_dir_all(&digest_dir).expect("the digest tree");
    let path = root.join(DIGEST_OBJECT);
    let stored = if mode & 2 == 0 {
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(json).expect("gzip");
        gz.finish().expect("gzip")
    } else {
        json.to_vec()
    };
    fs::write(&path, stored).expect("the digest");
    if mode & 1 != 0 {
        if let Some(signature) = signature(json) {
            fs::write(path.with_extension("gz.sig"), signature).expect("the signature");
        }
    }
    let public_key =
        DigestSigner::new(&DigestSigningSeed::from_slice(&SEED).expect("a seed")).public_key();
    let ledger = Ledger(Some(String::from_utf8_lossy(state).into_owned()));
    if let Ok(report) = verify(
        &root.join("audit"),
        &public_key,
        &ledger,
        VerifyRange::default(),
    ) {
        let _ = report.to_text();
        let _ = report.to_json();
    }
});
