//! `moodlectl check`: the preflight checks on their own (also run by `up`).

use super::{inputs, CmdError, CmdResult};
use crate::aws::Aws;
use crate::cli::{Cli, OutputFormat};
use crate::error::exit;
use crate::preflight::Finding;

pub async fn run(cli: &Cli) -> CmdResult {
    let inp = inputs(cli)?;
    let aws = Aws::connect(&inp.conn).await;
    let findings = crate::preflight::run(&inp.cfg, &aws, &inp.conn).await;
    if cli.output == OutputFormat::Json {
        println!(
            "{}",
            serde_json::json!({"schema": "moodlectl.check/v1", "ok": findings.is_empty(), "findings": findings})
        );
    }
    if findings.is_empty() {
        if !cli.quiet {
            eprintln!("preflight: all checks passed");
        }
        Ok(exit::OK)
    } else {
        Err(refuse(cli, &findings))
    }
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
