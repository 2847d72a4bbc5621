//! Fault injection: with 20 % of moodlectl's requests failing the way AWS
//! fails them under load (throttling in each protocol's words, HTTP 500/503,
//! attempts that hang past the attempt timeout), `up` still builds the whole
//! stack with no duplicates, and `down` still leaves nothing. The emulator
//! injects the faults (scripts/moto_server.py, "Fault mode") with a fixed seed
//! and only into requests carrying moodlectl's User-Agent, so the checks here
//! (independent SDK clients) see the real state.
//!
//! Small latency scale (RDS ≈ 1.8 s) and every run bounded in time.

mod common;
use common::*;
use std::time::Duration;

fn fault_stats(moto: &Moto) -> serde_json::Value {
    serde_json::from_str(&http("GET", &format!("{}/moodlectl-emu/faults", moto.url)).unwrap()).unwrap()
}

fn run_finished(out: &[u8]) -> serde_json::Value {
    events(&String::from_utf8_lossy(out))
        .into_iter()
        .find(|e| e["event"] == "run_finished")
        .expect("a run_finished event")
}

fn injected_total(stats: &serde_json::Value) -> u64 {
    stats["injected"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn up_then_down_complete_under_20_percent_injected_faults() {
    let moto = Moto::start_with_env(&[
        ("MOODLECTL_EMU_SCALE", "0.002"),
        ("MOODLECTL_EMU_FAULTS", "0.2"),
        ("MOODLECTL_EMU_SEED", "20261125"),
        ("MOODLECTL_EMU_FAULT_HOLD_S", "3"),
    ]);
    let p = Project::new(&moto.url);
    // The held ("timed out") attempts outlast the attempt timeout, which in
    // turn stays well above the emulator's normal answer time.
    let env =
        [("MOODLECTL_ATTEMPT_TIMEOUT_MS", "1500"), ("MOODLECTL_POLL_MIN_MS", "50"), ("MOODLECTL_POLL_MAX_MS", "200")];
    let limit = Duration::from_secs(240);

    let o = p.run_bounded(&["up", "--yes", "-o", "json"], &env, limit);
    assert!(o.status.success(), "up under faults failed:\n{}", String::from_utf8_lossy(&o.stderr));
    let up = run_finished(&o.stdout);
    let after_up = fault_stats(&moto);
    let injected_up = injected_total(&after_up);
    // The mode really was on, every kind fired, and moodlectl retried.
    assert!(injected_up * 10 >= after_up["requests"].as_u64().unwrap(), "{after_up}");
    for kind in ["throttle", "500", "503", "timeout"] {
        assert!(after_up["injected"][kind].as_u64().unwrap() > 0, "{after_up}");
    }
    let retries = up["api_calls"]["retries"].as_u64().unwrap();
    eprintln!("up: {after_up}; moodlectl's calls: {}", up["api_calls"]);
    // Every fault is met by one retry, except on preflight's one optional,
    // single-attempt check (a fault there is a "not verified" warning).
    assert!(retries + 1 >= injected_up, "{retries} retries for {injected_up} faults");
    // Complete, no duplicates: every resource kind exactly as many times as
    // the stack has it.
    assert_eq!(census(&moto.url).await, full_stack());

    // A rerun under the same faults changes nothing.
    let o = p.run_bounded(&["up", "--yes", "-o", "json"], &env, limit);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(run_finished(&o.stdout)["api_calls"]["mutating"], 0);

    let o = p.run_bounded(
        &["down", "--yes", "-o", "json", "--skip-final-snapshot", "--force-delete-secrets", "--delete-logs"],
        &env,
        limit,
    );
    assert!(o.status.success(), "down under faults failed:\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(injected_total(&fault_stats(&moto)) > injected_up);
    assert!(run_finished(&o.stdout)["api_calls"]["retries"].as_u64().unwrap() > 0);
    assert_eq!(census(&moto.url).await, empty_stack());
}
