//! One module per command; shared set-up lives here.
//!
//! Set-up runs in a fixed order so that every kind of bad input is caught
//! before the first AWS request: config (exit 2), state file (exit 2),
//! confirmation (exit 2 without a TTY and `--yes`), lock (exit 1, naming the
//! holder), and only then are AWS clients built.

pub mod backup;
pub mod check;
pub mod cost;
pub mod down;
pub mod exec;
pub mod logs;
pub mod outputs;
pub mod plan;
pub mod run;
pub mod state;
pub mod status;
pub mod up;
pub mod upgrade;

use crate::aws::{Aws, Conn};
use crate::cli::{Cli, Command, OutputFormat};
use crate::config::{Config, StateBackend, REGIONS};
use crate::error::exit;
use crate::report::{Reporter, Verbosity};
use crate::resources::{Ctx, Options};
use crate::state::{Location, StateError, StateLock, StateStore};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// An error at the command edge, with its exit code.
#[derive(Debug)]
pub struct CmdError {
    pub code: u8,
    pub error: anyhow::Error,
    /// The reporter already showed it (e.g. a failed step).
    pub already_reported: bool,
}

impl CmdError {
    pub fn usage(e: impl Into<anyhow::Error>) -> Self {
        CmdError { code: exit::USAGE, error: e.into(), already_reported: false }
    }
    pub fn runtime(e: impl Into<anyhow::Error>) -> Self {
        CmdError { code: exit::RUNTIME, error: e.into(), already_reported: false }
    }
}

impl From<StateError> for CmdError {
    fn from(e: StateError) -> Self {
        CmdError {
            code: if e.is_usage() { exit::USAGE } else { exit::RUNTIME },
            error: e.into(),
            already_reported: false,
        }
    }
}

pub type CmdResult = Result<u8, CmdError>;

pub async fn dispatch(cli: &Cli) -> CmdResult {
    match &cli.command {
        Command::Up { skip_preflight, .. } => up::run(cli, *skip_preflight).await,
        Command::Check => check::run(cli).await,
        Command::Logs { follow, since } => logs::run(cli, *follow, *since).await,
        Command::Down { skip_final_snapshot, delete_logs, force_delete_secrets, delete_backups, .. } => {
            down::run(
                cli,
                Options {
                    skip_final_snapshot: *skip_final_snapshot,
                    delete_logs: *delete_logs,
                    force_delete_secrets: *force_delete_secrets,
                    delete_backups: *delete_backups,
                },
            )
            .await
        }
        Command::Status { wide, .. } => status::run(cli, *wide).await,
        Command::Plan { .. } => plan::run(cli).await,
        Command::Cost { compare, offline } => cost::run(cli, *compare, *offline).await,
        Command::Outputs => outputs::run(cli).await,
        Command::Run { detach, image, command } => run::run(cli, *detach, image.as_deref(), command).await,
        Command::Upgrade { image, .. } => upgrade::run(cli, image.as_deref()).await,
        Command::Backup { name } => backup::backup(cli, name.as_deref()).await,
        Command::Backups => backup::list(cli).await,
        Command::Restore { snapshot, files, image, delete_old, .. } => {
            backup::restore(cli, snapshot.as_deref(), files.as_deref(), image.as_deref(), *delete_old).await
        }
        Command::Exec { task, container, command } => exec::run(cli, task.as_deref(), container, command).await,
        Command::ForceUnlock { id } => state::force_unlock(cli, id).await,
        Command::Graph => {
            let steps: Vec<serde_json::Value> = crate::resources::graph()
                .nodes()
                .iter()
                .map(|n| serde_json::json!({"id": n.id, "deps": n.deps}))
                .collect();
            println!("{}", serde_json::json!({"steps": steps}));
            Ok(exit::OK)
        }
        Command::State { action } => state::run(cli, action).await,
    }
}

/// The validated inputs of a command.
#[derive(Clone)]
pub struct Inputs {
    pub cfg: Config,
    pub state_loc: Location,
    pub conn: Conn,
}

/// Load and validate config and flags. Errors are usage errors (exit 2).
pub fn inputs(cli: &Cli) -> Result<Inputs, CmdError> {
    let mut cfg = Config::load(&cli.config).map_err(CmdError::usage)?;
    if let Some(r) = &cli.region {
        if !REGIONS.contains(&r.as_str()) {
            return Err(CmdError::usage(anyhow::anyhow!("--region: unknown AWS region `{r}`")));
        }
        cfg.stack.region = r.clone();
        // The ALB certificate must follow the region.
        let issues = cfg.validate();
        if let Some(i) = issues.first() {
            return Err(CmdError::usage(anyhow::anyhow!("--region {r}: `{}`: {}", i.key, i.message)));
        }
    }
    if let Some(u) = &cli.endpoint_url {
        if !(u.starts_with("http://") || u.starts_with("https://")) || u.len() < 10 {
            return Err(CmdError::usage(anyhow::anyhow!(
                "--endpoint-url / AWS_ENDPOINT_URL: `{u}` is not an http(s) URL"
            )));
        }
    }
    let state_loc = match (&cli.state, cfg.state.backend) {
        (Some(s), _) => Location::parse(s).map_err(|e| CmdError::usage(anyhow::anyhow!("--state: {e}")))?,
        (None, StateBackend::S3) => Location::S3 {
            bucket: cfg.state.bucket.clone().unwrap_or_default(),
            key: cfg.state.key.clone().unwrap_or_default(),
        },
        (None, StateBackend::Local) => Location::Local(default_state_path(&cli.config, &cfg.stack.name)),
    };
    let conn =
        Conn { region: cfg.stack.region.clone(), profile: cli.profile.clone(), endpoint_url: cli.endpoint_url.clone() };
    Ok(Inputs { cfg, state_loc, conn })
}

