//! `kmsfs audit ...`, and the delivery every command runs first: rolling and
//! signing what is due, with the signing key and trail state from the vault.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::json;

use super::args::{
    AuditCommand, AuditSync, AuditTrailArgs, LookupArgs, OutputFormat, TimeRangeArgs, VerifyArgs,
};
use super::error::CliError;
use super::Context;
use crate::audit::{
    self, format_table, lookup, DigestPublicKey, DigestSigner, InsightConfig, LookupFilter,
    SyncPolicy, Trail, TrailConfig, TrailIdentity, TrailLedger, VerifyRange, VerifyReport,
};
use crate::kms::Kms;
use crate::model::KeyRef;
use crate::vault::Vault;

/// The trail state lives in the vault, beside the signing key.
struct VaultLedger<'v>(&'v Vault);

impl TrailLedger for VaultLedger<'_> {
    fn load(&self) -> Result<Option<String>, String> {
        self.0.audit_trail_state().map_err(|e| e.to_string())
    }
    fn store(&self, state: &str) -> Result<(), String> {
        self.0
            .set_audit_trail_state(state)
            .map_err(|e| e.to_string())
    }
}

pub(super) fn sync_policy(args: &AuditTrailArgs) -> SyncPolicy {
    match args.audit_sync {
        AuditSync::Always => SyncPolicy::Always,
        AuditSync::Interval => SyncPolicy::default(),
    }
}

/// This host's name, for log file names.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "localhost".into())
}

/// Runs `body` with the delivery side of the vault's audit trail.
pub(super) fn with_trail<T>(
    vault: &Vault,
    args: &AuditTrailArgs,
    body: impl FnOnce(&Trail) -> Result<T, CliError>,
) -> Result<T, CliError> {
    let signer = DigestSigner::new(&vault.digest_signing_seed()?);
    let ledger = VaultLedger(vault);
    let config = TrailConfig {
        rotate_interval: args.audit_rotate_interval,
        rotate_size: args.audit_rotate_size,
        digest_interval: args.audit_digest_interval,
        digest_every_roll: args.audit_digest_every_roll,
    };
    let identity = TrailIdentity::new(&vault.info().vault_id, &host_name());
    let audit_dir = super::session::audit_dir(vault.db_path());
    let trail = Trail::new(&audit_dir, identity, config, &signer, &ledger);
    body(&trail)
}

/// Rolls and signs what is due; a failure is a warning, as the command's own
/// records still go to the active log.
pub(super) fn deliver_due(vault: &Vault, args: &AuditTrailArgs) {
    let result = with_trail(vault, args, |trail| Ok(trail.run_due(Utc::now())?));
    if let Err(err) = result {
        log::warn!("the audit trail could not be delivered: {err}");
    }
}

fn audit_dir(kms: &Kms) -> PathBuf {
    super::session::audit_dir(kms.vault().db_path())
}

fn parse_time(flag: &str, text: &Option<String>) -> Result<Option<DateTime<Utc>>, CliError> {
    text.as_deref()
        .map(|t| {
            DateTime::parse_from_rfc3339(t)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|e| {
                    CliError::Usage(format!(
                        "{flag} '{t}' is not an RFC 3339 time (2026-11-24T07:00:00Z): {e}"
                    ))
                })
        })
        .transpose()
}

pub fn run(ctx: &Context, trail_args: &AuditTrailArgs, cmd: &AuditCommand) -> Result<(), CliError> {
    match cmd {
        AuditCommand::Lookup(args) => run_lookup(ctx, args),
        AuditCommand::Flush { digest } => flush(ctx, trail_args, *digest),
        AuditCommand::Verify(args) => verify(ctx, args),
        AuditCommand::PublicKey => {
            let seed = ctx.kms.vault().digest_signing_seed()?;
            print!("{}", DigestSigner::new(&seed).public_key().to_pem());
            Ok(())
        }
        AuditCommand::Tail { follow, lines } => tail(ctx, *follow, *lines),
        AuditCommand::Insights {
            range,
            window_minutes,
        } => insights(ctx, range, *window_minutes),
        AuditCommand::Prune { older_than } => prune(ctx, *older_than),
    }
}

fn flush(ctx: &Context, trail_args: &AuditTrailArgs, digest: bool) -> Result<(), CliError> {
    let report = with_trail(ctx.kms.vault(), trail_args, |trail| {
        Ok(trail.flush(Utc::now(), digest)?)
    })?;
    match ctx.output {
        OutputFormat::Json => ctx.print(&json!({
            "LogFiles": report.log_files,
            "DigestFiles": report.digests,
        })),
        OutputFormat::Text => {
            for object in report.log_files.iter().chain(&report.digests) {
                println!("{object}");
            }
        }
    }
    Ok(())
}

fn range(args: &TimeRangeArgs) -> Result<VerifyRange, CliError> {
    Ok(VerifyRange {
        start: parse_time("--start-time", &args.start_time)?,
        end: parse_time("--end-time", &args.end_time)?,
    })
}

