//! A seeded model test: thousands of random writes, reads and truncates at random
//! offsets on a few files of a real mount, compared with an in-memory copy after
//! every step, with unmounts and remounts in between.

mod common;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;

use common::mount::MountedVolume;

/// xorshift64*: deterministic, so a failure names its seed and step.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

#[derive(Debug)]
enum Op {
    Write {
        file: usize,
        offset: u64,
        len: usize,
    },
    Read {
        file: usize,
        offset: u64,
        len: usize,
    },
    Truncate {
        file: usize,
        len: u64,
    },
    Fsync {
        file: usize,
    },
    Reopen {
        file: usize,
    },
}

const FILES: usize = 3;

fn random_op(rng: &mut Rng, chunk: u64, sizes: &[u64]) -> Op {
    let file = rng.below(FILES as u64) as usize;
    // Offsets cluster around chunk boundaries, sometimes far past the end (holes).
    let offset = |rng: &mut Rng| match rng.below(4) {
        0 => rng.below(8 * chunk),
        1 => (rng.below(8) * chunk).saturating_sub(rng.below(3)) + rng.below(3),
        2 => sizes[file].saturating_sub(rng.below(chunk)),
        _ => sizes[file] + rng.below(3 * chunk),
    };
    let len = |rng: &mut Rng| match rng.below(3) {
        0 => rng.below(16) as usize,
        1 => rng.below(chunk) as usize,
        _ => rng.below(3 * chunk) as usize,
    };
    match rng.below(20) {
        0..=8 => Op::Write {
            file,
            offset: offset(rng),
            len: len(rng),
        },
        9..=15 => Op::Read {
            file,
            offset: offset(rng),
            len: len(rng),
        },
        16 | 17 => Op::Truncate {
            file,
            len: offset(rng),
        },
        18 => Op::Fsync { file },
        _ => Op::Reopen { file },
    }
}

fn open(vol: &MountedVolume, file: usize) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(vol.path(&format!("model-{file}")))
        .unwrap()
}

fn run_model(test: &str, create_flags: &[&str], chunk: u64, seed: u64, steps: usize) {
    let Some(mut vol) = MountedVolume::with(test, create_flags) else {
        return;
    };
    let mut rng = Rng(seed);
    let mut model: Vec<Vec<u8>> = vec![Vec::new(); FILES];
    let mut handles: Vec<File> = (0..FILES).map(|f| open(&vol, f)).collect();
    let remount_every = steps / 3;

    for step in 0..steps {
        if step > 0 && step % remount_every == 0 {
            drop(std::mem::take(&mut handles));
            vol.remount();
            handles = (0..FILES).map(|f| open(&vol, f)).collect();
            for (f, expected) in model.iter().enumerate() {
                let got = std::fs::read(vol.path(&format!("model-{f}"))).unwrap();
                assert!(
                    got == *expected,
                    "seed {seed} step {step}: model-{f} after remount"
                );
            }
        }
        let sizes: Vec<u64> = model.iter().map(|m| m.len() as u64).collect();
        let op = random_op(&mut rng, chunk, &sizes);
        let context = || format!("seed {seed} step {step}: {op:?}");
        match op {
            Op::Write { file, offset, len } => {
                let data = rng.bytes(len);
                handles[file]
                    .write_all_at(&data, offset)
                    .unwrap_or_else(|e| panic!("{}: {e}", context()));
                let end = offset as usize + len;
                let m = &mut model[file];
                if len > 0 {
                    if m.len() < end {
                        m.resize(end, 0);
                    }
                    m[offset as usize..end].copy_from_slice(&data);
                }
            }
            Op::Read { file, offset, len } => {
                let mut buf = vec![0u8; len];
                let mut got = 0;
                while got < len {
                    let n = handles[file]
                        .read_at(&mut buf[got..], offset + got as u64)
                        .unwrap_or_else(|e| panic!("{}: {e}", context()));
                    if n == 0 {
                        break;
                    }
                    got += n;
                }
                let m = &model[file];
                let start = (offset as usize).min(m.len());
                let end = (offset as usize + len).min(m.len());
                assert_eq!(got, end - start, "{}: read length", context());
                assert!(buf[..got] == m[start..end], "{}: read bytes", context());
            }
            Op::Truncate { file, len } => {
                handles[file]
                    .set_len(len)
                    .unwrap_or_else(|e| panic!("{}: {e}", context()));
                model[file].resize(len as usize, 0);
            }
            Op::Fsync { file } => handles[file]
                .sync_all()
                .unwrap_or_else(|e| panic!("{}: {e}", context())),
            Op::Reopen { file } => handles[file] = open(&vol, file),
        }
        let size = handles[op_file(&op)].metadata().unwrap().len();
        assert_eq!(
            size,
            model[op_file(&op)].len() as u64,
            "{}: size",
            context()
        );
    }
    drop(handles);
    vol.remount();
    for (f, expected) in model.iter().enumerate() {
        let got = std::fs::read(vol.path(&format!("model-{f}"))).unwrap();
        assert!(got == *expected, "seed {seed}: model-{f} at the end");
    }
}

fn op_file(op: &Op) -> usize {
    match op {
        Op::Write { file, .. }
        | Op::Read { file, .. }
        | Op::Truncate { file, .. }
        | Op::Fsync { file }
        | Op::Reopen { file } => *file,
    }
}

#[test]
fn random_operations_match_an_in_memory_model_small_chunks() {
    run_model(
        "random_operations_match_an_in_memory_model_small_chunks",
        &["--cipher", "xchacha20-poly1305", "--chunk-size", "4096"],
        4096,
        0x5EED_0001,
        3000,
    );
}

#[test]
fn random_operations_match_an_in_memory_model_default_chunks() {
    run_model(
        "random_operations_match_an_in_memory_model_default_chunks",
        &["--cipher", "aes-256-gcm"],
        32768,
        0x5EED_0002,
        2000,
    );
}
