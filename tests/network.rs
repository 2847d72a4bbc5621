//! The foundation end to end: the network tier built, inspected, updated,
//! resumed after SIGKILL, adopted, locked and torn down against moto, and
//! every claim checked with independent SDK calls.

mod common;
use common::*;

use aws_sdk_ec2::types::Filter;
use std::collections::BTreeSet;

fn stack_filter() -> Filter {
    Filter::builder().name("tag:moodlectl:stack").values("moodle").build()
}

#[tokio::test(flavor = "multi_thread")]
async fn up_builds_the_network_as_specified() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    let (out, _) = p.expect(&["up", "--yes"], 0);
    assert_eq!(census(&moto.url).await, full_stack());

    let conf = sdk(&moto.url, REGION).await;
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let f = stack_filter();
    let vpc = ec2.describe_vpcs().filters(f.clone()).send().await.unwrap().vpcs()[0].clone();
    let vpc_id = vpc.vpc_id().unwrap().to_string();
    assert_eq!(vpc.cidr_block(), Some("10.0.0.0/16"));
    for attr in [
        aws_sdk_ec2::types::VpcAttributeName::EnableDnsSupport,
        aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames,
    ] {
        let a = ec2.describe_vpc_attribute().vpc_id(&vpc_id).attribute(attr.clone()).send().await.unwrap();
        let v = a.enable_dns_support().or(a.enable_dns_hostnames()).and_then(|b| b.value());
        assert_eq!(v, Some(true), "{attr:?}");
    }

    // Subnets: 2 public + 2 private, over 2 AZs; none maps a public IP on
    // launch (the ALB and the NAT gateways bring their own addresses).
    let subnets = ec2.describe_subnets().filters(f.clone()).send().await.unwrap().subnets().to_vec();
    let name = |tags: &[aws_sdk_ec2::types::Tag]| {
        tags.iter().find(|t| t.key() == Some("Name")).and_then(|t| t.value()).unwrap_or("").to_string()
    };
    let public: Vec<_> = subnets.iter().filter(|s| name(s.tags()).contains("public")).collect();
    let private: Vec<_> = subnets.iter().filter(|s| name(s.tags()).contains("private")).collect();
    assert_eq!((public.len(), private.len()), (2, 2));
    assert!(subnets.iter().all(|s| s.map_public_ip_on_launch() == Some(false)), "{subnets:?}");
    let azs: BTreeSet<_> = public.iter().map(|s| s.availability_zone().unwrap()).collect();
    assert_eq!(azs.len(), 2);
    assert!(subnets.iter().all(|s| s.vpc_id() == Some(vpc_id.as_str())));

    // IGW attached to the VPC.
    let igw = ec2.describe_internet_gateways().filters(f.clone()).send().await.unwrap().internet_gateways()[0].clone();
    assert_eq!(igw.attachments()[0].vpc_id(), Some(vpc_id.as_str()));

    // One NAT per AZ, each in a public subnet with its own EIP, available.
    let nats = ec2.describe_nat_gateways().filter(f.clone()).send().await.unwrap().nat_gateways().to_vec();
    let public_ids: BTreeSet<_> = public.iter().map(|s| s.subnet_id().unwrap()).collect();
    let nat_subnets: BTreeSet<_> = nats.iter().map(|n| n.subnet_id().unwrap()).collect();
    assert_eq!(nat_subnets, public_ids);
    let nat_eips: BTreeSet<_> =
        nats.iter().map(|n| n.nat_gateway_addresses()[0].allocation_id().unwrap().to_string()).collect();
    assert_eq!(nat_eips.len(), 2);
    assert!(nats.iter().all(|n| n.state().map(|s| s.as_str()) == Some("available")));

    // Routes: public → IGW on both public subnets; each private → its AZ's NAT.
    let rtbs = ec2.describe_route_tables().filters(f.clone()).send().await.unwrap().route_tables().to_vec();
    let default_target = |t: &aws_sdk_ec2::types::RouteTable| {
        t.routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            .map(|r| r.gateway_id().or(r.nat_gateway_id()).unwrap().to_string())
    };
    let pub_rtb = rtbs.iter().find(|t| name(t.tags()).contains("public")).unwrap();
    assert_eq!(default_target(pub_rtb).as_deref(), igw.internet_gateway_id());
    let assoc: BTreeSet<_> = pub_rtb.associations().iter().filter_map(|a| a.subnet_id()).collect();
    assert_eq!(assoc, public_ids);
    for s in &private {
        let t = rtbs
            .iter()
            .find(|t| t.associations().iter().any(|a| a.subnet_id() == s.subnet_id()))
            .expect("private subnet associated");
        let nat = nats
            .iter()
            .find(|n| default_target(t).as_deref() == n.nat_gateway_id())
            .expect("private default route to a NAT");
        let nat_subnet = subnets.iter().find(|x| x.subnet_id() == nat.subnet_id()).unwrap();
        assert_eq!(nat_subnet.availability_zone(), s.availability_zone(), "NAT in the same AZ");
    }

    // Endpoints: S3 gateway on the private tables; 4 interface endpoints with private DNS.
    let eps = ec2.describe_vpc_endpoints().filters(f.clone()).send().await.unwrap().vpc_endpoints().to_vec();
    let s3 = eps.iter().find(|e| e.service_name() == Some("com.amazonaws.ap-southeast-1.s3")).unwrap();
    assert_eq!(s3.vpc_endpoint_type().map(|t| t.as_str()), Some("Gateway"));
    let private_rtbs: BTreeSet<_> =
        rtbs.iter().filter(|t| name(t.tags()).contains("private")).map(|t| t.route_table_id().unwrap()).collect();
    assert_eq!(s3.route_table_ids().iter().map(|s| s.as_str()).collect::<BTreeSet<_>>(), private_rtbs);
    let private_ids: BTreeSet<_> = private.iter().map(|s| s.subnet_id().unwrap()).collect();
    let sg = ec2
        .describe_security_groups()
        .filters(f.clone())
        .send()
        .await
        .unwrap()
        .security_groups()
        .iter()
        .find(|g| name(g.tags()) == "moodle-endpoints-sg")
        .unwrap()
        .clone();
    // The VPC's default security group keeps no rule (nothing of the stack uses it).
    let default = ec2
        .describe_security_groups()
        .filters(Filter::builder().name("vpc-id").values(&vpc_id).build())
        .filters(Filter::builder().name("group-name").values("default").build())
        .send()
        .await
        .unwrap()
        .security_groups()[0]
        .clone();
    assert!(default.ip_permissions().is_empty() && default.ip_permissions_egress().is_empty(), "{default:?}");
    for svc in ["ecr.api", "ecr.dkr", "secretsmanager", "logs"] {
        let e = eps
            .iter()
            .find(|e| e.service_name() == Some(format!("com.amazonaws.ap-southeast-1.{svc}").as_str()))
            .unwrap_or_else(|| panic!("{svc}"));
        assert_eq!(e.vpc_endpoint_type().map(|t| t.as_str()), Some("Interface"));
        assert_eq!(e.private_dns_enabled(), Some(true));
        assert_eq!(e.subnet_ids().iter().map(|s| s.as_str()).collect::<BTreeSet<_>>(), private_ids);
        assert_eq!(e.groups()[0].group_id(), sg.group_id());
    }
    let perms = sg.ip_permissions();
    assert_eq!(perms.len(), 1);
    assert_eq!((perms[0].from_port(), perms[0].to_port()), (Some(443), Some(443)));
    assert_eq!(perms[0].ip_ranges()[0].cidr_ip(), Some("10.0.0.0/16"));

    // Flow log: ALL traffic, to the log group (7 days), through the role.
    let fl = ec2.describe_flow_logs().filter(f.clone()).send().await.unwrap().flow_logs()[0].clone();
    assert_eq!(fl.traffic_type().map(|t| t.as_str()), Some("ALL"));
    assert_eq!(fl.resource_id(), Some(vpc_id.as_str()));
    assert_eq!(fl.log_group_name(), Some("/moodlectl/moodle/vpc-flow-logs"));
    let logs = aws_sdk_cloudwatchlogs::Client::new(&conf);
    let lg = logs.describe_log_groups().log_group_name_prefix("/moodlectl/moodle/vpc-flow-logs").send().await.unwrap();
    assert_eq!(lg.log_groups()[0].retention_in_days(), Some(7));
    let iam = aws_sdk_iam::Client::new(&conf);
    let role = iam.get_role().role_name("moodle-vpc-flow-logs").send().await.unwrap();
    assert_eq!(fl.deliver_logs_permission_arn(), Some(role.role().unwrap().arn()));
    let trust = role.role().unwrap().assume_role_policy_document().unwrap();
    assert!(
        trust.contains("vpc-flow-logs.amazonaws.com")
            || trust.contains("vpc-flow-logs.amazonaws.com".replace('.', "%2E").as_str()),
        "{trust}"
    );

    // Every taggable resource carries the stack tag and a Name.
    assert!(subnets.iter().all(|s| !name(s.tags()).is_empty()));
    assert!(!name(vpc.tags()).is_empty() && !name(igw.tags()).is_empty());
    assert!(nats.iter().all(|n| !name(n.tags()).is_empty()));

    // outputs prints the VPC and subnet IDs; up printed the same.
    let (outs, _) = p.expect(&["outputs", "-o", "json"], 0);
    let outs: serde_json::Value = serde_json::from_str(&outs).unwrap();
    assert_eq!(outs["vpc_id"], vpc_id.as_str());
    let listed: BTreeSet<String> =
        outs["private_subnet_ids"].as_str().unwrap().split(',').map(str::to_string).collect();
    assert_eq!(listed, private_ids.iter().map(|s| s.to_string()).collect());
    assert!(out.contains(&vpc_id));

    // status lists every resource with its live state.
    confirm_alert_email(&moto.url);
    let (st, _) = p.expect(&["status", "-o", "json"], 0);
    let st: serde_json::Value = serde_json::from_str(&st).unwrap();
    assert_eq!(st["healthy"], true);
    let rows = st["resources"].as_array().unwrap();
    let ids: BTreeSet<&str> = rows.iter().filter_map(|r| r["id"].as_str()).collect();
    for id in public_ids.iter().chain(private_ids.iter()).chain([&vpc_id.as_str()]) {
        assert!(ids.contains(id), "status lacks {id}");
    }
    for e in &eps {
        assert!(ids.contains(e.vpc_endpoint_id().unwrap()));
    }
    assert!(rows.iter().all(|r| r["state"].as_str().is_some_and(|s| !s.is_empty())));
    assert_eq!(rows.iter().filter(|r| r["tier"] == "network").count(), 24);
}

