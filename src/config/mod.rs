//! `moodle.toml`: the one place a deployment is described.
//!
//! Loading is strict on purpose: an unknown key, a wrong type or an invalid
//! value is reported with the file, line and dotted key *before* any AWS call,
//! so a typo never costs a 20-minute half-built stack. Defaults are the AWS
//! reference deployment's values (see `shared/spec/stack.md`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

mod alarms;
mod profile;
mod usage;
mod validate;
pub use alarms::AlarmsCfg;
pub use profile::{Profile, SMALL_DIFFERENCES};
pub use usage::UsageCfg;
pub use validate::{parse_acm_arn, LOG_RETENTION_DAYS, REGIONS};

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
    pub alarms: AlarmsCfg,
    #[serde(default)]
    pub usage: UsageCfg,
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
    /// The shape every unset key defaults to (see [`Profile`]).
    #[serde(default)]
    pub profile: Profile,
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
    /// FARGATE_SPOT's weight; unset: 3 on X86, 0 on ARM (see [`ServiceCfg::spot_weight`]).
    pub spot_weight: Option<u32>,
    pub ondemand_weight: u32,
    pub ondemand_base: u32,
    pub platform: Platform,
    /// The container's root filesystem is read-only (it writes only to
    /// moodledata and its volumes of task storage). ECS Exec needs it
    /// writable: `moodlectl exec` says so when it is not.
    pub readonly_root_filesystem: bool,
}

