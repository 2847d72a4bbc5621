//! Value checks of `moodle.toml` that serde cannot express: AWS's own limits
//! (names, ranges, instance classes, Fargate sizes, CloudFront timeouts,
//! RDS storage autoscaling), checked before any call so that a value AWS
//! would refuse twenty minutes into an `up` is an error naming its key now.

use super::*;

/// Regions the tool knows; an unknown one is almost always a typo.
pub const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "mx-central-1",
    "sa-east-1",
];

/// RDS enhanced monitoring accepts only these intervals (0 = off).
const MONITORING_INTERVALS: [i32; 7] = [0, 1, 5, 10, 15, 30, 60];

/// CloudWatch Logs accepts only these retention values.
pub const LOG_RETENTION_DAYS: &[i32] =
    &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

impl Config {
    /// Value checks that serde cannot express. Keys are dotted paths.
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut out = Vec::new();
        let mut bad = |key: &str, message: String| {
            out.push(ConfigIssue { line: None, key: key.to_string(), message, span: None })
        };
        let name = &self.stack.name;
        if !(1..=20).contains(&name.len())
            || !name.starts_with(|c: char| c.is_ascii_lowercase())
            || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            || name.ends_with('-')
        {
            bad(
                "stack.name",
                format!("`{name}` must be 1-20 characters of a-z, 0-9 and `-`, starting with a letter (it prefixes AWS names limited to 32 characters)"),
            );
        }
        if !REGIONS.contains(&self.stack.region.as_str()) {
            bad("stack.region", format!("unknown AWS region `{}`", self.stack.region));
        }
        if !is_domain(&self.domain.name) {
            bad("domain.name", format!("`{}` is not a valid DNS name (e.g. moodle.example.com)", self.domain.name));
        }
        match parse_acm_arn(&self.domain.alb_certificate_arn) {
            None => bad(
                "domain.alb_certificate_arn",
                format!(
                    "`{}` is not an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)",
                    self.domain.alb_certificate_arn
                ),
            ),
            Some(r) if r != self.stack.region => bad(
                "domain.alb_certificate_arn",
                format!(
                    "certificate is in {r} but the ALB is in {}; it must be in the stack's region",
                    self.stack.region
                ),
            ),
            _ => {}
        }
        match parse_acm_arn(&self.domain.cloudfront_certificate_arn) {
            None => bad(
                "domain.cloudfront_certificate_arn",
                format!("`{}` is not an ACM certificate ARN", self.domain.cloudfront_certificate_arn),
            ),
            Some(r) if r != "us-east-1" => bad(
                "domain.cloudfront_certificate_arn",
                format!("certificate is in {r}; CloudFront only accepts certificates in us-east-1"),
            ),
            _ => {}
        }
        if self.image.uri.trim().is_empty() || self.image.uri.contains(char::is_whitespace) {
            bad("image.uri", "must be a container image reference".to_string());
        }
        let s = &self.service;
        if s.desired_count == 0 {
            bad("service.desired_count", "must be at least 1 (use `moodlectl down` to remove the service)".into());
        }
        if s.max_count < s.desired_count {
            bad(
                "service.max_count",
                format!("{} is less than service.desired_count ({})", s.max_count, s.desired_count),
            );
        }
        if !(1..=100).contains(&s.cpu_target_percent) {
            bad("service.cpu_target_percent", format!("{} must be between 1 and 100", s.cpu_target_percent));
        }
        if let Err(m) = fargate_size_ok(s.cpu, s.memory_mib) {
            bad("service.memory_mib", m);
        }
        if s.spot_weight() + s.ondemand_weight == 0 {
            bad("service.spot_weight", "spot_weight and ondemand_weight cannot both be 0".into());
        }
        if s.platform == Platform::ARM && s.spot_weight() > 0 {
            bad(
                "service.spot_weight",
                format!(
                    "{} with platform = \"ARM\": Fargate Spot does not run ARM64 tasks, which would never be placed\nhint: remove spot_weight (an ARM service uses on-demand Fargate), or set platform = \"X86\"",
                    s.spot_weight()
                ),
            );
        }
        if s.health_check_grace_seconds > 2_147_483_647 {
            bad("service.health_check_grace_seconds", "too large".into());
        }
        if !is_cidr16(&self.network.vpc_cidr) {
            bad(
                "network.vpc_cidr",
                format!("`{}` must be an IPv4 /16 CIDR such as 10.0.0.0/16", self.network.vpc_cidr),
            );
        }
        if !LOG_RETENTION_DAYS.contains(&self.network.flow_log_retention_days) {
            bad(
                "network.flow_log_retention_days",
                format!(
                    "{} is not a CloudWatch Logs retention value ({:?})",
                    self.network.flow_log_retention_days, LOG_RETENTION_DAYS
                ),
            );
        }
        if !LOG_RETENTION_DAYS.contains(&self.logs.container_retention_days) {
            bad(
                "logs.container_retention_days",
                format!("{} is not a CloudWatch Logs retention value", self.logs.container_retention_days),
            );
        }
        for (key, days) in [
            ("logs.audit_retention_days", self.logs.audit_retention_days),
            ("logs.access_log_retention_days", self.logs.access_log_retention_days),
        ] {
            if !(1..=36500).contains(&days) {
                bad(key, format!("{days} must be between 1 and 36500 days"));
            }
        }
        for (key, days) in [
            ("logs.waf_retention_days", self.logs.waf_retention_days),
            ("logs.db_retention_days", self.logs.db_retention_days),
            ("logs.audit_cloudwatch_retention_days", self.logs.audit_cloudwatch_retention_days),
        ] {
            if !LOG_RETENTION_DAYS.contains(&days) {
                bad(key, format!("{days} is not a CloudWatch Logs retention value ({LOG_RETENTION_DAYS:?})"));
            }
        }
        // AWS Backup: at least one day; cold storage is not used, so any
        // number of days up to its 100-year maximum is valid.
        if !(1..=36500).contains(&self.logs.backup_plan_retention_days) {
            bad(
                "logs.backup_plan_retention_days",
                format!("{} must be between 1 and 36500 days", self.logs.backup_plan_retention_days),
            );
        }
        if !(5..=1440).contains(&self.alarms.evaluation_minutes) || self.alarms.evaluation_minutes % 5 != 0 {
            bad(
                "alarms.evaluation_minutes",
                format!("{} must be a multiple of 5 between 5 and 1440", self.alarms.evaluation_minutes),
            );
        }
        for (key, v) in self.alarms.thresholds() {
            let percent = key.ends_with("_percent");
            if !v.is_finite() || v < 0.0 || (percent && v > 100.0) {
                let range = if percent { "between 0 and 100" } else { "0 or more" };
                bad(&format!("alarms.{key}"), format!("{v} must be {range}"));
            }
        }
        if !(1..=120).contains(&self.cdn.origin_timeout_seconds) {
            bad(
                "cdn.origin_timeout_seconds",
                format!(
                    "{} must be between 1 and 120 (CloudFront's OriginReadTimeout)\nhint: above 60 the account's \"Response timeout per origin\" quota must be raised first (Service Quotas, CloudFront)",
                    self.cdn.origin_timeout_seconds
                ),
            );
        }
        if self.cdn.deregistration_delay_seconds > 3600 {
            bad("cdn.deregistration_delay_seconds", "must be between 0 and 3600".into());
        }
        let policy = &self.cdn.alb_ssl_policy;
        if !policy.starts_with("ELBSecurityPolicy-") || !policy.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            bad(
                "cdn.alb_ssl_policy",
                format!("`{policy}` is not an ELB predefined security policy (e.g. ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09)"),
            );
        }
        let d = &self.database;
        if !is_instance_class(&d.instance_class, "db") {
            bad(
                "database.instance_class",
                format!("`{}` is not an RDS instance class (e.g. db.r6g.large)", d.instance_class),
            );
        }
        if let Some(v) = &d.engine_version {
            let aurora = matches!(d.engine, DbEngine::AuroraMysql | DbEngine::AuroraServerless);
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_') {
                bad("database.engine_version", format!("`{v}` is not an engine version"));
            } else if aurora != v.contains("mysql_aurora") {
                let want = if aurora {
                    "an Aurora MySQL version such as 8.0.mysql_aurora.3.08.0"
                } else {
                    "a version of the engine, such as 8.4 (mysql) or 11.4 (mariadb)"
                };
                bad(
                    "database.engine_version",
                    format!("`{v}` is not a version of engine {}: expected {want}", d.engine),
                );
            }
        }
        if !(20..=65536).contains(&d.allocated_storage_gb) {
            bad("database.allocated_storage_gb", "must be between 20 and 65536".into());
        }
        // RDS storage autoscaling: the maximum must be at least 10% above
        // the allocated storage (RDS User Guide, "Managing capacity
        // automatically with Amazon RDS storage autoscaling").
        if (d.max_allocated_storage_gb as i64) * 10 < (d.allocated_storage_gb as i64) * 11 {
            bad(
                "database.max_allocated_storage_gb",
                format!(
                    "{} must be at least 10% above database.allocated_storage_gb ({}), i.e. at least {}",
                    d.max_allocated_storage_gb,
                    d.allocated_storage_gb,
                    (d.allocated_storage_gb as i64 * 11 + 9) / 10
                ),
            );
        }
        if !(1..=35).contains(&d.backup_retention_days) {
            bad("database.backup_retention_days", "must be between 1 and 35".into());
        }
        if !MONITORING_INTERVALS.contains(&d.monitoring_interval_seconds) {
            bad(
                "database.monitoring_interval_seconds",
                format!(
                    "{} is not an RDS monitoring interval ({MONITORING_INTERVALS:?})",
                    d.monitoring_interval_seconds
                ),
            );
        }
        if !is_email(&d.event_email) {
            bad("database.event_email", format!("`{}` is not an e-mail address", d.event_email));
        }
        if !(d.serverless_min_acu >= 0.0
            && d.serverless_max_acu <= 256.0
            && d.serverless_min_acu <= d.serverless_max_acu)
        {
            bad("database.serverless_max_acu", "need 0 <= serverless_min_acu <= serverless_max_acu <= 256".into());
        }
        if !is_instance_class(&self.cache.node_type, "cache") {
            bad(
                "cache.node_type",
                format!("`{}` is not an ElastiCache node type (e.g. cache.r6g.large)", self.cache.node_type),
            );
        }
        if !(1..=6).contains(&self.cache.num_nodes) {
            bad(
                "cache.num_nodes",
                "must be between 1 and 6 (a primary and up to 5 replicas; failover needs 2 or more)".into(),
            );
        }
        if !(1..=2).contains(&self.network.nat_gateways) {
            bad("network.nat_gateways", "must be 1 (shared) or 2 (one per AZ)".into());
        }
        for (i, e) in self.network.interface_endpoints.iter().enumerate() {
            if !INTERFACE_ENDPOINT_SERVICES.contains(&e.as_str()) {
                bad("network.interface_endpoints", format!("`{e}` is not one of {:?}", INTERFACE_ENDPOINT_SERVICES));
            } else if self.network.interface_endpoints[..i].contains(e) {
                bad("network.interface_endpoints", format!("`{e}` is listed twice"));
            }
        }
        for (key, v) in self.usage.entries() {
            let max = if key.ends_with("_percent") { 100.0 } else { 1e12 };
            if !(0.0..=max).contains(&v) {
                bad(&format!("usage.{key}"), format!("{v} must be between 0 and {max}"));
            }
        }
        if self.state.backend == StateBackend::S3
            && (self.state.bucket.as_deref().unwrap_or("").is_empty()
                || self.state.key.as_deref().unwrap_or("").is_empty())
        {
            bad("state.bucket", "backend = \"s3\" needs both `bucket` and `key`".into());
        }
        let m = &self.moodle;
        if m.admin_user.is_empty()
            || !m.admin_user.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-@".contains(c))
        {
            bad("moodle.admin_user", "must be lower-case letters, digits and ._-@ (Moodle's username rules)".into());
        }
        if !is_email(&m.admin_email) {
            bad("moodle.admin_email", format!("`{}` is not an e-mail address", m.admin_email));
        }
        if m.site_name.trim().is_empty() {
            bad("moodle.site_name", "must not be empty".into());
        }
        out
    }
}

