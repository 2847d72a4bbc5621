//! What the stack costs a month, before it is built: `moodlectl cost` and the
//! cost section of `plan`.
//!
//! An estimate is the [`Shape`] of the stack (what the configuration asks
//! for: gateways, classes, counts) times prices ([`prices`]) times the usage
//! assumptions of `[usage]`. Each [`Line`] is one billed item with its
//! quantity, so a reader can redo the arithmetic by hand; the tests do.
//!
//! Conventions, as AWS bills: a month is 730 hours; Multi-AZ RDS costs twice
//! the single-AZ instance and storage; an interface endpoint is billed per
//! AZ; every public IPv4 address (the NAT gateways' and the load balancer's
//! two) is billed per hour; free tiers are not subtracted (they are per
//! account, not per stack); CloudTrail's first copy of management events is
//! free. `up` records the shape it built in the state, so `plan` can show
//! what a change adds to the bill.

pub mod pricelist;
pub mod prices;

use crate::config::{CacheEngine, Config, DbEngine, Platform, UsageCfg};
use serde::{Deserialize, Serialize};

pub const HOURS_PER_MONTH: f64 = 730.0;

/// The cost-relevant shape of a stack (from its configuration).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Shape {
    pub region: String,
    pub nat_gateways: u32,
    pub interface_endpoints: u32,
    pub db_engine: DbEngine,
    pub db_class: String,
    pub db_multi_az: bool,
    pub db_storage_gb: f64,
    pub db_min_acu: f64,
    pub cache_engine: CacheEngine,
    pub cache_node_type: String,
    pub cache_nodes: u32,
    pub task_vcpu: f64,
    pub task_gib: f64,
    pub arm: bool,
    /// Tasks on on-demand Fargate (the web service's share, plus cron).
    pub tasks_ondemand: f64,
    /// Tasks on Fargate Spot.
    pub tasks_spot: f64,
    pub waf_rules: u32,
    pub alarms: u32,
    pub kms_keys: u32,
    pub secrets: u32,
}

impl Shape {
    pub fn of(cfg: &Config) -> Shape {
        let s = &cfg.service;
        // ECS places `base` tasks on on-demand first, then the rest by weight.
        let n = f64::from(s.desired_count);
        let base = n.min(f64::from(s.ondemand_base));
        let (ws, wo) = (f64::from(s.spot_weight()), f64::from(s.ondemand_weight));
        // Whole tasks: the weights split those beyond the base, rounded.
        let spot = if ws + wo > 0.0 { ((n - base) * ws / (ws + wo)).round() } else { 0.0 };
        Shape {
            region: cfg.stack.region.clone(),
            nat_gateways: u32::from(cfg.network.nat_gateways),
            interface_endpoints: cfg.network.interface_endpoints.len() as u32,
            db_engine: cfg.database.engine,
            db_class: cfg.database.instance_class.clone(),
            db_multi_az: cfg.database.multi_az,
            db_storage_gb: f64::from(cfg.database.allocated_storage_gb),
            db_min_acu: cfg.database.serverless_min_acu,
            cache_engine: cfg.cache.engine,
            cache_node_type: cfg.cache.node_type.clone(),
            cache_nodes: cfg.cache.num_nodes as u32,
            task_vcpu: f64::from(s.cpu) / 1024.0,
            task_gib: f64::from(s.memory_mib) / 1024.0,
            arm: s.platform == Platform::ARM,
            // + the cron service's one on-demand task of the same size.
            tasks_ondemand: n - spot + 1.0,
            tasks_spot: spot,
            waf_rules: 1 + cfg.cdn.extra_managed_rule_groups.len() as u32,
            alarms: crate::resources::alarm_count(cfg) as u32,
            // The alert key of each region with alert topics, and the audit key.
            kms_keys: if cfg.stack.region == "us-east-1" { 2 } else { 3 },
            secrets: 3,
        }
    }

