//! Remote state in S3 for CI: a lock object taken with If-None-Match, state
//! written with If-Match on its ETag, `force-unlock`, `state pull|push`.

mod common;
use common::*;

#[cfg(feature = "test-hooks")]
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

const STATE: &str = "s3://team-state/moodle/prod.json";

async fn s3(endpoint: &str) -> aws_sdk_s3::Client {
    let conf = sdk(endpoint, REGION).await;
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&conf).force_path_style(true).build())
}

async fn make_bucket(c: &aws_sdk_s3::Client) {
    c.create_bucket()
        .bucket("team-state")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::ApSoutheast1)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

async fn exists(c: &aws_sdk_s3::Client, key: &str) -> bool {
    c.head_object().bucket("team-state").key(key).send().await.is_ok()
}

async fn wait_for_object(c: &aws_sdk_s3::Client, key: &str) {
    let t = Instant::now();
    while !exists(c, key).await {
        assert!(t.elapsed() < Duration::from_secs(30), "{key} never appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_bucket_is_a_usage_error_with_a_hint() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    moto.start_recording();
    let (_, err) = p.expect(&["up", "--yes", "--state", STATE], 2);
    assert!(err.contains("state bucket `team-state`") && err.contains("hint:"), "{err}");
    assert!(mutating(&moto.stop_recording()).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_concurrent_ups_exactly_one_proceeds() {
    // Service rollouts take 7.5 s here, so the first run holds the lock a while.
    let moto = Moto::start_with_env(&[("MOODLECTL_EMU_SCALE", "0.05")]);
    let c = s3(&moto.url).await;
    make_bucket(&c).await;
    let p = Project::new(&moto.url);
    let first = p
        .cmd(&["up", "--yes", "--state", STATE])
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_object(&c, "moodle/prod.json.lock").await;
    let t = Instant::now();
    let (_, err) = p.expect(&["up", "--yes", "--state", STATE], 1);
    assert!(t.elapsed() < Duration::from_secs(10), "the second run fails fast");
    assert!(err.contains("is locked by pid") && err.contains("force-unlock"), "{err}");
    let status = tokio::task::spawn_blocking(move || {
        let mut first = first;
        first.wait().unwrap()
    })
    .await
    .unwrap();
    assert!(status.success(), "the first run proceeds: {status:?}");
    assert!(!exists(&c, "moodle/prod.json.lock").await, "lock released on exit");
    assert_eq!(census(&moto.url).await, full_stack());
}

// Needs the crash hook: built with `--features test-hooks` (scripts/test.sh).
#[cfg(feature = "test-hooks")]
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_run_leaves_a_lock_that_force_unlock_clears() {
    let moto = Moto::start();
    let c = s3(&moto.url).await;
    make_bucket(&c).await;
    let p = Project::new(&moto.url);
    let o = p.run_env(&["up", "--yes", "--state", STATE], &[("MOODLECTL_CRASH_AFTER_MUTATIONS", "8")]);
    assert_eq!(o.status.signal(), Some(9));
    assert!(exists(&c, "moodle/prod.json.lock").await);
    let (_, err) = p.expect(&["up", "--yes", "--state", STATE], 1);
    let id = err
        .split("force-unlock ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect(&err)
        .trim_matches('`')
        .to_string();
    let (_, err2) = p.expect(&["force-unlock", "not-the-id", "--state", STATE], 2);
    assert!(err2.contains(&format!("lock `{id}` is held")), "{err2}");
    assert!(exists(&c, "moodle/prod.json.lock").await, "a wrong id removes nothing");
    p.expect(&["force-unlock", &id, "--state", STATE], 0);
    assert!(!exists(&c, "moodle/prod.json.lock").await);
    p.expect(&["up", "--yes", "--state", STATE], 0);
    assert_eq!(census(&moto.url).await, full_stack(), "resumed from the remote state, no duplicates");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_etag_write_is_refused_and_reported() {
    let moto = Moto::start_with_env(&[("MOODLECTL_EMU_SCALE", "0.05")]);
    let c = s3(&moto.url).await;
    make_bucket(&c).await;
    let p = Project::new(&moto.url);
    let run = p
        .cmd(&["up", "--yes", "--state", STATE])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_object(&c, "moodle/prod.json").await;
    // Another writer changes the object behind the run's back.
    let body = c
        .get_object()
        .bucket("team-state")
        .key("moodle/prod.json")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let mut doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    doc["updated_at"] = "someone else".into();
    c.put_object()
        .bucket("team-state")
        .key("moodle/prod.json")
        .body(serde_json::to_vec(&doc).unwrap().into())
        .send()
        .await
        .unwrap();
    let out = tokio::task::spawn_blocking(move || run.wait_with_output().unwrap()).await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("changed by another writer"), "{err}");
    assert!(!exists(&c, "moodle/prod.json.lock").await, "lock released after the refusal");
    // Rerunning continues from the newer object and converges.
    p.expect(&["up", "--yes", "--state", STATE], 0);
    assert_eq!(census(&moto.url).await, full_stack());
}

#[tokio::test(flavor = "multi_thread")]
async fn state_pull_and_push_move_state_between_local_and_s3() {
    let moto = Moto::start();
    let c = s3(&moto.url).await;
    make_bucket(&c).await;
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    let local = std::fs::read_to_string(p.state_path()).unwrap();
    p.expect(&["state", "push", p.state_path().to_str().unwrap(), "--state", STATE], 0);
    let (pulled, _) = p.expect(&["state", "pull", "--state", STATE], 0);
    let a: serde_json::Value = serde_json::from_str(&local).unwrap();
    let b: serde_json::Value = serde_json::from_str(&pulled).unwrap();
    assert_eq!(a["resources"], b["resources"]);
    // With the state in S3, a no-op up changes no AWS resource.
    moto.start_recording();
    p.expect(&["up", "--yes", "--state", STATE], 0);
    let m = mutating(&moto.stop_recording());
    assert!(
        m.iter().all(|op| op.starts_with("PUT ") || op.starts_with("DELETE ")),
        "only the lock object is written: {m:?}"
    );
    // A file of another stack is refused.
    let other = p.dir.path().join("other.json");
    std::fs::write(&other, local.replace("\"stack\": \"moodle\"", "\"stack\": \"other\"")).unwrap();
    let (_, err) = p.expect(&["state", "push", other.to_str().unwrap(), "--state", STATE], 2);
    assert!(err.contains("another stack"), "{err}");
}
