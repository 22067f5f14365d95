use std::collections::HashSet;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::*;
use crate::audit::test_support::{decrypt_record, read_records};
use serde_json::Value;

/// Set in the child processes these tests spawn: the audit directory to use.
const CHILD_DIR_ENV: &str = "KMSFS_AUDIT_TEST_CHILD_DIR";
const CHILDREN: usize = 4;
const APPENDS_PER_CHILD: usize = 200;

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).expect("stat").mode() & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

fn distinct_event_ids(records: &[Value]) -> usize {
    let ids: HashSet<&str> = records
        .iter()
        .map(|r| r["eventID"].as_str().expect("eventID"))
        .collect();
    ids.len()
}

#[test]
fn open_creates_a_private_directory_and_log() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("vault/audit");
    let log = AuditLog::open(&dir).expect("open");
    assert_eq!(log.path(), dir.join("active.jsonl"));
    assert_eq!(AuditLog::active_path(&dir), dir.join("active.jsonl"));
    assert_eq!(mode_of(&dir), 0o700);
    assert_eq!(mode_of(log.path()), 0o600);
    assert!(read_records(log.path()).is_empty());
    // Opening again keeps the log.
    log.append(&decrypt_record(0)).expect("append");
    let again = AuditLog::open(&dir).expect("reopen");
    assert_eq!(read_records(again.path()).len(), 1);
}

#[test]
fn open_refuses_a_log_other_users_can_read_or_write() {
    for mode in [0o640, 0o620, 0o604, 0o602, 0o666] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = AuditLog::open(tmp.path())
            .expect("open")
            .path()
            .to_path_buf();
        set_mode(&path, mode);
        let error = AuditLog::open(tmp.path()).err().expect("refused");
        assert!(
            matches!(error, AuditError::Insecure { mode: m, fix_mode: 0o600, .. } if m == mode),
            "{error:?}"
        );
        let shown = path.display();
        assert_eq!(
            error.to_string(),
            format!("{shown} has mode {mode:04o}: other users could read or rewrite the audit trail; fix with: chmod 600 {shown}")
        );
        set_mode(&path, 0o600);
        AuditLog::open(tmp.path()).expect("accepted once fixed");
    }
}

#[test]
fn open_refuses_a_directory_other_users_can_write() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("audit");
    fs::create_dir(&dir).expect("mkdir");
    set_mode(&dir, 0o733);
    let error = AuditLog::open(&dir).err().expect("refused");
    assert!(
        matches!(
            error,
            AuditError::Insecure {
                mode: 0o733,
                fix_mode: 0o700,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error
        .to_string()
        .ends_with(&format!("chmod 700 {}", dir.display())));
    // Others may list the directory; only writing it would let them swap the log.
    set_mode(&dir, 0o755);
    AuditLog::open(&dir).expect("accepted");
}

#[test]
fn open_refuses_an_active_log_that_is_not_a_regular_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink("/dev/full", AuditLog::active_path(tmp.path())).expect("symlink");
    let error = AuditLog::open(tmp.path()).err().expect("refused");
    assert!(matches!(error, AuditError::NotAFile { .. }), "{error:?}");
}

#[test]
fn append_writes_each_record_as_one_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = AuditLog::open(tmp.path()).expect("open");
    let mut records: Vec<Value> = (0..3).map(decrypt_record).collect();
    records[1]["errorMessage"] = Value::from("two\nlines");
    for record in &records {
        log.append(record).expect("append");
    }
    log.sync().expect("sync");
    let text = fs::read_to_string(log.path()).expect("read");
    assert_eq!(text.matches('\n').count(), 3);
    assert_eq!(read_records(log.path()), records);
}

#[test]
fn threads_sharing_one_log_never_interleave() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = AuditLog::open(tmp.path()).expect("open");
    thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for n in 0..100 {
                    log.append(&decrypt_record(n)).expect("append");
                }
            });
        }
    });
    let records = read_records(log.path());
    assert_eq!(records.len(), 800);
    assert_eq!(distinct_event_ids(&records), 800);
}