#[tokio::test(flavor = "multi_thread")]
async fn second_up_makes_no_mutating_call_and_plan_is_empty() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    moto.start_recording();
    let (out, _) = p.expect(&["up", "--yes", "-o", "json"], 0);
    let ops = moto.stop_recording();
    assert!(ops.len() > 10, "the no-op up still reads: {ops:?}");
    assert_eq!(mutating(&ops), Vec::<String>::new(), "no-op up mutated");
    // NDJSON: every line parses; all steps unchanged.
    let events = events(&out);
    let steps = events.iter().find(|e| e["event"] == "run_started").unwrap()["steps"].as_u64().unwrap() as usize;
    let finished = events.iter().filter(|e| e["event"] == "step_finished").count();
    assert_eq!(finished, steps);
    assert!(events.iter().filter(|e| e["event"] == "step_finished").all(|e| e["outcome"] == "unchanged"));

    moto.start_recording();
    let (plan, _) = p.expect(&["plan"], 0);
    assert!(mutating(&moto.stop_recording()).is_empty());
    assert!(plan.contains(&format!("0 to create, 0 to update, {steps} unchanged")), "{plan}");
}

#[tokio::test(flavor = "multi_thread")]
async fn in_place_update_shows_in_plan_and_updates_without_recreating() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    let before = state_ids(&p.state_path());
    p.edit_config("flow_log_retention_days = 7", "flow_log_retention_days = 14");

    moto.start_recording();
    let (plan, _) = p.expect(&["plan"], 3);
    assert!(mutating(&moto.stop_recording()).is_empty(), "plan must be read-only");
    let line = plan.lines().find(|l| l.contains("network.flow-log-group")).unwrap();
    assert!(line.starts_with('~') && line.contains("retention_in_days: 7 → 14"), "{plan}");
    assert_eq!(plan.lines().filter(|l| l.starts_with('+') || l.starts_with('~')).count(), 1);

    assert_eq!(p.up_mutating(&moto), vec!["PutRetentionPolicy".to_string()]);
    let conf = sdk(&moto.url, REGION).await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&conf);
    let lg = logs.describe_log_groups().log_group_name_prefix("/moodlectl/moodle/vpc-flow-logs").send().await.unwrap();
    assert_eq!(lg.log_groups()[0].retention_in_days(), Some(14));
    let after = state_ids(&p.state_path());
    assert_eq!(before, after, "nothing recreated");
    assert_eq!(census(&moto.url).await, full_stack());
    p.expect(&["plan"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn first_up_skips_lookups_inside_the_vpc_it_created() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    moto.start_recording();
    p.expect(&["up", "--yes"], 0);
    let ops: Vec<String> = moto.stop_recording().into_iter().map(|(op, _)| op).collect();
    // A new VPC holds none of our subnets, endpoints or flow logs, so none is
    // looked for; the four interface endpoints share one wait, whose first
    // DescribeVpcEndpoints (the emulator makes them available at once) ends it.
    assert!(ops.iter().any(|o| o == "CreateSubnet"), "{ops:?}");
    assert!(!ops.iter().any(|o| o == "DescribeSubnets"), "{ops:?}");
    assert!(!ops.iter().any(|o| o == "DescribeFlowLogs"), "{ops:?}");
    let count = |op: &str| ops.iter().filter(|o| *o == op).count();
    assert_eq!((count("CreateVpcEndpoint"), count("DescribeVpcEndpoints")), (5, 1), "{ops:?}");
    // The lookups are still made when the VPC already exists (state lost).
    std::fs::remove_file(p.state_path()).unwrap();
    moto.start_recording();
    p.expect(&["up", "--yes"], 0);
    let ops = moto.stop_recording();
    assert!(ops.iter().any(|(o, _)| o == "DescribeSubnets"), "{ops:?}");
    assert!(mutating(&ops).is_empty(), "{:?}", mutating(&ops));
}

#[tokio::test(flavor = "multi_thread")]
async fn attribute_drift_is_reported_on_its_resource_and_repaired() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    let state = read_state(&p.state_path());
    let vpc = state["resources"]["vpc"]["id"].as_str().unwrap().to_string();
    let subnet = state["resources"]["subnet/public-b"]["id"].as_str().unwrap().to_string();

    // Changed behind moodlectl's back, with an independent client.
    let conf = sdk(&moto.url, REGION).await;
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let flag = |on| aws_sdk_ec2::types::AttributeBooleanValue::builder().value(on).build();
    ec2.modify_vpc_attribute().vpc_id(&vpc).enable_dns_hostnames(flag(false)).send().await.unwrap();
    ec2.modify_subnet_attribute().subnet_id(&subnet).map_public_ip_on_launch(flag(true)).send().await.unwrap();

    // `status` puts each step's drift on the row of the resource it
    // configures (the VPC; the subnets), not nowhere.
    let (st, _) = p.expect(&["status", "-o", "json"], 4);
    let doc: serde_json::Value = serde_json::from_str(&st).unwrap();
    let rows = doc["resources"].as_array().unwrap();
    let drift_of = |kind: &str| -> Vec<String> {
        rows.iter().filter(|r| r["kind"] == kind).filter_map(|r| r["drift"].as_str().map(str::to_string)).collect()
    };
    assert_eq!(drift_of("ec2:vpc"), vec!["enableDnsHostnames: false → true".to_string()]);
    assert_eq!(drift_of("ec2:subnet"), vec!["subnet/public-b.map_public_ip_on_launch: true → false".to_string()]);
    assert_eq!(doc["summary"]["drifted"], 2);

    let mut ops = p.up_mutating(&moto);
    ops.sort();
    assert_eq!(ops, vec!["ModifySubnetAttribute", "ModifyVpcAttribute"]);
    let a = ec2
        .describe_vpc_attribute()
        .vpc_id(&vpc)
        .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .unwrap();
    assert_eq!(a.enable_dns_hostnames().and_then(|b| b.value()), Some(true));
    let s = ec2.describe_subnets().subnet_ids(&subnet).send().await.unwrap();
    assert_eq!(s.subnets()[0].map_public_ip_on_launch(), Some(false));
    confirm_alert_email(&moto.url);
    p.expect(&["status"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn down_removes_everything_and_is_repeatable() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    assert!(p.state_path().exists());
    p.expect(&["down", "--yes"], 0);
    assert_eq!(census(&moto.url).await, empty_stack());
    assert!(!p.state_path().exists(), "state file removed");
    // Only the emulator's default VPC remains.
    let conf = sdk(&moto.url, REGION).await;
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let vpcs = ec2.describe_vpcs().send().await.unwrap();
    assert!(vpcs.vpcs().iter().all(|v| v.is_default() == Some(true)));
    let eips = ec2.describe_addresses().send().await.unwrap();
    assert!(eips.addresses().is_empty());

    moto.start_recording();
    let (_, err) = p.expect(&["down", "--yes"], 0);
    let ops = moto.stop_recording();
    assert!(mutating(&ops).is_empty(), "second down must do nothing: {:?}", mutating(&ops));
    assert!(err.contains(" already absent") && !err.contains(" deleted"), "{err}");
}

// Needs the crash hook: built with `--features test-hooks` (scripts/test.sh).
#[cfg(feature = "test-hooks")]
#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_many_points_then_rerun_converges_without_duplicates() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    // Kill points are counted in successful mutating calls of that run; the
    // process kills itself right after the call returns, before recording it.
    for (up_kill, down_kill) in
        [(1, 1), (2, 3), (4, 5), (7, 8), (11, 13), (16, 2), (22, 6), (29, 10), (35, 15), (40, 20)]
    {
        let o = p.run_env(&["up", "--yes"], &[("MOODLECTL_CRASH_AFTER_MUTATIONS", &up_kill.to_string())]);
        use std::os::unix::process::ExitStatusExt;
        let killed = o.status.signal() == Some(9);
        assert!(killed || o.status.success(), "up #{up_kill}: {:?}\n{}", o.status, String::from_utf8_lossy(&o.stderr));
        p.expect(&["up", "--yes"], 0);
        assert_eq!(census(&moto.url).await, full_stack(), "after kill at mutation {up_kill}");
        p.expect(&["plan"], 0);

        let o = p.run_env(&["down", "--yes"], &[("MOODLECTL_CRASH_AFTER_MUTATIONS", &down_kill.to_string())]);
        assert!(o.status.signal() == Some(9), "down #{down_kill} should be killed: {:?}", o.status);
        p.expect(&["down", "--yes"], 0);
        assert_eq!(census(&moto.url).await, empty_stack(), "after down kill at mutation {down_kill}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_state_file_is_rebuilt_by_adopting_tagged_resources() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    let before = state_ids(&p.state_path());
    std::fs::remove_file(p.state_path()).unwrap();

    let (st, _) = p.expect(&["status", "-o", "json"], 4);
    assert!(st.contains("not in state"), "status reports untracked resources: {st}");

    moto.start_recording();
    let (out, _) = p.expect(&["up", "--yes", "-o", "json"], 0);
    let ops = moto.stop_recording();
    assert!(mutating(&ops).is_empty(), "adoption must not create anything: {:?}", mutating(&ops));
    assert!(!out.contains("\"outcome\":\"created\""));
    assert_eq!(census(&moto.url).await, full_stack());
    let after = state_ids(&p.state_path());
    assert_eq!(before, after, "same IDs adopted");
    confirm_alert_email(&moto.url);
    p.expect(&["status"], 0);
}

#[test]
fn concurrent_up_fails_fast_naming_the_lock_holder() {
    // The first run talks to an endpoint that never answers, so it holds the
    // lock while blocked in its first AWS call.
    let hole = Blackhole::start();
    let p = Project::bare(&hole.url);
    let mut first = p.cmd(&["up", "--yes"]).spawn().unwrap();
    let lock = p.dir.path().join(".moodlectl/moodle.lock");
    let t = std::time::Instant::now();
    while !lock.exists() && t.elapsed().as_secs() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(lock.exists(), "first run took the lock");
    let t = std::time::Instant::now();
    let (_, err) = p.expect(&["up", "--yes"], 1);
    let quick = t.elapsed();
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(err.contains("is locked by pid"), "{err}");
    assert!(err.contains(&format!("pid {}", first.id())), "{err}");
    assert!(err.contains("moodlectl up"), "{err}");
    assert!(quick.as_secs() < 10, "second run must not wait: {quick:?}");
}

/// GuardDuty Runtime Monitoring puts an endpoint and a security group of its
/// own into every VPC; `down` removes them (and says so) instead of looping
/// on DependencyViolation until its wait runs out.
#[tokio::test(flavor = "multi_thread")]
async fn down_removes_what_guardduty_added_to_the_vpc() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    let st = read_state(&p.state_path());
    let id = |k: &str| st["resources"][k]["id"].as_str().unwrap().to_string();
    let vpc = id("vpc");
    let conf = sdk(&moto.url, REGION).await;
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let name = format!("GuardDutyManagedSecurityGroup-{vpc}");
    let sg = ec2.create_security_group().group_name(&name).description("GuardDuty").vpc_id(&vpc).send().await.unwrap();
    let sg = sg.group_id().unwrap().to_string();
    let ep = ec2
        .create_vpc_endpoint()
        .vpc_id(&vpc)
        .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Interface)
        .service_name(format!("com.amazonaws.{REGION}.guardduty-data"))
        .subnet_ids(id("subnet/private-a"))
        .subnet_ids(id("subnet/private-b"))
        .security_group_ids(&sg)
        .send()
        .await
        .unwrap();
    let ep = ep.vpc_endpoint().unwrap().vpc_endpoint_id().unwrap().to_string();
    let (_, err) = p.expect(&["down", "--yes"], 0);
    assert!(err.contains(&ep) && err.contains("GuardDuty"), "down says what it removed: {err}");
    assert_eq!(census(&moto.url).await, empty_stack());
    let left = ec2.describe_vpc_endpoints().vpc_endpoint_ids(&ep).send().await.unwrap();
    assert!(left.vpc_endpoints().iter().all(|e| e.state().map(|s| s.as_str()) == Some("deleted")));
    let groups = ec2.describe_security_groups().send().await.unwrap();
    assert!(groups.security_groups().iter().all(|g| g.group_id() != Some(sg.as_str())), "GuardDuty's group is gone");
}

/// A `down` killed right after AWS deleted the NAT gateways (before the
/// state forgot them), then `up`: the NAT gateways are created anew with a
/// new idempotency token. Replaying the old one would return the deleted
/// gateway (AWS keeps the token for it), and the private subnets would never
/// reach the internet.
#[cfg(feature = "test-hooks")]
#[tokio::test(flavor = "multi_thread")]
async fn up_after_a_partial_down_creates_new_nat_gateways() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    let before = state_ids(&p.state_path());
    let o = p.run_env(&["down", "--yes"], &[("MOODLECTL_CRASH_AFTER_OP", "DeleteNatGateway")]);
    assert!(!o.status.success(), "killed after DeleteNatGateway");
    p.expect(&["up", "--yes"], 0);
    let after = state_ids(&p.state_path());
    let conf = sdk(&moto.url, REGION).await;
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    for key in ["nat/a", "nat/b"] {
        let n = ec2.describe_nat_gateways().nat_gateway_ids(&after[key]).send().await.unwrap();
        assert_eq!(n.nat_gateways()[0].state().map(|s| s.as_str()), Some("available"), "{key}");
    }
    assert!(["nat/a", "nat/b"].iter().any(|k| before[*k] != after[*k]), "a deleted gateway came back");
    assert_eq!(census(&moto.url).await, full_stack());
}

