//! `kmsfs completions bash|zsh|fish`: each script names the subcommands
//! (the new ones too) and bash accepts it; an unknown shell is refused.

mod common;

use std::process::Command;

use common::Sandbox;

#[test]
fn completion_scripts_name_the_subcommands_and_bash_sources_them() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish"] {
        let script = sb.ok(&["completions", shell]);
        for word in ["fsck", "rewrap", "passwd", "install-helper"] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
    }
    let script = sb.write("kmsfs.bash", sb.ok(&["completions", "bash"]).as_bytes());
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(". {} && complete -p kmsfs", script.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("_kmsfs"));
    let out = sb.run(&["completions", "powershell-9"]);
    assert_eq!(out.status.code(), Some(2));
}
