//! `moodlectl check`: the preflight checks on their own (also run by `up`).

use super::{inputs, CmdError, CmdResult};
use crate::aws::Aws;
use crate::cli::{Cli, OutputFormat};
use crate::error::exit;
use crate::preflight::Finding;

pub async fn run(cli: &Cli) -> CmdResult {
    let inp = inputs(cli)?;
    let aws = Aws::connect(&inp.conn).await;
    let (findings, unverified) = crate::preflight::split(crate::preflight::run(&inp.cfg, &aws, &inp.conn).await);
    if cli.output == OutputFormat::Json {
        let unverified: Vec<_> =
            unverified.iter().map(|u| serde_json::json!({"check": u.check, "why": u.problem})).collect();
        println!(
            "{}",
            serde_json::json!({"schema": "moodlectl.check/v1", "ok": findings.is_empty(), "findings": findings, "unverified": unverified})
        );
    }
    if findings.is_empty() {
        if !cli.quiet {
            eprintln!("{}", passed(&unverified));
        }
        Ok(exit::OK)
    } else {
        Err(refuse(cli, &findings))
    }
}

/// "all checks passed", or which could not be made and why, in one place.
pub fn passed(unverified: &[Finding]) -> String {
    if unverified.is_empty() {
        return "preflight: all checks passed".into();
    }
    let mut s = format!("preflight: no problem found; {} check(s) could not be made here:", unverified.len());
    for u in unverified {
        s.push_str(&format!("\n  - {}: {}", u.check, u.problem));
    }
    s
}

/// Report findings (one line + hint each) and make the exit-2 error.
pub fn refuse(cli: &Cli, findings: &[Finding]) -> CmdError {
    for f in findings {
        eprintln!("{f}");
    }
    let _ = cli;
    CmdError {
        code: exit::USAGE,
        error: anyhow::anyhow!("{} preflight check(s) failed; nothing was changed", findings.len()),
        already_reported: false,
    }
}
