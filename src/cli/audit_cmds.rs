//! `kmsfs audit ...`.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::args::{AuditCommand, LookupArgs, OutputFormat};
use super::error::CliError;
use super::Context;
use crate::audit::{format_table, lookup, LookupFilter};
use crate::model::KeyRef;

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

pub fn run(ctx: &Context, cmd: &AuditCommand) -> Result<(), CliError> {
    match cmd {
        AuditCommand::Lookup(args) => run_lookup(ctx, args),
    }
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
    let dir = super::session::audit_dir(ctx.kms.vault().db_path());
    let records = lookup(&dir, &filter)?;
    match ctx.output {
        OutputFormat::Json => ctx.print(&json!({ "Events": records })),
        OutputFormat::Text => print!("{}", format_table(&records)),
    }
    Ok(())
}
