//! `kmsfs mount` and `kmsfs umount`: thin handlers over `fs::daemon` (detaching),
//! `fs::mount` (serving) and `fs::unmount`.

use std::ffi::OsString;
use std::path::Path;

use super::args::{AuditSync, AuditTrailArgs, Cli, InsightArgs, MountArgs, UmountArgs};
use super::error::CliError;
use super::mount_audit::MountAudit;
use super::session;
use crate::fs::daemon::{self, LaunchError, PassphrasePipe, Reporter};
use crate::fs::mount::{self, MountError, MountOptions, ReadySignal};
use crate::fs::unmount::{self, UnmountError};
use crate::fs::{EncryptedFs, FsError, FsOptions};
use crate::sys;
use crate::vault::{Protection, Vault};
use crate::volume::Volume;

impl From<MountError> for CliError {
    fn from(err: MountError) -> Self {
        CliError::Other(err.to_string())
    }
}

impl From<UnmountError> for CliError {
    fn from(err: UnmountError) -> Self {
        CliError::Other(err.to_string())
    }
}

impl From<LaunchError> for CliError {
    fn from(err: LaunchError) -> Self {
        match err {
            LaunchError::Failed { code, message } => CliError::Relayed { code, message },
            other => CliError::Other(other.to_string()),
        }
    }
}

impl From<FsError> for CliError {
    fn from(err: FsError) -> Self {
        match err {
            FsError::Volume(volume) => volume.into(),
            FsError::Kms(kms) => CliError::Kms(kms),
            other => CliError::Other(other.to_string()),
        }
    }
}

/// `kmsfs mount`: in the background unless `--foreground`.
pub fn mount(cli: &Cli, vault: &Path, args: &MountArgs) -> Result<(), CliError> {
    if !args.foreground {
        return launch_daemon(cli, vault, args);
    }
    let Some(ready_fd) = args.ready_fd else {
        return serve(cli, vault, args, ReadySignal::new(|| log::info!("mounted")));
    };
    // The background daemon: every failure goes to the waiting parent.
    let reporter = Reporter::adopt(ready_fd)
        .map_err(|e| CliError::Other(format!("cannot use the readiness pipe: {e}")))?;
    let on_ready = reporter.clone();
    let result = daemon::detach()
        .map_err(|e| CliError::Other(format!("cannot detach the mount daemon: {e}")))
        .and_then(|()| serve(cli, vault, args, ReadySignal::new(move || on_ready.ready())));
    if let Err(err) = &result {
        reporter.failed(err.exit_code(), &err.to_string());
    }
    result
}

/// Re-executes kmsfs as the detached daemon and waits for its report. The
/// passphrase, if the vault has one, is asked here, where the terminal is.
fn launch_daemon(cli: &Cli, vault: &Path, args: &MountArgs) -> Result<(), CliError> {
    let passphrase = match Vault::protection(vault)? {
        Protection::Passphrase => Some(session::read_passphrase(
            cli.passphrase_file.as_deref(),
            "Vault passphrase: ",
            false,
        )?),
        Protection::KeyFile => None,
    };
    // The daemon works from `/`: every path it gets is absolute.
    let absolute = |path: &Path| std::path::absolute(path).map_err(CliError::read(path));
    let mut child_args: Vec<OsString> = vec!["--vault".into(), absolute(vault)?.into()];
    // The daemon logs as verbosely as asked (to syslog).
    if cli.quiet {
        child_args.push("--quiet".into());
    }
    child_args.extend((0..cli.verbose).map(|_| OsString::from("--verbose")));
    child_args.extend(["mount".into(), absolute(&args.backing)?.into()]);
    child_args.extend([absolute(&args.mountpoint)?.into(), "--foreground".into()]);
    for (set, flag) in [
        (args.read_only, "--read-only"),
        (args.no_allow_other, "--no-allow-other"),
        (args.no_default_permissions, "--no-default-permissions"),
    ] {
        if set {
            child_args.push(flag.into());
        }
    }
    if let Some(key) = &args.key_id {
        child_args.extend(["--key-id".into(), key.into()]);
    }
    child_args.extend(audit_flags(&cli.audit_trail, &args.insights));
    let program = std::env::current_exe()
        .map_err(|e| CliError::Other(format!("cannot find the kmsfs program: {e}")))?;
    daemon::launch(&program, &child_args, passphrase.as_ref())?;
    Ok(())
}

