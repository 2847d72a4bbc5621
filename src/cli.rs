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

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// `--yes` of the commands that ask (`up`, `down`); false elsewhere.
    pub fn yes(&self) -> bool {
        match &self.command {
            Command::Up { run, .. }
            | Command::Down { run, .. }
            | Command::Upgrade { run, .. }
            | Command::Restore { run, .. } => run.yes,
            _ => false,
        }
    }
    /// `--parallelism` of the commands that walk the step graph.
    pub fn parallelism(&self) -> usize {
        match &self.command {
            Command::Up { run, .. }
            | Command::Down { run, .. }
            | Command::Upgrade { run, .. }
            | Command::Restore { run, .. } => run.parallelism.parallelism as usize,
            Command::Plan { parallelism } | Command::Status { parallelism, .. } => parallelism.parallelism as usize,
            _ => 16,
        }
    }
}

/// How many steps run at once (the commands that walk the step graph).
#[derive(Debug, Clone, clap::Args)]
pub struct Parallelism {
    /// Maximum steps running at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallelism: u16,
}

/// Flags of the commands that change the stack.
#[derive(Debug, Clone, clap::Args)]
pub struct RunFlags {
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub parallelism: Parallelism,
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

/// In the order of a stack's life: check, plan, up, status, outputs, logs, run, upgrade, backup,
/// backups, restore, exec, down, state,
/// then the tools (force-unlock, graph).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Preflight: read-only checks that `up` would succeed (exit 2 on a finding).
    #[command(
        after_help = "Examples:\n  moodlectl check\n  moodlectl check -o json    # {\"ok\", \"findings\", \"unverified\"}"
    )]
    Check,
    /// Show what `up` would change (read-only). Exit 3 when changes are pending.
    #[command(
        after_help = "Examples:\n  moodlectl plan             # changes only\n  moodlectl plan -v          # every step\n  moodlectl plan -o json     # steps with {field, old, new} changes"
    )]
    Plan {
        #[command(flatten)]
        parallelism: Parallelism,
    },
    /// The stack's estimated monthly cost, per resource (needs no stack, no state).
    #[command(
        after_help = "Prices from the AWS Price List API (cached for a day), else the embedded table; the output says which.
Usage assumptions (requests, GB out, GB stored) are [usage] in the config.

