//! Prices from the AWS Price List Query API (`pricing:GetProducts`).
//!
//! The API is served from a few regions only (us-east-1 answers for every
//! region's prices); each price key of [`super::PriceKey`] becomes one
//! `GetProducts` call with `TERM_MATCH` filters (`regionCode`, product family,
//! instance type…) — the filters terraform-cost tools such as Infracost use —
//! and the products that come back are narrowed by their `usagetype`, whose
//! region prefix (`APS1-`, `EU-`, none in us-east-1) varies, so it is
//! compared without it. A price is the on-demand price of a product's first
//! tier; where several products match (an alarm's resolutions), the lowest.
//!
//! The Price List describes each product as a JSON document in a string
//! (`PriceList`), parsed here with serde_json.

use aws_sdk_pricing::types::{Filter, FilterType};
use serde_json::Value;

/// How to find one price in the Price List.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub service: &'static str,
    /// `TERM_MATCH` filters (attribute, value).
    pub filters: Vec<(&'static str, String)>,
    /// The `usagetype` without its region prefix, if it narrows the products.
    pub usagetype: Option<String>,
    /// A `usagetype` containing this is left out (WAF's Shield-protected twins).
    pub exclude: Option<&'static str>,
    /// The price is per this many of the Price List's units (10,000 requests).
    pub per: f64,
}

impl Query {
    fn new(service: &'static str, family: &str, usagetype: Option<&str>) -> Query {
        let mut filters = vec![];
        if !family.is_empty() {
            filters.push(("productFamily", family.to_string()));
        }
        Query { service, filters, usagetype: usagetype.map(str::to_string), exclude: None, per: 1.0 }
    }
    fn filter(mut self, field: &'static str, value: impl Into<String>) -> Query {
        self.filters.push((field, value.into()));
        self
    }
    fn region(self, region: &str) -> Query {
        self.filter("regionCode", region)
    }
}

/// CloudFront's price zone for viewers near the stack's region (a school's
/// users are where the school is).
pub fn cloudfront_zone(region: &str) -> &'static str {
    match region {
        r if r.starts_with("us-") || r.starts_with("ca-") || r.starts_with("mx-") => "United States",
        r if r.starts_with("eu-") || r.starts_with("il-") => "Europe",
        "ap-northeast-1" | "ap-northeast-3" => "Japan",
        "ap-southeast-2" | "ap-southeast-4" => "Australia",
        "ap-south-1" | "ap-south-2" => "India",
        r if r.starts_with("sa-") => "South America",
        r if r.starts_with("af-") => "South Africa",
        r if r.starts_with("me-") => "Middle East",
        _ => "Asia Pacific",
    }
}

/// The Price List query for a price key, `None` for a key it cannot price.
pub fn query(key: &str, region: &str) -> Option<Query> {
    let q = match key {
        "nat.hour" => Query::new("AmazonEC2", "NAT Gateway", Some("NatGateway-Hours")).region(region),
        "nat.gb" => Query::new("AmazonEC2", "NAT Gateway", Some("NatGateway-Bytes")).region(region),
        "vpce.hour" => Query::new("AmazonVPC", "VpcEndpoint", Some("VpcEndpoint-Hours")).region(region),
        "ipv4.hour" => Query::new("AmazonVPC", "", Some("PublicIPv4:InUseAddress")).region(region),
        "alb.hour" => Query::new("AWSELB", "Load Balancer-Application", Some("LoadBalancerUsage")).region(region),
        "alb.lcu_hour" => Query::new("AWSELB", "Load Balancer-Application", Some("LCUUsage")).region(region),
        "fargate.vcpu_hour" => Query::new("AmazonECS", "Compute", Some("Fargate-vCPU-Hours:perCPU")).region(region),
        "fargate.gb_hour" => Query::new("AmazonECS", "Compute", Some("Fargate-GB-Hours")).region(region),
        "fargate.arm.vcpu_hour" => {
            Query::new("AmazonECS", "Compute", Some("Fargate-ARM-vCPU-Hours:perCPU")).region(region)
        }
        "fargate.arm.gb_hour" => Query::new("AmazonECS", "Compute", Some("Fargate-ARM-GB-Hours")).region(region),
        "rds.aurora.storage.gb_month" => Query::new("AmazonRDS", "Database Storage", Some("Aurora:StorageUsage"))
            .region(region)
            .filter("databaseEngine", "Aurora MySQL"),
        "rds.aurora.acu_hour" => Query::new("AmazonRDS", "ServerlessV2", Some("Aurora:ServerlessV2Usage"))
            .region(region)
            .filter("databaseEngine", "Aurora MySQL"),
        "efs.gb_month" => Query::new("AmazonEFS", "Storage", Some("TimedStorage-ByteHrs")).region(region),
        "efs.ia.gb_month" => Query::new("AmazonEFS", "Storage", Some("IATimedStorage-ByteHrs")).region(region),
        "backup.efs.gb_month" => {
            Query::new("AWSBackup", "AWS Backup Storage", Some("WarmStorage-ByteHrs-EFS")).region(region)
        }
        "cloudfront.gb" => Query::new("AmazonCloudFront", "", None)
            .filter("transferType", "CloudFront Outbound")
            .filter("fromLocation", cloudfront_zone(region)),
        "cloudfront.https_10k" => Query {
            per: 10_000.0,
            ..Query::new("AmazonCloudFront", "", None)
                .filter("requestType", "CloudFront-Request-HTTPS-Proxy")
                .filter("location", cloudfront_zone(region))
        },
        // A CLOUDFRONT-scope web ACL is billed in us-east-1.
        "waf.acl.month" => Query {
            exclude: Some("ShieldProtected"),
            ..Query::new("awswaf", "Web Application Firewall", Some("WebACLV2")).region("us-east-1")
        },
        "waf.rule.month" => Query {
            exclude: Some("ShieldProtected"),
            ..Query::new("awswaf", "Web Application Firewall", Some("RuleV2")).region("us-east-1")
        },
        "waf.request_million" => Query {
            exclude: Some("ShieldProtected"),
            per: 1_000_000.0,
            ..Query::new("awswaf", "Web Application Firewall", Some("RequestV2-Tier1")).region("us-east-1")
        },
        "cloudwatch.alarm.month" => Query::new("AmazonCloudWatch", "Alarm", Some("AlarmMonitorUsage"))
            .region(region)
            .filter("alarmType", "Standard"),
        "cloudwatch.dashboard.month" => {
            Query::new("AmazonCloudWatch", "Dashboard", Some("DashboardsUsageHour")).region(region)
        }
        "logs.ingest.gb" => Query::new("AmazonCloudWatch", "Data Payload", Some("DataProcessing-Bytes")).region(region),
        "secrets.secret.month" => Query::new("AWSSecretsManager", "Secret", None).region(region),
        "kms.key.month" => Query::new("awskms", "Encryption Key", Some("KMS-Keys")).region(region),
        k => return parametric(k, region),
    };
    Some(q)
}

