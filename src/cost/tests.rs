//! The arithmetic against hand-computed values (fixture prices), and the
//! Price List path against recorded-format answers (the emulator has no
//! pricing service).

use super::prices::{Prices, Source};
use super::*;
use aws_sdk_pricing::operation::get_products::GetProductsOutput;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use std::collections::BTreeMap;
use std::path::Path;

/// The four required keys, every other one at its (production) default.
const CONFIG: &str = crate::config::tests::MINIMAL;

/// Round prices, so every line below can be checked by hand.
fn fixture() -> Prices {
    let v = [
        ("nat.hour", 0.05),
        ("nat.gb", 0.05),
        ("vpce.hour", 0.01),
        ("ipv4.hour", 0.005),
        ("alb.hour", 0.02),
        ("alb.lcu_hour", 0.01),
        ("fargate.vcpu_hour", 0.04),
        ("fargate.gb_hour", 0.004),
        ("rds.mysql.db.r6g.large", 0.2),
        ("rds.mysql.db.t4g.medium", 0.06),
        ("rds.mysql.gp3.gb_month", 0.1),
        ("cache.redis.cache.r6g.large", 0.2),
        ("cache.redis.cache.t4g.small", 0.03),
        ("efs.gb_month", 0.3),
        ("efs.ia.gb_month", 0.02),
        ("backup.efs.gb_month", 0.05),
        ("cloudfront.gb", 0.1),
        ("cloudfront.https_10k", 0.01),
        ("waf.acl.month", 5.0),
        ("waf.rule.month", 1.0),
        ("waf.request_million", 0.6),
        ("cloudwatch.alarm.month", 0.1),
        ("cloudwatch.dashboard.month", 3.0),
        ("logs.ingest.gb", 0.5),
        ("secrets.secret.month", 0.4),
        ("kms.key.month", 1.0),
    ];
    Prices {
        values: v.iter().map(|(k, p)| (k.to_string(), *p)).collect(),
        source: Source::Embedded { date: "fixture".into(), region: "ap-southeast-1".into(), reason: "test".into() },
        unknown: vec![],
        from_table: vec![],
    }
}

fn cfg(extra: &str) -> Config {
    Config::parse(Path::new("moodle.toml"), &format!("{CONFIG}{extra}")).unwrap()
}

fn by_item(e: &Estimate) -> BTreeMap<String, f64> {
    e.lines.iter().map(|l| (l.item.clone(), l.monthly.unwrap())).collect()
}

#[test]
fn production_profile_by_hand() {
    let c = cfg("");
    let e = estimate(&Shape::of(&c), &c.usage, &fixture());
    let l = by_item(&e);
    assert_eq!(l["NAT gateways"], 73.0); // 2 × 730 h × 0.05
    assert_eq!(l["NAT data processed"], 2.5); // 50 GB × 0.05
    assert_eq!(l["Interface endpoints"], 58.4); // 4 × 2 AZ × 730 × 0.01
    assert_eq!(l["Public IPv4 addresses"], 14.6); // (2 NAT + 2 ALB) × 730 × 0.005
    assert_eq!(l["Load balancer"], 14.6);
    assert_eq!(l["Load balancer capacity units"], 7.3);
    assert_eq!(l["CloudFront data out"], 20.0); // 200 GB × 0.1
    assert_eq!(l["CloudFront HTTPS requests"], 5.0); // 5M / 10k × 0.01
    assert_eq!(l["WAF web ACL and rules"], 6.0); // 5 + 1 rule
    assert_eq!(l["WAF requests"], 3.0); // 5M × 0.6 / M
                                        // 1 web task (the on-demand base) + cron: 2 × 730 × (2 × 0.04 + 4 × 0.004)
    assert_eq!(l["Fargate tasks (on-demand, incl. cron)"], 140.16);
    assert_eq!(l["Fargate Spot tasks"], 0.0, "no task beyond the base");
    assert_eq!(l["Database"], 292.0); // 2 × 730 × 0.2, Multi-AZ
    assert_eq!(l["Database storage"], 6.0); // 2 × 30 GB × 0.1
    assert_eq!(l["Cache nodes"], 292.0); // 2 × 730 × 0.2
    assert_eq!(l["EFS storage, Standard"], 7.5); // 50 % of 50 GB × 0.3
    assert_eq!(l["EFS storage, Infrequent Access"], 0.5); // 25 GB × 0.02
    assert_eq!(l["Performance Insights (7 days' history)"], 0.0);
    assert_eq!(l["Backups (AWS Backup, warm)"], 5.0);
    assert_eq!(l["CloudWatch alarms"], 3.5); // 10 + 4 database + 3 × 2 nodes + 15 security = 35
    assert_eq!(l["CloudWatch dashboard"], 3.0);
    assert_eq!(l["CloudWatch Logs ingestion"], 5.0);
    assert_eq!(l["Secrets Manager secrets"], 1.2);
    assert_eq!(l["KMS keys (alert topics, audit trail)"], 3.0); // its region's and us-east-1's alert keys, the audit key
    assert_eq!(e.total, 963.26);
    assert!(e.unpriced.is_empty());
}

