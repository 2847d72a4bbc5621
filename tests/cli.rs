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
    let (status, _) = p.expect(&["status"], 0);
    snapshot!("status_healthy", status, table);
    let (outputs, _) = p.expect(&["outputs"], 0);
    snapshot!("outputs", outputs, table);
    p.edit_config("desired_count = 1", "desired_count = 2");
    let (plan, _) = p.expect(&["plan"], 3);
    snapshot!("plan_update", plan, table);
}
