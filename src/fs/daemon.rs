//! Detaching `kmsfs mount`. A multi-threaded process must not fork, so the
//! waiting parent re-executes kmsfs with `--foreground` and two hidden flags:
//! `--ready-fd N`, the write end of a pipe on which the daemon reports once
//! (`ok` when the mount is live, or `err CODE MESSAGE`), and, for a passphrase
//! vault, `--passphrase-fd M`, a pipe holding the passphrase the parent read.
//! The daemon starts its own session, its stdio is /dev/null, and the parent
//! exits 0 on `ok` or relays the one error line and exit code.
//! Must not import fuser, the KMS or the CLI.

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use crate::crypto::SecretBytes;
use crate::sys;

/// The hidden flag naming the readiness pipe (the daemon side parses it).
pub const READY_FD_FLAG: &str = "--ready-fd";
/// The hidden flag naming the passphrase pipe.
pub const PASSPHRASE_FD_FLAG: &str = "--passphrase-fd";

#[derive(Debug)]
pub enum LaunchError {
    /// The pipes or the process could not be made.
    Start(io::Error),
    /// The daemon reported a failure: its exit code and one-line message.
    Failed { code: u8, message: String },
    /// The daemon ended without a report.
    Vanished(ExitStatus),
}

impl fmt::Display for LaunchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LaunchError::Start(e) => write!(f, "cannot start the mount daemon: {e}"),
            LaunchError::Failed { message, .. } => f.write_str(message),
            LaunchError::Vanished(status) => {
                write!(
                    f,
                    "the mount daemon ended before the mount was ready ({status})"
                )
            }
        }
    }
}

impl std::error::Error for LaunchError {}

