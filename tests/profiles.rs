//! Profiles and cost (issue 18) against the emulator, checked with
//! independent SDK reads: `up` of the `small` profile builds its documented
//! shape, a second `up` changes nothing, and switching to `production` is the
//! in-place upgrade `plan` announces (a NAT gateway and its route, the
//! interface endpoints, Multi-AZ and class on the database, a cache replica
//! with failover, a bigger task). `cost` answers from the embedded table when
//! the Price List API cannot be reached (the emulator has no pricing
//! service), and says so.

mod common;
use common::*;
use std::collections::BTreeMap;

/// The stack's shape as AWS reports it (independent reads, no moodlectl code).
#[derive(Debug, PartialEq)]
struct Shape {
    nats: usize,
    /// Private route table key → the NAT gateway its default route uses.
    private_routes: BTreeMap<String, String>,
    interface_endpoints: Vec<String>,
    db: (String, bool),
    cache: (String, usize, String, String),
    task: (String, String),
    max_tasks: i32,
}

async fn live_shape(endpoint: &str, ids: &BTreeMap<String, String>) -> Shape {
    let conf = sdk(endpoint, REGION).await;
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let stack = aws_sdk_ec2::types::Filter::builder().name("tag:moodlectl:stack").values("moodle").build();
    let nats = ec2.describe_nat_gateways().filter(stack.clone()).send().await.unwrap();
    let nats: Vec<_> = nats
        .nat_gateways()
        .iter()
        .filter(|n| n.state().map(|s| s.as_str()) == Some("available"))
        .map(|n| n.nat_gateway_id().unwrap().to_string())
        .collect();
    let mut private_routes = BTreeMap::new();
    for az in ["a", "b"] {
        let key = format!("rtb/private-{az}");
        let t = ec2.describe_route_tables().route_table_ids(&ids[&key]).send().await.unwrap();
        let route = t.route_tables()[0]
            .routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            .and_then(|r| r.nat_gateway_id())
            .unwrap_or("none")
            .to_string();
        private_routes.insert(key, route);
    }
    let eps = ec2.describe_vpc_endpoints().filters(stack).send().await.unwrap();
    let mut interface_endpoints: Vec<String> = eps
        .vpc_endpoints()
        .iter()
        .filter(|e| e.vpc_endpoint_type().map(|t| t.as_str()) == Some("Interface"))
        .filter(|e| e.state().map(|s| s.as_str().to_ascii_lowercase()).as_deref() == Some("available"))
        .map(|e| e.service_name().unwrap().rsplit_once("ap-southeast-1.").unwrap().1.to_string())
        .collect();
    interface_endpoints.sort();
    let rds = aws_sdk_rds::Client::new(&conf);
    let db = rds.describe_db_instances().db_instance_identifier("moodle-db").send().await.unwrap();
    let db = &db.db_instances()[0];
    let ec = aws_sdk_elasticache::Client::new(&conf);
    let g = ec.describe_replication_groups().replication_group_id("moodle-redis").send().await.unwrap();
    let g = &g.replication_groups()[0];
    let td = service_task_definition(&conf).await;
    let aas = aws_sdk_applicationautoscaling::Client::new(&conf);
    let targets = aas
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .send()
        .await
        .unwrap();
    Shape {
        nats: nats.len(),
        private_routes,
        interface_endpoints,
        db: (db.db_instance_class().unwrap().to_string(), db.multi_az().unwrap()),
        cache: (
            g.cache_node_type().unwrap().to_string(),
            g.member_clusters().len(),
            g.automatic_failover().unwrap().as_str().to_string(),
            g.multi_az().unwrap().as_str().to_string(),
        ),
        task: (td.cpu().unwrap().to_string(), td.memory().unwrap().to_string()),
        max_tasks: targets.scalable_targets()[0].max_capacity(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn small_profile_builds_its_shape_and_converges_in_place_to_production() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.edit_config("profile = \"production\"", "profile = \"small\"");
    p.expect(&["up", "--yes"], 0);
    let ids = state_ids(&p.state_path());
    let small = live_shape(&moto.url, &ids).await;
    assert_eq!(
        small,
        Shape {
            nats: 1,
            private_routes: [
                ("rtb/private-a".to_string(), ids["nat/a"].clone()),
                ("rtb/private-b".to_string(), ids["nat/a"].clone())
            ]
            .into(),
            interface_endpoints: vec![],
            db: ("db.t4g.medium".into(), false),
            cache: ("cache.t4g.small".into(), 1, "disabled".into(), "disabled".into()),
            task: ("1024".into(), "2048".into()),
            max_tasks: 4,
        }
    );
    assert!(!ids.contains_key("nat/b") && !ids.contains_key("eip/b"), "{ids:?}");
    // The shape up built is recorded for plan's cost delta.
    assert_eq!(read_state(&p.state_path())["applied"]["nat_gateways"], 1);
    // `status` judges the small shape by its own rules: healthy, no drift
    // (private route b to the first AZ's gateway is what it wants).
    confirm_alert_email(&moto.url);
    let (out, _) = p.expect(&["status", "-o", "json"], 0);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["summary"]["drifted"], 0, "{out}");

    // A second `up` changes nothing.
    assert_eq!(p.up_mutating(&moto), Vec::<String>::new());

    // production: plan announces the in-place changes and their cost ...
    p.edit_config("profile = \"small\"", "profile = \"production\"");
    let (out, _) = p.expect(&["plan", "-o", "json"], 3);
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    validate(&schema("plan.schema.json"), &plan, "plan").unwrap();
    let action = |step: &str| {
        let s = plan["steps"].as_array().unwrap().iter().find(|s| s["step"] == step).unwrap();
        (s["action"].as_str().unwrap().to_string(), s["changes"].to_string())
    };
    assert_eq!(action("network.nat").0, "create");
    assert_eq!(action("network.eips").0, "create");
    assert_eq!(action("network.interface-endpoints").0, "create");
    let (a, c) = action("network.nat-routes");
    assert_eq!(a, "update", "{c}");
    assert!(c.contains("rtb/private-b 0.0.0.0/0 → the new nat/b"), "{c}");
    let (a, c) = action("data.db-instance");
    assert_eq!(a, "update");
    assert!(c.contains("\"field\":\"instance_class\"") && c.contains("\"new\":\"db.r6g.large\""), "{c}");
    assert!(c.contains("\"field\":\"multi_az\"") && c.contains("\"new\":\"true\""), "{c}");
    let (a, c) = action("data.redis");
    assert_eq!(a, "update");
    for f in ["node_type", "num_nodes", "automatic_failover"] {
        assert!(c.contains(&format!("\"field\":\"{f}\"")), "{f}: {c}");
    }
    let cost = &plan["cost"];
    assert!(cost["before"].as_f64().unwrap() > 0.0, "{cost}");
    assert!(cost["delta"].as_f64().unwrap() > 0.0, "production costs more: {cost}");
    assert_eq!(cost["prices"]["kind"], "embedded", "the emulator has no Price List: {cost}");
    // ... nothing is replaced: the database, cache group, VPC and subnets keep their IDs.
    p.expect(&["up", "--yes"], 0);
    let after = state_ids(&p.state_path());
    for k in ["vpc", "subnet/private-a", "subnet/private-b", "nat/a", "efs/file-system"] {
        assert_eq!(after[k], ids[k], "{k} kept");
    }
    let prod = live_shape(&moto.url, &after).await;
    assert_eq!(
        prod,
        Shape {
            nats: 2,
            private_routes: [
                ("rtb/private-a".to_string(), after["nat/a"].clone()),
                ("rtb/private-b".to_string(), after["nat/b"].clone())
            ]
            .into(),
            interface_endpoints: vec!["ecr.api".into(), "ecr.dkr".into(), "logs".into(), "secretsmanager".into()],
            db: ("db.r6g.large".into(), true),
            cache: ("cache.r6g.large".into(), 2, "enabled".into(), "enabled".into()),
            task: ("2048".into(), "4096".into()),
            max_tasks: 10,
        }
    );
    let (out, _) = p.expect(&["plan"], 0);
    assert!(out.contains("No changes") && out.contains("$0.00/month"), "{out}");
    p.expect(&["status"], 0);

    // And back to small: the second NAT gateway goes once no route uses it,
    // the endpoints go, the cache loses its replica (failover off first).
    p.edit_config("profile = \"production\"", "profile = \"small\"");
    p.expect(&["up", "--yes"], 0);
    let back = state_ids(&p.state_path());
    let shape = live_shape(&moto.url, &back).await;
    assert_eq!((shape.nats, shape.interface_endpoints.len()), (1, 0));
    assert_eq!(shape.private_routes["rtb/private-b"], back["nat/a"]);
    assert_eq!(shape.cache, ("cache.t4g.small".into(), 1, "disabled".into(), "disabled".into()));

    p.expect(&["down", "--yes", "--skip-final-snapshot", "--force-delete-secrets", "--delete-logs"], 0);
    assert_eq!(census(&moto.url).await, empty_stack());
}

#[test]
fn cost_uses_the_embedded_table_when_the_price_list_is_unreachable_and_says_so() {
    let moto = Moto::start();
    let p = Project::bare(&moto.url);
    let cache = tempfile::tempdir().unwrap();
    let env = [("MOODLECTL_CACHE_DIR", cache.path().to_str().unwrap())];
    // The emulator has no pricing service: the Price List call fails.
    let o = p.run_env(&["cost", "--compare", "small", "-o", "json"], &env);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    validate(&schema("cost.schema.json"), &doc, "cost").unwrap();
    assert_eq!(doc["prices"]["source"]["kind"], "embedded");
    assert!(doc["prices"]["source"]["reason"].as_str().unwrap().contains("Price List API unreachable"), "{doc}");
    // The total is the sum of its lines, and the small shape is cheaper.
    for e in [&doc["estimate"], &doc["compare"]["estimate"]] {
        let sum: f64 = e["lines"].as_array().unwrap().iter().map(|l| l["monthly"].as_f64().unwrap()).sum();
        assert!((sum - e["total"].as_f64().unwrap()).abs() < 0.05, "{e}");
    }
    let (prod, small) =
        (doc["estimate"]["total"].as_f64().unwrap(), doc["compare"]["estimate"]["total"].as_f64().unwrap());
    assert!(small < prod / 2.0, "small {small} vs production {prod}");
    // One NAT gateway line: 730 h at the embedded table's Singapore price.
    let nat =
        doc["compare"]["estimate"]["lines"].as_array().unwrap().iter().find(|l| l["item"] == "NAT gateways").unwrap();
    assert_eq!(nat["monthly"].as_f64().unwrap(), (730.0_f64 * 0.059 * 100.0).round() / 100.0);

    // Text: which prices, of when.
    let o = p.run_env(&["cost"], &env);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("prices: embedded price table for ap-southeast-1, taken 2026-12-03"), "{text}");
    assert!(text.contains("Total: $"), "{text}");
}
