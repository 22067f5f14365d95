//! What the crash tests share: the model of the states each chunk of a file
//! has been in, a seeded random source, and the kill -9 of a mount's daemon
//! followed by the administrator's cleanup and a remount.
//!
//! "A complete earlier state" is judged chunk by chunk (docs/FORMAT.md §5.5):
//! every chunk a file reads back must be, byte for byte and at the length
//! read, a state that chunk was in after some operation, or about to be in
//! (the model is updated before each operation is issued, so the states of
//! an operation cut short by the kill count too); a chunk may instead fail
//! authentication (EIO). Never other bytes.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::FileExt;
use std::process::Command;

use super::mount::{wait_for_exit, MountedVolume};

/// The chunk size the crash tests create their volumes with.
pub const CHUNK: u64 = 4096;

fn fingerprint(bytes: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

/// Every state each chunk of one file has been in, with the last step at
/// which it was: a state seen at a step at or after `since` was current then.
#[derive(Default)]
pub struct ChunkStates {
    chunks: HashMap<u64, HashMap<u64, u64>>,
    step: u64,
}

impl ChunkStates {
    /// Records `model`, the whole file as it is (or is about to be) now.
    pub fn record(&mut self, model: &[u8]) {
        self.step += 1;
        for (chunk_no, chunk) in model.chunks(CHUNK as usize).enumerate() {
            self.chunks
                .entry(chunk_no as u64)
                .or_default()
                .insert(fingerprint(chunk), self.step);
        }
    }

    /// The step of the last state recorded.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Whether chunk `chunk_no` was ever `bytes` at step `since` or later.
    pub fn allows(&self, chunk_no: u64, bytes: &[u8], since: u64) -> bool {
        self.chunks
            .get(&chunk_no)
            .and_then(|states| states.get(&fingerprint(bytes)))
            .is_some_and(|last| *last >= since)
    }
}

/// One chunk read back after a crash: its bytes, or `None` for EIO.
pub type ReadChunk = Option<Vec<u8>>;

/// Reads `file` chunk by chunk; an error other than EIO is returned.
pub fn read_chunks(file: &File) -> std::io::Result<Vec<ReadChunk>> {
    let len = file.metadata()?.len();
    let mut chunks = Vec::new();
    for chunk_no in 0..len.div_ceil(CHUNK) {
        let want = CHUNK.min(len - chunk_no * CHUNK) as usize;
        let mut buf = vec![0u8; want];
        match file.read_exact_at(&mut buf, chunk_no * CHUNK) {
            Ok(()) => chunks.push(Some(buf)),
            Err(e) if e.raw_os_error() == Some(libc::EIO) => chunks.push(None),
            Err(e) => return Err(e),
        }
    }
    Ok(chunks)
}

/// xorshift64: the same seed gives the same run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// kill -9 of the daemon serving `vol`; returns once it is gone.
pub fn kill_daemon(vol: &MountedVolume) {
    let daemon = vol.daemon_pid().expect("the daemon runs");
    let killed = Command::new("kill")
        .arg("-9")
        .arg(daemon.to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    wait_for_exit(daemon);
}

/// After [`kill_daemon`]: clears the dead mount as an administrator would
/// (umount -l) and mounts the volume again.
pub fn remount_after_kill(vol: &mut MountedVolume) {
    let status = Command::new("umount")
        .arg("-l")
        .arg(&vol.mnt)
        .status()
        .unwrap();
    assert!(status.success());
    vol.forget_mount();
    vol.mount();
}
