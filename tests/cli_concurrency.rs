//! Several processes appending to one audit log at once never interleave or lose a record.

mod common;

use std::collections::HashSet;

use common::{s, Sandbox};

#[test]
fn four_processes_times_two_hundred_requests() {
    const PROCESSES: usize = 4;
    const REQUESTS: usize = 200;
    let sb = Sandbox::initialized();
    sb.ok(&["key", "create", "--alias", "alias/busy"]);
    let plain = sb.write("p", b"payload");
    let before = sb.records().len();

    // Each worker is a shell loop: REQUESTS separate kmsfs processes, run beside the others.
    let script = format!(
        "for i in $(seq {REQUESTS}); do \"$0\" encrypt --key-id alias/busy --plaintext-file {} --encryption-context worker=$1 >/dev/null || exit 1; done",
        s(&plain)
    );
    let workers: Vec<_> = (0..PROCESSES)
        .map(|w| {
            let cmd = sb.command();
            let program = cmd.get_program().to_owned();
            std::process::Command::new("sh")
                .arg("-c")
                .arg(&script)
                .arg(program)
                .arg(w.to_string())
                .envs(
                    cmd.get_envs()
                        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
                )
                .spawn()
                .unwrap()
        })
        .collect();
    for mut worker in workers {
        assert!(worker.wait().unwrap().success());
    }

    let records = sb.records();
    let new = &records[before..];
    assert_eq!(new.len(), PROCESSES * REQUESTS);
    let ids: HashSet<&str> = new.iter().map(|r| r["eventID"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), PROCESSES * REQUESTS, "eventIDs must be unique");
    for worker in 0..PROCESSES {
        let count = new
            .iter()
            .filter(|r| {
                r["eventName"] == "Encrypt"
                    && r["requestParameters"]["encryptionContext"]["worker"].as_str()
                        == Some(worker.to_string().as_str())
            })
            .count();
        assert_eq!(count, REQUESTS, "worker {worker}");
    }
    assert!(new.iter().all(|r| r.get("errorCode").is_none()));
}
