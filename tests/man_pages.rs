//! The man pages in man/ are generated from the clap definitions. This test
//! fails when they drift; regenerate them with `KMSFS_UPDATE_MAN=1 cargo test --test man_pages`.

use std::path::PathBuf;

use clap::CommandFactory;
use kmsfs::cli::args::Cli;

/// Every page: kmsfs(1) and one per subcommand at every depth (kmsfs-key-create(1)),
/// as (file name, roff text).
fn pages() -> Vec<(String, Vec<u8>)> {
    let mut root = Cli::command();
    // Building propagates the global options into every subcommand's page.
    root.build();
    let mut pages = Vec::new();
    collect(root, "kmsfs".to_string(), &mut pages);
    pages
}

fn collect(cmd: clap::Command, name: String, pages: &mut Vec<(String, Vec<u8>)>) {
    for sub in cmd.get_subcommands().filter(|sub| sub.get_name() != "help") {
        collect(sub.clone(), format!("{name}-{}", sub.get_name()), pages);
    }
    let mut out = Vec::new();
    let page = cmd.name(name.clone()).bin_name(name.replace('-', " "));
    clap_mangen::Man::new(page)
        .render(&mut out)
        .expect("rendering to memory cannot fail");
    pages.push((format!("{name}.1"), out));
}

#[test]
fn man_pages_match_the_command_line() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("man");
    let update = std::env::var_os("KMSFS_UPDATE_MAN").is_some();
    let mut stale = Vec::new();
    let pages = pages();
    for (name, text) in &pages {
        let path = dir.join(name);
        if update {
            std::fs::write(&path, text).unwrap();
        } else if std::fs::read(&path).ok().as_deref() != Some(&text[..]) {
            stale.push(name.clone());
        }
    }
    // A page whose command is gone is drift too.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        let generated = file.ends_with(".1") && file.starts_with("kmsfs");
        if generated && !pages.iter().any(|(name, _)| *name == file) {
            if update {
                std::fs::remove_file(dir.join(&file)).unwrap();
            } else {
                stale.push(file);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "man pages out of date: {stale:?}; run KMSFS_UPDATE_MAN=1 cargo test --test man_pages"
    );
}
