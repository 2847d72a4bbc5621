//! Operating the stack: preflight catches each problem before anything
//! changes; `logs` shows what the container wrote; `up`'s NDJSON and
//! `status`'s JSON match the documented schemas in `schema/`.

mod common;
use common::*;

use serde_json::Value;

#[test]
fn the_validator_rejects_what_it_should() {
    let s = schema("events.schema.json");
    assert!(validate(
        &s,
        &serde_json::json!({"ts": "t", "event": "step_finished", "step": "x", "outcome": "created", "elapsed_ms": 1}),
        "$"
    )
    .is_ok());
    assert!(validate(
        &s,
        &serde_json::json!({"ts": "t", "event": "step_finished", "step": "x", "outcome": "exploded", "elapsed_ms": 1}),
        "$"
    )
    .is_err());
    assert!(validate(&s, &serde_json::json!({"event": "run_started"}), "$").is_err());
    assert!(validate(&s, &serde_json::json!({"ts": "t", "event": "nope"}), "$").is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn json_output_of_up_down_and_status_matches_the_schemas() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    let events_schema = schema("events.schema.json");
    let (out, _) = p.expect(&["up", "--yes", "-o", "json"], 0);
    let evs = events(&out);
    assert!(evs.len() > 10);
    for (i, e) in evs.iter().enumerate() {
        validate(&events_schema, e, &format!("up line {}", i + 1)).unwrap();
    }
    let last = evs.last().unwrap();
    assert_eq!(last["event"], "outputs", "the final event carries the outputs");
    assert!(evs.iter().any(|e| e["event"] == "run_finished" && e["ok"] == true));

    confirm_alert_email(&moto.url);
    let (st, _) = p.expect(&["status", "-o", "json"], 0);
    let doc: Value = serde_json::from_str(&st).unwrap();
    validate(&schema("status.schema.json"), &doc, "status").unwrap();
    let h = &doc["summary"]["health"];
    assert_eq!(h["ecs_running"], 1);
    assert_eq!(h["ecs_desired"], 1);
    assert_eq!(h["database"], "available");
    assert_eq!(h["cache"], "available");
    assert_eq!(h["file_system"], "available");
    assert_eq!(h["cloudfront"], "Deployed");
    assert_eq!(h["waf_attached"], true);
    assert_eq!(h["trail_logging"], true);
    assert!(h["moodle_reachable"].as_str().unwrap().starts_with("skipped"));

    // A pending change as data: {field, old, new}.
    p.edit_config("desired_count = 1", "desired_count = 2");
    let (plan, _) = p.expect(&["plan", "-o", "json"], 3);
    let plan: Value = serde_json::from_str(&plan).unwrap();
    validate(&schema("plan.schema.json"), &plan, "plan").unwrap();
    let service = plan["steps"].as_array().unwrap().iter().find(|s| s["step"] == "compute.service").unwrap();
    assert_eq!(service["action"], "update");
    assert_eq!(service["changes"][0], serde_json::json!({"field": "desired_count", "old": "1", "new": "2"}));
    assert_eq!(
        plan["summary"]["update"], 4,
        "the service, its autoscaling floor, the running-tasks alarm and the dashboard's line: {plan}"
    );
    p.edit_config("desired_count = 2", "desired_count = 1");

    let (out, _) = p.expect(&["down", "--yes", "-o", "json"], 0);
    for (i, e) in events(&out).iter().enumerate() {
        validate(&events_schema, e, &format!("down line {}", i + 1)).unwrap();
    }
    assert!(events(&out).iter().any(|e| e["event"] == "kept"));

    // After `down`: not deployed (exit 0, not "degraded"), and a plan that
    // creates everything and says nothing about saving state.
    let (st, _) = p.expect(&["status", "-o", "json"], 0);
    let doc: Value = serde_json::from_str(&st).unwrap();
    validate(&schema("status.schema.json"), &doc, "status after down").unwrap();
    assert_eq!((doc["deployed"].as_bool(), doc["summary"]["drifted"].as_u64()), (Some(false), Some(0)), "{doc}");
    let (st, _) = p.expect(&["status"], 0);
    assert!(st.starts_with("stack `moodle` is not deployed in ap-southeast-1"), "{st}");
    assert!(st.contains("kept from an earlier stack: s3:bucket"), "the audit bucket `down` kept: {st}");
    let (plan, err) = p.expect(&["plan", "-o", "json"], 3);
    let plan: Value = serde_json::from_str(&plan).unwrap();
    // Everything is created but the kept log buckets (adopted), the three
    // secrets in their recovery window (restored), the two KMS keys pending
    // deletion (their deletion cancelled), the audit key `down` kept with the
    // logs (unchanged), and the two steps with nothing to do on new
    // resources (old access points; public IPs, off by default).
    assert_eq!(plan["summary"], serde_json::json!({"create": 64, "update": 5, "unchanged": 5}), "{plan}");
    for s in plan["steps"].as_array().unwrap().iter().filter(|s| s["action"] == "update") {
        let d = s["changes"][0]["description"].as_str().unwrap();
        assert!(d.ends_with("restore (was pending deletion)") || d == "deletion scheduled by `down`: cancelled", "{s}");
    }
    assert!(!err.contains("state saved"), "{err}");
}

/// Run `check` and `up`; both must refuse with `needle` and change nothing.
fn refused(moto: &Moto, p: &Project, needle: &str) {
    moto.start_recording();
    let (_, err) = p.expect(&["check"], 2);
    assert!(err.contains(needle) && err.contains("hint:"), "check: want `{needle}` in:\n{err}");
    let (_, err) = p.expect(&["up", "--yes"], 2);
    assert!(err.contains(needle), "up: want `{needle}` in:\n{err}");
    let ops = moto.stop_recording();
    assert!(mutating(&ops).is_empty(), "preflight made mutating calls: {:?}", mutating(&ops));
    assert!(!p.state_path().exists(), "no state written");
}

#[tokio::test(flavor = "multi_thread")]
async fn preflight_catches_each_problem_before_anything_changes() {
    let moto = Moto::start();
    let conf = sdk(&moto.url, REGION).await;
    let global = sdk(&moto.url, "us-east-1").await;

    // A good project passes.
    let good = Project::new(&moto.url);
    let (_, err) = good.expect(&["check"], 0);
    // The emulator lacks ElastiCache's offerings API: said once, in words,
    // not as a log-format warning beside an "all checks passed".
    assert!(!err.contains("WARN") && !err.contains("all checks passed"), "{err}");
    snapshot!("check_on_the_emulator", err);
    let (out, _) = good.expect(&["check", "-o", "json"], 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    let unverified: Vec<&str> =
        doc["unverified"].as_array().unwrap().iter().filter_map(|u| u["check"].as_str()).collect();
    assert!(unverified.contains(&"cache.node_type") && doc["ok"] == true, "{doc}");

    // Missing certificate.
    let p = Project::new(&moto.url);
    p.edit_config(&cfg_line(&p, "alb_certificate_arn"), "alb_certificate_arn = \"arn:aws:acm:ap-southeast-1:123456789012:certificate/00000000-0000-0000-0000-000000000000\"");
    refused(&moto, &p, "preflight alb-certificate");

    // Certificate for another domain.
    let acm = aws_sdk_acm::Client::new(&global);
    let other = acm
        .request_certificate()
        .domain_name("other.example.org")
        .send()
        .await
        .unwrap()
        .certificate_arn()
        .unwrap()
        .to_string();
    let p = Project::new(&moto.url);
    p.edit_config(&cfg_line(&p, "cloudfront_certificate_arn"), &format!("cloudfront_certificate_arn = \"{other}\""));
    refused(&moto, &p, "but not moodle.example.com");

    // Image not pushed.
    let p = Project::new(&moto.url);
    p.edit_config("moodle-moodle:5.0.2", "moodle-moodle:9.9.9");
    refused(&moto, &p, "preflight image");

    // A wildcard certificate of the parent domain is fine.
    let wild = aws_sdk_acm::Client::new(&conf)
        .request_certificate()
        .domain_name("*.example.com")
        .send()
        .await
        .unwrap()
        .certificate_arn()
        .unwrap()
        .to_string();
    let p = Project::new(&moto.url);
    p.edit_config(&cfg_line(&p, "alb_certificate_arn"), &format!("alb_certificate_arn = \"{wild}\""));
    p.expect(&["check"], 0);

    // Certificate in the wrong region: caught by config validation, before any call.
    let hole = Blackhole::start();
    let p = Project::bare(&hole.url);
    p.edit_config("arn:aws:acm:us-east-1:", "arn:aws:acm:eu-west-1:");
    let (_, err) = p.expect(&["check"], 2);
    assert!(err.contains("us-east-1"), "{err}");
    assert_eq!(hole.hits(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn preflight_catches_a_certificate_not_yet_issued() {
    let moto = Moto::start_with_env(&[("MOTO_ACM_VALIDATION_WAIT", "3600")]);
    let p = Project::new(&moto.url);
    refused(&moto, &p, "is PENDING_VALIDATION, not ISSUED");
}

#[tokio::test(flavor = "multi_thread")]
async fn preflight_catches_a_missing_cloudfront_prefix_list() {
    let moto = Moto::start_with_env(&[("MOODLECTL_EMU_HIDE_PREFIX_LISTS", "1")]);
    let p = Project::new(&moto.url);
    refused(&moto, &p, "preflight prefix-list");
    // Opening the ALB instead is a way out.
    p.edit_config("restrict_alb = true", "restrict_alb = false");
    p.expect(&["check"], 0);
}

fn cfg_line(p: &Project, key: &str) -> String {
    let text = std::fs::read_to_string(p.config_path()).unwrap();
    text.lines().find(|l| l.starts_with(&format!("{key} = "))).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_prints_what_the_container_wrote_and_follows() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    let conf = sdk(&moto.url, REGION).await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&conf);
    let group = "/moodlectl/moodle/moodle";
    let stream = "ecs-moodle/moodle/0123456789abcdef";
    logs.create_log_stream().log_group_name(group).log_stream_name(stream).send().await.unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let ev = |t: i64, m: &str| {
        aws_sdk_cloudwatchlogs::types::InputLogEvent::builder().timestamp(t).message(m).build().unwrap()
    };
    logs.put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .log_events(ev(now - 2000, "first: apache started"))
        .log_events(ev(now - 1000, "second: cron ran"))
        .send()
        .await
        .unwrap();

    let (out, _) = p.expect(&["logs", "--since", "1h"], 0);
    let first = out.find("first: apache started").expect(&out);
    let second = out.find("second: cron ran").expect(&out);
    assert!(first < second, "oldest first:\n{out}");
    assert!(out.contains(stream));

    // --follow picks up a later event; the test stops it (bounded wait).
    let child = p.cmd(&["logs", "--follow", "--since", "1h"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let later = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    logs.put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .log_events(ev(later, "third: a new request"))
        .send()
        .await
        .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut child = child;
        let mut stdout = child.stdout.take().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while std::time::Instant::now() < deadline && !String::from_utf8_lossy(&buf).contains("third: a new request") {
            // Reads return as lines arrive; the follow loop prints every 2 s.
            match stdout.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(_) => break,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        String::from_utf8_lossy(&buf).to_string()
    })
    .await
    .unwrap();
    assert!(out.contains("third: a new request"), "{out}");
    assert_eq!(out.matches("first: apache started").count(), 1, "no duplicates while following:\n{out}");
}

/// `moodlectl run`: a one-off task of the service's revision with the
/// command overridden, on on-demand Fargate; its log is streamed and its
/// exit code is the command's (the emulator's one-off tasks: see
/// scripts/emu/tasks.py).
#[tokio::test(flavor = "multi_thread")]
async fn run_starts_a_one_off_task_streams_its_log_and_returns_its_exit_code() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    let (out, err) = p.expect(&["run", "--", "php", "admin/cli/purge_caches.php"], 0);
    assert!(out.contains("(emulator) ran: php admin/cli/purge_caches.php"), "the task's log on stdout:\n{out}\n{err}");
    let o = p.run(&["run", "--", "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));

    let (id, _) = p.expect(&["run", "--detach", "--", "php", "admin/cli/cron.php"], 0);
    let conf = sdk(&moto.url, REGION).await;
    let ecs = aws_sdk_ecs::Client::new(&conf);
    let t = ecs.describe_tasks().cluster("moodle-cluster").tasks(id.trim()).send().await.unwrap().tasks()[0].clone();
    let over = t.overrides().unwrap().container_overrides()[0].clone();
    assert_eq!(
        (over.name(), over.command()),
        (Some("moodle"), &["php".to_string(), "admin/cli/cron.php".to_string()][..])
    );
    assert_eq!(t.capacity_provider_name(), Some("FARGATE"), "on-demand, not Spot");
    let svc = ecs.describe_services().cluster("moodle-cluster").services("moodle-service").send().await.unwrap();
    assert_eq!(t.task_definition_arn(), svc.services()[0].task_definition(), "the service's current revision");

    let (doc, _) = p.expect(&["run", "-o", "json", "--", "php", "-v"], 0);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    validate(&schema("run.schema.json"), &doc, "run").unwrap();
    assert_eq!((doc["schema"].as_str(), doc["exit_code"].as_i64()), (Some("moodlectl.run/v1"), Some(0)), "{doc}");
    let (detached, _) = p.expect(&["run", "-o", "json", "--detach", "--", "php", "-v"], 0);
    validate(&schema("run.schema.json"), &serde_json::from_str(&detached).unwrap(), "run --detach").unwrap();
    assert!(doc["log"][0].as_str().unwrap().contains("php -v"), "{doc}");

    // --image: a copy of the service's revision naming another image, in a
    // family of its own (the service's family keeps its own revisions).
    let other = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/moodle-moodle:5.0.2-2";
    let (doc, _) = p.expect(&["run", "-o", "json", "--image", other, "--", "php", "-v"], 0);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    let t =
        ecs.describe_tasks().cluster("moodle-cluster").tasks(doc["task_id"].as_str().unwrap()).send().await.unwrap();
    let td_arn = t.tasks()[0].task_definition_arn().unwrap().to_string();
    assert!(td_arn.contains(":task-definition/moodle-oneoff:1"), "{td_arn}");
    let td = ecs.describe_task_definition().task_definition(&td_arn).send().await.unwrap();
    let td = td.task_definition().unwrap();
    assert_eq!(td.container_definitions()[0].image(), Some(other));
    let web = ecs.describe_task_definition().task_definition(svc.services()[0].task_definition().unwrap()).send();
    let web = web.await.unwrap().task_definition().unwrap().clone();
    assert_eq!(td.container_definitions()[0].secrets(), web.container_definitions()[0].secrets(), "same secrets");
    assert_eq!(td.volumes(), web.volumes(), "same file system");
    // The same image again reuses that revision.
    p.expect(&["run", "--image", other, "--", "php", "-v"], 0);
    let fams = ecs.list_task_definitions().family_prefix("moodle-oneoff").send().await.unwrap();
    assert_eq!(fams.task_definition_arns().len(), 1);

    // A task that cannot start: no exit code; the stop reason is reported.
    let missing = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/does-not-exist:1";
    let o = p.run(&["run", "--image", missing, "--", "php", "-v"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("stopped without running its command (TaskFailedToStart)"), "{err}");
    assert!(err.contains("CannotPullContainerError"), "{err}");
    let o = p.run(&["run", "-o", "json", "--image", missing, "--", "php", "-v"]);
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    validate(&schema("run.schema.json"), &doc, "run (failed to start)").unwrap();
    assert_eq!((doc["exit_code"].is_null(), doc["stop_code"].as_str()), (true, Some("TaskFailedToStart")), "{doc}");

    // The detached task still runs: AWS refuses to delete a cluster with
    // active tasks, so `down` stops it first and leaves nothing.
    p.expect(&["down", "--yes", "--skip-final-snapshot", "--force-delete-secrets", "--delete-logs"], 0);
    let t = ecs.describe_tasks().cluster("moodle-cluster").tasks(id.trim()).send().await.unwrap().tasks()[0].clone();
    assert_eq!((t.last_status(), t.stopped_reason()), (Some("STOPPED"), Some("moodlectl down")));
    assert_eq!(census(&moto.url).await, empty_stack());
}