#[test]
fn small_profile_by_hand() {
    let c = cfg("").clone();
    let small = Config::with_profile(Path::new("moodle.toml"), CONFIG, crate::config::Profile::Small).unwrap();
    assert_ne!(Shape::of(&c), Shape::of(&small));
    let e = estimate(&Shape::of(&small), &small.usage, &fixture());
    let l = by_item(&e);
    assert_eq!(l["NAT gateways"], 36.5); // 1 × 730 × 0.05
    assert_eq!(l["Interface endpoints"], 0.0);
    assert_eq!(l["Public IPv4 addresses"], 10.95); // 3 × 730 × 0.005
    assert_eq!(l["Fargate tasks (on-demand, incl. cron)"], 70.08); // 2 × 730 × (0.04 + 2 × 0.004)
    assert_eq!(l["Database"], 43.8); // 730 × 0.06, single-AZ
    assert_eq!(l["Database storage"], 3.0);
    assert_eq!(l["Cache nodes"], 21.9); // 1 node
    assert_eq!(l["CloudWatch alarms"], 3.2); // 10 + 4 + 3 × 1 node + 15 security
    assert_eq!(e.total, 273.03);
}

#[test]
fn spot_share_follows_base_and_weights() {
    let c = cfg("\n[service]\ndesired_count = 5\nmax_count = 10\n");
    let s = Shape::of(&c);
    // Base 1 on-demand, then 4 split 3:1 → 3 Spot, 1 more on-demand, + cron.
    assert_eq!((s.tasks_ondemand, s.tasks_spot), (3.0, 3.0));
    let l = by_item(&estimate(&s, &c.usage, &fixture()));
    assert_eq!(l["Fargate Spot tasks"], 63.07); // 3 × 730 × 0.096 × 30 %
    assert_eq!(l["Fargate tasks (on-demand, incl. cron)"], 210.24); // 3 × 730 × 0.096
}

#[test]
fn a_missing_price_leaves_its_line_out_of_the_total_and_says_so() {
    let c = cfg("\n[cache]\nnode_type = \"cache.x2gd.large\"\n");
    let e = estimate(&Shape::of(&c), &c.usage, &fixture());
    assert_eq!(e.unpriced, vec!["Cache nodes".to_string()]);
    assert_eq!(e.total, round2(963.26 - 292.0));
}

#[test]
fn signed_deltas() {
    assert_eq!(signed(412.3), "+$412.30/month");
    assert_eq!(signed(-80.0), "-$80.00/month");
    assert_eq!(signed(0.001), "$0.00/month");
}

/// A Price List product document as GetProducts returns it (trimmed to the
/// fields read), for `usagetype` at `usd` per unit in tiers starting at `begins`.
fn product(usagetype: &str, tiers: &[(&str, &str)]) -> String {
    let dims: serde_json::Map<String, serde_json::Value> = tiers
        .iter()
        .enumerate()
        .map(|(i, (begin, usd))| {
            (
                format!("SKU.JRTCKXETXF.6YS6EN2CT{i}"),
                serde_json::json!({"unit": "Hrs", "beginRange": begin, "endRange": "Inf",
                    "pricePerUnit": {"USD": usd}, "description": usagetype}),
            )
        })
        .collect();
    serde_json::json!({
        "product": {"productFamily": "NAT Gateway", "attributes": {"usagetype": usagetype, "regionCode": "ap-southeast-1"}, "sku": "SKU"},
        "serviceCode": "AmazonEC2",
        "terms": {"OnDemand": {"SKU.JRTCKXETXF": {"priceDimensions": dims, "sku": "SKU"}}},
        "version": "20261201000000",
        "publicationDate": "2026-12-01T00:00:00Z"
    })
    .to_string()
}

