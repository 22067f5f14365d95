//! Shared helpers for tests that drive the real `kmsfs` binary.
#![allow(dead_code)] // each test crate uses its own subset

pub mod crash;
pub mod mount;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A vault in a temporary directory, driven through the real binary.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        Sandbox { dir }
    }

    /// A sandbox with an initialized key-file vault.
    pub fn initialized() -> Sandbox {
        let sandbox = Sandbox::new();
        sandbox.ok(&["init"]);
        sandbox
    }

    pub fn vault(&self) -> PathBuf {
        self.dir.path().join("vault/vault.db")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kmsfs"));
        cmd.env("KMSFS_VAULT", self.vault())
            .env_remove("KMSFS_PASSPHRASE_FILE")
            .env_remove("RUST_LOG");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kmsfs {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs with `--output json` and expects success.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        let stdout = self.ok(&all);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("kmsfs {args:?}: not JSON ({e}): {stdout}"))
    }

    /// Runs, expects failure with `code`, and returns the one stderr line.
    pub fn fails(&self, args: &[&str], code: i32, exception: &str) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(code), "kmsfs {args:?}: {stderr}");
        assert!(
            stderr.contains(exception),
            "kmsfs {args:?}: expected {exception}, got: {stderr}"
        );
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "one error line expected: {stderr}"
        );
        assert!(stderr.starts_with("kmsfs: "), "{stderr}");
        stderr
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    pub fn audit_log(&self) -> PathBuf {
        self.dir.path().join("vault/audit/active.jsonl")
    }

    /// The delivered files under `vault/<tree>` (`audit` or `audit-digest`), sorted.
    pub fn rolled_files(&self, tree: &str) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![self.dir.path().join("vault").join(tree)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.to_string_lossy().ends_with(".json.gz") {
                    found.push(path);
                }
            }
        }
        found.sort();
        found
    }

    /// Every record of the active audit log, oldest first, each line parsed alone.
    pub fn records(&self) -> Vec<Value> {
        read_records(&self.audit_log())
    }
}

pub fn read_records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("bad record line ({e}): {line}"))
        })
        .collect()
}

/// Replaces the first `from` in the uncompressed text of the gzip file at
/// `path` with `to` (a one-byte edit of one record when they differ in one
/// byte), and recompresses it in place.
pub fn edit_gzip(path: &Path, from: &str, to: &str) {
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()),
        &mut text,
    )
    .unwrap();
    let changed = text.replacen(from, to, 1);
    assert_ne!(changed, text, "{from} is not in {}", path.display());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, changed.as_bytes()).unwrap();
    std::fs::write(path, gz.finish().unwrap()).unwrap();
}

pub fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Every regular file under `dir` (a backing directory's objects and sidecars).
pub fn files_under(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = path.symlink_metadata().unwrap();
        if meta.is_dir() {
            out.extend(files_under(&path));
        } else if meta.is_file() {
            out.insert(path);
        }
    }
    out
}