/// `down` after an `up` that failed at its very start finishes: a step
/// whose dependencies were never created has nothing to delete.
#[cfg(feature = "test-hooks")]
#[tokio::test(flavor = "multi_thread")]
async fn down_after_an_up_that_failed_early_finishes() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    let o = p.run_env(&["up", "--yes"], &[("MOODLECTL_CRASH_AFTER_MUTATIONS", "2")]);
    assert!(!o.status.success());
    p.expect(&["down", "--yes"], 0);
    assert_eq!(census(&moto.url).await, empty_stack());
}

/// The VPC's default network ACL (every subnet's) admits from the internet
/// only HTTPS/HTTP to the load balancer and answers (1024-65535, RDP denied
/// first), everything from inside the VPC; a rule added behind moodlectl's
/// back is drift that `up` removes.
#[tokio::test(flavor = "multi_thread")]
async fn the_default_network_acl_admits_only_what_the_stack_receives() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    let vpc = read_state(&p.state_path())["resources"]["vpc"]["id"].as_str().unwrap().to_string();
    let ec2 = aws_sdk_ec2::Client::new(&sdk(&moto.url, REGION).await);
    let filter = |k: &str, v: &str| Filter::builder().name(k).values(v).build();
    let read = || async {
        let o = ec2.describe_network_acls().filters(filter("vpc-id", &vpc)).filters(filter("default", "true"));
        o.send().await.unwrap().network_acls()[0].clone()
    };
    let acl = read().await;
    let mut inbound: Vec<String> = acl
        .entries()
        .iter()
        .filter(|e| e.egress() == Some(false))
        .map(|e| {
            let ports = e.port_range().map(|r| format!(" {}-{}", r.from().unwrap(), r.to().unwrap()));
            let icmp = e.icmp_type_code().map(|c| format!(" type {} code {}", c.r#type().unwrap(), c.code().unwrap()));
            let action = e.rule_action().unwrap().as_str();
            let (n, proto, cidr) = (e.rule_number().unwrap(), e.protocol().unwrap(), e.cidr_block().unwrap());
            format!("{n} {action} {proto}{} {cidr}{}", ports.unwrap_or_default(), icmp.unwrap_or_default())
        })
        .collect();
    inbound.sort();
    assert_eq!(
        inbound,
        [
            "100 allow -1 10.0.0.0/16",
            "110 allow 6 443-443 0.0.0.0/0",
            "120 allow 6 80-80 0.0.0.0/0",
            "130 deny 6 3389-3389 0.0.0.0/0",
            "140 allow 6 1024-65535 0.0.0.0/0",
            "150 allow 17 1024-65535 0.0.0.0/0",
            "160 allow 1 0.0.0.0/0 type 3 code 4",
            "32767 deny -1 0.0.0.0/0",
        ]
    );
    // Every subnet of the stack uses it.
    let subnets = ec2.describe_subnets().filters(filter("vpc-id", &vpc)).send().await.unwrap();
    let associated: Vec<&str> = acl.associations().iter().filter_map(|a| a.subnet_id()).collect();
    assert!(subnets.subnets().iter().all(|s| associated.contains(&s.subnet_id().unwrap())), "{associated:?}");

    // Converged: the next `up` writes nothing.
    assert!(p.up_mutating(&moto).is_empty());

    // Someone opens SSH to the world: drift, repaired by `up`.
    let id = acl.network_acl_id().unwrap();
    let call = ec2.create_network_acl_entry().network_acl_id(id).rule_number(90).egress(false).protocol("6");
    let call = call.rule_action(aws_sdk_ec2::types::RuleAction::Allow).cidr_block("0.0.0.0/0");
    call.port_range(aws_sdk_ec2::types::PortRange::builder().from(22).to(22).build()).send().await.unwrap();
    confirm_alert_email(&moto.url);
    let (st, _) = p.expect(&["status", "-o", "json"], 4);
    assert!(st.contains("inbound rule(s) differ from the stack's"), "{st}");
    assert_eq!(p.up_mutating(&moto), ["DeleteNetworkAclEntry"]);
    assert!(!read().await.entries().iter().any(|e| e.rule_number() == Some(90)));
    p.expect(&["status"], 0);
}