    fn db_engine_key(&self) -> &'static str {
        match self.db_engine {
            DbEngine::Mysql => "mysql",
            DbEngine::Mariadb => "mariadb",
            DbEngine::AuroraMysql | DbEngine::AuroraServerless => "aurora-mysql",
        }
    }
    fn cache_key(&self) -> String {
        let e = match self.cache_engine {
            CacheEngine::Redis => "redis",
            CacheEngine::Valkey => "valkey",
        };
        format!("cache.{e}.{}", self.cache_node_type)
    }
    fn fargate_keys(&self) -> (&'static str, &'static str) {
        if self.arm {
            ("fargate.arm.vcpu_hour", "fargate.arm.gb_hour")
        } else {
            ("fargate.vcpu_hour", "fargate.gb_hour")
        }
    }
    fn db_keys(&self) -> (String, String) {
        let e = self.db_engine_key();
        match self.db_engine {
            DbEngine::AuroraServerless => ("rds.aurora.acu_hour".into(), "rds.aurora.storage.gb_month".into()),
            DbEngine::AuroraMysql => (format!("rds.{e}.{}", self.db_class), "rds.aurora.storage.gb_month".into()),
            _ => (format!("rds.{e}.{}", self.db_class), format!("rds.{e}.gp3.gb_month")),
        }
    }

    /// Every price key the estimate of this shape needs.
    pub fn price_keys(&self) -> Vec<String> {
        let (vcpu, gb) = self.fargate_keys();
        let (db, storage) = self.db_keys();
        let mut k: Vec<String> = [
            "nat.hour",
            "nat.gb",
            "vpce.hour",
            "ipv4.hour",
            "alb.hour",
            "alb.lcu_hour",
            vcpu,
            gb,
            "efs.gb_month",
            "efs.ia.gb_month",
            "backup.efs.gb_month",
            "cloudfront.gb",
            "cloudfront.https_10k",
            "waf.acl.month",
            "waf.rule.month",
            "waf.request_million",
            "cloudwatch.alarm.month",
            "cloudwatch.dashboard.month",
            "logs.ingest.gb",
            "secrets.secret.month",
            "kms.key.month",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        k.extend([db, storage, self.cache_key()]);
        k
    }
}

/// One billed item.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Line {
    pub tier: &'static str,
    pub item: String,
    /// How much of it, as billed (`2 × 730 h`).
    pub quantity: String,
    /// The price key(s) it uses.
    pub prices: Vec<String>,
    /// USD per month; `None` when a price is unknown.
    pub monthly: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    pub lines: Vec<Line>,
    /// The sum of the priced lines.
    pub total: f64,
    pub unpriced: Vec<String>,
}

