//! The module graph is the architecture: each external crate that touches the
//! outside world or key material has one home, and the pure layers import
//! nothing above them. This test fails when a forbidden use appears.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// (what, the only module allowed to use it)
const HOMES: &[(&str, &str)] = &[
    ("fuser::", "fs"),
    ("rusqlite::", "vault"),
    ("aes_gcm::", "crypto"),
    ("chacha20poly1305::", "crypto"),
    ("aws_lc_rs::", "crypto"),
    ("chacha20::", "crypto"),
    ("aes_siv::", "crypto"),
    ("argon2::", "crypto"),
    ("ed25519_dalek::", "audit"),
    ("flate2::", "audit"),
    ("rustix::", "fs"),
    ("libc::", "sys"),
    ("unsafe ", "sys"),
];

/// (module, crate modules it must not import)
const LAYERS: &[(&str, &[&str])] = &[
    (
        "crypto",
        &[
            "model", "format", "policy", "vault", "kms", "audit", "object", "volume", "fs", "cli",
            "sys",
        ],
    ),
    (
        "model",
        &[
            "crypto", "format", "policy", "vault", "kms", "audit", "object", "volume", "fs", "cli",
            "sys",
        ],
    ),
    (
        "format",
        &[
            "policy", "vault", "kms", "audit", "object", "volume", "fs", "cli", "sys",
        ],
    ),
    (
        "policy",
        &[
            "crypto", "format", "vault", "kms", "audit", "object", "volume", "fs", "cli", "sys",
        ],
    ),
    (
        "object",
        &["policy", "vault", "kms", "audit", "volume", "fs", "cli"],
    ),
    (
        "vault",
        &["policy", "kms", "audit", "object", "volume", "fs", "cli"],
    ),
    (
        "audit",
        &["policy", "vault", "kms", "object", "volume", "fs", "cli"],
    ),
    ("kms", &["object", "volume", "fs", "cli"]),
    ("volume", &["fs", "cli"]),
    ("fs", &["cli"]),
];

/// The top-level module a source file belongs to (`src/kms/data.rs` -> `kms`).
fn module_of(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap();
    let first = relative
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// Code lines only: comments mention crates without using them.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
}

#[test]
fn each_outside_crate_has_one_home_and_layers_point_inwards() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut violations = Vec::new();
    // Tests may reach further (e.g. setrlimit to provoke a short write).
    let is_test = |path: &Path| {
        path.components().any(|c| c.as_os_str() == "tests") || path.ends_with("tests.rs")
    };
    for path in files.iter().filter(|path| !is_test(path)) {
        let module = module_of(&root, path);
        let text = std::fs::read_to_string(path).unwrap();
        for (number, line) in code_lines(&text) {
            for (needle, home) in HOMES {
                if line.contains(needle) && module != *home {
                    violations.push(format!(
                        "{}:{}: {needle} outside {home}",
                        path.display(),
                        number + 1
                    ));
                }
            }
            for (layer, forbidden) in LAYERS {
                if module != *layer {
                    continue;
                }
                for other in *forbidden {
                    if line.contains(&format!("crate::{other}::"))
                        || line.contains(&format!("crate::{other};"))
                        || line.contains(&format!("crate::{other}::{{"))
                    {
                        violations.push(format!(
                            "{}:{}: {layer} imports {other}",
                            path.display(),
                            number + 1
                        ));
                    }
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "architecture violations:\n{}",
        violations.join("\n")
    );
}
