//! `kmsfs demo`: the first-KMS-lesson story on this host, step by step, in a
//! temporary directory that is removed afterwards (also on Ctrl-C and on
//! failure). Every step runs the real `kmsfs` binary or a real program, prints
//! the command a user would type and its evidence, and checks its outcome:
//! the demo exits 0 only if every step behaved as it should.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use super::error::CliError;
use crate::sys;

const NOBODY: u32 = 65534;
const SECRET_TEXT: &str = "the launch codes are 0000\n";

/// A step's expected outcome.
enum Expect {
    Success,
    /// Fails, and its stderr contains this text.
    Failure(&'static str),
}

struct Demo {
    dir: PathBuf,
    kmsfs: PathBuf,
    mounted: bool,
    step: usize,
}

impl Demo {
    fn vault(&self) -> PathBuf {
        self.dir.join("vault/vault.db")
    }
    fn backing(&self) -> PathBuf {
        self.dir.join("backing")
    }
    fn mountpoint(&self) -> PathBuf {
        self.dir.join("mnt")
    }
    fn secret(&self) -> PathBuf {
        self.mountpoint().join("secret.txt")
    }

    fn title(&mut self, text: &str) {
        self.step += 1;
        println!("\n== {}. {text}", self.step);
    }

    /// Runs `program args` (as `as_nobody` or the caller), prints it and its
    /// trimmed output, and checks the outcome.
    fn run(
        &self,
        shown: &str,
        program: &Path,
        args: &[&str],
        as_nobody: bool,
        expect: Expect,
    ) -> Result<Output, CliError> {
        self.run_showing(shown, program, args, as_nobody, expect, true)
    }

    fn run_showing(
        &self,
        shown: &str,
        program: &Path,
        args: &[&str],
        as_nobody: bool,
        expect: Expect,
        echo_output: bool,
    ) -> Result<Output, CliError> {
        if sys::interrupted() {
            return Err(CliError::Other("interrupted".into()));
        }
        println!("$ {shown}");
        let mut command = Command::new(program);
        command
            .args(args)
            .env("KMSFS_VAULT", self.vault())
            .env_remove("KMSFS_PASSPHRASE_FILE");
        if as_nobody {
            // As root, std also clears the supplementary groups when it switches uid.
            use std::os::unix::process::CommandExt;
            command.uid(NOBODY).gid(NOBODY);
        }
        let output = command
            .output()
            .map_err(|e| CliError::Other(format!("cannot run {}: {e}", program.display())))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if echo_output {
            for line in stdout.lines().chain(stderr.lines()).take(12) {
                println!("  {line}");
            }
        }
        let behaved = match expect {
            Expect::Success => output.status.success(),
            Expect::Failure(text) => !output.status.success() && stderr.contains(text),
        };
        if !behaved {
            return Err(CliError::Other(format!(
                "demo step {} did not behave as expected: {shown}",
                self.step
            )));
        }
        Ok(output)
    }

    fn kmsfs(&self, args: &[&str], expect: Expect) -> Result<Output, CliError> {
        self.run(
            &format!("kmsfs {}", args.join(" ")),
            &self.kmsfs.clone(),
            args,
            false,
            expect,
        )
    }

    fn cat(&self, as_nobody: bool, expect: Expect) -> Result<Output, CliError> {
        let secret = self.secret();
        let shown = match as_nobody {
            true => format!(
                "setpriv --reuid=nobody --regid=nogroup --clear-groups cat {}",
                secret.display()
            ),
            false => format!("cat {}", secret.display()),
        };
        self.run(
            &shown,
            Path::new("/bin/cat"),
            &[&secret.to_string_lossy()],
            as_nobody,
            expect,
        )
    }

    /// The newest Decrypt records, trimmed to who, what, which program, and the outcome.
    fn show_decrypts(&self, count: usize) -> Result<Vec<Value>, CliError> {
        let max = count.to_string();
        let args = [
            "audit",
            "lookup",
            "--event-name",
            "Decrypt",
            "--max",
            &max,
            "--output",
            "json",
        ];
        let shown = format!("kmsfs {}", args.join(" "));
        let output = self.run_showing(
            &shown,
            &self.kmsfs.clone(),
            &args,
            false,
            Expect::Success,
            false,
        )?;
        let parsed: Value = serde_json::from_slice(&output.stdout)
            .map_err(|e| CliError::Other(format!("audit lookup printed no JSON: {e}")))?;
        let events = parsed["Events"].as_array().cloned().unwrap_or_default();
        println!("  (newest first, trimmed to the interesting fields)");
        for event in &events {
            println!(
                "  {} {} user={} process={} path={} {}",
                event["eventTime"].as_str().unwrap_or("-"),
                event["eventName"].as_str().unwrap_or("-"),
                event["userIdentity"]["userName"].as_str().unwrap_or("-"),
                event["sourceProcess"]["comm"].as_str().unwrap_or("-"),
                event["requestParameters"]["encryptionContext"]["kmsfs:path"]
                    .as_str()
                    .unwrap_or("-"),
                event["errorCode"].as_str().unwrap_or("allowed"),
            );
        }
        Ok(events)
    }

