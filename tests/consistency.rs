//! The stack under AWS's eventual consistency (the emulator's consistency
//! mode, `scripts/emu/consistency.py`): IAM roles that cannot be assumed yet,
//! KMS keys that CloudTrail and CloudWatch Logs do not see yet,
//! service-linked roles created on first use, EC2 IDs not found right after
//! their create, filter-only `Describe*` calls that leave out what was just
//! created, a target group without its load balancer for a while, a web ACL
//! still associated and a file system still in use after what held them went.
//!
//! `up`, a no-op `up` and `down` converge with nothing duplicated and nothing
//! left, and the emulator's counters prove each kind of refusal was served
//! (a mode that did not bite would prove nothing).

mod common;
use common::*;

/// Seconds each refusal lasts (the emulator's N).
const N: &str = "8";
/// moodlectl keeps looking for a resource created this recently (≥ N).
const SETTLE: (&str, &str) = ("MOODLECTL_SETTLE_S", "20");
/// Polls at most a second apart, so that a run's pace (and with it which
/// refusals it meets) depends little on how the coin flips fell.
const POLL: (&str, &str) = ("MOODLECTL_POLL_MAX_MS", "1000");

fn consistent_moto(seed: &str) -> Moto {
    Moto::start_with_env(&[("MOODLECTL_EMU_CONSISTENCY", N), ("MOODLECTL_EMU_SEED", seed)])
}

fn refusals(moto: &Moto) -> serde_json::Value {
    let body = http("GET", &format!("{}/moodlectl-emu/consistency", moto.url)).expect("emulator counters");
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["refused"].clone()
}

fn ok(o: &std::process::Output, what: &str) {
    assert!(o.status.success(), "{what} failed ({:?}):\n{}", o.status.code(), {
        let err = String::from_utf8_lossy(&o.stderr);
        let lines: Vec<&str> = err.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    });
}

/// An independent client deletes the web service and the ALB's HTTPS
/// listener (with it, the rule that forwards to the target group).
async fn delete_https_listener_and_web_service(endpoint: &str) {
    let conf = sdk(endpoint, REGION).await;
    let ecs = aws_sdk_ecs::Client::new(&conf);
    ecs.delete_service().cluster("moodle-cluster").service("moodle-service").force(true).send().await.unwrap();
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&conf);
    let lb = elb.describe_load_balancers().names("moodle-alb").send().await.unwrap().load_balancers()[0].clone();
    let found = elb.describe_listeners().load_balancer_arn(lb.load_balancer_arn().unwrap()).send().await.unwrap();
    let https = found.listeners().iter().find(|l| l.port() == Some(443)).expect("the HTTPS listener");
    elb.delete_listener().listener_arn(https.listener_arn().unwrap()).send().await.unwrap();
}

/// An independent client takes the audit key off the trail, then rewrites
/// the key's policy without its CloudTrail statement. Returns the key's ARN.
async fn strip_audit_key_of_cloudtrail(endpoint: &str) -> String {
    let conf = sdk(endpoint, REGION).await;
    let kms = aws_sdk_kms::Client::new(&conf);
    let key = kms.describe_key().key_id("alias/moodle-audit").send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_string();
    let ct = aws_sdk_cloudtrail::Client::new(&conf);
    ct.update_trail().name("moodle-trail").kms_key_id("").send().await.unwrap();
    let policy = kms.get_key_policy().key_id(&arn).policy_name("default").send().await.unwrap();
    let mut policy: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    policy["Statement"].as_array_mut().unwrap().retain(|s| s["Sid"] != "CloudTrailEncryptsLogs");
    kms.put_key_policy().key_id(&arn).policy_name("default").policy(policy.to_string()).send().await.unwrap();
    arn
}

