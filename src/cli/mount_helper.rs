//! mount(8)'s conventions: run as `mount.fuse.kmsfs BACKING MOUNTPOINT -o
//! OPTIONS` (a symlink to kmsfs, made by `kmsfs install-helper`), kmsfs turns
//! the call into `kmsfs [--vault V] [--passphrase-file F] mount BACKING
//! MOUNTPOINT [flags]`. This is what `mount -t fuse.kmsfs` and an /etc/fstab
//! line run. Options: vault=PATH, passphrase-file=FILE, key-id=KEY, ro, rw,
//! no-allow-other, no-default-permissions; mount(8)'s generic options
//! (defaults, auto, noauto, nofail, user, _netdev, x-systemd.*, ...) are ignored.

use std::ffi::{OsStr, OsString};
use std::path::Path;

/// The name mount(8) looks for: `mount.<type>` with type `fuse.kmsfs`.
pub const HELPER_NAME: &str = "mount.fuse.kmsfs";

/// Whether this process was started as the mount helper (by its symlink's name).
pub fn started_as_helper(argv0: &OsStr) -> bool {
    Path::new(argv0).file_name() == Some(OsStr::new(HELPER_NAME))
}

/// The kmsfs command line equivalent to a helper call `args` (without argv[0]).
pub fn translate(args: &[OsString]) -> Result<Vec<OsString>, String> {
    let mut positional = Vec::new();
    let mut options = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.to_str() {
            Some("-o") => {
                let list = it.next().ok_or("-o needs a list of options")?;
                let list = list.to_str().ok_or("the mount options are not UTF-8")?;
                options.extend(
                    list.split(',')
                        .filter(|o| !o.is_empty())
                        .map(str::to_string),
                );
            }
            // mount(8) may pass -n (no mtab), -s (sloppy), -v (verbose), -f (fake).
            Some(flag) if flag.starts_with('-') && flag.len() == 2 => {}
            _ => positional.push(arg.clone()),
        }
    }
    let [backing, mountpoint] = <[OsString; 2]>::try_from(positional)
        .map_err(|_| format!("usage: {HELPER_NAME} BACKING MOUNTPOINT [-o OPTIONS]"))?;
    let mut global: Vec<OsString> = vec!["kmsfs".into()];
    let mut flags: Vec<OsString> = Vec::new();
    for option in &options {
        match option.split_once('=') {
            Some(("vault", path)) => global.extend(["--vault".into(), path.into()]),
            Some(("passphrase-file", path)) => {
                global.extend(["--passphrase-file".into(), path.into()])
            }
            Some(("key-id", key)) => flags.extend(["--key-id".into(), key.into()]),
            Some((name, _)) if is_generic(name) => {}
            Some((name, _)) => return Err(format!("unknown mount option '{name}'")),
            None => match option.as_str() {
                "ro" => flags.push("--read-only".into()),
                "no-allow-other" => flags.push("--no-allow-other".into()),
                "no-default-permissions" => flags.push("--no-default-permissions".into()),
                name if name == "rw" || is_generic(name) => {}
                name => return Err(format!("unknown mount option '{name}'")),
            },
        }
    }
    global.extend(["mount".into(), backing, mountpoint]);
    global.extend(flags);
    Ok(global)
}

/// mount(8)'s own options, and FUSE defaults kmsfs always sets.
fn is_generic(name: &str) -> bool {
    const GENERIC: &[&str] = &[
        "defaults",
        "auto",
        "noauto",
        "nofail",
        "user",
        "nouser",
        "users",
        "owner",
        "group",
        "_netdev",
        "exec",
        "noexec",
        "suid",
        "nosuid",
        "dev",
        "nodev",
        "atime",
        "noatime",
        "relatime",
        "allow_other",
        "default_permissions",
    ];
    GENERIC.contains(&name) || name.starts_with("x-") || name.starts_with("comment")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(args: &[&str]) -> Result<Vec<String>, String> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        translate(&args).map(|out| out.into_iter().map(|a| a.into_string().unwrap()).collect())
    }

    #[test]
    fn fstab_options_become_kmsfs_flags() {
        assert_eq!(
            call(&[
                "/b",
                "/m",
                "-o",
                "rw,vault=/v/vault.db,passphrase-file=/etc/p,key-id=alias/k,ro,noauto,x-systemd.automount"
            ])
            .unwrap(),
            [
                "kmsfs",
                "--vault",
                "/v/vault.db",
                "--passphrase-file",
                "/etc/p",
                "mount",
                "/b",
                "/m",
                "--key-id",
                "alias/k",
                "--read-only"
            ]
        );
        assert_eq!(
            call(&["-n", "/b", "/m"]).unwrap(),
            ["kmsfs", "mount", "/b", "/m"]
        );
    }

    #[test]
    fn unknown_options_and_missing_arguments_are_refused() {
        assert!(call(&["/b", "/m", "-o", "bogus"])
            .unwrap_err()
            .contains("bogus"));
        assert!(call(&["/b", "/m", "-o", "key=1"])
            .unwrap_err()
            .contains("key"));
        assert!(call(&["/b"]).unwrap_err().contains("usage"));
        assert!(call(&["/b", "/m", "-o"]).is_err());
    }

    #[test]
    fn only_the_helper_name_starts_the_helper() {
        assert!(started_as_helper(OsStr::new("/sbin/mount.fuse.kmsfs")));
        assert!(!started_as_helper(OsStr::new("/usr/bin/kmsfs")));
    }
}
