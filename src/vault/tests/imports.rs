//! The vault stays below the service: no module of it names `kms`, `policy`,
//! `audit`, `fs` or `cli`.

use std::fs;
use std::path::Path;

const FORBIDDEN: [&str; 5] = [
    "crate::kms",
    "crate::policy",
    "crate::audit",
    "crate::fs",
    "crate::cli",
];

/// The forbidden module paths that `source` names.
fn forbidden_in(source: &str) -> Vec<&'static str> {
    FORBIDDEN
        .into_iter()
        .filter(|path| {
            source.match_indices(path).any(|(at, _)| {
                // `crate::fs` must not match `crate::fsck`, say.
                let next = source[at + path.len()..].chars().next();
                !next.is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_checker_sees_forbidden_imports() {
    assert_eq!(forbidden_in("use crate::kms::Kms;"), ["crate::kms"]);
    assert_eq!(forbidden_in("use crate::fs::dir;"), ["crate::fs"]);
    assert!(forbidden_in("use crate::fsck;\nuse crate::model::KeyId;").is_empty());
}

#[test]
fn the_vault_imports_nothing_above_it() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/vault"),
        &mut files,
    );
    assert!(files.len() > 10, "found only {files:?}");
    for file in files {
        if file.ends_with("tests/imports.rs") {
            continue;
        }
        let source = fs::read_to_string(&file).unwrap();
        assert!(
            forbidden_in(&source).is_empty(),
            "{} imports {:?}",
            file.display(),
            forbidden_in(&source)
        );
    }
}