impl ServiceCfg {
    /// FARGATE_SPOT's weight in the capacity provider strategy: Fargate Spot
    /// does not run ARM64 tasks, so an ARM service uses on-demand Fargate only.
    pub fn spot_weight(&self) -> u32 {
        self.spot_weight.unwrap_or(if self.platform == Platform::ARM { 0 } else { 3 })
    }
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
            spot_weight: None,
            ondemand_weight: 1,
            ondemand_base: 1,
            platform: Platform::X86,
            readonly_root_filesystem: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkCfg {
    pub vpc_cidr: String,
    pub flow_log_retention_days: i32,
    /// NAT gateways: 2 (one per AZ) or 1 (in the first AZ, shared by both
    /// private subnets: cheaper, but an outage of that AZ cuts the other's
    /// outbound traffic too).
    pub nat_gateways: u8,
    /// Interface endpoints by service (`ecr.api`, `ecr.dkr`, `secretsmanager`,
    /// `logs`); the rest of the traffic to AWS goes through the NAT gateways.
    pub interface_endpoints: Vec<String>,
}

impl Default for NetworkCfg {
    fn default() -> Self {
        Self {
            vpc_cidr: "10.0.0.0/16".into(),
            flow_log_retention_days: 7,
            nat_gateways: 2,
            interface_endpoints: INTERFACE_ENDPOINT_SERVICES.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// The interface endpoints a stack may have (AWS service suffixes).
pub const INTERFACE_ENDPOINT_SERVICES: [&str; 4] = ["ecr.api", "ecr.dkr", "secretsmanager", "logs"];

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
    /// Refuse to delete the load balancer while true (`down` turns it off first).
    pub alb_deletion_protection: bool,
    /// The HTTPS listener's security policy (an ELB predefined policy name).
    pub alb_ssl_policy: String,
}

impl Default for CdnCfg {
    fn default() -> Self {
        Self {
            origin_timeout_seconds: 60,
            restrict_alb: true,
            deregistration_delay_seconds: 30,
            extra_managed_rule_groups: vec![],
            alb_deletion_protection: true,
            alb_ssl_policy: "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09".into(),
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

/// As written in `moodle.toml` (`aurora-mysql`), for messages.
impl fmt::Display for DbEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DbEngine::Mysql => "mysql",
            DbEngine::Mariadb => "mariadb",
            DbEngine::AuroraMysql => "aurora-mysql",
            DbEngine::AuroraServerless => "aurora-serverless",
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseCfg {
    pub engine: DbEngine,
    /// Unset: the engine's default ([`DatabaseCfg::engine_version`]).
    pub engine_version: Option<String>,
    pub instance_class: String,
    pub allocated_storage_gb: i32,
    pub max_allocated_storage_gb: i32,
    pub multi_az: bool,
    pub backup_retention_days: i32,
    pub event_email: String,
    pub serverless_min_acu: f64,
    pub serverless_max_acu: f64,
    pub deletion_protection: bool,
    /// RDS enhanced monitoring: seconds between OS metric samples (0 = off).
    pub monitoring_interval_seconds: i32,
    /// The database refuses unencrypted connections
    /// (`require_secure_transport`) and Moodle connects with TLS, verifying
    /// the server's certificate against the RDS CA bundle in the image.
    pub require_tls: bool,
}

impl DatabaseCfg {
    /// The engine version to ask for: the configured one, or the engine's
    /// default — MySQL 8.4 and MariaDB 11.4 (both LTS on RDS and supported
    /// by Moodle 5), and for Aurora whatever AWS defaults to (`None`).
    pub fn engine_version(&self) -> Option<&str> {
        match (&self.engine_version, self.engine) {
            (Some(v), _) => Some(v),
            (None, DbEngine::Mysql) => Some("8.4"),
            (None, DbEngine::Mariadb) => Some("11.4"),
            (None, _) => None,
        }
    }
}

impl Default for DatabaseCfg {
    fn default() -> Self {
        Self {
            engine: DbEngine::Mysql,
            engine_version: None,
            instance_class: "db.r6g.large".into(),
            allocated_storage_gb: 30,
            max_allocated_storage_gb: 300,
            multi_az: true,
            backup_retention_days: 7,
            event_email: "user@example.com".into(),
            serverless_min_acu: 0.5,
            serverless_max_acu: 8.0,
            deletion_protection: false,
            monitoring_interval_seconds: 60,
            require_tls: true,
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
    /// Days the CloudTrail log files are kept in the audit bucket.
    pub audit_retention_days: i32,
    /// Days the load balancer's and CloudFront's access logs are kept in the logs bucket.
    pub access_log_retention_days: i32,
    /// Days the WAF's request logs are kept (a CloudWatch Logs retention value).
    pub waf_retention_days: i32,
    /// Days the database's error and slow-query logs are kept in CloudWatch Logs.
    pub db_retention_days: i32,
    /// Days AWS Backup's daily recovery points (database and files) are kept.
    pub backup_plan_retention_days: i32,
    /// Days the trail's CloudWatch Logs copy (what the security alarms read) is kept.
    pub audit_cloudwatch_retention_days: i32,
}

impl Default for LogsCfg {
    fn default() -> Self {
        Self {
            container_retention_days: 30,
            audit_retention_days: 365,
            access_log_retention_days: 90,
            waf_retention_days: 30,
            db_retention_days: 30,
            backup_plan_retention_days: 35,
            audit_cloudwatch_retention_days: 365,
        }
    }
}

fn d_stack_name() -> String {
    "moodle".into()
}
fn d_aws() -> String {
    "AWS".into()
}

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
        let mut cfg: Config = toml::from_str(src).map_err(|e| {
            let span = e.span();
            let key = span.as_ref().map(|s| key_at(src, s.start)).unwrap_or_default();
            let message = did_you_mean(e.message().trim());
            err(vec![ConfigIssue { line: span.as_ref().map(|s| line_of(src, s.start)), key, message, span }])
        })?;
        let doc = toml_edit::ImDocument::parse(src.to_string()).ok();
        // A key the file sets wins over the profile's value for it.
        let set = |key: &str| doc.as_ref().is_some_and(|d| key_is_set(d.as_table(), key));
        cfg.stack.profile.apply(&mut cfg, &set);
        let mut issues = cfg.validate();
        if let Some(doc) = &doc {
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

    /// The same file read with another profile (`cost --compare`): every key
    /// the file sets still wins.
    pub fn with_profile(path: &Path, src: &str, profile: Profile) -> Result<Config, ConfigError> {
        Self::parse(path, src)?;
        let mut doc: toml_edit::DocumentMut = src.parse().expect("parsed above");
        doc["stack"]["profile"] = toml_edit::value(profile.as_str());
        Self::parse(path, &doc.to_string())
    }

    /// AWS name for a resource of this stack, e.g. `moodle-alb`.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}-{}", self.stack.name, suffix)
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

/// Does the file set the dotted key `key`?
fn key_is_set(root: &toml_edit::Table, key: &str) -> bool {
    let Some((first, rest)) = key.split_once('.') else { return root.contains_key(key) };
    let mut item = match root.get(first) {
        Some(i) => i,
        None => return false,
    };
    for part in rest.split('.') {
        match item.get(part) {
            Some(i) => item = i,
            None => return false,
        }
    }
    true
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
pub(crate) mod tests {
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
        assert_eq!(c.database.engine_version(), Some("8.4"));
        assert_eq!(c.service.spot_weight(), 3);
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
}