/// Every step of a run against every refusal: a fresh `up`, a no-op `up`
/// and `down --delete-logs` on one emulator; runs killed right after
/// AWS created something (before it was recorded) and the `up` that resumes
/// them on another. The counters of both together must show every kind.
#[tokio::test(flavor = "multi_thread")]
async fn up_noop_up_down_and_killed_runs_converge_under_aws_consistency() {
    let fresh = consistent_moto("3");
    let p = Project::new(&fresh.url);
    ok(&p.run_env(&["up", "--yes"], &[SETTLE, POLL]), "up");
    assert_eq!(census(&fresh.url).await, full_stack(), "exactly one of everything");
    fresh.start_recording();
    ok(&p.run_env(&["up", "--yes"], &[SETTLE, POLL]), "no-op up");
    let changed = mutating(&fresh.stop_recording());
    assert!(changed.is_empty(), "a no-op up changed: {changed:?}");
    assert_eq!(census(&fresh.url).await, full_stack());
    // Someone deleted the HTTPS listener and the web service: `up` creates
    // both again, the service right after its target group got a listener
    // again — when ECS does not see that load balancer yet.
    let before = refusals(&fresh)["target_group_without_lb"].as_u64().unwrap_or(0);
    delete_https_listener_and_web_service(&fresh.url).await;
    ok(&p.run_env(&["up", "--yes"], &[SETTLE, POLL]), "up after the listener and service went");
    assert_eq!(census(&fresh.url).await, full_stack(), "the listener and the service are back, once each");
    let after = refusals(&fresh)["target_group_without_lb"].as_u64().unwrap_or(0);
    assert!(after > before, "CreateService was not refused right after the listener came back ({before} → {after})");
    // Out of band the trail loses its key and the audit key loses its
    // CloudTrail statement: `up` puts the policy back, and the UpdateTrail
    // right after it meets a KMS that has not propagated the policy yet
    // (InsufficientEncryptionPolicyException), which it waits out.
    let before = refusals(&fresh)["kms_key"].as_u64().unwrap_or(0);
    let key_arn = strip_audit_key_of_cloudtrail(&fresh.url).await;
    ok(&p.run_env(&["up", "--yes"], &[SETTLE, POLL]), "up after the audit key lost its CloudTrail statement");
    let after = refusals(&fresh)["kms_key"].as_u64().unwrap_or(0);
    assert!(after > before, "UpdateTrail was not refused right after the key policy changed ({before} → {after})");
    let conf = sdk(&fresh.url, REGION).await;
    let ct = aws_sdk_cloudtrail::Client::new(&conf);
    let trail = ct.describe_trails().trail_name_list("moodle-trail").send().await.unwrap().trail_list()[0].clone();
    assert_eq!(trail.kms_key_id(), Some(key_arn.as_str()), "the trail has its key back");
    // --delete-logs: the trail's bucket goes too, late log file and all.
    ok(&p.run_env(&["down", "--yes", "--delete-logs"], &[SETTLE, POLL]), "down");
    assert_eq!(census(&fresh.url).await, empty_stack(), "nothing left");

    // Killed right after a create, before the record: the next run must find
    // what was created although a filter-only lookup leaves it out for N s —
    // no second VPC, subnet, group or table — and must not panic on the
    // half it knows. (A kill may come after the stack is complete: then
    // that run simply succeeds.)
    let killed = consistent_moto("11");
    let q = Project::new(&killed.url);
    for op in ["CreateVpc", "CreateSubnet", "CreateSecurityGroup", "CreateRouteTable"] {
        let o = q.run_env(&["up", "--yes"], &[SETTLE, POLL, ("MOODLECTL_CRASH_AFTER_OP", op)]);
        assert!(op != "CreateVpc" || !o.status.success(), "the crash hook fired after {op}");
    }
    ok(&q.run_env(&["up", "--yes"], &[SETTLE, POLL]), "up after the kills");
    assert_eq!(census(&killed.url).await, full_stack(), "nothing created twice");
    ok(&q.run_env(&["down", "--yes"], &[SETTLE, POLL]), "down after the kills");
    assert_eq!(census(&killed.url).await, empty_stack(), "nothing escaped both the state file and the tag lookup");

    let (a, b) = (refusals(&fresh), refusals(&killed));
    // Every kind the emulator knows (scripts/emu/consistency.py KINDS) must
    // have been hit; thirteen kinds, so a renamed or dropped one is noticed.
    let kinds = a.as_object().expect("counts by kind");
    assert_eq!(kinds.len(), 13, "{a}");
    for kind in kinds.keys().map(String::as_str) {
        let n = a[kind].as_u64().unwrap_or(0) + b[kind].as_u64().unwrap_or(0);
        assert!(n > 0, "the mode never refused `{kind}`: {a} / {b}");
    }
}