/// Moves the active log away as a roller would: under its exclusive lock.
/// Returns the moved file's content at that moment, which is all a roller
/// would deliver: a record written into the file later would be lost.
fn roll(dir: &Path, to: &Path) -> Option<String> {
    let active = AuditLog::active_path(dir);
    let file = match File::open(&active) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => panic!("open {}: {e}", active.display()),
    };
    let _lock = FileLock::acquire(&file, LockKind::Exclusive).expect("lock");
    fs::rename(&active, to).expect("rename");
    Some(fs::read_to_string(to).expect("read the rolled file"))
}

#[test]
fn append_follows_the_path_after_a_roll() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (log, other) = (
        AuditLog::open(tmp.path()).expect("open"),
        AuditLog::open(tmp.path()).expect("open a second handle"),
    );
    let records: Vec<Value> = (0..3).map(decrypt_record).collect();
    log.append(&records[0]).expect("append");
    let rolled = tmp.path().join("rolled.jsonl");
    roll(tmp.path(), &rolled).expect("rolled");
    // One handle re-creates the active log, the other must find it too.
    other.append(&records[1]).expect("append after the roll");
    log.append(&records[2]).expect("append after the roll");
    assert_eq!(read_records(&rolled), records[..1]);
    assert_eq!(read_records(log.path()), records[1..]);
    assert_eq!(mode_of(log.path()), 0o600);
}

fn child_dir() -> Option<PathBuf> {
    std::env::var_os(CHILD_DIR_ENV).map(PathBuf::from)
}

