//! The CLI as a user sees it, pinned by snapshots (tests/snapshots/): every
//! command's `--help`, and `plan`, `status` and `outputs` of a real run on the
//! emulator, with IDs, ARNs, endpoints and times filtered out. A change to
//! what a user reads shows up here as a diff to review.

#[macro_use]
mod common;
use common::*;

const COMMANDS: &[&str] = &["check", "plan", "up", "status", "outputs", "logs", "down", "state", "force-unlock"];

#[test]
fn help_of_every_command() {
    let hole = Blackhole::start();
    let p = Project::bare(&hole.url);
    let (top, _) = p.expect(&["--help"], 0);
    snapshot!("help", top);
    for c in COMMANDS {
        let (out, _) = p.expect(&[c, "--help"], 0);
        snapshot!(format!("help_{c}"), out);
    }
    assert_eq!(hole.hits(), 0, "help makes no request");
}

#[test]
fn plan_status_and_outputs_of_a_real_run() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    let (plan, _) = p.expect(&["plan"], 3);
    snapshot!("plan_create", plan, table);
    p.expect(&["up", "--yes"], 0);
    let (plan, _) = p.expect(&["plan"], 0);
    snapshot!("plan_noop", plan, table);
    confirm_alert_email(&moto.url);
    let (status, _) = p.expect(&["status"], 0);
    snapshot!("status_healthy", status, table);
    let (outputs, _) = p.expect(&["outputs"], 0);
    snapshot!("outputs", outputs, table);
    // `moodlectl status | head -3`: a closed pipe ends the process quietly.
    for args in [&["status"][..], &["status", "-o", "json"], &["plan"], &["outputs"], &["logs", "--since", "1h"]] {
        let o = p.run_into_closed_pipe(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{args:?}: {err}");
        let by_sigpipe = std::os::unix::process::ExitStatusExt::signal(&o.status) == Some(13);
        assert!(o.status.success() || by_sigpipe, "{args:?}: {:?}\n{err}", o.status);
    }
    p.edit_config("desired_count = 1", "desired_count = 2");
    let (plan, _) = p.expect(&["plan"], 3);
    snapshot!("plan_update", plan, table);
}

/// In CI (no terminal) a step that waits long prints a heartbeat line, as
/// Terraform's "Still creating… [1m20s elapsed]": a silent log looks hung.
#[test]
fn ci_log_has_a_heartbeat_for_long_steps() {
    // RDS takes 900 s × 0.01 = 9 s here; a heartbeat every second.
    let moto = Moto::start_with_env(&[("MOODLECTL_EMU_SCALE", "0.01")]);
    let p = Project::new(&moto.url);
    let env = [("MOODLECTL_HEARTBEAT_S", "1"), ("MOODLECTL_POLL_MAX_MS", "200")];
    let o = p.run_env(&["up", "--yes"], &env);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let beats: Vec<&str> = err.lines().filter(|l| l.contains("data.db-instance: still")).collect();
    assert!(beats.len() >= 3, "a heartbeat per second while RDS creates:\n{err}");
    // The elapsed time moves from one line to the next.
    let elapsed = |l: &str| l.split('[').nth(1).and_then(|r| r.split(' ').next()).unwrap_or_default().to_string();
    assert_ne!(elapsed(beats[0]), elapsed(beats[beats.len() - 1]), "{beats:?}");
    // What the line says, up to the step's last progress message.
    let first = beats[0].split(" — ").next().unwrap();
    snapshot!("ci_heartbeat", first.to_string());
}