fn verify(ctx: &Context, args: &VerifyArgs) -> Result<(), CliError> {
    let vault = ctx.kms.vault();
    let public_key = DigestSigner::new(&vault.digest_signing_seed()?).public_key();
    let report = audit::verify(
        &audit_dir(ctx.kms),
        &public_key,
        &VaultLedger(vault),
        range(&args.range)?,
    )?;
    print_verdict(&report, ctx.output)
}

/// `audit verify --public-key FILE`: no vault is opened, the ledger check is skipped.
pub(super) fn verify_with_public_key(
    vault: &Path,
    path: &Path,
    range_args: &TimeRangeArgs,
    output: OutputFormat,
) -> Result<(), CliError> {
    let pem = std::fs::read_to_string(path).map_err(CliError::read(path))?;
    let public_key = DigestPublicKey::from_pem(&pem)
        .map_err(|e| CliError::Usage(format!("--public-key {}: {e}", path.display())))?;
    let dir = super::session::audit_dir(vault);
    let report = audit::verify_without_ledger(&dir, &public_key, range(range_args)?)?;
    print_verdict(&report, output)
}

fn print_verdict(report: &VerifyReport, output: OutputFormat) -> Result<(), CliError> {
    match output {
        OutputFormat::Json => super::render::print(output, &report.to_json()),
        OutputFormat::Text => print!("{}", report.to_text()),
    }
    if report.all_valid() {
        Ok(())
    } else {
        Err(CliError::CheckFailed(
            "the audit trail does not verify (see the INVALID lines above)".into(),
        ))
    }
}

fn tail(ctx: &Context, follow: bool, lines: usize) -> Result<(), CliError> {
    let output = ctx.output;
    let mut print = |record: &serde_json::Value| match output {
        OutputFormat::Json => println!("{record}"),
        OutputFormat::Text => print!("{}", audit::format_row(record)),
    };
    if output == OutputFormat::Text {
        print!("{}", format_table(&[]));
    }
    audit::tail(&audit_dir(ctx.kms), lines, follow, &mut print)?;
    Ok(())
}

fn insights(ctx: &Context, args: &TimeRangeArgs, window_minutes: u32) -> Result<(), CliError> {
    let range = range(args)?;
    let config = InsightConfig {
        window: chrono::Duration::minutes(i64::from(window_minutes.max(1))),
        ..InsightConfig::new(ctx.kms.account())
    };
    let found = audit::insights(&audit_dir(ctx.kms), &config, range.start, range.end)?;
    match ctx.output {
        OutputFormat::Json => ctx.print(&json!({ "Insights": found })),
        OutputFormat::Text => print!("{}", audit::format_insights(&found)),
    }
    Ok(())
}

fn prune(ctx: &Context, older_than_days: u32) -> Result<(), CliError> {
    let cutoff = Utc::now() - chrono::Duration::days(i64::from(older_than_days));
    let report = audit::prune(&audit_dir(ctx.kms), &VaultLedger(ctx.kms.vault()), cutoff)?;
    match ctx.output {
        OutputFormat::Json => ctx.print(&json!({
            "DeletedLogFiles": report.log_files,
            "DeletedDigestFiles": report.digests,
        })),
        OutputFormat::Text => println!(
            "deleted {} log files and {} digest files older than {}",
            report.log_files.len(),
            report.digests.len(),
            cutoff.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    }
    Ok(())
}

fn run_lookup(ctx: &Context, args: &LookupArgs) -> Result<(), CliError> {
    let account = ctx.kms.account().to_string();
    // A key named by alias is looked up by the key it points to now.
    let key_ids = match &args.key_id {
        Some(key) => {
            let id = match KeyRef::parse(key, &account)
                .map_err(|e| CliError::Usage(e.to_string()))?
            {
                KeyRef::Id(id) => id,
                KeyRef::Alias(alias) => {
                    ctx.kms
                        .vault()
                        .alias(&alias)?
                        .ok_or_else(|| CliError::Usage(format!("no alias {alias} in this vault")))?
                        .key_id
                }
            };
            Some(vec![id.to_string(), id.arn(&account).to_string()])
        }
        None => None,
    };
    let filter = LookupFilter {
        event_name: args.event_name.clone(),
        user: args.user.clone(),
        key_ids,
        path_glob: args.path.clone(),
        error_code: args.error_code.clone(),
        errors_only: args.errors_only,
        read_only: args.read_only,
        start_time: parse_time("--start-time", &args.start_time)?,
        end_time: parse_time("--end-time", &args.end_time)?,
        max: args.max,
    };
    let records = lookup(&audit_dir(ctx.kms), &filter)?;
    match ctx.output {
        OutputFormat::Json => ctx.print(&json!({ "Events": records })),
        OutputFormat::Text => print!("{}", format_table(&records)),
    }
    Ok(())
}
