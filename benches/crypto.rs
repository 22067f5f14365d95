//! The crypto core's throughput: sealing and opening one chunk frame with
//! each content cipher at the chunk sizes a volume may use, and whole-object
//! writes and reads through `object::Object` on a real temporary file (page
//! cache, no fsync). `cargo bench --bench crypto`; `bench/crypto.sh` prints
//! `openssl speed` beside it as the ceiling.
//!
//! Time is the benchmarking thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, user
//! and kernel), like `openssl speed`'s
//! default, so that a machine shared with other jobs slows neither side of the
//! ratio: throughputs are MiB per CPU-second.

use std::fs::{File, OpenOptions};
use std::hint::black_box;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tempfile::TempDir;

use kmsfs::crypto::{Cipher, ContentKey, DataKey, TAG_LEN};
use kmsfs::format::blob::CiphertextBlob;
use kmsfs::format::object::{FileId, ObjectHeader};
use kmsfs::model::KeyId;
use kmsfs::object::Object;

const KIB: usize = 1024;
const CHUNK_SIZES: [usize; 4] = [4 * KIB, 32 * KIB, 64 * KIB, 1024 * KIB];
/// Plaintext moved per iteration of the whole-object benches.
const OBJECT_BYTES: usize = 16 * 1024 * KIB;
/// The size of one write(2) or read(2) the kernel hands a FUSE daemon at most.
const REQUEST_BYTES: usize = 1024 * KIB;

/// The calling thread's CPU time so far, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// Criterion's measurement: the thread's CPU time, in nanoseconds.
struct CpuTime;

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns() - start
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuTimeFormatter
    }
}

/// CPU nanoseconds as such, throughputs always in MiB per CPU-second.
struct CpuTimeFormatter;

impl ValueFormatter for CpuTimeFormatter {
    fn scale_values(&self, _typical: f64, _values: &mut [f64]) -> &'static str {
        "ns (CPU)"
    }
    fn scale_throughputs(
        &self,
        _typical: f64,
        per_iter: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let bytes = match *per_iter {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => n as f64,
            _ => unreachable!("BUG: the crypto benches measure bytes"),
        };
        for ns in values {
            *ns = bytes * 1e9 / *ns / (1024.0 * 1024.0);
        }
        "MiB/s"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn content_key(cipher: Cipher) -> ContentKey {
    ContentKey::new(&DataKey::generate().expect("random data key"), cipher)
}

fn seal_and_open(c: &mut Criterion<CpuTime>) {
    for cipher in Cipher::ALL {
        let key = content_key(cipher);
        let aad = [7u8; 34];
        let mut group = c.benchmark_group(format!("chunk/{}", cipher.name()));
        for size in CHUNK_SIZES {
            let frame_len = cipher.nonce_len() + size + TAG_LEN;
            group.throughput(Throughput::Bytes(size as u64));
            let mut frame = vec![0x5a; frame_len];
            group.bench_with_input(BenchmarkId::new("seal", size), &size, |b, _| {
                b.iter(|| key.seal_frame(black_box(&aad), &mut frame).expect("seal"))
            });
            let mut sealed = vec![0x5a; frame_len];
            key.seal_frame(&aad, &mut sealed).expect("seal");
            // Opening works in place: each iteration opens a fresh copy, and
            // the copy is measured too (a memcpy, small beside the AEAD).
            let mut scratch = sealed.clone();
            group.bench_with_input(BenchmarkId::new("open", size), &size, |b, _| {
                b.iter(|| {
                    scratch.copy_from_slice(&sealed);
                    key.open_frame(black_box(&aad), &mut scratch)
                        .expect("open")
                        .len()
                })
            });
        }
        group.finish();
    }
}

/// An empty object file in its own temporary directory.
struct BenchObject {
    _dir: TempDir,
    file: File,
    header: ObjectHeader,
    key: ContentKey,
}

impl BenchObject {
    fn new(cipher: Cipher, chunk_size: u32) -> BenchObject {
        let dir = tempfile::tempdir().expect("temporary directory");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.path().join("object"))
            .expect("object file");
        let header = ObjectHeader {
            cipher,
            chunk_size,
            file_id: FileId::random().expect("file id"),
            // Structurally valid; the object layer never opens it.
            wrapped_dek: CiphertextBlob {
                cipher: Cipher::Aes256Gcm,
                key_id: KeyId::new_random(),
                material_version: 1,
                nonce: vec![3; 12],
                sealed: vec![4; 48],
            }
            .encode(),
        };
        let key = content_key(cipher);
        Object::create(&file, &header, &key).expect("create object");
        BenchObject {
            _dir: dir,
            file,
            header,
            key,
        }
    }

    fn object(&self) -> Object<'_> {
        Object::new(&self.file, &self.header, &self.key)
    }
}

fn whole_object(c: &mut Criterion<CpuTime>) {
    let data = vec![0xa5u8; REQUEST_BYTES];
    for cipher in Cipher::ALL {
        let mut group = c.benchmark_group(format!("object/{}", cipher.name()));
        group.throughput(Throughput::Bytes(OBJECT_BYTES as u64));
        group.sample_size(10);
        for chunk_size in [32 * KIB, 64 * KIB] {
            let target = BenchObject::new(cipher, chunk_size as u32);
            group.bench_with_input(
                BenchmarkId::new("write", chunk_size),
                &chunk_size,
                |b, _| {
                    b.iter(|| {
                        let object = target.object();
                        object.set_len(0).expect("truncate");
                        for offset in (0..OBJECT_BYTES).step_by(REQUEST_BYTES) {
                            object.write_at(offset as u64, &data).expect("write");
                        }
                    })
                },
            );
            let mut buf = vec![0u8; REQUEST_BYTES];
            group.bench_with_input(BenchmarkId::new("read", chunk_size), &chunk_size, |b, _| {
                b.iter(|| {
                    let object = target.object();
                    for offset in (0..OBJECT_BYTES).step_by(REQUEST_BYTES) {
                        let n = object.read_at(offset as u64, &mut buf).expect("read");
                        assert_eq!(n, REQUEST_BYTES, "BUG: short read inside the object");
                    }
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = seal_and_open, whole_object
}
criterion_main!(benches);
