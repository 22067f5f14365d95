//! Crash campaigns (issue 7, item 3), on real mounts and real vaults.
//!
//! 1. The mount daemon killed (-9) at a random moment of a mixed workload from
//!    several threads (create, write at offsets, append, O_TRUNC rewrite,
//!    rename, unlink, mkdir, fsync), a hundred rounds on one volume. After
//!    each kill and remount: every file reads back chunk by chunk as a state
//!    its chunks had (tests/common/crash.rs says exactly what that means) or
//!    fails authentication (EIO), never other bytes; no name appears that was
//!    never made; a file fsync'd and not changed since holds exactly what was
//!    fsync'd, and one changed since holds that state or a later one; and the
//!    audit trail verifies after `audit flush --digest`.
//! 2. The CLI killed in the middle of key operations: every command works
//!    afterwards and SQLite's integrity check passes.
//! 3. The CLI killed in the middle of audit rolls: after the next flush the
//!    trail verifies.
//!
//! Every random choice comes from one seed, printed with each failure and
//! settable with KMSFS_CRASH_SEED; KMSFS_CRASH_ROUNDS changes the number of
//! daemon kills (default 100).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::crash::{
    kill_daemon, read_chunks, remount_after_kill, ChunkStates, ReadChunk, Rng, CHUNK,
};
use common::mount::{pattern, MountedVolume};
use common::{s, Sandbox};

/// Workload threads, each in its own directory of the volume.
const THREADS: usize = 3;
/// No file grows past this many chunks.
const MAX_CHUNKS: u64 = 12;
/// A thread unlinks instead of creating once it has this many files.
const MAX_FILES: usize = 24;
/// A thread makes at most this many directories (nested two deep at most).
const MAX_DIRS: usize = 6;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
        })
        .unwrap_or(default)
}

fn seed() -> u64 {
    let seed = env_or("KMSFS_CRASH_SEED", 0x5EED_C4A5_u64);
    eprintln!("crash campaign seed {seed} (set KMSFS_CRASH_SEED={seed} to repeat)");
    seed
}

/// One logical file: the states of its chunks, its content as the thread
/// last set it, and what fsync made durable.
#[derive(Default)]
struct FileModel {
    states: ChunkStates,
    content: Vec<u8>,
    /// The step of the state the last successful fsync made durable (0: none).
    synced: u64,
    /// Written, renamed, replaced or unlinked since that fsync (or started to be).
    touched: bool,
}

impl FileModel {
    /// The file is now, or is about to be, `content`.
    fn set(&mut self, content: Vec<u8>) {
        self.content = content;
        self.states.record(&self.content);
        self.touched = true;
    }
}

/// What one worker found after a remount.
#[derive(Default, Debug)]
struct Survey {
    files: usize,
    whole_chunks: usize,
    refused_chunks: usize,
    damaged_files: usize,
    synced_files_checked: usize,
}

/// One workload thread's directory and its model. Each thread only touches
/// its own directory, so each file has one writer and its model is exact.
struct Worker {
    root: PathBuf,
    rng: Rng,
    /// Directories (relative to `root`, "" is `root`) made, or being made.
    dirs: BTreeSet<String>,
    /// The names as they are after the operations issued so far.
    live: BTreeMap<String, usize>,
    /// Every file that was, or was about to be, at each name this round.
    ever: HashMap<String, Vec<usize>>,
    files: Vec<FileModel>,
    names: u64,
    ops: u64,
}

