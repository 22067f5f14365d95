//! The audit trail through the real binary: many processes writing while the
//! trail rolls, verify's exit code and messages after tampering, prune, and
//! the openssl-checkable public key.

mod common;

use std::collections::HashSet;
use std::process::Command;

use common::{edit_gzip, s, Sandbox};
use serde_json::Value;

fn key_with_plaintext(sb: &Sandbox) -> String {
    sb.ok(&["key", "create", "--alias", "alias/trail"]);
    s(&sb.write("plain.txt", b"secret")).to_string()
}

fn encrypt_args(plain: &str) -> Vec<String> {
    [
        "encrypt",
        "--key-id",
        "alias/trail",
        "--plaintext-file",
        plain,
        "--output-file",
        "/dev/null",
    ]
    .map(str::to_string)
    .to_vec()
}

fn all_events(sb: &Sandbox, event_name: &str) -> Vec<Value> {
    let found = sb.json(&["audit", "lookup", "--event-name", event_name]);
    found["Events"].as_array().expect("events").clone()
}

#[test]
fn processes_writing_while_the_trail_rolls_lose_and_duplicate_nothing() {
    const PROCESSES: usize = 4;
    const REQUESTS: usize = 15;
    let sb = Sandbox::initialized();
    let plain = key_with_plaintext(&sb);
    let writers: Vec<_> = (0..PROCESSES)
        .map(|_| {
            let mut cmd = sb.command();
            let script = format!(
                "for i in $(seq {REQUESTS}); do \"$0\" {} || exit 1; done",
                encrypt_args(&plain).join(" ")
            );
            cmd.env("KMSFS_AUDIT_ROTATE_INTERVAL", "1s");
            Command::new("sh")
                .args(["-c", &script, env!("CARGO_BIN_EXE_kmsfs")])
                .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
                .spawn()
                .expect("spawn")
        })
        .collect();
    // Rolls forced meanwhile, with digests.
    let mut flushes = 0;
    let mut writers = writers;
    while writers
        .iter_mut()
        .any(|w| w.try_wait().expect("wait").is_none())
    {
        sb.ok(&["audit", "flush", "--digest"]);
        flushes += 1;
    }
    for mut w in writers {
        assert!(w.wait().expect("wait").success());
    }
    sb.ok(&["audit", "flush", "--digest"]);
    let encrypts = all_events(&sb, "Encrypt");
    let ids: HashSet<&str> = encrypts
        .iter()
        .filter_map(|r| r["eventID"].as_str())
        .collect();
    assert_eq!(encrypts.len(), PROCESSES * REQUESTS);
    assert_eq!(ids.len(), PROCESSES * REQUESTS);
    let logs = sb.rolled_files("audit");
    assert!(
        logs.len() > 2,
        "{flushes} flushes gave {} log files",
        logs.len()
    );
    // All of them are now in the rolled files: the active log is empty.
    assert_eq!(std::fs::metadata(sb.audit_log()).expect("stat").len(), 0);
    let verified = sb.json(&["audit", "verify"]);
    assert_eq!(verified["Valid"], true, "{verified:#}");
    assert_eq!(verified["LogFilesValid"].as_u64(), Some(logs.len() as u64));
}

#[test]
fn verify_exits_non_zero_naming_a_changed_or_deleted_log_file() {
    let sb = Sandbox::initialized();
    let plain = key_with_plaintext(&sb);
    let args = encrypt_args(&plain);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    for _ in 0..3 {
        sb.ok(&args);
        sb.ok(&["audit", "flush", "--digest"]);
    }
    sb.ok(&args);
    sb.ok(&["audit", "flush"]);
    let out = sb.ok(&["audit", "verify"]);
    assert!(
        out.ends_with("3/3 digest files valid\n4/4 log files valid\n"),
        "{out}"
    );
    let logs = sb.rolled_files("audit");
    let victim = &logs[1];
    // One byte of one record, recompressed.
    edit_gzip(victim, "Encrypt", "Encrypu");
    let name = victim
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let result = sb.run(&["audit", "verify"]);
    assert_eq!(result.status.code(), Some(1));
    let stdout = String::from_utf8(result.stdout).expect("utf-8");
    let line = stdout.lines().find(|l| l.contains(&name)).expect("named");
    assert!(
        line.ends_with("INVALID: hash value doesn't match"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&result.stderr).contains("does not verify"));

    std::fs::remove_file(&logs[3]).expect("rm");
    let stdout = String::from_utf8(sb.run(&["audit", "verify"]).stdout).expect("utf-8");
    let gone = logs[3]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let line = stdout.lines().find(|l| l.contains(&gone)).expect("named");
    assert!(line.ends_with("INVALID: not found"), "{stdout}");
}

#[test]
fn lookup_finds_records_in_rolled_files_and_the_active_log() {
    let sb = Sandbox::initialized();
    let plain = key_with_plaintext(&sb);
    let args = encrypt_args(&plain);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sb.ok(&args);
    sb.ok(&["audit", "flush"]);
    sb.ok(&args);
    assert_eq!(sb.rolled_files("audit").len(), 1);
    assert_eq!(all_events(&sb, "Encrypt").len(), 2);
    assert_eq!(all_events(&sb, "Decrypt").len(), 0);
    let mine = sb.json(&["audit", "lookup", "--read-only", "false", "--max", "1"]);
    assert_eq!(mine["Events"].as_array().expect("events").len(), 1);
}

