//! Load and stress on one real mount (issue 7, item 4): many threads and
//! several processes doing mixed operations, checked at the end; rename
//! storms across two directories (files back and forth, directories into
//! each other) under a watchdog that fails instead of hanging; the daemon's
//! memory with 1,000 files held open and many reading threads, against a
//! bound; and file handles, descriptors and data keys released after close,
//! counted with the daemon's SIGUSR1 status line (docs/OPERATIONS.md).
//!
//! Each load phase runs KMSFS_STRESS_SECS seconds (default a few; set it to
//! minutes for a soak run).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::crash::Rng;
use common::mount::{pattern, MountedVolume};
use sha2::{Digest, Sha256};

/// The seconds each load phase runs.
fn stress_secs(default: u64) -> Duration {
    let secs = std::env::var("KMSFS_STRESS_SECS")
        .ok()
        .map(|v| v.parse().expect("KMSFS_STRESS_SECS is a number of seconds"))
        .unwrap_or(default);
    Duration::from_secs(secs)
}

/// The daemon's counts, from its `kmsfs status:` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Status {
    handles: u64,
    dirs: u64,
    data_keys: u64,
    nodes: u64,
}

/// A daemon started with `mount --foreground`, its log read line by line.
struct Daemon {
    child: Child,
    log: Receiver<String>,
}

impl Daemon {
    fn start(vol: &mut MountedVolume) -> Daemon {
        let mut child = vol.mount_foreground();
        let stderr = child.stderr.take().unwrap();
        let (send, log) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Daemon { child, log }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGUSR1 and parses the status line it logs.
    fn status(&self) -> Status {
        while self.log.try_recv().is_ok() {}
        let sent = Command::new("kill")
            .args(["-USR1", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .log
                .recv_timeout(left)
                .expect("no status line within 10 s of SIGUSR1");
            if let Some((_, counts)) = line.split_once("kmsfs status: ") {
                return parse_status(counts);
            }
        }
    }

    /// The status once no handle is open and no data key held (release reaches
    /// the daemon after close returns).
    fn settled(&self) -> Status {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let status = self.status();
            // Releases arrive after close(2) returns and a status is not one
            // atomic snapshot: wait for the data keys to be dropped too.
            if (status.handles, status.dirs, status.data_keys) == (0, 0, 0)
                || Instant::now() > deadline
            {
                return status;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// A field of /proc/PID/status, in kB (VmRSS, VmHWM, VmLck) or a count (Threads).
    fn proc_status(&self, field: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/PID/status"))
    }

    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count()
    }

    /// Unmounts and reaps the daemon.
    fn stop(mut self, vol: &mut MountedVolume) {
        vol.unmount();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the daemon ended with {status}");
    }
}

fn parse_status(counts: &str) -> Status {
    let fields: HashMap<&str, u64> = counts
        .split_whitespace()
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((k, v.parse().ok()?))
        })
        .collect();
    let get = |k: &str| {
        *fields
            .get(k)
            .unwrap_or_else(|| panic!("no {k} in {counts}"))
    };
    Status {
        handles: get("handles"),
        dirs: get("dirs"),
        data_keys: get("data_keys"),
        nodes: get("nodes"),
    }
}

/// Raises this process's open file limit to its hard limit (1,000 files held open).
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    )
    .unwrap();
}

/// Runs `work` on `threads` threads; fails (after killing the daemon, which
/// frees every blocked thread) if they have not all returned by `deadline`.
fn with_watchdog(
    what: &str,
    daemon: &Daemon,
    deadline: Duration,
    work: Vec<Box<dyn FnOnce() + Send>>,
) {
    let (done, finished) = mpsc::channel();
    let count = work.len();
    let threads: Vec<_> = work
        .into_iter()
        .map(|job| {
            let done = done.clone();
            thread::spawn(move || {
                // Sent when the job returns or panics: a panic is not a hang.
                let _done = Finished(done);
                job();
            })
        })
        .collect();
    let start = Instant::now();
    for _ in 0..count {
        let left = deadline.saturating_sub(start.elapsed());
        if finished.recv_timeout(left).is_err() {
            let stuck = std::fs::read_dir(format!("/proc/{}/task", daemon.pid()))
                .map(|tasks| tasks.count())
                .unwrap_or(0);
            let _ = Command::new("kill")
                .args(["-9", &daemon.pid().to_string()])
                .status();
            panic!(
                "{what}: threads still blocked after {deadline:?} (a deadlock?); \
                 the daemon ({stuck} threads) was killed to free them"
            );
        }
    }
    for thread in threads {
        thread.join().expect("a worker thread panicked");
    }
}

