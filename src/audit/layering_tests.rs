//! Keeps the module's import rule true: no file of `audit` may name the layers
//! above it (this file is the one exception, as it must spell their names).

use std::fs;
use std::path::{Path, PathBuf};

const FORBIDDEN_LAYERS: [&str; 5] = ["vault", "kms", "policy", "fs", "cli"];

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src/audit") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// Code lines (comments dropped) of every audit source file but this one.
fn audit_code() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/audit");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files
        .into_iter()
        .filter(|path| !path.ends_with("layering_tests.rs"))
        .flat_map(|path| {
            let text = fs::read_to_string(&path).expect("read source");
            text.lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .map(|line| (path.clone(), line.to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn audit_imports_no_layer_above_it() {
    let code = audit_code();
    // The scan sees real code: the model import is there.
    assert!(code.iter().any(|(_, line)| line.contains("crate::model")));
    let forbidden: Vec<String> = FORBIDDEN_LAYERS
        .iter()
        .map(|layer| format!("crate::{layer}"))
        .chain(["rusqlite".to_string()])
        .collect();
    for (path, line) in &code {
        for name in &forbidden {
            let hit = line.match_indices(name.as_str()).any(|(at, _)| {
                // `crate::fs` must not match `crate::fsck`-like longer names.
                !line[at + name.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
            });
            assert!(!hit, "{} imports {name}: {line}", path.display());
        }
    }
}
