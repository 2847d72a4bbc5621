//! Command-line interface types (clap derive). No logic lives here.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "moodlectl",
    version,
    about = "Stand up, inspect and tear down a scalable Moodle platform on AWS",
    after_help = "Exit codes: 0 ok; 1 AWS/runtime failure; 2 bad usage, config or state file (no AWS call made); 3 `plan`: changes pending; 4 `status`: degraded or drifted."
)]
pub struct Cli {
    /// Config file.
    #[arg(long, short = 'c', global = true, default_value = "moodle.toml", env = "MOODLECTL_CONFIG")]
    pub config: PathBuf,

    /// State file, or s3://BUCKET/KEY (default: [state] in the config, else .moodlectl/<stack>.json next to it).
    #[arg(long, global = true, env = "MOODLECTL_STATE")]
    pub state: Option<String>,

    /// AWS region (overrides stack.region).
    #[arg(long, global = true)]
    pub region: Option<String>,

    /// AWS shared-config profile.
    #[arg(long, global = true, env = "AWS_PROFILE")]
    pub profile: Option<String>,

    /// Send every AWS request to this endpoint (an emulator); also AWS_ENDPOINT_URL.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,

    /// Output format for data on stdout.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// More detail on stderr (repeat for debug logs).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,

    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,

    /// Maximum steps running at once.
    #[arg(long, global = true, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallelism: u16,

    #[command(subcommand)]
    pub command: Command,
}

/// `30s`, `10m`, `2h`, `1d`, `1h 30m` → a duration.
pub fn parse_since(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration like 30s, 10m, 2h or 1d: {e}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update the stack (idempotent, resumable). Runs `check` first.
    Up {
        /// Do not run the preflight checks first.
        #[arg(long)]
        skip_preflight: bool,
    },
    /// Preflight: read-only checks that `up` would succeed (exit 2 on a finding).
    Check,
    /// The Moodle container's logs, oldest first.
    Logs {
        /// Keep printing new events until interrupted.
        #[arg(long, short = 'f')]
        follow: bool,
        /// How far back to start: e.g. 30s, 10m, 2h, 1d.
        #[arg(long, default_value = "10m", value_parser = parse_since)]
        since: std::time::Duration,
    },
    /// Delete the stack (reverse order, resumable).
    Down {
        /// Do not take a final RDS snapshot.
        #[arg(long)]
        skip_final_snapshot: bool,
        /// Also delete the CloudTrail bucket and its logs.
        #[arg(long)]
        delete_audit_logs: bool,
        /// Delete secrets without a recovery window.
        #[arg(long)]
        force_delete_secrets: bool,
    },
    /// Live health of every resource and drift against the state file.
    Status,
    /// Show what `up` would change (read-only). Exit 3 when changes are pending.
    Plan,
    /// Print what a user needs after `up`.
    Outputs,
    /// The step graph (ids and dependencies) as JSON, for the benchmark.
    #[command(hide = true)]
    Graph,
    /// Remove a lock left by a run that died (the id is in the lock message).
    ForceUnlock { id: String },
    /// Move the state between a local file and the configured backend.
    State {
        #[command(subcommand)]
        action: StateAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum StateAction {
    /// Print the state (from S3 or the local file) on stdout.
    Pull,
    /// Replace the backend's state with FILE (checked first: schema, stack, region).
    Push { file: PathBuf },
}