/// The monthly estimate of `shape` under `usage` at `prices`.
pub fn estimate(shape: &Shape, usage: &UsageCfg, prices: &prices::Prices) -> Estimate {
    let h = HOURS_PER_MONTH;
    let p = |k: &str| prices.get(k);
    let mut b = Lines { lines: vec![], prices };
    let nat = f64::from(shape.nat_gateways);
    b.line("network", "NAT gateways", format!("{nat} × {h} h"), &["nat.hour"], p("nat.hour").map(|x| nat * h * x));
    b.per_unit("network", "NAT data processed", usage.nat_data_gb, "GB", "nat.gb");
    let vpce = f64::from(shape.interface_endpoints) * 2.0;
    b.line(
        "network",
        "Interface endpoints",
        format!("{} endpoints × 2 AZ × {h} h", shape.interface_endpoints),
        &["vpce.hour"],
        p("vpce.hour").map(|x| vpce * h * x),
    );
    let ips = nat + 2.0;
    b.line(
        "network",
        "Public IPv4 addresses",
        format!("{ips} × {h} h (NAT gateways, load balancer)"),
        &["ipv4.hour"],
        p("ipv4.hour").map(|x| ips * h * x),
    );
    b.line("edge", "Load balancer", format!("{h} h"), &["alb.hour"], p("alb.hour").map(|x| h * x));
    b.line(
        "edge",
        "Load balancer capacity units",
        format!("{} LCU × {h} h", usage.alb_lcus),
        &["alb.lcu_hour"],
        p("alb.lcu_hour").map(|x| usage.alb_lcus * h * x),
    );
    b.per_unit("edge", "CloudFront data out", usage.cdn_data_out_gb, "GB", "cloudfront.gb");
    b.line(
        "edge",
        "CloudFront HTTPS requests",
        format!("{} requests", usage.requests_per_month),
        &["cloudfront.https_10k"],
        p("cloudfront.https_10k").map(|x| usage.requests_per_month / 10_000.0 * x),
    );
    let rules = f64::from(shape.waf_rules);
    b.line(
        "edge",
        "WAF web ACL and rules",
        format!("1 web ACL + {rules} rule(s)"),
        &["waf.acl.month", "waf.rule.month"],
        p("waf.acl.month").zip(p("waf.rule.month")).map(|(a, r)| a + rules * r),
    );
    b.line(
        "edge",
        "WAF requests",
        format!("{} requests", usage.requests_per_month),
        &["waf.request_million"],
        p("waf.request_million").map(|x| usage.requests_per_month / 1e6 * x),
    );
    let (vcpu, gb) = shape.fargate_keys();
    let task_hour = p(vcpu).zip(p(gb)).map(|(c, m)| shape.task_vcpu * c + shape.task_gib * m);
    let size = format!("{} vCPU, {} GB", shape.task_vcpu, shape.task_gib);
    b.line(
        "compute",
        "Fargate tasks (on-demand, incl. cron)",
        format!("{} × {h} h × ({size})", shape.tasks_ondemand),
        &[vcpu, gb],
        task_hour.map(|t| shape.tasks_ondemand * h * t),
    );
    // Always listed (maybe at 0), so two estimates line up row by row.
    let off = 1.0 - usage.fargate_spot_discount_percent / 100.0;
    b.line(
        "compute",
        "Fargate Spot tasks",
        format!("{} × {h} h × ({size}) at {}% off", shape.tasks_spot, usage.fargate_spot_discount_percent),
        &[vcpu, gb],
        task_hour.map(|t| shape.tasks_spot * h * t * off),
    );
    let (db, storage) = shape.db_keys();
    let copies = if shape.db_multi_az && !matches!(shape.db_engine, DbEngine::AuroraMysql | DbEngine::AuroraServerless)
    {
        2.0
    } else {
        1.0
    };
    match shape.db_engine {
        DbEngine::AuroraServerless => b.line(
            "data",
            "Database",
            format!("Aurora Serverless v2 at its minimum: {} ACU × {h} h", shape.db_min_acu),
            &[&db],
            p(&db).map(|x| shape.db_min_acu * h * x),
        ),
        _ => b.line(
            "data",
            "Database",
            format!("{}{}: {copies} × {h} h", shape.db_class, if copies > 1.0 { " Multi-AZ" } else { "" }),
            &[&db],
            p(&db).map(|x| copies * h * x),
        ),
    }
    b.line(
        "data",
        "Database storage",
        format!("{copies} × {} GB", shape.db_storage_gb),
        &[&storage],
        p(&storage).map(|x| copies * shape.db_storage_gb * x),
    );
    // Enabled where the class has it, with the 7 days of history AWS keeps free.
    b.line("data", "Performance Insights (7 days' history)", "free tier".into(), &[], Some(0.0));
    let ck = shape.cache_key();
    let nodes = f64::from(shape.cache_nodes);
    b.line(
        "data",
        "Cache nodes",
        format!("{}: {nodes} × {h} h", shape.cache_node_type),
        &[&ck],
        p(&ck).map(|x| nodes * h * x),
    );
    // The file system moves files untouched for 30 days to Infrequent Access.
    let ia = usage.efs_storage_gb * usage.efs_infrequent_access_percent / 100.0;
    let standard = usage.efs_storage_gb - ia;
    b.per_unit("data", "EFS storage, Standard", standard, "GB", "efs.gb_month");
    b.per_unit("data", "EFS storage, Infrequent Access", ia, "GB", "efs.ia.gb_month");
    b.per_unit("data", "Backups (AWS Backup, warm)", usage.backup_storage_gb, "GB", "backup.efs.gb_month");
    let alarms = f64::from(shape.alarms);
    b.per_unit("observe", "CloudWatch alarms", alarms, "alarms", "cloudwatch.alarm.month");
    b.line(
        "observe",
        "CloudWatch dashboard",
        "1 dashboard".into(),
        &["cloudwatch.dashboard.month"],
        p("cloudwatch.dashboard.month"),
    );
    b.per_unit("observe", "CloudWatch Logs ingestion", usage.logs_ingested_gb, "GB", "logs.ingest.gb");
    b.line("observe", "CloudTrail (management events, first trail)", "1 trail".into(), &[], Some(0.0));
    let secrets = f64::from(shape.secrets);
    b.per_unit("security", "Secrets Manager secrets", secrets, "secrets", "secrets.secret.month");
    let keys = f64::from(shape.kms_keys);
    b.per_unit("security", "KMS keys (alert topics, audit trail)", keys, "keys", "kms.key.month");
    let mut lines = b.lines;
    let total = round2(lines.iter().filter_map(|l| l.monthly).sum());
    let unpriced = lines.iter().filter(|l| l.monthly.is_none()).map(|l| l.item.clone()).collect();
    for l in &mut lines {
        l.monthly = l.monthly.map(round2);
    }
    Estimate { lines, total, unpriced }
}

/// The lines of an estimate as they are added.
struct Lines<'a> {
    lines: Vec<Line>,
    prices: &'a prices::Prices,
}

impl Lines<'_> {
    fn line(&mut self, tier: &'static str, item: &str, quantity: String, keys: &[&str], monthly: Option<f64>) {
        self.lines.push(Line {
            tier,
            item: item.to_string(),
            quantity,
            prices: keys.iter().map(|k| k.to_string()).collect(),
            monthly,
        })
    }
    /// `qty` `unit`s at the price of `key` each (`50 GB`, `3 secrets`).
    fn per_unit(&mut self, tier: &'static str, item: &str, qty: f64, unit: &str, key: &str) {
        let monthly = self.prices.get(key).map(|x| qty * x);
        self.line(tier, item, format!("{qty} {unit}"), &[key], monthly);
    }
}

/// Cents, as a bill shows them.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `+$412.30/month`, `-$80.00/month`, `$0.00/month`.
pub fn signed(delta: f64) -> String {
    let d = round2(delta);
    if d > 0.0 {
        format!("+${d:.2}/month")
    } else if d < 0.0 {
        format!("-${:.2}/month", -d)
    } else {
        "$0.00/month".into()
    }
}

#[cfg(test)]
mod tests;