#[tokio::test]
async fn price_list_answers_are_narrowed_by_usagetype_and_first_tier() {
    let get = mock!(aws_sdk_pricing::Client::get_products)
        .match_requests(|r| {
            r.service_code() == Some("AmazonEC2")
                && r.filters().iter().any(|f| f.field() == "regionCode" && f.value() == "ap-southeast-1")
                && r.filters().iter().any(|f| f.field() == "productFamily" && f.value() == "NAT Gateway")
        })
        .then_output(|| {
            GetProductsOutput::builder()
                .price_list(product("APS1-NatGateway-Hours", &[("0", "0.0590000000")]))
                .price_list(product("APS1-NatGateway-Bytes", &[("0", "0.0590000000")]))
                .price_list(product("APS1-NatGateway-Provisioned-Hours", &[("0", "9.0")]))
                .build()
        });
    let client = mock_client!(aws_sdk_pricing, RuleMode::MatchAny, [&get]);
    let q = pricelist::query("nat.hour", "ap-southeast-1").unwrap();
    assert_eq!(pricelist::fetch(&client, &q).await.unwrap(), Some(0.059));

    // Tiers: the first (lowest beginRange), whatever the order.
    let cf = pricelist::Query { per: 1.0, ..pricelist::query("cloudfront.gb", "eu-west-1").unwrap() };
    let docs = [product("EU-DataTransfer-Out-Bytes", &[("10240", "0.080"), ("0", "0.085")])];
    assert_eq!(pricelist::select(&cf, &docs[..]), Some(0.085));
    assert_eq!(cf.filters, vec![("transferType", "CloudFront Outbound".into()), ("fromLocation", "Europe".into())]);

    // WAF: the Shield-protected twin is left out, requests priced per million.
    let waf = pricelist::query("waf.request_million", "ap-southeast-1").unwrap();
    let docs = [
        product("USE1-ShieldProtected-RequestV2-Tier1", &[("0", "0")]),
        product("USE1-RequestV2-Tier1", &[("0", "0.0000006")]),
    ];
    let per_million = pricelist::select(&waf, &docs[..]).unwrap();
    assert!((per_million - 0.6).abs() < 1e-9, "{per_million}");

    // The instance price is the class's InstanceUsage, not a look-alike.
    let rds = pricelist::query("rds.mysql.db.t4g.medium", "us-east-1").unwrap();
    let docs =
        [product("InstanceUsage:db.t4g.medium", &[("0", "0.065")]), product("CPUCredits:db.t4g", &[("0", "0.075")])];
    assert_eq!(pricelist::select(&rds, &docs[..]), Some(0.065));
    assert!(rds.filters.contains(&("deploymentOption", "Single-AZ".into())));
}

#[tokio::test]
async fn an_unreachable_price_list_falls_back_to_the_embedded_table_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let get = mock!(aws_sdk_pricing::Client::get_products).then_error(|| {
        aws_sdk_pricing::operation::get_products::GetProductsError::unhandled("UnrecognizedClientException")
    });
    let client = mock_client!(aws_sdk_pricing, RuleMode::MatchAny, [&get]);
    let keys = vec!["nat.hour".to_string(), "efs.gb_month".to_string()];
    let p = prices::resolve_in(Some(&client), "ap-southeast-1", &keys, Some(dir.path())).await;
    match &p.source {
        Source::Embedded { region, reason, .. } => {
            assert_eq!(region, "ap-southeast-1");
            assert!(reason.contains("Price List API unreachable"), "{reason}");
        }
        s => panic!("{s:?}"),
    }
    assert_eq!(p.get("nat.hour"), Some(0.059));
    assert!(get.num_calls() <= keys.len(), "no call is retried past its failure");
}

#[tokio::test]
async fn price_list_answers_are_cached_for_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let get = mock!(aws_sdk_pricing::Client::get_products).then_output(|| {
        GetProductsOutput::builder().price_list(product("APS1-NatGateway-Hours", &[("0", "0.059")])).build()
    });
    let client = mock_client!(aws_sdk_pricing, RuleMode::MatchAny, [&get]);
    let keys = vec!["nat.hour".to_string()];
    let first = prices::resolve_in(Some(&client), "ap-southeast-1", &keys, Some(dir.path())).await;
    assert!(matches!(&first.source, Source::PriceList { cached: false, .. }), "{:?}", first.source);
    assert_eq!((first.get("nat.hour"), get.num_calls()), (Some(0.059), 1));
    assert!(dir.path().join("prices-ap-southeast-1.json").exists());
    // Within the day: the cache answers, no call.
    let second = prices::resolve_in(Some(&client), "ap-southeast-1", &keys, Some(dir.path())).await;
    assert!(matches!(&second.source, Source::PriceList { cached: true, .. }), "{:?}", second.source);
    assert_eq!((second.get("nat.hour"), get.num_calls()), (Some(0.059), 1));
    // A day later it is asked again.
    let path = dir.path().join("prices-ap-southeast-1.json");
    let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    c["fetched_at"] = serde_json::json!(crate::state::unix_now() - 24 * 3600 - 1);
    std::fs::write(&path, c.to_string()).unwrap();
    prices::resolve_in(Some(&client), "ap-southeast-1", &keys, Some(dir.path())).await;
    assert_eq!(get.num_calls(), 2);
}