    fn story(&mut self) -> Result<(), CliError> {
        let vault = self.vault();
        let (backing, mnt) = (self.backing(), self.mountpoint());
        let (backing_s, mnt_s) = (
            backing.to_string_lossy().into_owned(),
            mnt.to_string_lossy().into_owned(),
        );
        println!(
            "kmsfs demo: everything happens under {} and is removed at the end.",
            self.dir.display()
        );
        println!("$ export KMSFS_VAULT={}", vault.display());

        self.title("Create the key vault and a customer master key, alias/myFirstKey");
        self.kmsfs(&["init"], Expect::Success)?;
        self.kmsfs(
            &[
                "key",
                "create",
                "--alias",
                "alias/myFirstKey",
                "--description",
                "kmsfs demo key",
            ],
            Expect::Success,
        )?;

        self.title("Create an encrypted volume under that key and mount it");
        // Both 0755: the mount's root shows the backing root's mode, and nobody must be
        // able to reach the file, so that it is the key policy that refuses.
        for dir in [&backing, &mnt] {
            std::fs::create_dir(dir)
                .and_then(|()| {
                    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
                })
                .map_err(CliError::write(dir))?;
        }
        self.kmsfs(
            &[
                "volume",
                "create",
                &backing_s,
                "--key-id",
                "alias/myFirstKey",
            ],
            Expect::Success,
        )?;
        self.kmsfs(&["mount", &backing_s, &mnt_s], Expect::Success)?;
        self.mounted = true;

        self.title("Write a file as the owner (mode 0644) and read it back");
        println!(
            "$ echo {:?} > {} && chmod 644 {}",
            SECRET_TEXT.trim_end(),
            self.secret().display(),
            self.secret().display()
        );
        std::fs::write(self.secret(), SECRET_TEXT).map_err(CliError::write(&self.secret()))?;
        std::fs::set_permissions(self.secret(), std::fs::Permissions::from_mode(0o644))
            .map_err(CliError::write(&self.secret()))?;
        let read = self.cat(false, Expect::Success)?;
        if read.stdout != SECRET_TEXT.as_bytes() {
            return Err(CliError::Other(
                "the owner read back other bytes than were written".into(),
            ));
        }
        println!("  on disk there is only ciphertext:");
        for entry in std::fs::read_dir(&backing)
            .map_err(CliError::read(&backing))?
            .flatten()
        {
            println!("  {}", entry.file_name().to_string_lossy());
        }

        self.title(
            "Read it as another user, nobody: the key policy refuses, although mode bits allow",
        );
        self.cat(true, Expect::Failure("Permission denied"))?;

        self.title("The audit log has both requests: the owner's Decrypt and nobody's refusal");
        let events = self.show_decrypts(2)?;
        let refused = events.first().is_some_and(|e| {
            e["errorCode"] == "AccessDenied" && e["userIdentity"]["userName"] == "nobody"
        });
        if !refused {
            return Err(CliError::Other(
                "the refused read is not the newest Decrypt record".into(),
            ));
        }

        self.title("Make nobody a key user: the same read is now allowed, without remounting");
        self.kmsfs(
            &[
                "policy",
                "add-user",
                "--key-id",
                "alias/myFirstKey",
                "user:nobody",
            ],
            Expect::Success,
        )?;
        self.cat(true, Expect::Success)?;

        self.title("Remove nobody again: refused again");
        self.kmsfs(
            &[
                "policy",
                "remove-user",
                "--key-id",
                "alias/myFirstKey",
                "user:nobody",
            ],
            Expect::Success,
        )?;
        self.cat(true, Expect::Failure("Permission denied"))?;

        self.title("Disable the key: every read is refused, the owner's too");
        self.kmsfs(
            &["key", "disable", "--key-id", "alias/myFirstKey"],
            Expect::Success,
        )?;
        self.cat(false, Expect::Failure("Permission denied"))?;
        self.show_decrypts(1)?;

        self.title("Schedule the key's deletion with a 7-day window, then cancel it");
        self.kmsfs(
            &[
                "key",
                "schedule-deletion",
                "--key-id",
                "alias/myFirstKey",
                "--pending-window-days",
                "7",
            ],
            Expect::Success,
        )?;
        self.kmsfs(
            &["key", "cancel-deletion", "--key-id", "alias/myFirstKey"],
            Expect::Success,
        )?;
        self.kmsfs(
            &["key", "describe", "--key-id", "alias/myFirstKey"],
            Expect::Success,
        )?;

        self.title("Unmount");
        self.kmsfs(&["umount", &mnt_s], Expect::Success)?;
        self.mounted = false;
        println!("\nkmsfs demo: every step behaved as it should.");
        Ok(())
    }

    /// Unmounts and removes everything, whatever happened.
    fn clean_up(&mut self) {
        if self.mounted {
            // A busy or half-dead mount is detached rather than left behind.
            let _ = crate::fs::unmount::unmount_kmsfs(&self.mountpoint(), true);
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!(
                "kmsfs: warning: could not remove {}: {e}",
                self.dir.display()
            );
        }
    }
}

pub fn run() -> Result<(), CliError> {
    if sys::effective_uid() != 0 {
        return Err(CliError::Usage(
            "kmsfs demo needs root: it mounts with allow_other and reads a file as user nobody; run it with sudo".into(),
        ));
    }
    let kmsfs = std::env::current_exe()
        .map_err(|e| CliError::Other(format!("cannot find the kmsfs binary: {e}")))?;
    let dir = tempfile::Builder::new()
        .prefix("kmsfs-demo-")
        .tempdir()
        .map_err(|e| CliError::Other(format!("cannot create a temporary directory: {e}")))?
        .keep();
    // nobody must be able to reach the mountpoint to be refused by the key policy, not by the path.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
        .map_err(CliError::write(&dir))?;
    sys::catch_interrupts();
    let mut demo = Demo {
        dir,
        kmsfs,
        mounted: false,
        step: 0,
    };
    let outcome = demo.story();
    demo.clean_up();
    outcome
}