#[test]
fn the_public_key_is_pem_and_prune_keeps_a_verifying_chain() {
    let sb = Sandbox::initialized();
    let pem = sb.ok(&["audit", "public-key"]);
    assert!(
        pem.starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"),
        "{pem}"
    );
    assert_eq!(pem, sb.ok(&["audit", "public-key"]));
    let plain = key_with_plaintext(&sb);
    let args = encrypt_args(&plain);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sb.ok(&args);
    sb.ok(&["audit", "flush", "--digest"]);
    // Nothing is older than a day: nothing goes.
    let kept = sb.json(&["audit", "prune", "--older-than", "1"]);
    assert_eq!(kept["DeletedDigestFiles"].as_array().map(Vec::len), Some(0));
    assert_eq!(sb.json(&["audit", "verify"])["Valid"], true);
}

#[test]
fn tail_follows_new_records_across_a_roll() {
    use std::io::{BufRead, BufReader};
    let sb = Sandbox::initialized();
    let plain = key_with_plaintext(&sb);
    let args = encrypt_args(&plain);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sb.ok(&args);
    // Without -f: the newest N, oldest first.
    let last = sb.ok(&["--output", "json", "audit", "tail", "-n", "1"]);
    assert_eq!(last.lines().count(), 1);
    assert!(last.contains("\"eventName\":\"Encrypt\""), "{last}");

    let mut child = sb
        .command()
        .args(["--output", "json", "audit", "tail", "-f", "-n", "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = send.send(line);
        }
    });
    let name_of = |line: String| -> String {
        let record: Value = serde_json::from_str(&line).expect("one JSON record per line");
        record["eventName"].as_str().expect("name").to_string()
    };
    // Following has begun once a probe's record shows: until then, a record
    // appended would be before where it starts (-n 0), however slow the start.
    let probe = ["key", "describe", "--key-id", "alias/trail"];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        sb.ok(&probe);
        if let Ok(line) = receive.recv_timeout(std::time::Duration::from_millis(200)) {
            assert_eq!(name_of(line), "DescribeKey");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "tail -f showed no probe in 30 s"
        );
    }
    sb.ok(&args);
    sb.ok(&["audit", "flush"]);
    sb.ok(&["key", "list"]);
    let mut names = Vec::new();
    while names.last().map(String::as_str) != Some("ListKeys") {
        let line = receive
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("a record within 10 s");
        // Probes made before the first one showed may still be on their way.
        let name = name_of(line);
        if name != "DescribeKey" {
            names.push(name);
        }
    }
    child.kill().expect("kill");
    let _ = child.wait();
    assert_eq!(names, ["Encrypt", "ListKeys"]);
}

#[test]
fn an_auditor_verifies_with_the_public_key_alone() {
    let sb = Sandbox::initialized();
    let plain = key_with_plaintext(&sb);
    let args = encrypt_args(&plain);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    for _ in 0..2 {
        sb.ok(&args);
        sb.ok(&["audit", "flush", "--digest"]);
    }
    // Delivered after the newest digest: only the ledger vouches for it.
    sb.ok(&args);
    sb.ok(&["audit", "flush"]);
    let pem = sb.write("digest.pem", sb.ok(&["audit", "public-key"]).as_bytes());
    // No vault at all: only the audit directory beside the path given.
    let no_vault = sb.path("vault/absent.db");
    let auditor = |extra: &[&str]| {
        let mut all = vec!["--vault", s(&no_vault), "audit", "verify", "--public-key"];
        all.extend_from_slice(extra);
        sb.command().args(&all).output().expect("run")
    };
    let out = auditor(&[s(&pem)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("Ledger check skipped"), "{stdout}");
    let logs = sb.rolled_files("audit");
    assert_eq!(logs.len(), 3);
    let unchecked: Vec<&str> = stdout
        .lines()
        .filter(|l| l.ends_with("  not checked"))
        .collect();
    assert_eq!(unchecked.len(), 1, "{stdout}");
    // A log file a digest vouches for, by its object name.
    let digested = stdout
        .lines()
        .find(|l| l.starts_with("Log file") && l.ends_with("  valid"))
        .and_then(|l| l.split_whitespace().nth(2))
        .map(|object| sb.path("vault").join(object))
        .expect("a valid log file");
    assert!(
        stdout.ends_with("2/2 digest files valid\n2/2 log files valid\n"),
        "{stdout}"
    );
    let json_out = sb
        .command()
        .args([
            "--vault",
            s(&no_vault),
            "--output",
            "json",
            "audit",
            "verify",
            "--public-key",
            s(&pem),
        ])
        .output()
        .expect("run");
    let report: Value = serde_json::from_slice(&json_out.stdout).expect("json");
    assert_eq!(report["LedgerChecked"], false);
    assert_eq!(
        report["LogFilesNotChecked"].as_array().map(Vec::len),
        Some(1)
    );

    // Another key's PEM: every digest fails its signature.
    let other = Sandbox::initialized();
    let other_pem = sb.write("other.pem", other.ok(&["audit", "public-key"]).as_bytes());
    let out = auditor(&[s(&other_pem)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("INVALID: signature verification failed"));
    // Not a key: could not run.
    let out = auditor(&[s(&sb.write("junk.pem", b"junk"))]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");

    // One byte of a digested log file.
    edit_gzip(&digested, "Encrypt", "Encrypu");
    let out = auditor(&[s(&pem)]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let name = digested.file_name().expect("name").to_string_lossy();
    let line = stdout.lines().find(|l| l.contains(&*name)).expect("named");
    assert!(
        line.ends_with("INVALID: hash value doesn't match"),
        "{stdout}"
    );
}