fn spawn_child(test_name: &str, dir: &Path) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([test_name, "--exact", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(CHILD_DIR_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn a child test process")
}

/// The child's stdout, after checking that its one test ran and passed.
fn child_stdout(output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

/// The start signal, so that the children append at the same time.
fn go_file(dir: &Path) -> PathBuf {
    dir.join("go")
}

fn append_as_child(pause: Duration) {
    let Some(dir) = child_dir() else { return };
    let log = AuditLog::open(&dir).expect("child opens the log");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !go_file(&dir).exists() {
        assert!(Instant::now() < deadline, "no start signal");
        thread::sleep(Duration::from_millis(1));
    }
    for n in 0..APPENDS_PER_CHILD {
        log.append(&decrypt_record(n)).expect("child appends");
        thread::sleep(pause);
    }
}

#[test]
#[ignore = "child process of processes_appending_at_once_never_interleave"]
fn child_appends() {
    append_as_child(Duration::ZERO);
}

#[test]
#[ignore = "child process of processes_appending_while_the_log_is_rolled_lose_nothing"]
fn child_appends_slowly() {
    append_as_child(Duration::from_micros(300));
}

#[test]
fn processes_appending_at_once_never_interleave() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = AuditLog::open(tmp.path()).expect("open");
    let children: Vec<Child> = (0..CHILDREN)
        .map(|_| spawn_child("audit::writer::tests::child_appends", tmp.path()))
        .collect();
    fs::write(go_file(tmp.path()), b"").expect("start signal");
    for child in children {
        child_stdout(child.wait_with_output().expect("wait"));
    }
    let records = read_records(log.path());
    assert_eq!(records.len(), CHILDREN * APPENDS_PER_CHILD);
    assert_eq!(distinct_event_ids(&records), CHILDREN * APPENDS_PER_CHILD);
}

#[test]
fn processes_appending_while_the_log_is_rolled_lose_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    AuditLog::open(tmp.path()).expect("open");
    let mut children: Vec<Child> = (0..CHILDREN)
        .map(|_| spawn_child("audit::writer::tests::child_appends_slowly", tmp.path()))
        .collect();
    fs::write(go_file(tmp.path()), b"").expect("start signal");
    let mut rolled = Vec::new();
    while children
        .iter_mut()
        .any(|child| child.try_wait().expect("try_wait").is_none())
    {
        let to = tmp.path().join(format!("rolled-{}.jsonl", rolled.len()));
        if let Some(delivered) = roll(tmp.path(), &to) {
            rolled.push((to, delivered));
        }
        thread::sleep(Duration::from_millis(3));
    }
    for child in children {
        child_stdout(child.wait_with_output().expect("wait"));
    }
    assert!(rolled.len() >= 3, "only {} rolls happened", rolled.len());
    let mut records = Vec::new();
    for (file, delivered) in &rolled {
        let records_now = fs::read_to_string(file).expect("read");
        assert_eq!(
            &records_now,
            delivered,
            "{} was written after its roll",
            file.display()
        );
        records.extend(read_records(file));
    }
    // The last roll may have moved the log away after the last append.
    let active = AuditLog::active_path(tmp.path());
    if active.exists() {
        records.extend(read_records(&active));
    }
    assert_eq!(records.len(), CHILDREN * APPENDS_PER_CHILD);
    assert_eq!(distinct_event_ids(&records), CHILDREN * APPENDS_PER_CHILD);
}

/// Lowers this process's file size limit (RLIMIT_FSIZE) to `bytes`, so that
/// writes past it fail with EFBIG (or come back short) instead of killing us.
fn limit_file_size(bytes: u64) {
    // SAFETY: plain system calls on this (child) process's own limits and signal table.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit), 0);
        limit.rlim_cur = bytes;
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

#[test]
#[ignore = "child process of a_write_past_the_file_size_limit_fails_and_keeps_the_log_whole"]
fn child_writes_past_its_file_size_limit() {
    let Some(dir) = child_dir() else { return };
    let log = AuditLog::open(&dir).expect("open");
    log.append(&decrypt_record(0))
        .expect("append within the limit");
    let whole = fs::metadata(log.path()).expect("stat").len();

    limit_file_size(whole + 100);
    let short = log
        .append(&decrypt_record(1))
        .expect_err("a short write fails");
    assert!(matches!(short, AuditError::Write { .. }), "{short:?}");
    assert_eq!(fs::metadata(log.path()).expect("stat").len(), whole);
    println!("SHORT: {short}");

    limit_file_size(whole);
    let refused = log
        .append(&decrypt_record(2))
        .expect_err("a failed write fails");
    assert!(matches!(refused, AuditError::Write { .. }), "{refused:?}");
    println!("REFUSED: {refused}");
}

#[test]
fn a_write_past_the_file_size_limit_fails_and_keeps_the_log_whole() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = AuditLog::active_path(tmp.path());
    let child = spawn_child(
        "audit::writer::tests::child_writes_past_its_file_size_limit",
        tmp.path(),
    );
    let stdout = child_stdout(child.wait_with_output().expect("wait"));
    let record_len = serde_json::to_vec(&decrypt_record(1)).expect("json").len() + 1;
    let shown = path.display();
    assert!(
        stdout.contains(&format!("SHORT: audit log {shown} cannot be written: short write, 100 of {record_len} bytes; the partial record was removed; refusing the request")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("REFUSED: audit log {shown} cannot be written: File too large (os error 27); refusing the request")),
        "{stdout}"
    );
    assert_eq!(read_records(&path).len(), 1);
}

/// Unmounts on drop, so that a failing test leaves no mount behind.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_refuses_the_record_and_keeps_what_was_written() {
    if crate::sys::effective_uid() != 0 {
        assert_ne!(
            std::env::var("KMSFS_REQUIRE_FUSE").as_deref(),
            Ok("1"),
            "needs root to mount a tmpfs"
        );
        eprintln!("skipping: needs root to mount a tmpfs");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let mount_point = tmp.path().join("small");
    fs::create_dir(&mount_point).expect("mkdir");
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "kmsfs-audit-test"])
        .arg(&mount_point)
        .status()
        .expect("run mount");
    assert!(status.success(), "mounting a tmpfs failed: {status}");
    let _mounted = Mounted(mount_point.clone());

    let log = AuditLog::open(&mount_point.join("audit")).expect("open");
    let mut written = Vec::new();
    let error = loop {
        assert!(written.len() < 10_000, "the tmpfs never filled up");
        let record = decrypt_record(written.len());
        match log.append(&record) {
            Ok(()) => written.push(record),
            Err(error) => break error,
        }
    };
    let message = error.to_string();
    assert!(matches!(error, AuditError::Write { .. }), "{error:?}");
    assert!(
        message.contains("No space left on device (os error 28)")
            || message.contains("short write"),
        "{message}"
    );
    assert!(message.ends_with("; refusing the request"), "{message}");
    assert!(log.append(&decrypt_record(0)).is_err(), "still full");
    assert_eq!(read_records(log.path()), written);
}
