//! The CLI as a user sees it, pinned by snapshots (tests/snapshots/): every
//! command's `--help`, and `plan`, `status` and `outputs` of a real run on the
//! emulator, with IDs, ARNs, endpoints and times filtered out. A change to
//! what a user reads shows up here as a diff to review.

#[macro_use]
mod common;
use common::*;

const COMMANDS: &[&str] = &[
    "check",
    "plan",
    "up",
    "status",
    "outputs",
    "logs",
    "run",
    "upgrade",
    "backup",
    "backups",
    "restore",
    "exec",
    "down",
    "state",
    "force-unlock",
    "graph",
];

#[test]
fn help_of_every_command() {
    let hole = Blackhole::start();
    let p = Project::bare(&hole.url);
    let (top, _) = p.expect(&["--help"], 0);
    snapshot!("help", top);
    // Workflow order in the command list.
    let listed: Vec<&str> =
        top.lines().filter_map(|l| l.trim().split(' ').next()).filter(|w| COMMANDS.contains(w)).collect();
    assert_eq!(listed, COMMANDS, "{top}");
    for c in COMMANDS {
        let (out, _) = p.expect(&[c, "--help"], 0);
        assert!(out.contains("Example"), "`{c} --help` has an example:\n{out}");
        // Only the flags that do something there.
        let asks = matches!(*c, "up" | "down" | "upgrade" | "restore");
        assert_eq!(out.contains("--yes"), asks, "{c}: --yes\n{out}");
        assert_eq!(out.contains("--parallelism"), asks || matches!(*c, "plan" | "status"), "{c}: --parallelism\n{out}");
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
    let widest = status.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(widest <= 120, "status fits 120 columns, widest line {widest}:\n{status}");
    // The service's tasks, each on a row of its own, and honest target health.
    assert!(status.lines().any(|l| l.trim_start().starts_with("task ") && l.contains("RUNNING HEALTHY")), "{status}");
    assert!(status.contains("targets: 1/1 healthy"), "{status}");
    snapshot!("status_healthy", status, table);
    let (wide, _) = p.expect(&["status", "--wide"], 0);
    assert!(wide.lines().next().unwrap().contains("ID") && wide.contains("arn:aws:ecs:"), "{wide}");
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

    // On a terminal `up` shows the preflight and the plan, then asks; only
    // `yes` goes on. Here the answer is `y`: nothing changes.
    moto.start_recording();
    let (code, screen) = p.on_terminal(&["up"], "y");
    assert_eq!(code, 2, "{screen}");
    assert!(
        screen.contains("Only `yes` will be accepted") && screen.contains("not confirmed; nothing was changed"),
        "{screen}"
    );
    assert!(mutating(&moto.stop_recording()).is_empty(), "a `y` changes nothing");
    snapshot!("confirm_up", screen, table);
    p.edit_config("desired_count = 2", "desired_count = 1");
    // `down` lists what it deletes and keeps, then wants the stack's name.
    let (code, screen) = p.on_terminal(&["down"], "yes");
    assert_eq!(code, 2, "{screen}");
    assert!(
        screen.contains("will delete") && screen.contains("will keep:") && screen.contains("Only `moodle`"),
        "{screen}"
    );
    snapshot!("confirm_down", screen, table);

    // After `down`: not deployed (exit 0), and a plan that creates it all.
    p.expect(&["down", "--yes", "--skip-final-snapshot"], 0);
    let (status, _) = p.expect(&["status"], 0);
    snapshot!("status_not_deployed", status, table);
    let (plan, err) = p.expect(&["plan"], 3);
    assert!(!err.contains("state saved"), "{err}");
    snapshot!("plan_after_down", plan, table);
}

/// `status` of a stack changed behind moodlectl's back: a log group's
/// retention changed (drift) and the service scaled to 0 (degraded).
#[tokio::test(flavor = "multi_thread")]
async fn status_degraded_and_drifted() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    confirm_alert_email(&moto.url);
    let conf = sdk(&moto.url, REGION).await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&conf);
    logs.put_retention_policy().log_group_name("/moodlectl/moodle/moodle").retention_in_days(1).send().await.unwrap();
    let ecs = aws_sdk_ecs::Client::new(&conf);
    ecs.update_service().cluster("moodle-cluster").service("moodle-service").desired_count(0).send().await.unwrap();
    let (status, _) = p.expect(&["status"], 4);
    assert!(status.contains("DEGRADED"), "{status}");
    snapshot!("status_degraded", status, table);
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

/// `exec` needs AWS's Session Manager plugin; without it, it says how to get
/// it before any request (the session itself is unit-tested with mocked
/// ECS answers in src/commands/exec.rs, as moto has no ECS Exec).
#[test]
fn exec_without_the_session_manager_plugin_says_how_to_install_it() {
    let hole = Blackhole::start();
    let p = Project::bare(&hole.url);
    let o = p.cmd(&["exec", "--", "php", "admin/cli/purge_caches.php"]).env("PATH", "/usr/bin:/bin").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("session-manager-plugin") && err.contains("hint:"), "{err}");
    snapshot!("exec_plugin_missing", err);
    assert_eq!(hole.hits(), 0, "no request before the plugin is found");
}

/// Ctrl-C in the middle of `up`: it says which steps it cut short and that
/// the state is saved (exit 130), and the next `up` finishes the stack.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_says_what_it_stopped_and_up_resumes() {
    let moto = Moto::start_with_env(&[("MOODLECTL_EMU_SCALE", "0.01")]);
    let p = Project::new(&moto.url);
    let child = p
        .cmd(&["up", "--yes"])
        .env("MOODLECTL_POLL_MAX_MS", "200")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // RDS takes 9 s here: interrupt once its create is recorded (it is then
    // still being created), however busy the machine is.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !std::fs::read_to_string(p.state_path()).unwrap_or_default().contains("\"rds/instance\"") {
        assert!(std::time::Instant::now() < deadline, "the database create was never recorded");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let sent = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    let line = err.lines().find(|l| l.contains("interrupted: stopped")).unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("data.db-instance") && line.contains("the state is saved"), "{line}");
    assert!(p.state_path().exists(), "state saved");
    p.expect(&["up", "--yes"], 0);
    assert_eq!(census(&moto.url).await, full_stack(), "resumed, nothing twice");
}
