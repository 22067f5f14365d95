//! kill -9 of the daemon in the middle of a write loop, then a remount: each file
//! reads back, chunk by chunk, as some complete state that chunk had (or was
//! about to have), or fails with EIO; never other bytes. fsync'd data is there.

mod common;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::crash::{kill_daemon, read_chunks, remount_after_kill, ChunkStates, CHUNK};
use common::mount::{pattern, MountedVolume};

const FILES: usize = 4;

/// Every state each chunk of each file has been in, or was about to be put in.
type Allowed = Vec<ChunkStates>;

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
        allowed.lock().unwrap()[file].record(model);
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

        let allowed = Arc::new(Mutex::new(
            (0..FILES)
                .map(|_| ChunkStates::default())
                .collect::<Allowed>(),
        ));
        let writer = {
            let (paths, allowed) = (paths.clone(), allowed.clone());
            std::thread::spawn(move || write_loop(&paths, &allowed, 0xC0FFEE + round as u64))
        };
        std::thread::sleep(Duration::from_millis(delay_ms));
        kill_daemon(&vol);
        let operations = writer.join().unwrap();
        assert!(operations > 0, "round {round}: the loop never wrote");
        remount_after_kill(&mut vol);

        assert_eq!(
            std::fs::read(&synced).unwrap(),
            synced_bytes,
            "round {round}: fsync'd data"
        );
        let allowed = allowed.lock().unwrap();
        let (mut whole, mut refused) = (0, 0);
        for (f, path) in paths.iter().enumerate() {
            let chunks = read_chunks(&File::open(path).unwrap())
                .unwrap_or_else(|e| panic!("round {round}: f{f}: {e}"));
            for (chunk_no, chunk) in chunks.iter().enumerate() {
                let Some(bytes) = chunk else {
                    refused += 1;
                    continue;
                };
                assert!(
                    allowed[f].allows(chunk_no as u64, bytes, 0),
                    "round {round}: f{f} chunk {chunk_no} ({} bytes) is no state it ever had",
                    bytes.len()
                );
                whole += 1;
            }
        }
        eprintln!(
            "round {round}: {operations} operations before the kill; {whole} chunks read back whole, {refused} refused"
        );
        assert!(whole > 0, "round {round}: nothing survived at all");
        // The check can fail: bytes the loop never wrote are no allowed state.
        assert!(!allowed[0].allows(0, &pattern(CHUNK as usize, 0xBAD), 0));
    }
}