/// Runs `program ARGS --ready-fd N [--passphrase-fd M]` as a detached daemon and
/// waits until it reports the mount live (`Ok`) or failed.
pub fn launch(
    program: &Path,
    args: &[OsString],
    passphrase: Option<&SecretBytes>,
) -> Result<(), LaunchError> {
    let (ready_read, ready_write) = sys::pipe().map_err(LaunchError::Start)?;
    let passphrase_pipe = passphrase
        .map(|_| sys::pipe())
        .transpose()
        .map_err(LaunchError::Start)?;

    let mut command = Command::new(program);
    command
        .args(args)
        .arg(format!("{READY_FD_FLAG}={}", ready_write.as_raw_fd()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    sys::set_inheritable(ready_write.as_fd(), true).map_err(LaunchError::Start)?;
    if let Some((read, _)) = &passphrase_pipe {
        command.arg(format!("{PASSPHRASE_FD_FLAG}={}", read.as_raw_fd()));
        sys::set_inheritable(read.as_fd(), true).map_err(LaunchError::Start)?;
    }
    let mut child = command.spawn().map_err(LaunchError::Start)?;
    // Only the daemon may hold the write end, so that its exit means end of file.
    drop(ready_write);

    if let (Some((read, write)), Some(passphrase)) = (passphrase_pipe, passphrase) {
        drop(read);
        let mut write = File::from(write);
        // A daemon that died early closed the pipe: its status tells why, below.
        let _ = write
            .write_all(passphrase.expose())
            .and_then(|()| write.write_all(b"\n"));
    }

    let mut report = String::new();
    File::from(ready_read)
        .read_to_string(&mut report)
        .map_err(LaunchError::Start)?;
    match parse_report(&report) {
        Some(Report::Ready) => Ok(()),
        Some(Report::Failed { code, message }) => {
            let _ = child.wait();
            Err(LaunchError::Failed { code, message })
        }
        None => Err(LaunchError::Vanished(
            child.wait().map_err(LaunchError::Start)?,
        )),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Report {
    Ready,
    Failed { code: u8, message: String },
}

fn parse_report(text: &str) -> Option<Report> {
    let line = text.lines().next()?;
    if line == "ok" {
        return Some(Report::Ready);
    }
    let (code, message) = line.strip_prefix("err ")?.split_once(' ')?;
    Some(Report::Failed {
        code: code.parse().ok().filter(|code| *code != 0)?,
        message: message.to_string(),
    })
}

/// The daemon's end of the readiness pipe; reports once, later reports are ignored.
#[derive(Clone)]
pub struct Reporter(Arc<Mutex<Option<File>>>);

impl Reporter {
    /// Takes the descriptor named by `--ready-fd`.
    pub fn adopt(raw: RawFd) -> io::Result<Reporter> {
        let fd = sys::adopt_inherited_fd(raw)?;
        Ok(Reporter(Arc::new(Mutex::new(Some(File::from(fd))))))
    }

    /// The mount is live: the parent may exit 0.
    pub fn ready(&self) {
        self.send("ok\n");
    }

    /// The mount failed: the parent prints `message` and exits with `code`.
    pub fn failed(&self, code: u8, message: &str) {
        let one_line = message.replace(['\n', '\r'], " ");
        self.send(&format!("err {code} {one_line}\n"));
    }

    fn send(&self, report: &str) {
        let taken = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut pipe) = taken {
            // The parent may be gone (killed while waiting): nobody to tell.
            let _ = pipe.write_all(report.as_bytes());
        }
    }
}

/// Leaves the parent's session and working directory (paths must be absolute by now).
pub fn detach() -> io::Result<()> {
    sys::new_session()?;
    std::env::set_current_dir("/")
}

/// The pipe named by `--passphrase-fd`, readable as a passphrase file at
/// [`PassphrasePipe::path`] while this value lives; dropping it closes the pipe.
pub struct PassphrasePipe {
    _fd: OwnedFd,
    path: PathBuf,
}

impl PassphrasePipe {
    pub fn adopt(raw: RawFd) -> io::Result<PassphrasePipe> {
        let fd = sys::adopt_inherited_fd(raw)?;
        let path = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        Ok(PassphrasePipe { _fd: fd, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_parse_and_garbage_does_not() {
        assert_eq!(parse_report("ok\n"), Some(Report::Ready));
        assert_eq!(
            parse_report("err 3 mountpoint /x does not exist\n"),
            Some(Report::Failed {
                code: 3,
                message: "mountpoint /x does not exist".into()
            })
        );
        assert_eq!(parse_report(""), None);
        assert_eq!(parse_report("ok then more"), None);
        assert_eq!(parse_report("err x message"), None);
        // A failure must never look like success.
        assert_eq!(parse_report("err 0 message"), None);
    }

    #[test]
    fn a_reporter_sends_one_line_once() {
        let (read, write) = sys::pipe().unwrap();
        sys::set_inheritable(write.as_fd(), true).unwrap();
        let raw = write.as_raw_fd();
        std::mem::forget(write); // adopt takes ownership of the number
        let reporter = Reporter::adopt(raw).unwrap();
        reporter.failed(1, "key disabled\nsecond line");
        reporter.ready();
        drop(reporter);
        let mut text = String::new();
        File::from(read).read_to_string(&mut text).unwrap();
        assert_eq!(text, "err 1 key disabled second line\n");
        assert_eq!(
            parse_report(&text),
            Some(Report::Failed {
                code: 1,
                message: "key disabled second line".into()
            })
        );
    }

    #[test]
    fn the_passphrase_pipe_reads_as_a_file() {
        let (read, write) = sys::pipe().unwrap();
        File::from(write).write_all(b"s3cret\n").unwrap();
        let raw = read.as_raw_fd();
        std::mem::forget(read); // adopt takes ownership of the number
        let pipe = PassphrasePipe::adopt(raw).unwrap();
        assert_eq!(std::fs::read(pipe.path()).unwrap(), b"s3cret\n");
    }

    #[test]
    fn a_program_that_never_reports_has_vanished() {
        let err = launch(Path::new("/bin/sh"), &["-c".into(), "exit 7".into()], None).unwrap_err();
        match err {
            LaunchError::Vanished(status) => assert_eq!(status.code(), Some(7)),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn a_program_reporting_on_the_pipe_is_heard() {
        // The flag is the script's last argument; /dev/fd/N because dash
        // redirects only descriptors 0 to 9.
        let script = r#"eval fd=\${$#}; fd=${fd#--ready-fd=}; echo "err 4 no volume here" >/dev/fd/$fd; exit 4"#;
        let err = launch(
            Path::new("/bin/sh"),
            &["-c".into(), script.into(), "sh".into()],
            None,
        )
        .unwrap_err();
        match err {
            LaunchError::Failed { code, message } => {
                assert_eq!((code, message.as_str()), (4, "no volume here"))
            }
            other => panic!("{other}"),
        }
        let script = r#"eval fd=\${$#}; fd=${fd#--ready-fd=}; echo ok >/dev/fd/$fd"#;
        launch(
            Path::new("/bin/sh"),
            &["-c".into(), script.into(), "sh".into()],
            None,
        )
        .unwrap();
    }

    #[test]
    fn the_passphrase_reaches_the_program() {
        let secret = SecretBytes::new(b"pass phrase".to_vec());
        // Last argument: --passphrase-fd=M; before it --ready-fd=N.
        let script = r#"
            eval p=\${$#}; p=${p#--passphrase-fd=}
            eval r=\${$(($#-1))}; r=${r#--ready-fd=}
            read line </dev/fd/$p
            if [ "$line" = "pass phrase" ]; then echo ok >/dev/fd/$r; else echo "err 1 got $line" >/dev/fd/$r; fi"#;
        launch(
            Path::new("/bin/sh"),
            &["-c".into(), script.into(), "sh".into()],
            Some(&secret),
        )
        .unwrap();
    }
}