/// Tells the watchdog that a worker ended, however it ended.
struct Finished(mpsc::Sender<()>);

impl Drop for Finished {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// One thread's own files, exactly modelled: every read must match.
fn file_worker(dir: PathBuf, seed: u64, until: Instant, shared_log: PathBuf, records: &AtomicU64) {
    std::fs::create_dir(&dir).unwrap();
    let mut rng = Rng::new(seed);
    let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut names = 0u64;
    let mut appended = 0u64;
    while Instant::now() < until {
        let pick = |rng: &mut Rng, model: &BTreeMap<String, Vec<u8>>| {
            let n = rng.below(model.len() as u64) as usize;
            model.keys().nth(n).cloned()
        };
        match rng.below(10) {
            0 | 1 => {
                names += 1;
                let name = format!("f{names}");
                let data = pattern(rng.below(70_000) as usize, rng.next());
                std::fs::write(dir.join(&name), &data).unwrap();
                model.insert(name, data);
            }
            2 | 3 => {
                let Some(name) = pick(&mut rng, &model) else {
                    continue;
                };
                let data = model.get_mut(&name).unwrap();
                let offset = rng.below(data.len() as u64 + 5000) as usize;
                let patch = pattern(1 + rng.below(9000) as usize, rng.next());
                let file = OpenOptions::new()
                    .write(true)
                    .open(dir.join(&name))
                    .unwrap();
                file.write_all_at(&patch, offset as u64).unwrap();
                if data.len() < offset + patch.len() {
                    data.resize(offset + patch.len(), 0);
                }
                data[offset..offset + patch.len()].copy_from_slice(&patch);
            }
            4 | 5 => {
                let Some(name) = pick(&mut rng, &model) else {
                    continue;
                };
                let read = std::fs::read(dir.join(&name)).unwrap();
                assert!(
                    read == model[&name],
                    "{}/{name} reads otherwise",
                    dir.display()
                );
            }
            6 => {
                let Some(name) = pick(&mut rng, &model) else {
                    continue;
                };
                names += 1;
                let to = format!("f{names}");
                std::fs::rename(dir.join(&name), dir.join(&to)).unwrap();
                let data = model.remove(&name).unwrap();
                model.insert(to, data);
            }
            7 => {
                let Some(name) = pick(&mut rng, &model) else {
                    continue;
                };
                let len = rng.below(80_000);
                File::options()
                    .write(true)
                    .open(dir.join(&name))
                    .unwrap()
                    .set_len(len)
                    .unwrap();
                model.get_mut(&name).unwrap().resize(len as usize, 0);
            }
            8 => {
                if model.len() > 30 {
                    let Some(name) = pick(&mut rng, &model) else {
                        continue;
                    };
                    std::fs::remove_file(dir.join(&name)).unwrap();
                    model.remove(&name);
                } else {
                    let listed = std::fs::read_dir(&dir).unwrap().count();
                    assert_eq!(listed, model.len(), "{} lists otherwise", dir.display());
                }
            }
            _ => {
                // O_APPEND from every thread and process at once: records stay whole.
                let mut log = OpenOptions::new().append(true).open(&shared_log).unwrap();
                appended += 1;
                log.write_all(&log_record(seed, appended)).unwrap();
                records.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    for (name, data) in &model {
        assert!(
            std::fs::read(dir.join(name)).unwrap() == *data,
            "{}/{name} at the end",
            dir.display()
        );
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), model.len());
}

/// A 64-byte record of the shared append log: writer, number, checksum.
fn log_record(writer: u64, n: u64) -> Vec<u8> {
    let body = format!("{writer:016x}:{n:015x}");
    let sum = hex::encode(&Sha256::digest(body.as_bytes())[..15]);
    let record = format!("{body} {sum}\n");
    assert_eq!(record.len(), 64);
    record.into_bytes()
}

/// A shell process's loop: write random files, copy, rename, compare; it
/// leaves `c.N` with `c.N.sum` (its sha256sum) for the final check.
const PROCESS_SCRIPT: &str = r#"
set -eu
cd "$1"
end=$(( $(date +%s) + $2 ))
i=0
while [ "$(date +%s)" -lt "$end" ]; do
  i=$((i + 1))
  head -c $(( (RANDOM % 48) * 1024 + RANDOM )) /dev/urandom > "a.$i"
  sum=$(sha256sum < "a.$i")
  cp "a.$i" "b.$i"
  mv "b.$i" "c.$i"
  [ "$(sha256sum < "c.$i")" = "$sum" ] || { echo "c.$i differs from a.$i" >&2; exit 1; }
  echo "$sum" > "c.$i.sum"
  rm "a.$i"
  if [ $((i % 2)) = 0 ]; then rm "c.$((i - 1))" "c.$((i - 1)).sum"; fi
done
echo "$i"
"#;

#[test]
fn many_threads_and_processes_on_one_mount_lose_nothing() {
    let Some(mut vol) =
        MountedVolume::unmounted("many_threads_and_processes_on_one_mount_lose_nothing", &[])
    else {
        return;
    };
    let daemon = Daemon::start(&mut vol);
    let secs = stress_secs(15);
    let until = Instant::now() + secs;
    let shared_log = vol.path("shared.log");
    File::create(&shared_log).unwrap();
    let records = Arc::new(AtomicU64::new(0));

    let processes: Vec<(PathBuf, Child)> = (0..3)
        .map(|p| {
            let dir = vol.path(&format!("p{p}"));
            std::fs::create_dir(&dir).unwrap();
            let child = Command::new("bash")
                .args(["-c", PROCESS_SCRIPT, "stress"])
                .arg(&dir)
                .arg(secs.as_secs().to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            (dir, child)
        })
        .collect();
    let work: Vec<Box<dyn FnOnce() + Send>> = (0..8u64)
        .map(|t| {
            let (dir, log, records) = (
                vol.path(&format!("t{t}")),
                shared_log.clone(),
                Arc::clone(&records),
            );
            Box::new(move || file_worker(dir, 0x57E5 + t, until, log, &records))
                as Box<dyn FnOnce() + Send>
        })
        .collect();
    with_watchdog("mixed load", &daemon, secs + Duration::from_secs(60), work);

    let mut iterations = 0;
    for (dir, child) in processes {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a shell process failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        iterations += String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u64>()
            .unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            if name.ends_with(".sum") {
                continue;
            }
            let want = std::fs::read_to_string(dir.join(format!("{name}.sum"))).unwrap();
            let got = hex::encode(Sha256::digest(std::fs::read(&path).unwrap()));
            assert_eq!(
                want.split_whitespace().next(),
                Some(&got[..]),
                "{}",
                path.display()
            );
        }
    }
    let log = std::fs::read(&shared_log).unwrap();
    assert_eq!(
        log.len() as u64,
        64 * records.load(Ordering::SeqCst),
        "appends lost or torn"
    );
    for record in log.chunks(64) {
        let text = std::str::from_utf8(record).expect("a torn append record");
        let writer = u64::from_str_radix(&text[..16], 16).expect("a torn append record");
        let n = u64::from_str_radix(&text[17..32], 16).expect("a torn append record");
        assert_eq!(record, &log_record(writer, n)[..], "a torn append record");
    }
    let status = daemon.settled();
    assert_eq!(
        (status.handles, status.dirs, status.data_keys),
        (0, 0, 0),
        "{status:?}"
    );
    eprintln!(
        "mixed load for {secs:?}: 8 threads, 3 processes ({iterations} script iterations), \
         {} appended records; daemon peak RSS {} kB; after: {status:?}",
        records.load(Ordering::SeqCst),
        daemon.proc_status("VmHWM")
    );
    daemon.stop(&mut vol);
}

#[test]
fn rename_storms_across_two_directories_never_deadlock_or_lose_a_file() {
    let Some(mut vol) = MountedVolume::unmounted(
        "rename_storms_across_two_directories_never_deadlock_or_lose_a_file",
        &[],
    ) else {
        return;
    };
    let daemon = Daemon::start(&mut vol);
    let (a, b) = (vol.path("a"), vol.path("b"));
    for dir in [&a, &b] {
        std::fs::create_dir(dir).unwrap();
    }
    for n in 0..FILES {
        std::fs::write(a.join(format!("f{n}")), pattern(1000 + n as usize, n)).unwrap();
    }
    // Two directories the storm moves into each other: x into y and y into x.
    std::fs::create_dir(a.join("x")).unwrap();
    std::fs::create_dir(b.join("y")).unwrap();
    let secs = stress_secs(8);
    let storm = Arc::new(Storm {
        a: a.clone(),
        b: b.clone(),
        until: Instant::now() + secs,
        start: Barrier::new(8),
        file_moves: AtomicU64::new(0),
        dir_moves: AtomicU64::new(0),
        dir_refusals: AtomicU64::new(0),
    });
    let mut work: Vec<Box<dyn FnOnce() + Send>> = Vec::new();
    for t in 0..6u64 {
        let storm = Arc::clone(&storm);
        work.push(Box::new(move || storm.move_files(0x4E4D + t)));
    }
    for (mine, other) in [("x", "y"), ("y", "x")] {
        let storm = Arc::clone(&storm);
        work.push(Box::new(move || storm.move_dirs(mine, other)));
    }
    with_watchdog(
        "rename storm",
        &daemon,
        secs + Duration::from_secs(60),
        work,
    );

    // Every file once, whole; both directories once.
    let mut found = BTreeMap::new();
    let mut dirs = Vec::new();
    walk(&vol.mnt, &mut found, &mut dirs);
    for n in 0..FILES {
        let name = format!("f{n}");
        let paths = found.get(&name).unwrap_or_else(|| panic!("{name} is lost"));
        assert_eq!(paths.len(), 1, "{name} twice: {paths:?}");
        assert!(
            std::fs::read(&paths[0]).unwrap() == pattern(1000 + n as usize, n),
            "{name}"
        );
    }
    for name in ["x", "y"] {
        assert_eq!(
            dirs.iter().filter(|d| d.ends_with(name)).count(),
            1,
            "{name}: {dirs:?}"
        );
    }
    let status = daemon.settled();
    assert_eq!((status.handles, status.data_keys), (0, 0), "{status:?}");
    eprintln!(
        "rename storm for {secs:?}: {} file renames, {} directory renames, {} refused \
         (a directory into its own child, or moved meanwhile); no deadlock",
        storm.file_moves.load(Ordering::Relaxed),
        storm.dir_moves.load(Ordering::Relaxed),
        storm.dir_refusals.load(Ordering::Relaxed)
    );
    assert!(
        storm.dir_moves.load(Ordering::Relaxed) > 0,
        "no directory ever moved"
    );
    daemon.stop(&mut vol);
}

/// The files of a rename storm, `f0` to `f63`.
const FILES: u64 = 64;

/// The two directories of a rename storm, its deadline and its counts.
struct Storm {
    a: PathBuf,
    b: PathBuf,
    until: Instant,
    start: Barrier,
    file_moves: AtomicU64,
    dir_moves: AtomicU64,
    dir_refusals: AtomicU64,
}

impl Storm {
    /// Moves random files between a/ and b/ (ENOENT: another thread moved it first).
    fn move_files(&self, seed: u64) {
        let mut rng = Rng::new(seed);
        self.start.wait();
        while Instant::now() < self.until {
            let name = format!("f{}", rng.below(FILES));
            let (from, to) = if rng.below(2) == 0 {
                (&self.a, &self.b)
            } else {
                (&self.b, &self.a)
            };
            match std::fs::rename(from.join(&name), to.join(&name)) {
                Ok(()) => {
                    self.file_moves.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => panic!("rename {name}: {e}"),
            }
        }
    }

    /// Moves directory `mine` into `other` and back out to a/, while another
    /// thread does the same the other way: when both move at once, the kernel
    /// refuses one (EINVAL: into its own child; ENOENT: moved meanwhile).
    fn move_dirs(&self, mine: &str, other: &str) {
        self.start.wait();
        while Instant::now() < self.until {
            let (Some(here), Some(there)) = (self.find(mine, other), self.find(other, mine)) else {
                continue;
            };
            let target = if here.parent() == Some(there.as_path()) {
                self.a.join(mine)
            } else {
                there.join(mine)
            };
            match std::fs::rename(&here, &target) {
                Ok(()) => {
                    self.dir_moves.fetch_add(1, Ordering::Relaxed);
                }
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ENOENT | libc::EINVAL | libc::ENOTEMPTY | libc::EEXIST)
                    ) =>
                {
                    self.dir_refusals.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => panic!("rename {} -> {}: {e}", here.display(), target.display()),
            }
        }
    }

    /// Where directory `name` is now: in a/ or b/, or inside `other` there.
    fn find(&self, name: &str, other: &str) -> Option<PathBuf> {
        [&self.a, &self.b]
            .into_iter()
            .flat_map(|top| [top.join(name), top.join(other).join(name)])
            .find(|p| p.is_dir())
    }
}

fn walk(dir: &Path, files: &mut BTreeMap<String, Vec<PathBuf>>, dirs: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            dirs.push(path.clone());
            walk(&path, files, dirs);
        } else {
            let name = entry.file_name().to_str().unwrap().to_string();
            files.entry(name).or_default().push(path);
        }
    }
}

/// The daemon's memory bound with 1,000 files held open (issue 6).
const RSS_BOUND_KB: u64 = 64 * 1024;

#[test]
fn a_thousand_open_files_stay_within_the_memory_bound_and_are_released() {
    let Some(mut vol) = MountedVolume::unmounted(
        "a_thousand_open_files_stay_within_the_memory_bound_and_are_released",
        &[],
    ) else {
        return;
    };
    raise_fd_limit();
    let daemon = Daemon::start(&mut vol);
    let dir = vol.path("many");
    std::fs::create_dir(&dir).unwrap();
    let paths: Vec<PathBuf> = (0..1000).map(|n| dir.join(format!("f{n}"))).collect();
    for (n, path) in paths.iter().enumerate() {
        std::fs::write(path, pattern(8192, n as u64)).unwrap();
    }
    let idle = daemon.settled();
    assert_eq!((idle.handles, idle.data_keys), (0, 0), "{idle:?}");
    let (fds_idle, rss_idle, threads) = (
        daemon.open_fds(),
        daemon.proc_status("VmRSS"),
        daemon.proc_status("Threads"),
    );

    let open: Vec<File> = paths.iter().map(|p| File::open(p).unwrap()).collect();
    let held = daemon.status();
    assert_eq!((held.handles, held.data_keys), (1000, 1000), "{held:?}");
    let fds_held = daemon.open_fds();
    assert!(
        fds_held >= fds_idle + 1000,
        "{fds_idle} -> {fds_held} descriptors"
    );
    let rss_held = daemon.proc_status("VmRSS");

    // Sixteen threads read all the open files at once.
    let open = Arc::new(open);
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..16)
        .map(|t| {
            let (open, stop) = (Arc::clone(&open), Arc::clone(&stop));
            thread::spawn(move || {
                let mut buf = vec![0u8; 8192];
                let mut rounds = 0;
                while !stop.load(Ordering::Relaxed) || rounds == 0 {
                    for (n, file) in open.iter().enumerate().skip(t).step_by(4) {
                        file.read_exact_at(&mut buf, 0).unwrap();
                        assert!(buf == pattern(8192, n as u64), "f{n}");
                    }
                    rounds += 1;
                }
            })
        })
        .collect();
    thread::sleep(stress_secs(3));
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.join().unwrap();
    }
    let rss_reading = daemon.proc_status("VmRSS");
    let peak = daemon.proc_status("VmHWM");
    // VmLck counts the whole mappings mlockall(MCL_ONFAULT) locked (thread
    // stacks, malloc arenas), resident or not; VmRSS and VmHWM are what is in memory.
    let locked = daemon.proc_status("VmLck");
    drop(Arc::try_unwrap(open).expect("the readers are done"));

    let closed = daemon.settled();
    assert_eq!((closed.handles, closed.data_keys), (0, 0), "{closed:?}");
    let fds_closed = daemon.open_fds();
    assert!(
        fds_closed <= fds_idle,
        "descriptors not released: {fds_idle} before, {fds_closed} after"
    );
    eprintln!(
        "daemon ({threads} threads): idle {rss_idle} kB RSS, {fds_idle} fds; 1000 files open \
         {rss_held} kB, {fds_held} fds; 16 threads reading them {rss_reading} kB; peak (VmHWM) \
         {peak} kB, locked (VmLck) {locked} kB; closed: {fds_closed} fds, {closed:?}"
    );
    assert!(
        peak < RSS_BOUND_KB,
        "peak RSS {peak} kB with 1000 open files is over {RSS_BOUND_KB} kB"
    );
    daemon.stop(&mut vol);
}