type OpResult = Result<(), (&'static str, io::Error)>;

fn at(what: &'static str) -> impl Fn(io::Error) -> (&'static str, io::Error) {
    move |e| (what, e)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

impl Worker {
    fn new(root: PathBuf, seed: u64) -> Worker {
        std::fs::create_dir(&root).unwrap();
        Worker {
            root,
            rng: Rng::new(seed),
            dirs: BTreeSet::from([String::new()]),
            live: BTreeMap::new(),
            ever: HashMap::new(),
            files: Vec::new(),
            names: 0,
            ops: 0,
        }
    }

    fn abs(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Runs operations until one fails; a failure before `killed` is set is
    /// an error of the filesystem.
    fn run(&mut self, killed: &AtomicBool) -> Result<(), String> {
        loop {
            match self.step() {
                Ok(()) => self.ops += 1,
                Err(_) if killed.load(Ordering::SeqCst) => return Ok(()),
                Err((what, e)) => return Err(format!("{what} failed before the kill: {e}")),
            }
        }
    }

    fn step(&mut self) -> OpResult {
        let roll = self.rng.below(100);
        if self.live.is_empty() {
            return self.create();
        }
        if roll < 18 {
            return if self.live.len() < MAX_FILES {
                self.create()
            } else {
                self.unlink()
            };
        }
        match roll {
            18..=42 => self.write_at(),
            43..=52 => self.append(),
            53..=60 => self.rewrite(),
            61..=72 => self.rename(),
            73..=79 => self.unlink(),
            80..=85 => self.mkdir(),
            _ => self.fsync(),
        }
    }

    fn pick<T>(&mut self, mut items: impl ExactSizeIterator<Item = T>) -> T {
        let n = self.rng.below(items.len() as u64) as usize;
        items.nth(n).unwrap()
    }

    fn pick_file(&mut self) -> (String, usize) {
        let live: Vec<(String, usize)> = self.live.iter().map(|(p, f)| (p.clone(), *f)).collect();
        self.pick(live.into_iter())
    }

    fn pick_dir(&mut self) -> String {
        let dirs: Vec<String> = self.dirs.iter().cloned().collect();
        self.pick(dirs.into_iter())
    }

    fn data(&mut self, max: u64) -> Vec<u8> {
        let len = 1 + self.rng.below(max);
        let seed = self.rng.next();
        pattern(len as usize, seed)
    }

    fn new_name(&mut self, dir: &str) -> String {
        self.names += 1;
        join(dir, &format!("f{}", self.names))
    }

    fn create(&mut self) -> OpResult {
        let dir = self.pick_dir();
        let path = self.new_name(&dir);
        let data = self.data(3 * CHUNK);
        let fid = self.files.len();
        let mut model = FileModel::default();
        model.set(Vec::new());
        model.set(data.clone());
        self.files.push(model);
        self.ever.entry(path.clone()).or_default().push(fid);
        self.live.insert(path.clone(), fid);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.abs(&path))
            .map_err(at("create"))?;
        std::os::unix::fs::FileExt::write_all_at(&file, &data, 0).map_err(at("first write"))
    }

    fn write_at(&mut self) -> OpResult {
        let (path, fid) = self.pick_file();
        let len = self.files[fid].content.len() as u64;
        let limit = MAX_CHUNKS * CHUNK;
        let offset = self.rng.below(len + CHUNK).min(limit - 1);
        let mut data = self.data(2 * CHUNK);
        data.truncate((limit - offset) as usize);
        let mut content = self.files[fid].content.clone();
        let end = offset as usize + data.len();
        if content.len() < end {
            content.resize(end, 0);
        }
        content[offset as usize..end].copy_from_slice(&data);
        self.files[fid].set(content);
        let file = OpenOptions::new()
            .write(true)
            .open(self.abs(&path))
            .map_err(at("open to write"))?;
        std::os::unix::fs::FileExt::write_all_at(&file, &data, offset).map_err(at("write"))
    }

    fn append(&mut self) -> OpResult {
        let (path, fid) = self.pick_file();
        let room = (MAX_CHUNKS * CHUNK).saturating_sub(self.files[fid].content.len() as u64);
        if room < CHUNK {
            return self.rewrite();
        }
        let data = self.data(CHUNK + CHUNK / 2);
        let mut content = self.files[fid].content.clone();
        content.extend_from_slice(&data);
        self.files[fid].set(content);
        let mut file = OpenOptions::new()
            .append(true)
            .open(self.abs(&path))
            .map_err(at("open to append"))?;
        file.write_all(&data).map_err(at("append"))
    }

    fn rewrite(&mut self) -> OpResult {
        let (path, fid) = self.pick_file();
        let data = self.data(3 * CHUNK);
        self.files[fid].set(Vec::new());
        self.files[fid].set(data.clone());
        let mut file = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(self.abs(&path))
            .map_err(at("open with O_TRUNC"))?;
        file.write_all(&data).map_err(at("rewrite"))
    }

    fn rename(&mut self) -> OpResult {
        let (path, fid) = self.pick_file();
        let target = if self.rng.below(4) == 0 && self.live.len() > 1 {
            // Onto another file, which it replaces.
            let (target, _) = self.pick_file();
            target
        } else {
            let dir = self.pick_dir();
            self.new_name(&dir)
        };
        if target == path {
            return Ok(());
        }
        if let Some(replaced) = self.live.insert(target.clone(), fid) {
            self.files[replaced].touched = true;
        }
        self.live.remove(&path);
        self.ever.entry(target.clone()).or_default().push(fid);
        self.files[fid].touched = true;
        std::fs::rename(self.abs(&path), self.abs(&target)).map_err(at("rename"))
    }

    fn unlink(&mut self) -> OpResult {
        let (path, fid) = self.pick_file();
        self.live.remove(&path);
        self.files[fid].touched = true;
        std::fs::remove_file(self.abs(&path)).map_err(at("unlink"))
    }

    fn mkdir(&mut self) -> OpResult {
        if self.dirs.len() > MAX_DIRS {
            return self.fsync();
        }
        let shallow: Vec<String> = self
            .dirs
            .iter()
            .filter(|d| !d.contains('/'))
            .cloned()
            .collect();
        let parent = self.pick(shallow.into_iter());
        self.names += 1;
        let dir = join(&parent, &format!("d{}", self.names));
        self.dirs.insert(dir.clone());
        std::fs::create_dir(self.abs(&dir)).map_err(at("mkdir"))
    }

    fn fsync(&mut self) -> OpResult {
        let (path, fid) = self.pick_file();
        let file = OpenOptions::new()
            .write(true)
            .open(self.abs(&path))
            .map_err(at("open to fsync"))?;
        file.sync_all().map_err(at("fsync"))?;
        let model = &mut self.files[fid];
        model.synced = model.states.step();
        model.touched = false;
        Ok(())
    }

    /// Checks the directory after a remount against the model.
    fn verify(&self) -> Result<(Survey, BTreeMap<String, Vec<ReadChunk>>), String> {
        let mut survey = Survey::default();
        let mut found = BTreeMap::new();
        let mut stack = vec![String::new()];
        while let Some(dir) = stack.pop() {
            let entries =
                std::fs::read_dir(self.abs(&dir)).map_err(|e| format!("listing {dir:?}: {e}"))?;
            for entry in entries {
                let entry = entry.map_err(|e| format!("listing {dir:?}: {e}"))?;
                let rel = join(&dir, entry.file_name().to_str().unwrap());
                let kind = entry.file_type().map_err(|e| format!("{rel}: {e}"))?;
                if kind.is_dir() {
                    if !self.dirs.contains(&rel) {
                        return Err(format!("directory {rel} was never made"));
                    }
                    stack.push(rel);
                    continue;
                }
                let Some(candidates) = self.ever.get(&rel) else {
                    return Err(format!("file {rel} was never there"));
                };
                let chunks = match File::open(self.abs(&rel)) {
                    Ok(file) => read_chunks(&file).map_err(|e| format!("{rel}: read: {e}"))?,
                    Err(e) if e.raw_os_error() == Some(libc::EIO) => vec![None],
                    Err(e) => return Err(format!("{rel}: open: {e}")),
                };
                if !candidates.iter().any(|fid| self.allows(*fid, &chunks)) {
                    let shape: Vec<String> = chunks
                        .iter()
                        .map(|c| c.as_ref().map_or("EIO".into(), |b| b.len().to_string()))
                        .collect();
                    return Err(format!(
                        "{rel} reads as no state any of its files {candidates:?} had \
                         (chunks read: {shape:?})"
                    ));
                }
                survey.files += 1;
                survey.whole_chunks += chunks.iter().filter(|c| c.is_some()).count();
                survey.refused_chunks += chunks.iter().filter(|c| c.is_none()).count();
                found.insert(rel, chunks);
            }
        }
        for (path, fid) in &self.live {
            let model = &self.files[*fid];
            if model.synced == 0 || model.touched {
                continue;
            }
            let Some(chunks) = found.get(path) else {
                return Err(format!("{path} was fsync'd and is gone"));
            };
            let read: Option<Vec<u8>> = chunks
                .iter()
                .cloned()
                .collect::<Option<Vec<_>>>()
                .map(|c| c.concat());
            if read.as_deref() != Some(&model.content[..]) {
                return Err(format!(
                    "{path} was fsync'd ({} bytes) and reads otherwise",
                    model.content.len()
                ));
            }
            survey.synced_files_checked += 1;
        }
        Ok((survey, found))
    }

    /// Whether `chunks` are states file `fid` had, since its last fsync.
    fn allows(&self, fid: usize, chunks: &[ReadChunk]) -> bool {
        let model = &self.files[fid];
        chunks.iter().enumerate().all(|(n, chunk)| {
            chunk.as_ref().map_or(true, |bytes| {
                model.states.allows(n as u64, bytes, model.synced)
            })
        })
    }

    /// Starts the next round from what was found: damaged files are removed,
    /// the others are the new first states.
    fn rebase(&mut self, found: BTreeMap<String, Vec<ReadChunk>>) -> usize {
        let mut damaged = 0;
        self.live.clear();
        self.ever.clear();
        self.files.clear();
        let mut dirs = BTreeSet::from([String::new()]);
        for (path, chunks) in found {
            if let Some((dir, _)) = path.rsplit_once('/') {
                dirs.insert(dir.to_string());
            }
            let Some(chunks) = chunks.into_iter().collect::<Option<Vec<_>>>() else {
                std::fs::remove_file(self.abs(&path)).unwrap();
                damaged += 1;
                continue;
            };
            let mut model = FileModel::default();
            model.set(chunks.concat());
            let fid = self.files.len();
            self.files.push(model);
            self.ever.insert(path.clone(), vec![fid]);
            self.live.insert(path, fid);
        }
        // Empty directories that exist are in the listing too.
        self.dirs.retain(|d| self.root.join(d).is_dir());
        self.dirs.extend(dirs);
        damaged
    }
}

/// `audit flush --digest`, then `audit verify`, which must pass.
fn trail_verifies(sandbox: &Sandbox, context: &str) {
    sandbox.ok(&["audit", "flush", "--digest"]);
    let out = sandbox.run(&["audit", "verify"]);
    assert!(
        out.status.success(),
        "{context}: audit verify failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_hundred_daemon_kills_leave_only_earlier_states_and_a_verifying_trail() {
    let Some(mut vol) = MountedVolume::with(
        "a_hundred_daemon_kills_leave_only_earlier_states_and_a_verifying_trail",
        &["--chunk-size", &CHUNK.to_string()],
    ) else {
        return;
    };
    let seed = seed();
    let rounds = env_or("KMSFS_CRASH_ROUNDS", 100usize);
    let mut rng = Rng::new(seed);
    let mut workers: Vec<Worker> = (0..THREADS)
        .map(|t| Worker::new(vol.path(&format!("t{t}")), seed ^ (t as u64 + 1) << 32))
        .collect();
    let started = Instant::now();
    let (mut ops, mut total) = (0, Survey::default());
    for round in 0..rounds {
        let context = format!("seed {seed} round {round}");
        let delay = Duration::from_millis(50 + rng.below(550));
        let killed = Arc::new(AtomicBool::new(false));
        let running: Vec<_> = workers
            .drain(..)
            .map(|mut worker| {
                let killed = Arc::clone(&killed);
                std::thread::spawn(move || {
                    let result = worker.run(&killed);
                    (worker, result)
                })
            })
            .collect();
        std::thread::sleep(delay);
        killed.store(true, Ordering::SeqCst);
        kill_daemon(&vol);
        for thread in running {
            let (worker, result) = thread.join().unwrap();
            result.unwrap_or_else(|e| panic!("{context}: {e}"));
            ops += worker.ops;
            workers.push(worker);
        }
        remount_after_kill(&mut vol);
        for (t, worker) in workers.iter_mut().enumerate() {
            let (survey, found) = worker
                .verify()
                .unwrap_or_else(|e| panic!("{context}: t{t}/{e}"));
            total.files += survey.files;
            total.whole_chunks += survey.whole_chunks;
            total.refused_chunks += survey.refused_chunks;
            total.synced_files_checked += survey.synced_files_checked;
            total.damaged_files += worker.rebase(found);
            worker.ops = 0;
        }
        trail_verifies(&vol.sandbox, &context);
    }
    eprintln!(
        "{rounds} kills in {:.1} s: {ops} operations; after the kills {} files read \
         ({} chunks whole, {} refused with EIO, {} files damaged and removed), \
         {} fsync'd files found intact",
        started.elapsed().as_secs_f64(),
        total.files,
        total.whole_chunks,
        total.refused_chunks,
        total.damaged_files,
        total.synced_files_checked
    );
    assert!(
        ops >= rounds as u64,
        "the workload hardly ran: {ops} operations"
    );
    assert!(
        total.whole_chunks > 0 && total.synced_files_checked > 0,
        "{total:?}"
    );
}

/// Runs `args` and SIGKILLs it after `delay` (if it is still running);
/// returns whether it was killed before it finished.
fn run_and_kill(sandbox: &Sandbox, args: &[&str], delay: Duration) -> bool {
    let mut child: Child = sandbox
        .command()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    if out.status.signal() == Some(libc::SIGKILL) {
        return true;
    }
    assert!(
        out.status.success(),
        "kmsfs {args:?} failed unkilled: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

/// How long `args` takes when nobody kills it, in milliseconds.
fn duration_ms(sandbox: &Sandbox, args: &[&str]) -> u64 {
    let start = Instant::now();
    sandbox.ok(args);
    start.elapsed().as_millis() as u64
}

fn integrity_check(vault: &Path) -> String {
    let db = rusqlite::Connection::open(vault).unwrap();
    db.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

#[test]
fn the_cli_killed_in_key_operations_leaves_a_consistent_vault() {
    let sandbox = Sandbox::initialized();
    let seed = seed();
    let mut rng = Rng::new(seed ^ 0x4B45_5953);
    sandbox.ok(&["key", "create", "--alias", "alias/base"]);
    let policy = sandbox.ok(&["policy", "get", "--key-id", "alias/base"]);
    let policy_file = sandbox.write("policy.json", policy.as_bytes());
    let typical = duration_ms(&sandbox, &["key", "rotate", "--key-id", "alias/base"]);
    let (mut killed, mut finished) = (0, 0);
    for i in 0..40u64 {
        let context = format!("seed {seed} step {i}");
        let alias = format!("alias/k{i}");
        let uid = format!("uid:{}", 1000 + i);
        let args: Vec<&str> = match rng.below(6) {
            0 | 1 => vec!["key", "create", "--alias", &alias],
            2 => vec!["key", "rotate", "--key-id", "alias/base"],
            3 => vec![
                "key",
                "schedule-deletion",
                "--key-id",
                "alias/base",
                "--pending-window-days",
                "7",
            ],
            4 => vec!["policy", "add-user", "--key-id", "alias/base", &uid],
            _ => vec![
                "policy",
                "put",
                "--key-id",
                "alias/base",
                "--policy-file",
                s(&policy_file),
            ],
        };
        let delay = Duration::from_millis(rng.below(typical * 3 / 2 + 1));
        if run_and_kill(&sandbox, &args, delay) {
            killed += 1;
        } else {
            finished += 1;
        }
        assert_eq!(
            integrity_check(&sandbox.vault()),
            "ok",
            "{context}: {args:?}"
        );
        let keys = sandbox.json(&["key", "list"]);
        for key in keys["Keys"].as_array().unwrap() {
            let id = key["KeyId"].as_str().unwrap();
            sandbox.json(&["key", "describe", "--key-id", id]);
            sandbox.ok(&["key", "rotations", "--key-id", id]);
        }
        sandbox.ok(&["alias", "list"]);
        sandbox.ok(&["policy", "get", "--key-id", "alias/base"]);
        // A deletion scheduled (or not) by the killed command: the key is usable again either way.
        let state = sandbox.json(&["key", "describe", "--key-id", "alias/base"]);
        if state["KeyMetadata"]["KeyState"] == "PendingDeletion" {
            sandbox.ok(&["key", "cancel-deletion", "--key-id", "alias/base"]);
            sandbox.ok(&["key", "enable", "--key-id", "alias/base"]);
        }
        let blob = sandbox.write("plain", b"still works");
        let (sealed, opened) = (sandbox.path("sealed"), sandbox.path("opened"));
        sandbox.ok(&[
            "encrypt",
            "--key-id",
            "alias/base",
            "--plaintext-file",
            s(&blob),
            "--output-file",
            s(&sealed),
        ]);
        sandbox.ok(&[
            "decrypt",
            "--ciphertext-file",
            s(&sealed),
            "--output-file",
            s(&opened),
        ]);
        assert_eq!(std::fs::read(&opened).unwrap(), b"still works", "{context}");
    }
    eprintln!("key operations: {killed} killed before they finished, {finished} finished first (typical {typical} ms)");
    assert!(
        killed > 0,
        "no command was ever killed: the test proved nothing"
    );
    trail_verifies(&sandbox, &format!("seed {seed}, after the key operations"));
}

#[test]
fn the_cli_killed_in_audit_rolls_leaves_a_trail_that_verifies() {
    let sandbox = Sandbox::initialized();
    let seed = seed();
    let mut rng = Rng::new(seed ^ 0x524F_4C4C);
    sandbox.ok(&["key", "create", "--alias", "alias/a"]);
    let typical = duration_ms(&sandbox, &["audit", "flush", "--digest"]);
    let (mut killed, mut finished) = (0, 0);
    for i in 0..30 {
        let context = format!("seed {seed} roll {i}");
        for _ in 0..2 {
            sandbox.ok(&["key", "list"]);
        }
        let delay = Duration::from_millis(rng.below(typical * 3 / 2 + 1));
        if run_and_kill(&sandbox, &["audit", "flush", "--digest"], delay) {
            killed += 1;
        } else {
            finished += 1;
        }
        trail_verifies(&sandbox, &context);
    }
    eprintln!("audit rolls: {killed} killed before they finished, {finished} finished first (typical {typical} ms)");
    assert!(
        killed > 0,
        "no roll was ever killed: the test proved nothing"
    );
}