/// Keys that carry a class: `rds.<engine>.<class>`, `rds.<engine>.gp3.gb_month`,
/// `cache.<engine>.<node type>`.
fn parametric(key: &str, region: &str) -> Option<Query> {
    if let Some(rest) = key.strip_prefix("cache.") {
        let (engine, node) = rest.split_once('.')?;
        let engine = match engine {
            "redis" => "Redis",
            "valkey" => "Valkey",
            _ => return None,
        };
        return Some(
            Query::new("AmazonElastiCache", "Cache Instance", None)
                .region(region)
                .filter("instanceType", node)
                .filter("cacheEngine", engine),
        );
    }
    let rest = key.strip_prefix("rds.")?;
    let (engine, what) = rest.split_once('.')?;
    let engine = match engine {
        "mysql" => "MySQL",
        "mariadb" => "MariaDB",
        "aurora-mysql" => "Aurora MySQL",
        _ => return None,
    };
    let q = if what == "gp3.gb_month" {
        Query::new("AmazonRDS", "Database Storage", None).region(region).filter("volumeType", "General Purpose-GP3")
    } else {
        Query::new("AmazonRDS", "Database Instance", Some(&format!("InstanceUsage:{what}")))
            .region(region)
            .filter("instanceType", what)
    };
    Some(q.filter("databaseEngine", engine).filter("deploymentOption", "Single-AZ"))
}

/// Does a product's `usagetype` match `want`, with or without a region prefix?
fn usagetype_matches(usagetype: &str, want: &str) -> bool {
    usagetype == want || usagetype.ends_with(&format!("-{want}"))
}

/// The price a query selects from Price List product documents (`None`: no
/// product matched).
pub fn select(q: &Query, products: &[String]) -> Option<f64> {
    let mut best: Option<f64> = None;
    for doc in products {
        let Ok(v) = serde_json::from_str::<Value>(doc) else { continue };
        let usagetype = v["product"]["attributes"]["usagetype"].as_str().unwrap_or("");
        if q.usagetype.as_deref().is_some_and(|w| !usagetype_matches(usagetype, w)) {
            continue;
        }
        if q.exclude.is_some_and(|x| usagetype.contains(x)) {
            continue;
        }
        let Some(price) = first_tier_usd(&v) else { continue };
        best = Some(best.map_or(price, |b: f64| b.min(price)));
    }
    best.map(|p| p * q.per)
}

/// The on-demand price of a product's first tier (lowest `beginRange`).
fn first_tier_usd(product: &Value) -> Option<f64> {
    let terms = product["terms"]["OnDemand"].as_object()?;
    let mut tiers: Vec<(f64, f64)> = vec![];
    for term in terms.values() {
        for dim in term["priceDimensions"].as_object()?.values() {
            let usd: f64 = dim["pricePerUnit"]["USD"].as_str()?.parse().ok()?;
            let begin: f64 = dim["beginRange"].as_str().unwrap_or("0").parse().unwrap_or(0.0);
            tiers.push((begin, usd));
        }
    }
    tiers.into_iter().min_by(|a, b| a.0.total_cmp(&b.0)).map(|t| t.1)
}

/// Ask the Price List API for one price.
pub async fn fetch(client: &aws_sdk_pricing::Client, q: &Query) -> Result<Option<f64>, String> {
    let filters: Vec<Filter> = q
        .filters
        .iter()
        .map(|(f, v)| {
            Filter::builder().r#type(FilterType::TermMatch).field(*f).value(v).build().expect("all fields set")
        })
        .collect();
    let mut products = vec![];
    let mut pages = client
        .get_products()
        .service_code(q.service)
        .set_filters(Some(filters))
        .format_version("aws_v1")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| crate::aws::errors::error_code_message(&e).0)?;
        products.extend(page.price_list().iter().cloned());
    }
    Ok(select(q, &products))
}