/// Opens the volume and serves it until unmounted.
fn serve(cli: &Cli, vault: &Path, args: &MountArgs, ready: ReadySignal) -> Result<(), CliError> {
    // Before anything starts a thread that a termination signal could kill.
    mount::block_daemon_signals()?;
    // Before any key is unwrapped: no core file and no swap may hold one.
    sys::protect_key_memory();
    // The cheap checks first: no key is used for a mount that cannot happen.
    Volume::read_config(&args.backing)?;
    mount::check_mountpoint(&args.mountpoint, &args.backing)?;
    let passphrase_pipe = args
        .passphrase_fd
        .map(PassphrasePipe::adopt)
        .transpose()
        .map_err(|e| CliError::Other(format!("cannot use the passphrase pipe: {e}")))?;
    let passphrase_file = match &passphrase_pipe {
        Some(pipe) => Some(pipe.path()),
        None => cli.passphrase_file.as_deref(),
    };
    let opened = session::unlock_vault(vault, passphrase_file)?;
    drop(passphrase_pipe);
    // Runs until the end of this function: unmounted, or the mount failed.
    let mount_audit = MountAudit::start(&opened, vault, &cli.audit_trail, &args.insights)?;
    let audit =
        session::open_audit_log(vault, &cli.audit_trail)?.with_observer(mount_audit.observer());
    let kms = session::start_kms(opened, audit, &cli.audit_trail, session::FS_USER_AGENT)?;
    let volume = Volume::open(&kms, &session::caller(), &args.backing)?;
    if let Some(key) = &args.key_id {
        check_volume_key(&kms, &volume, key)?;
    }
    let fs = EncryptedFs::new(
        volume,
        kms,
        FsOptions {
            read_only: args.read_only,
        },
    )?;
    let options = MountOptions {
        backing: args.backing.clone(),
        read_only: args.read_only,
        allow_other: !args.no_allow_other,
        default_permissions: !args.no_default_permissions,
    };
    let status = fs.status_probe();
    mount::serve(fs, &args.mountpoint, &options, ready, status)?;
    drop(mount_audit);
    Ok(())
}

/// The audit settings of this command line, for the daemon's.
fn audit_flags(trail: &AuditTrailArgs, insights: &InsightArgs) -> Vec<OsString> {
    let seconds = |d: chrono::Duration| format!("{}s", d.num_seconds());
    let sync = match trail.audit_sync {
        AuditSync::Always => "always",
        AuditSync::Interval => "interval",
    };
    let mut flags = vec![
        format!("--audit-sync={sync}"),
        format!(
            "--audit-rotate-interval={}",
            seconds(trail.audit_rotate_interval)
        ),
        format!("--audit-rotate-size={}", trail.audit_rotate_size),
        format!(
            "--audit-digest-interval={}",
            seconds(trail.audit_digest_interval)
        ),
        format!("--insight-window={}", seconds(insights.insight_window)),
        format!("--insight-baseline={}", seconds(insights.insight_baseline)),
        format!("--insight-sigma={}", insights.insight_sigma),
        format!("--insight-min-excess={}", insights.insight_min_excess),
    ];
    if trail.audit_digest_every_roll {
        flags.push("--audit-digest-every-roll".into());
    }
    flags.into_iter().map(OsString::from).collect()
}

/// `kmsfs umount`.
pub fn umount(args: &UmountArgs) -> Result<(), CliError> {
    unmount::unmount_kmsfs(&args.mountpoint, args.lazy)?;
    Ok(())
}

/// `--key-id` (or `key-id=` in fstab): the volume must be under that key, so
/// that an fstab line cannot silently mount a volume moved to another key.
fn check_volume_key(kms: &crate::kms::Kms, volume: &Volume, key: &str) -> Result<(), CliError> {
    let named = kms.describe_key(&session::caller(), key)?;
    if named["KeyMetadata"]["KeyId"].as_str() == Some(volume.key_id().to_string().as_str()) {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "{} is encrypted under key {}, not under '{key}'",
        volume.root().display(),
        volume.key_id()
    )))
}
