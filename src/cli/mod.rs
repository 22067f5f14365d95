//! The `kmsfs` command: clap definitions and thin handlers that call the KMS
//! and print its answers. Must not contain policy, vault or crypto logic.

pub mod args;
mod audit_cmds;
mod data_cmds;
mod demo;
mod error;
mod fsck_cmd;
mod init_cmd;
mod key_cmds;
mod mount_audit;
mod mount_cmds;
mod mount_helper;
mod policy_cmds;
mod progress;
mod render;
mod session;
mod vault_cmds;
mod volume_cmds;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
pub use error::{exit, CliError};

/// Runs the command line; every error is one line on stderr and an exit code.
pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match args.split_first() {
        Some((argv0, rest)) if mount_helper::started_as_helper(argv0) => {
            match mount_helper::translate(rest) {
                Ok(translated) => Cli::parse_from(translated),
                Err(message) => {
                    eprintln!("{}: {message}", mount_helper::HELPER_NAME);
                    return ExitCode::from(exit::USAGE);
                }
            }
        }
        _ => Cli::parse_from(args),
    };
    init_logging(&cli);
    if cfg!(feature = "bench-no-audit") {
        log::warn!(
            "this build writes no audit records (feature bench-no-audit): for benchmarks only"
        );
    }
    // Files kmsfs creates hold secrets or audit records: private from the start.
    crate::sys::set_umask(0o077);
    match run(&cli) {
        Ok(()) => ExitCode::from(exit::SUCCESS),
        Err(err) => {
            eprintln!("kmsfs: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

fn init_logging(cli: &Cli) {
    // The mount daemon logs one level more than a command (its mounts and
    // unmounts are info), like any daemon. Detached (started with a readiness
    // pipe) it has no stderr once it is ready: it logs to syslog. In the
    // foreground (a terminal, or systemd's journal), to stderr.
    let (serving, detached) = match &cli.command {
        Command::Mount(args) => (args.foreground, args.ready_fd.is_some()),
        _ => (false, false),
    };
    let level = match (cli.quiet, cli.verbose + u8::from(serving)) {
        (true, _) => log::LevelFilter::Error,
        (false, 0) => log::LevelFilter::Warn,
        (false, 1) => log::LevelFilter::Info,
        (false, _) => log::LevelFilter::Debug,
    };
    if detached && crate::sys::install_syslog_logger(level).is_ok() {
        return;
    }
    env_logger::Builder::new()
        .filter_level(level)
        .format(|out, record| {
            use std::io::Write;
            writeln!(
                out,
                "kmsfs: {}: {}",
                record.level().as_str().to_lowercase(),
                record.args()
            )
        })
        .init();
}

fn run(cli: &Cli) -> Result<(), CliError> {
    let vault = session::vault_path(cli.vault.as_deref());
    let passphrase_file = cli.passphrase_file.as_deref();
    match &cli.command {
        Command::Init(args) => init_cmd::run(cli, &vault, args),
        Command::Demo => demo::run(),
        // The mount daemon opens the vault itself; unmounting needs no key.
        Command::Mount(args) => mount_cmds::mount(cli, &vault, args),
        Command::Umount(args) => mount_cmds::umount(args),
        // An auditor's check with the public key alone: no vault is opened.
        Command::Audit(args::AuditCommand::Verify(args::VerifyArgs {
            range,
            public_key: Some(public_key),
        })) => audit_cmds::verify_with_public_key(&vault, public_key, range, cli.output),
        // Its own exit codes: 2 when it cannot run, also for a locked vault.
        Command::Fsck(args) => fsck_cmd::run(cli, &vault, args),
        // Works on the vault alone, not through the KMS.
        Command::Vault(cmd) => vault_cmds::run(cli, &vault, cmd),
        Command::InstallHelper(args) => mount_helper_install(args),
        Command::Completions { shell } => {
            print_completions(*shell);
            Ok(())
        }
        command => {
            let kms = session::open_kms(
                &vault,
                passphrase_file,
                &cli.audit_trail,
                session::USER_AGENT,
            )?;
            let caller = session::caller();
            let ctx = Context {
                kms: &kms,
                caller: &caller,
                output: cli.output,
            };
            match command {
                Command::Init(_)
                | Command::Demo
                | Command::Mount(_)
                | Command::Umount(_)
                | Command::Fsck(_)
                | Command::Vault(_)
                | Command::InstallHelper(_)
                | Command::Completions { .. } => {
                    unreachable!("BUG: handled above")
                }
                Command::Key(cmd) => key_cmds::run_key(&ctx, cmd),
                Command::Alias(cmd) => key_cmds::run_alias(&ctx, cmd),
                Command::Policy(cmd) => policy_cmds::run_policy(&ctx, cmd),
                Command::Grant(cmd) => policy_cmds::run_grant(&ctx, cmd),
                Command::Encrypt(args) => data_cmds::encrypt(&ctx, args),
                Command::Decrypt(args) => data_cmds::decrypt(&ctx, args),
                Command::ReEncrypt(args) => data_cmds::re_encrypt(&ctx, args),
                Command::GenerateDataKey(args) => data_cmds::generate_data_key(&ctx, args),
                Command::Audit(cmd) => audit_cmds::run(&ctx, &cli.audit_trail, cmd),
                Command::Volume(cmd) => volume_cmds::run(&ctx, cmd),
            }
        }
    }
}

/// `kmsfs install-helper`: the `mount.fuse.kmsfs` symlink to this binary.
fn mount_helper_install(args: &args::InstallHelperArgs) -> Result<(), CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Other(format!("cannot find this program: {e}")))?;
    let link = args.dir.join(mount_helper::HELPER_NAME);
    match std::fs::symlink_metadata(&link) {
        Ok(_) if std::fs::read_link(&link).ok().as_deref() == Some(exe.as_path()) => {}
        Ok(_) => {
            return Err(CliError::Other(format!(
                "{} exists and is not a link to {}: remove it first",
                link.display(),
                exe.display()
            )))
        }
        Err(_) => std::os::unix::fs::symlink(&exe, &link).map_err(CliError::write(&link))?,
    }
    println!("{} -> {}", link.display(), exe.display());
    Ok(())
}

/// `kmsfs completions SHELL`: the completion script on stdout.
fn print_completions(shell: args::CompletionShell) {
    use clap::CommandFactory;
    use clap_complete::Shell;
    let shell = match shell {
        args::CompletionShell::Bash => Shell::Bash,
        args::CompletionShell::Zsh => Shell::Zsh,
        args::CompletionShell::Fish => Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "kmsfs", &mut script);
    // A closed stdout (e.g. `| head`) is not an error worth a message.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
}

/// What every handler needs: the service, who is asking, how to print.
pub(crate) struct Context<'a> {
    pub kms: &'a crate::kms::Kms,
    pub caller: &'a crate::model::Caller,
    pub output: args::OutputFormat,
}

impl Context<'_> {
    fn print(&self, response: &serde_json::Value) {
        render::print(self.output, response);
    }
}

/// Parses repeated `--encryption-context k=v` flags.
fn encryption_context(pairs: &[String]) -> Result<crate::model::EncryptionContext, CliError> {
    let mut context = crate::model::EncryptionContext::new();
    for pair in pairs {
        context
            .insert_pair(pair)
            .map_err(|e| CliError::Usage(e.to_string()))?;
    }
    Ok(context)
}
