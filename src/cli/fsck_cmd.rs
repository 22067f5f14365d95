//! `kmsfs fsck BACKING`: runs the volume check and prints its summary and
//! damaged paths; exit 0 clean, 1 damage found, 2 the check could not run.

use std::path::Path;

use serde_json::{json, Value};

use super::args::{Cli, FsckArgs, OutputFormat};
use super::error::CliError;
use super::{progress, session};
use crate::volume::fsck::{self, FsckReport};

/// Exit codes of fsck (its own, documented in its man page).
const DAMAGE_FOUND: u8 = 1;
const COULD_NOT_RUN: u8 = 2;

pub fn run(cli: &Cli, vault: &Path, args: &FsckArgs) -> Result<(), CliError> {
    let could_not_run = |err: &dyn std::fmt::Display| CliError::Relayed {
        code: COULD_NOT_RUN,
        message: format!("fsck: {err}"),
    };
    let kms = session::open_kms(
        vault,
        cli.passphrase_file.as_deref(),
        &cli.audit_trail,
        session::USER_AGENT,
    )
    .map_err(|e| could_not_run(&e))?;
    let caller = session::caller();
    let bar = progress::bar(
        crate::volume::walk::count_entries(&args.backing),
        "checking",
    );
    let mut on_entry = |path: &str| {
        bar.inc(1);
        bar.set_message(path.to_string());
    };
    let report = fsck::check(&kms, &caller, &args.backing, &mut on_entry);
    bar.finish_and_clear();
    let report = report.map_err(|e| could_not_run(&e))?;
    match cli.output {
        OutputFormat::Json => super::render::print(cli.output, &to_json(&report)),
        OutputFormat::Text => print!("{}", to_text(&report)),
    }
    if report.is_clean() {
        Ok(())
    } else {
        Err(CliError::Relayed {
            code: DAMAGE_FOUND,
            message: format!(
                "fsck: {} damaged object(s) in {}",
                report.damage.len(),
                args.backing.display()
            ),
        })
    }
}

fn to_json(report: &FsckReport) -> Value {
    let damage: Vec<Value> = report
        .damage
        .iter()
        .map(|d| {
            json!({
                "Path": d.path,
                "BackingPath": d.backing.display().to_string(),
                "Kind": d.kind.name(),
                "Detail": d.detail,
            })
        })
        .collect();
    json!({
        "Clean": report.is_clean(),
        "Directories": report.directories,
        "Files": report.files,
        "Symlinks": report.symlinks,
        "BytesChecked": report.bytes_checked,
        "Damage": damage,
    })
}

fn to_text(report: &FsckReport) -> String {
    let mut out = format!(
        "{} directories, {} files, {} symlinks, {} bytes checked: {}\n",
        report.directories,
        report.files,
        report.symlinks,
        report.bytes_checked,
        if report.is_clean() {
            "clean".to_string()
        } else {
            format!("{} damaged", report.damage.len())
        }
    );
    for d in &report.damage {
        out.push_str(&format!(
            "damaged {} ({}): {}\n",
            d.path,
            d.kind.name(),
            d.detail
        ));
    }
    out
}
