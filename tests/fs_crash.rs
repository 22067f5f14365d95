//! kill -9 of the daemon in the middle of a write loop, then a remount: each file
//! reads back, chunk by chunk, as some complete state that chunk had (or was
//! about to have), or fails with EIO; never other bytes. fsync'd data is there.

mod common;

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::mount::{pattern, wait_for_exit, MountedVolume};

const CHUNK: u64 = 4096;
const FILES: usize = 4;

fn fingerprint(bytes: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

/// Every state each chunk of each file has been in, or was about to be put in:
/// the model is updated before each operation is issued, so the states of an
/// operation cut short by the kill are allowed too.
#[derive(Default)]
struct Allowed {
    chunks: HashMap<(usize, u64), HashSet<u64>>,
}

impl Allowed {
    fn record(&mut self, file: usize, model: &[u8]) {
        for (chunk_no, chunk) in model.chunks(CHUNK as usize).enumerate() {
            self.chunks
                .entry((file, chunk_no as u64))
                .or_default()
                .insert(fingerprint(chunk));
        }
    }

    fn allows(&self, file: usize, chunk_no: u64, bytes: &[u8]) -> bool {
        self.chunks
            .get(&(file, chunk_no))
            .is_some_and(|states| states.contains(&fingerprint(bytes)))
    }
}

enum Step {
    Write { offset: u64, data: Vec<u8> },
    Truncate { len: u64 },
}

/// Writes, overwrites and truncates at random until an operation fails (the
/// daemon died); returns how many operations completed.
fn write_loop(paths: &[PathBuf], allowed: &Mutex<Allowed>, seed: u64) -> u64 {
    let handles: Vec<File> = paths
        .iter()
        .map(|p| OpenOptions::new().read(true).write(true).open(p).unwrap())
        .collect();
    let mut models: Vec<Vec<u8>> = vec![Vec::new(); FILES];
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for done in 0.. {
        let file = (next() % FILES as u64) as usize;
        let step = if next() % 8 == 0 {
            Step::Truncate {
                len: next() % (12 * CHUNK),
            }
        } else {
            let len = (next() % (3 * CHUNK)) as usize + 1;
            Step::Write {
                offset: next() % (10 * CHUNK),
                data: pattern(len, seed ^ done),
            }
        };
        let model = &mut models[file];
        match &step {
            Step::Truncate { len } => model.resize(*len as usize, 0),
            Step::Write { offset, data } => {
                let (start, end) = (*offset as usize, *offset as usize + data.len());
                if model.len() < end {
                    model.resize(end, 0);
                }
                model[start..end].copy_from_slice(data);
            }
        }
        allowed.lock().unwrap().record(file, model);
        let result = match &step {
            Step::Truncate { len } => handles[file].set_len(*len),
            Step::Write { offset, data } => handles[file].write_all_at(data, *offset),
        };
        if result.is_err() {
            return done;
        }
    }
    unreachable!()
}

#[test]
fn a_killed_daemon_leaves_only_whole_earlier_chunk_states() {
    for (round, delay_ms) in [40u64, 150, 400].into_iter().enumerate() {
        let Some(mut vol) = MountedVolume::with(
            "a_killed_daemon_leaves_only_whole_earlier_chunk_states",
            &["--chunk-size", &CHUNK.to_string()],
        ) else {
            return;
        };
        // Data made durable before the crash.
        let synced_bytes = pattern(5 * CHUNK as usize + 11, 999);
        let synced = vol.path("synced");
        {
            let file = File::create(&synced).unwrap();
            file.write_all_at(&synced_bytes, 0).unwrap();
            file.sync_all().unwrap();
        }
        let paths: Vec<PathBuf> = (0..FILES).map(|f| vol.path(&format!("f{f}"))).collect();
        for path in &paths {
            File::create(path).unwrap();
        }

        let allowed = Arc::new(Mutex::new(Allowed::default()));
        let writer = {
            let (paths, allowed) = (paths.clone(), allowed.clone());
            std::thread::spawn(move || write_loop(&paths, &allowed, 0xC0FFEE + round as u64))
        };
        std::thread::sleep(Duration::from_millis(delay_ms));
        let daemon = vol.daemon_pid().unwrap();
        let killed = Command::new("kill")
            .arg("-9")
            .arg(daemon.to_string())
            .status()
            .unwrap();
        assert!(killed.success());
        let operations = writer.join().unwrap();
        assert!(operations > 0, "round {round}: the loop never wrote");
        wait_for_exit(daemon);

        // Clean up the dead mount as an administrator would, and remount.
        let status = Command::new("umount")
            .arg("-l")
            .arg(&vol.mnt)
            .status()
            .unwrap();
        assert!(status.success());
        vol.forget_mount();
        vol.mount();

        assert_eq!(
            std::fs::read(&synced).unwrap(),
            synced_bytes,
            "round {round}: fsync'd data"
        );
        let allowed = allowed.lock().unwrap();
        let (mut whole, mut refused) = (0, 0);
        for (f, path) in paths.iter().enumerate() {
            let file = File::open(path).unwrap();
            let len = file.metadata().unwrap().len();
            for chunk_no in 0..len.div_ceil(CHUNK) {
                let want = CHUNK.min(len - chunk_no * CHUNK) as usize;
                let mut buf = vec![0u8; want];
                match file.read_exact_at(&mut buf, chunk_no * CHUNK) {
                    Ok(()) => {
                        assert!(
                            allowed.allows(f, chunk_no, &buf),
                            "round {round}: f{f} chunk {chunk_no} ({want} bytes) is no state it ever had"
                        );
                        whole += 1;
                    }
                    Err(e) => {
                        assert_eq!(
                            e.raw_os_error(),
                            Some(libc::EIO),
                            "round {round}: f{f} chunk {chunk_no}: {e}"
                        );
                        refused += 1;
                    }
                }
            }
        }
        eprintln!(
            "round {round}: {operations} operations before the kill; {whole} chunks read back whole, {refused} refused"
        );
        assert!(whole > 0, "round {round}: nothing survived at all");
        // The check can fail: bytes the loop never wrote are no allowed state.
        assert!(!allowed.allows(0, 0, &pattern(CHUNK as usize, 0xBAD)));
    }
}
