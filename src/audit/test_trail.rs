//! A trail in a temporary directory for the delivery and verification tests:
//! an in-memory ledger, a fresh signing key, records appended for real.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use flate2::read::MultiGzDecoder;

use super::state::memory::MemoryLedger;
use super::state::TrailState;
use super::test_support::decrypt_record;
use super::{
    verify, AuditLog, DigestSigner, Trail, TrailConfig, TrailIdentity, TrailReport, VerifyRange,
    VerifyReport,
};
use crate::crypto::DigestSigningSeed;

pub(super) struct TestTrail {
    pub(super) tmp: tempfile::TempDir,
    pub(super) dir: PathBuf,
    pub(super) ledger: MemoryLedger,
    pub(super) signer: DigestSigner,
    pub(super) config: TrailConfig,
    pub(super) log: AuditLog,
    pub(super) appended: usize,
}

impl TestTrail {
    pub(super) fn new() -> TestTrail {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("audit");
        let log = AuditLog::open(&dir).expect("open");
        TestTrail {
            dir,
            tmp,
            ledger: MemoryLedger::default(),
            signer: DigestSigner::new(&DigestSigningSeed::generate().expect("random")),
            config: TrailConfig::default(),
            log,
            appended: 0,
        }
    }

    pub(super) fn trail(&self) -> Trail<'_> {
        Trail::new(
            &self.dir,
            TrailIdentity::new("vault-1", "host"),
            self.config.clone(),
            &self.signer,
            &self.ledger,
        )
    }

    pub(super) fn append(&mut self, count: usize) {
        for _ in 0..count {
            self.log
                .append(&decrypt_record(self.appended))
                .expect("append");
            self.appended += 1;
        }
    }

    pub(super) fn flush(&self, digest: bool) -> TrailReport {
        self.trail().flush(Utc::now(), digest).expect("flush")
    }

    pub(super) fn state(&self) -> TrailState {
        TrailState::load(&self.ledger)
            .expect("load")
            .expect("a state")
    }

    pub(super) fn path(&self, object: &str) -> PathBuf {
        self.tmp.path().join(object)
    }

    pub(super) fn verify(&self) -> VerifyReport {
        self.verify_range(VerifyRange::default())
    }

    pub(super) fn verify_range(&self, range: VerifyRange) -> VerifyReport {
        verify(&self.dir, &self.signer.public_key(), &self.ledger, range).expect("verify")
    }

    /// Three digests, each over one or two log files, and one delivery after them.
    pub(super) fn with_history() -> (TestTrail, Vec<TrailReport>) {
        let mut trail = TestTrail::new();
        let mut reports = Vec::new();
        for round in 0..3 {
            trail.append(3);
            if round == 1 {
                reports.push(trail.flush(false));
                trail.append(2);
            }
            reports.push(trail.flush(true));
        }
        trail.append(4);
        reports.push(trail.flush(false));
        (trail, reports)
    }
}

/// The uncompressed content of a gzip file.
pub(super) fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    MultiGzDecoder::new(fs::File::open(path).expect("open"))
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

/// Replaces a gzip file's content, compressed again.
pub(super) fn regzip(path: &Path, content: &[u8]) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(content).expect("gzip");
    fs::write(path, gz.finish().expect("gzip")).expect("write");
}

pub(super) fn minutes_later(minutes: i64) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::minutes(minutes)
}