Examples:
  moodlectl cost
  moodlectl cost --compare small      # this configuration beside the small profile
  moodlectl cost -o json | jq .estimate.total"
    )]
    Cost {
        /// Show this configuration beside the same file read with another profile.
        #[arg(long, value_enum, value_name = "PROFILE")]
        compare: Option<crate::config::Profile>,
        /// Do not ask the Price List API: use the embedded price table.
        #[arg(long)]
        offline: bool,
    },
    /// Create or update the stack (idempotent, resumable). Runs `check` first.
    #[command(
        after_help = "On a terminal, `up` runs the preflight, shows the plan and asks; answer `yes`.\n\nExamples:\n  moodlectl up\n  moodlectl up --yes         # in CI: no question (required without a terminal)"
    )]
    Up {
        /// Do not run the preflight checks first.
        #[arg(long)]
        skip_preflight: bool,
        #[command(flatten)]
        run: RunFlags,
    },
    /// Live health of every resource and drift against the state file.
    #[command(
        after_help = "Exit 0 when healthy (or not deployed), 4 when degraded or drifted.\n\nExamples:\n  moodlectl status\n  moodlectl status --wide     # with IDs and ARNs\n  moodlectl status -o json | jq .summary.health"
    )]
    Status {
        /// Also show every resource's ID/ARN (wider than 120 columns).
        #[arg(long)]
        wide: bool,
        #[command(flatten)]
        parallelism: Parallelism,
    },
    /// Print what a user needs after `up`.
    #[command(after_help = "Examples:\n  moodlectl outputs\n  moodlectl outputs -o json | jq -r .site_url")]
    Outputs,
    /// The Moodle container's logs, oldest first.
    #[command(
        after_help = "Examples:\n  moodlectl logs --since 30m\n  moodlectl logs -f          # follow new events"
    )]
    Logs {
        /// Keep printing new events until interrupted.
        #[arg(long, short = 'f')]
        follow: bool,
        /// How far back to start: e.g. 30s, 10m, 2h, 1d.
        #[arg(long, default_value = "10m", value_parser = parse_since)]
        since: std::time::Duration,
    },
    /// Run one command in a one-off task of the service (same image, network, secrets, EFS).
    #[command(
        after_help = "Streams the task's log and exits with the command's exit code.\n\nExamples:\n  moodlectl run -- php admin/cli/purge_caches.php\n  moodlectl run --detach -- php admin/cli/cron.php   # prints the task ID\n  moodlectl run --image REPO:5.1.0 -- php admin/cli/upgrade.php --is-pending"
    )]
    Run {
        /// Print the task's ID and return at once.
        #[arg(long)]
        detach: bool,
        /// Run another image than the service's (a copy of its task definition).
        #[arg(long, value_name = "URI")]
        image: Option<String>,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Upgrade Moodle to a new image: snapshot and backup, maintenance mode, the upgrade once, rollout.
    #[command(
        after_help = "Upgrades to image.uri of moodle.toml, or --image. Resumable: a rerun after a failure or a kill goes on where it stopped.\n\nExamples:\n  moodlectl upgrade\n  moodlectl upgrade --image 123456789012.dkr.ecr.eu-west-1.amazonaws.com/moodle:5.1.0 --yes"
    )]
    Upgrade {
        /// The image to upgrade to (default: image.uri of the config).
        #[arg(long, value_name = "URI")]
        image: Option<String>,
        #[command(flatten)]
        run: RunFlags,
    },
    /// Take a backup now: an RDS snapshot and a recovery point of the file system.
    #[command(after_help = "Examples:
  moodlectl backup
  moodlectl backup --name before-term")]
    Backup {
        /// A label for the snapshot (letters, digits, hyphens): <stack>-<name>.
        #[arg(long)]
        name: Option<String>,
    },
    /// List the stack's DB snapshots and file-system recovery points.
    #[command(after_help = "Examples:
  moodlectl backups
  moodlectl backups -o json")]
    Backups,
    /// Restore the database (and with --files the file system) into new resources, then point the service at them.
    #[command(
        after_help = "The old database instance (and file system) is kept until `moodlectl restore --delete-old`.\n\nExamples:\n  moodlectl restore --snapshot moodle-preupgrade-20261203-101500 --image REPO:5.0.2\n  moodlectl restore --snapshot moodle-nightly --files arn:aws:backup:...:recovery-point:...\n  moodlectl restore --delete-old"
    )]
    Restore {
        /// The DB snapshot to restore (see `moodlectl backups`).
        #[arg(long, required_unless_present = "delete_old")]
        snapshot: Option<String>,
        /// Also restore the file system from this recovery point ARN.
        #[arg(long, value_name = "RECOVERY_POINT")]
        files: Option<String>,
        /// Run this image after the restore (the code the snapshot's database matches).
        #[arg(long, value_name = "URI")]
        image: Option<String>,
        /// Delete the database instance and file system a finished restore replaced.
        #[arg(long, conflicts_with_all = ["snapshot", "files", "image"])]
        delete_old: bool,
        #[command(flatten)]
        run: RunFlags,
    },
    /// A shell, or one command, in a running Moodle task (ECS Exec).
    #[command(
        after_help = "Needs AWS's Session Manager plugin (`session-manager-plugin`) on PATH.\n\nExamples:\n  moodlectl exec                                     # /bin/sh in the first running task\n  moodlectl exec -- php admin/cli/purge_caches.php\n  moodlectl exec --task 0123abcd -- php admin/cli/cron.php"
    )]
    Exec {
        /// Task ID or ARN (default: the first running task of the service).
        #[arg(long)]
        task: Option<String>,
        /// Container name.
        #[arg(long, default_value = "moodle")]
        container: String,
        /// The command and its arguments, after `--` (default: /bin/sh).
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Delete the stack (reverse order, resumable).
    #[command(
        after_help = "On a terminal, `down` lists what it deletes and keeps, and asks for the stack name.\n\nExamples:\n  moodlectl down\n  moodlectl down --yes --skip-final-snapshot --force-delete-secrets --delete-logs"
    )]
    Down {
        /// Do not take a final RDS snapshot.
        #[arg(long)]
        skip_final_snapshot: bool,
        /// Also delete the log buckets (CloudTrail, load balancer and CloudFront access logs) and their logs.
        #[arg(long, alias = "delete-audit-logs")]
        delete_logs: bool,
        /// Also delete the file-system recovery points (`backup`, `upgrade`) and their vault.
        #[arg(long)]
        delete_backups: bool,
        /// Delete secrets without a recovery window.
        #[arg(long)]
        force_delete_secrets: bool,
        #[command(flatten)]
        run: RunFlags,
    },
    /// Move the state between a local file and the configured backend.
    #[command(after_help = "Examples:\n  moodlectl state pull > backup.json\n  moodlectl state push backup.json")]
    State {
        #[command(subcommand)]
        action: StateAction,
    },
    /// Remove a lock left by a run that died (the id is in the "locked" message).
    #[command(after_help = "Example:\n  moodlectl force-unlock 3f2a…   # the id the \"locked\" error printed")]
    ForceUnlock { id: String },
    /// The step graph: every step's ID and what it depends on, as JSON (like `terraform graph`).
    #[command(
        after_help = "`up` runs a step once its dependencies are done; `down` runs the graph in reverse.\n\nExample:\n  moodlectl graph | jq '.steps[] | select(.id == \"compute.service\")'"
    )]
    Graph,
}

#[derive(Debug, Subcommand)]
pub enum StateAction {
    /// Print the state (from S3 or the local file) on stdout.
    Pull,
    /// Replace the backend's state with FILE (checked first: schema, stack, region).
    Push { file: PathBuf },
}
