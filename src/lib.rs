//! moodlectl: a scalable Moodle platform on AWS through direct SDK calls.
//!
//! `main` parses the command line, sets up logging (stderr only — stdout is
//! for data), runs one command and maps its result to an exit code.

pub mod aws;
pub mod cli;
pub mod commands;
pub mod config;
pub mod cost;
pub mod engine;
pub mod error;
pub mod ops;
pub mod preflight;
pub mod report;
pub mod resources;
pub mod state;

use clap::Parser;
use std::process::ExitCode;

pub fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so `moodlectl status | head -3` would panic in
    // `println!` once `head` is gone. Restored, a closed pipe ends the
    // process quietly (status 141 in a shell), as for every Unix tool; the
    // state is written atomically, so an `up` cut short this way resumes.
    // SAFETY: called first, before any thread exists; SIG_DFL is a valid handler.
    #[cfg(unix)]
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = cli::Cli::parse();
    init_tracing(&cli);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(error::exit::RUNTIME);
        }
    };
    match rt.block_on(commands::dispatch(&cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if !e.already_reported {
                eprintln!("error: {:#}", e.error);
            }
            ExitCode::from(e.code)
        }
    }
}

fn init_tracing(cli: &cli::Cli) {
    use tracing_subscriber::EnvFilter;
    let default = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "moodlectl=info",
        (_, _) => "moodlectl=debug,aws_smithy_runtime=debug",
    };
    let filter = EnvFilter::try_from_env("MOODLECTL_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(report::color_enabled())
        .try_init();
}