fn is_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    s.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels.last().is_some_and(|t| t.chars().all(|c| c.is_ascii_alphabetic()))
}

fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !local.contains(char::is_whitespace) && !domain.contains('@') && is_domain(domain)
        }
        None => false,
    }
}

/// Region of an ACM certificate ARN, if `s` is one.
pub fn parse_acm_arn(s: &str) -> Option<&str> {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || !parts[1].starts_with("aws") || parts[2] != "acm" {
        return None;
    }
    let (region, account, res) = (parts[3], parts[4], parts[5]);
    let id = res.strip_prefix("certificate/")?;
    if !REGIONS.contains(&region)
        || account.len() != 12
        || !account.chars().all(|c| c.is_ascii_digit())
        || id.is_empty()
        || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
    {
        return None;
    }
    Some(region)
}

fn is_instance_class(s: &str, prefix: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts[0] == prefix
        && parts[1].len() >= 2
        && parts[1].starts_with(|c: char| c.is_ascii_lowercase())
        && parts[1].chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && parts[1].chars().any(|c| c.is_ascii_digit())
        && !parts[2].is_empty()
        && parts[2].chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

fn is_cidr16(s: &str) -> bool {
    let Some((ip, len)) = s.split_once('/') else {
        return false;
    };
    let octets: Vec<&str> = ip.split('.').collect();
    len == "16"
        && octets.len() == 4
        && octets.iter().all(|o| o.parse::<u8>().is_ok())
        && octets[2] == "0"
        && octets[3] == "0"
}

/// Fargate accepts only specific CPU/memory pairs.
fn fargate_size_ok(cpu: u32, mem: u32) -> Result<(), String> {
    let ok = match cpu {
        256 => [512, 1024, 2048].contains(&mem),
        512 => (1024..=4096).contains(&mem) && mem.is_multiple_of(1024),
        1024 => (2048..=8192).contains(&mem) && mem.is_multiple_of(1024),
        2048 => (4096..=16384).contains(&mem) && mem.is_multiple_of(1024),
        4096 => (8192..=30720).contains(&mem) && mem.is_multiple_of(1024),
        8192 => (16384..=61440).contains(&mem) && mem.is_multiple_of(4096),
        16384 => (32768..=122880).contains(&mem) && mem.is_multiple_of(8192),
        _ => {
            return Err(format!(
                "service.cpu {cpu} is not a Fargate CPU size (256, 512, 1024, 2048, 4096, 8192, 16384)"
            ))
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{mem} MiB is not a valid Fargate memory size for {cpu} CPU units"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validators() {
        assert!(is_domain("moodle.example.com"));
        assert!(!is_domain("moodle"));
        assert!(!is_domain("-bad.example.com"));
        assert!(is_email("a@b.io"));
        assert!(!is_email("a@b"));
        assert!(!is_email("ab.io"));
        assert!(is_instance_class("db.r6g.large", "db"));
        assert!(is_instance_class("db.t4g.micro", "db"));
        assert!(!is_instance_class("r6g.large", "db"));
        assert!(!is_instance_class("db.large", "db"));
        assert!(is_instance_class("cache.r6g.large", "cache"));
        assert!(fargate_size_ok(2048, 4096).is_ok());
        assert!(fargate_size_ok(2048, 1024).is_err());
        assert!(fargate_size_ok(300, 1024).is_err());
        assert_eq!(parse_acm_arn("arn:aws:acm:us-east-1:123456789012:certificate/ab-12"), Some("us-east-1"));
        assert_eq!(parse_acm_arn("arn:aws:acm:us-east-1:1234:certificate/ab"), None);
        assert!(is_cidr16("10.0.0.0/16"));
        assert!(!is_cidr16("10.0.0.0/24"));
    }
}
