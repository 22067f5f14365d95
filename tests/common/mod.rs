//! Shared helpers for tests that drive the real `kmsfs` binary.
#![allow(dead_code)] // each test crate uses its own subset

pub mod mount;

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

pub fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}
