//! Checklist rows "O_APPEND under concurrency", "O_EXCL races" and "readdir
//! while entries change".

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Barrier};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::common::mount::MountedVolume;

/// Every record is this long, newline included: "WRITER SEQ" padded with dots.
const RECORD: usize = 48;

fn record(writer: &str, seq: usize) -> String {
    let head = format!("{writer} {seq:06} ");
    format!("{head}{}\n", ".".repeat(RECORD - head.len() - 1))
}

#[test]
fn o_append_records_from_threads_and_processes_stay_whole() {
    let Some(vol) = MountedVolume::new("o_append_records_from_threads_and_processes_stay_whole")
    else {
        return;
    };
    const THREADS: usize = 4;
    const PROCESSES: usize = 2;
    const EACH: usize = 300;
    let log = vol.path("log");
    std::fs::write(&log, b"").unwrap();

    // Processes: a shell appending with `>>` (O_APPEND, one write per printf).
    let script = format!(
        "i=0; while [ $i -lt {EACH} ]; do printf '%s %06d %s\\n' \"$1\" $i \
         '{dots}' >>\"$2\"; i=$((i+1)); done",
        dots = ".".repeat(RECORD - "p0 000000 \n".len())
    );
    let children: Vec<_> = (0..PROCESSES)
        .map(|p| {
            Command::new("sh")
                .args(["-c", &script, "sh", &format!("p{p}"), log.to_str().unwrap()])
                .spawn()
                .unwrap()
        })
        .collect();
    // Threads: one O_APPEND descriptor each, one write(2) per record.
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
                for seq in 0..EACH {
                    let line = record(&format!("t{t}"), seq);
                    assert_eq!(file.write(line.as_bytes()).unwrap(), RECORD);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }

    let text = std::fs::read_to_string(&log).unwrap();
    let writers = THREADS + PROCESSES;
    assert_eq!(text.len(), writers * EACH * RECORD, "records lost or torn");
    let mut seen: HashMap<String, BTreeSet<usize>> = HashMap::new();
    for line in text.split_inclusive('\n') {
        let mut words = line.split(' ');
        let (writer, seq) = (words.next().unwrap(), words.next().unwrap());
        let seq: usize = seq.parse().unwrap_or_else(|_| panic!("torn: {line:?}"));
        assert_eq!(line, record(writer, seq), "a torn record");
        assert!(
            seen.entry(writer.to_string()).or_default().insert(seq),
            "{writer} {seq} twice"
        );
    }
    assert_eq!(seen.len(), writers);
    for (writer, seqs) in seen {
        assert_eq!(seqs.len(), EACH, "{writer} lost records");
    }
}

#[test]
fn o_excl_races_have_exactly_one_winner() {
    let Some(vol) = MountedVolume::new("o_excl_races_have_exactly_one_winner") else {
        return;
    };
    const RACERS: usize = 6;
    const ROUNDS: usize = 25;
    let barrier = Arc::new(Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|r| {
            let (barrier, root) = (barrier.clone(), vol.mnt.clone());
            std::thread::spawn(move || {
                let mut won = Vec::new();
                for round in 0..ROUNDS {
                    barrier.wait();
                    let name = root.join(format!("race-{round}"));
                    let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC;
                    match rustix::fs::open(&name, flags, Mode::from_raw_mode(0o644)) {
                        Ok(fd) => {
                            rustix::io::write(&fd, format!("racer {r}").as_bytes()).unwrap();
                            won.push(round);
                        }
                        Err(e) => assert_eq!(e, Errno::EXIST, "racer {r} round {round}"),
                    }
                }
                won
            })
        })
        .collect();
    let mut winners = vec![Vec::new(); ROUNDS];
    for (r, racer) in racers.into_iter().enumerate() {
        for round in racer.join().unwrap() {
            winners[round].push(r);
        }
    }
    for (round, won) in winners.iter().enumerate() {
        assert_eq!(won.len(), 1, "round {round}: winners {won:?}");
        let text = std::fs::read_to_string(vol.path(&format!("race-{round}"))).unwrap();
        assert_eq!(text, format!("racer {}", won[0]), "round {round}");
    }
}

/// The names of one readdir pass, in the order returned.
fn list(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect()
}

#[test]
fn readdir_of_thousands_of_changing_entries_keeps_the_unchanged_ones_once() {
    let Some(vol) = MountedVolume::new(
        "readdir_of_thousands_of_changing_entries_keeps_the_unchanged_ones_once",
    ) else {
        return;
    };
    const STABLE: usize = 3000;
    let dir = vol.path("big");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..STABLE {
        std::fs::File::create(dir.join(format!("stable-{i:05}"))).unwrap();
    }
    let stable: BTreeSet<String> = (0..STABLE).map(|i| format!("stable-{i:05}")).collect();
    assert_eq!(list(&dir).into_iter().collect::<BTreeSet<_>>(), stable);

    // A churner creates, renames and removes other entries meanwhile.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churner = {
        let (dir, stop) = (dir.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let name = dir.join(format!("churn-{}", n % 400));
                std::fs::write(&name, b"x").unwrap();
                std::fs::rename(&name, dir.join(format!("moved-{}", n % 400))).unwrap();
                if n % 3 == 0 {
                    std::fs::remove_file(dir.join(format!("moved-{}", (n + 200) % 400))).ok();
                }
                n += 1;
            }
            n
        })
    };
    let mut passes = 0;
    let started = std::time::Instant::now();
    while passes < 5 || started.elapsed() < std::time::Duration::from_secs(2) {
        let names = list(&dir);
        let mut once = BTreeSet::new();
        for name in &names {
            if name.starts_with("stable-") {
                assert!(once.insert(name.clone()), "pass {passes}: {name} twice");
            }
        }
        let missing: Vec<_> = stable.difference(&once).take(5).collect();
        assert!(missing.is_empty(), "pass {passes}: missing {missing:?}");
        passes += 1;
        if passes >= 20 {
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let churned = churner.join().unwrap();
    assert!(
        churned > 10,
        "the directory hardly changed ({churned} rounds)"
    );
    eprintln!("{passes} readdir passes of {STABLE}+ entries during {churned} churn rounds");
}