/// S3 client for a remote state (built only when the state is in S3).
pub async fn state_s3(inp: &Inputs) -> Option<aws_sdk_s3::Client> {
    match inp.state_loc {
        Location::S3 { .. } => Some(Aws::connect(&inp.conn).await.s3),
        Location::Local(_) => None,
    }
}

/// Open (and check) the state wherever it lives.
pub async fn open_state(inp: &Inputs, writable: bool) -> Result<StateStore, CmdError> {
    let (stack, region) = (&inp.cfg.stack.name, &inp.cfg.stack.region);
    Ok(match &inp.state_loc {
        Location::Local(p) => StateStore::open(p, stack, region, writable)?,
        Location::S3 { bucket, key } => {
            StateStore::open_s3(state_s3(inp).await.expect("s3 location"), bucket, key, stack, region, writable).await?
        }
    })
}

/// Take the stack's lock (a file beside the state, or an S3 lock object).
pub async fn lock_state(inp: &Inputs, command: &str) -> Result<StateLock, CmdError> {
    Ok(match &inp.state_loc {
        Location::Local(p) => StateLock::acquire(p, &inp.cfg.stack.name, command)?,
        Location::S3 { bucket, key } => {
            StateLock::acquire_s3(&state_s3(inp).await.expect("s3 location"), bucket, key, &inp.cfg.stack.name, command)
                .await?
        }
    })
}

pub fn default_state_path(config: &Path, stack: &str) -> PathBuf {
    let dir = config.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    dir.join(".moodlectl").join(format!("{stack}.json"))
}

pub fn verbosity(cli: &Cli) -> Verbosity {
    if cli.quiet {
        Verbosity::Quiet
    } else if cli.verbose > 0 {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    }
}

pub fn reporter(cli: &Cli) -> Arc<dyn Reporter> {
    Arc::from(crate::report::make(cli.output == OutputFormat::Json, verbosity(cli)))
}

/// The reporter of a command whose stdout is one result document (`backup`,
/// `restore`, `upgrade`): its progress goes to stderr as text whatever `-o`.
pub fn progress_reporter(cli: &Cli) -> Arc<dyn Reporter> {
    Arc::from(crate::report::make(false, verbosity(cli)))
}

/// Whether this run will ask (no `--yes`); without a terminal to ask on,
/// refuse before any AWS call.
pub fn will_ask(cli: &Cli, question: &str) -> Result<bool, CmdError> {
    if cli.yes() {
        return Ok(false);
    }
    if !std::io::stdin().is_terminal() {
        return Err(CmdError::usage(anyhow::anyhow!("stdin is not a terminal: refusing to {question} without --yes")));
    }
    Ok(true)
}

/// Ask before changing anything, after the caller showed what will change.
/// The answer must be `word` in full (Terraform's convention: `yes`; the
/// stack name for `down`), so a stray `y` or Enter changes nothing.
pub fn confirm(cli: &Cli, question: &str, word: &str) -> Result<(), CmdError> {
    if !will_ask(cli, question)? {
        return Ok(());
    }
    let mut err = std::io::stderr();
    let _ = write!(err, "\n{question}?\n  Only `{word}` will be accepted: ");
    let _ = err.flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if line.trim() == word {
        Ok(())
    } else {
        Err(CmdError::usage(anyhow::anyhow!("not confirmed; nothing was changed")))
    }
}

fn wait_timeout() -> Duration {
    Duration::from_secs(std::env::var("MOODLECTL_WAIT_TIMEOUT_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(3600))
}

/// Build the run context (AWS clients are created here, after all checks).
pub async fn context(
    inp: Inputs,
    state: StateStore,
    reporter: Arc<dyn Reporter>,
    dry_run: bool,
    opts: Options,
) -> Arc<Ctx> {
    let aws = Aws::connect(&inp.conn).await;
    Arc::new(Ctx {
        cfg: inp.cfg,
        aws,
        state,
        reporter,
        dry_run,
        opts,
        wait_timeout: wait_timeout(),
        created: Default::default(),
    })
}

/// Print a plain text table (stdout carries data): left-aligned columns,
/// two spaces apart, no borders, so pipes and `grep` see plain rows.
pub fn print_table(out: &mut dyn Write, headers: &[&str], rows: &[Vec<String>]) {
    print_table_within(out, headers, rows, None)
}

/// [`print_table`] within `width` columns: long cells wrap inside their
/// column instead of pushing the row past the terminal's edge.
pub fn print_table_within(out: &mut dyn Write, headers: &[&str], rows: &[Vec<String>], width: Option<u16>) {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::NOTHING);
    if let Some(w) = width {
        t.set_content_arrangement(comfy_table::ContentArrangement::Dynamic).set_width(w);
    }
    t.set_header(headers.iter().copied());
    for r in rows {
        t.add_row(r.iter().cloned());
    }
    // Under a width limit only the last two columns (state and drift, free
    // text) wrap; kinds, names and IDs stay whole so they can be copied.
    // The second-to-last (a state) is kept to a third of the width so the
    // last (drift, the longest text) has room to wrap at word boundaries.
    let n = headers.len();
    for (i, col) in t.column_iter_mut().enumerate() {
        col.set_padding((0, 2));
        match width {
            Some(_) if i + 2 < n => {
                col.set_constraint(comfy_table::ColumnConstraint::ContentWidth);
            }
            Some(w) if i + 2 == n => {
                col.set_constraint(comfy_table::ColumnConstraint::UpperBoundary(comfy_table::Width::Fixed(w / 3)));
            }
            _ => {}
        }
    }
    for line in t.lines() {
        let _ = writeln!(out, "{}", line.trim_end());
    }
}
