//! `moodle.toml`: the one place a deployment is described.
//!
//! Loading is strict on purpose: an unknown key, a wrong type or an invalid
//! value is reported with the file, line and dotted key *before* any AWS call,
//! so a typo never costs a 20-minute half-built stack. Defaults are the AWS
//! reference deployment's values (see `shared/spec/stack.md`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// One problem found in the config file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigIssue {
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
    /// Where in the file (bytes): the snippet under the message.
    pub span: Option<std::ops::Range<usize>>,
}

/// All problems found in one config file. Each is shown as one greppable
/// line (`file:line: \`key\`: message`, as compilers do) followed by the
/// line of the file it is about, the spot underlined.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub issues: Vec<ConfigIssue>,
    pub source: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use annotate_snippets::{Level, Renderer, Snippet};
        let origin = self.file.display().to_string();
        for (i, is) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match is.line {
                Some(l) => write!(f, "{origin}:{l}: ")?,
                None => write!(f, "{origin}: ")?,
            }
            if is.key.is_empty() {
                write!(f, "{}", is.message)?;
            } else {
                write!(f, "`{}`: {}", is.key, is.message)?;
            }
            if let Some(span) = is.span.clone().filter(|s| s.end <= self.source.len()) {
                let snippet =
                    Snippet::source(&self.source).origin(&origin).fold(true).annotation(Level::Error.span(span));
                let msg = Level::Error.title("").snippet(snippet);
                let rendered = Renderer::plain().render(msg).to_string();
                // The title line repeats the message above; keep the snippet.
                for line in rendered.lines().skip(1) {
                    write!(f, "\n{line}")?;
                }
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub stack: StackCfg,
    pub domain: DomainCfg,
    pub image: ImageCfg,
    #[serde(default)]
    pub service: ServiceCfg,
    #[serde(default)]
    pub network: NetworkCfg,
    #[serde(default)]
    pub cdn: CdnCfg,
    #[serde(default)]
    pub database: DatabaseCfg,
    #[serde(default)]
    pub cache: CacheCfg,
    #[serde(default)]
    pub moodle: MoodleCfg,
    #[serde(default)]
    pub logs: LogsCfg,
    #[serde(default)]
    pub state: StateCfg,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum StateBackend {
    #[default]
    Local,
    S3,
}

/// Where the state lives: a local file (default) or an object in the user's S3 bucket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StateCfg {
    pub backend: StateBackend,
    pub bucket: Option<String>,
    pub key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StackCfg {
    #[serde(default = "d_stack_name")]
    pub name: String,
    pub region: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DomainCfg {
    pub name: String,
    pub alb_certificate_arn: String,
    pub cloudfront_certificate_arn: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImageCfg {
    pub uri: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Platform {
    X86,
    ARM,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceCfg {
    pub desired_count: u32,
    pub max_count: u32,
    pub cpu_target_percent: u32,
    pub cpu: u32,
    pub memory_mib: u32,
    pub health_check_grace_seconds: u32,
    pub spot_weight: u32,
    pub ondemand_weight: u32,
    pub ondemand_base: u32,
    pub platform: Platform,
}

impl Default for ServiceCfg {
    fn default() -> Self {
        Self {
            desired_count: 1,
            max_count: 10,
            cpu_target_percent: 50,
            cpu: 2048,
            memory_mib: 4096,
            health_check_grace_seconds: 1800,
            spot_weight: 3,
            ondemand_weight: 1,
            ondemand_base: 1,
            platform: Platform::X86,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkCfg {
    pub vpc_cidr: String,
    pub flow_log_retention_days: i32,
}

impl Default for NetworkCfg {
    fn default() -> Self {
        Self { vpc_cidr: "10.0.0.0/16".into(), flow_log_retention_days: 7 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ManagedRuleGroup {
    pub name: String,
    #[serde(default = "d_aws")]
    pub vendor: String,
    #[serde(default)]
    pub count_rules: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CdnCfg {
    pub origin_timeout_seconds: i32,
    pub restrict_alb: bool,
    pub deregistration_delay_seconds: u32,
    pub extra_managed_rule_groups: Vec<ManagedRuleGroup>,
}

impl Default for CdnCfg {
    fn default() -> Self {
        Self {
            origin_timeout_seconds: 60,
            restrict_alb: true,
            deregistration_delay_seconds: 30,
            extra_managed_rule_groups: vec![],
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DbEngine {
    Mysql,
    Mariadb,
    AuroraMysql,
    AuroraServerless,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseCfg {
    pub engine: DbEngine,
    pub engine_version: String,
    pub instance_class: String,
    pub allocated_storage_gb: i32,
    pub max_allocated_storage_gb: i32,
    pub multi_az: bool,
    pub backup_retention_days: i32,
    pub event_email: String,
    pub serverless_min_acu: f64,
    pub serverless_max_acu: f64,
    pub deletion_protection: bool,
}

impl Default for DatabaseCfg {
    fn default() -> Self {
        Self {
            engine: DbEngine::Mysql,
            engine_version: "8.4".into(),
            instance_class: "db.r6g.large".into(),
            allocated_storage_gb: 30,
            max_allocated_storage_gb: 300,
            multi_az: true,
            backup_retention_days: 7,
            event_email: "user@example.com".into(),
            serverless_min_acu: 0.5,
            serverless_max_acu: 8.0,
            deletion_protection: false,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CacheEngine {
    Redis,
    Valkey,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CacheCfg {
    pub engine: CacheEngine,
    pub node_type: String,
    pub num_nodes: i32,
}

impl Default for CacheCfg {
    fn default() -> Self {
        Self { engine: CacheEngine::Redis, node_type: "cache.r6g.large".into(), num_nodes: 2 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MoodleCfg {
    pub admin_user: String,
    pub admin_email: String,
    pub site_name: String,
}

impl Default for MoodleCfg {
    fn default() -> Self {
        Self {
            admin_user: "moodleadmin".into(),
            admin_email: "hello@example.com".into(),
            site_name: "Scalable Moodle on ECS Fargate".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogsCfg {
    pub container_retention_days: i32,
}

impl Default for LogsCfg {
    fn default() -> Self {
        Self { container_retention_days: 30 }
    }
}

fn d_stack_name() -> String {
    "moodle".into()
}
fn d_aws() -> String {
    "AWS".into()
}

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

/// CloudWatch Logs accepts only these retention values.
pub const LOG_RETENTION_DAYS: &[i32] =
    &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

impl Config {
    /// Read, parse and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let src = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            issues: vec![ConfigIssue {
                line: None,
                key: String::new(),
                message: format!("cannot read config file: {e}"),
                span: None,
            }],
            source: String::new(),
        })?;
        Self::parse(path, &src)
    }

    /// Parse and validate config text; `path` is only used in messages.
    pub fn parse(path: &Path, src: &str) -> Result<Config, ConfigError> {
        let err = |issues| ConfigError { file: path.to_path_buf(), issues, source: src.to_string() };
        let cfg: Config = toml::from_str(src).map_err(|e| {
            let span = e.span();
            let key = span.as_ref().map(|s| key_at(src, s.start)).unwrap_or_default();
            let message = did_you_mean(e.message().trim());
            err(vec![ConfigIssue { line: span.as_ref().map(|s| line_of(src, s.start)), key, message, span }])
        })?;
        let mut issues = cfg.validate();
        if let Ok(doc) = toml_edit::ImDocument::parse(src.to_string()) {
            for is in &mut issues {
                is.span = span_of_key(doc.as_table(), &is.key);
                is.line = is.span.as_ref().map(|s| line_of(src, s.start));
            }
        }
        if issues.is_empty() {
            Ok(cfg)
        } else {
            Err(err(issues))
        }
    }

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
        if s.spot_weight + s.ondemand_weight == 0 {
            bad("service.spot_weight", "spot_weight and ondemand_weight cannot both be 0".into());
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
        if !(1..=180).contains(&self.cdn.origin_timeout_seconds) {
            bad("cdn.origin_timeout_seconds", format!("{} must be between 1 and 180", self.cdn.origin_timeout_seconds));
        }
        if self.cdn.deregistration_delay_seconds > 3600 {
            bad("cdn.deregistration_delay_seconds", "must be between 0 and 3600".into());
        }
        let d = &self.database;
        if !is_instance_class(&d.instance_class, "db") {
            bad(
                "database.instance_class",
                format!("`{}` is not an RDS instance class (e.g. db.r6g.large)", d.instance_class),
            );
        }
        if d.engine_version.is_empty()
            || !d.engine_version.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        {
            bad("database.engine_version", format!("`{}` is not an engine version", d.engine_version));
        }
        if !(20..=65536).contains(&d.allocated_storage_gb) {
            bad("database.allocated_storage_gb", "must be between 20 and 65536".into());
        }
        if d.max_allocated_storage_gb < d.allocated_storage_gb {
            bad(
                "database.max_allocated_storage_gb",
                format!(
                    "{} is less than database.allocated_storage_gb ({})",
                    d.max_allocated_storage_gb, d.allocated_storage_gb
                ),
            );
        }
        if !(1..=35).contains(&d.backup_retention_days) {
            bad("database.backup_retention_days", "must be between 1 and 35".into());
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
        if !(2..=6).contains(&self.cache.num_nodes) {
            bad("cache.num_nodes", "must be between 2 and 6 (Multi-AZ failover needs a replica)".into());
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

    /// AWS name for a resource of this stack, e.g. `moodle-alb`.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}-{}", self.stack.name, suffix)
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
        512 => (1024..=4096).contains(&mem) && mem % 1024 == 0,
        1024 => (2048..=8192).contains(&mem) && mem % 1024 == 0,
        2048 => (4096..=16384).contains(&mem) && mem % 1024 == 0,
        4096 => (8192..=30720).contains(&mem) && mem % 1024 == 0,
        8192 => (16384..=61440).contains(&mem) && mem % 4096 == 0,
        16384 => (32768..=122880).contains(&mem) && mem % 8192 == 0,
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

fn line_of(src: &str, offset: usize) -> usize {
    src[..offset.min(src.len())].matches('\n').count() + 1
}

/// The dotted key a parse error at `offset` is about: the key on its line,
/// under the last `[table]` header above it.
fn key_at(src: &str, offset: usize) -> String {
    let before = &src[..offset.min(src.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = src[line_start..].lines().next().unwrap_or("").trim();
    if line.starts_with('[') {
        return line.trim_matches(|c| c == '[' || c == ']').trim().to_string();
    }
    let key = line.split('=').next().filter(|_| line.contains('=')).map(str::trim).unwrap_or("");
    let table = before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim());
    match (table, key) {
        (Some(t), "") => t.to_string(),
        (Some(t), k) => format!("{t}.{k}"),
        (None, k) => k.to_string(),
    }
}

/// Where a dotted key's value is (or its nearest present parent table).
fn span_of_key(root: &toml_edit::Table, key: &str) -> Option<std::ops::Range<usize>> {
    let mut table = root;
    let mut found = None;
    for part in key.split('.') {
        let Some(item) = table.get(part) else { break };
        found = item.span().or_else(|| table.key(part).and_then(|k| k.span())).or(found);
        match item.as_table() {
            Some(t) => table = t,
            None => break,
        }
    }
    found
}

/// toml names the expected keys of an unknown one; point at the closest.
fn did_you_mean(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else { return message.to_string() };
    let Some((given, expected)) = rest.split_once('`') else { return message.to_string() };
    let candidates = expected.split('`').skip(1).step_by(2);
    let best = candidates
        .map(|c| (strsim::jaro_winkler(given, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, c)) => format!("{message}\nhint: did you mean `{c}`?"),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const MINIMAL: &str = r#"
[stack]
name = "moodle"
region = "ap-southeast-1"

[domain]
name = "moodle.example.com"
alb_certificate_arn = "arn:aws:acm:ap-southeast-1:123456789012:certificate/abcd-1234"
cloudfront_certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/ef56-7890"

[image]
uri = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/moodle:5.0"
"#;

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("moodle.toml"), s)
    }

    #[test]
    fn defaults_are_the_reference_values() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.service.desired_count, 1);
        assert_eq!(c.service.max_count, 10);
        assert_eq!(c.service.cpu, 2048);
        assert_eq!(c.service.memory_mib, 4096);
        assert_eq!(c.service.health_check_grace_seconds, 1800);
        assert_eq!(c.database.instance_class, "db.r6g.large");
        assert_eq!(c.database.engine_version, "8.4");
        assert_eq!(c.cache.node_type, "cache.r6g.large");
        assert_eq!(c.cdn.origin_timeout_seconds, 60);
        assert_eq!(c.network.flow_log_retention_days, 7);
        assert_eq!(c.moodle.admin_user, "moodleadmin");
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let src = MINIMAL.replace("[image]", "[image]\ntag = \"x\"");
        let e = parse(&src).unwrap_err().to_string();
        assert!(e.starts_with("moodle.toml:12: `image.tag`"), "{e}");
        assert!(e.contains("unknown field `tag`"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let src = format!("{MINIMAL}\n[service]\ndesired_count = \"two\"\n");
        let e = parse(&src).unwrap_err();
        assert_eq!(e.issues[0].key, "service.desired_count");
        assert_eq!(e.issues[0].line, Some(15));
    }

    #[test]
    fn value_errors_name_line_and_key() {
        let src = format!("{MINIMAL}\n[service]\ndesired_count = 3\nmax_count = 2\n");
        let e = parse(&src).unwrap_err();
        assert_eq!(e.issues.len(), 1);
        assert_eq!(e.issues[0].key, "service.max_count");
        assert_eq!(e.issues[0].line, Some(16));
        assert!(e.to_string().contains("moodle.toml:16: `service.max_count`"));
    }

    #[test]
    fn cloudfront_cert_must_be_us_east_1() {
        let src = MINIMAL.replace(
            "arn:aws:acm:us-east-1:123456789012:certificate/ef56-7890",
            "arn:aws:acm:eu-west-1:123456789012:certificate/ef56-7890",
        );
        let e = parse(&src).unwrap_err();
        assert_eq!(e.issues[0].key, "domain.cloudfront_certificate_arn");
        assert!(e.issues[0].message.contains("us-east-1"));
        assert_eq!(e.issues[0].line, Some(9));
    }

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
