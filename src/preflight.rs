//! Preflight: read-only checks that catch, before anything is created, the
//! mistakes that would otherwise fail `up` twenty minutes in — a certificate
//! in the wrong region or not yet issued, an image that was never pushed, an
//! instance class the region does not offer, an exhausted quota.
//!
//! Every check only reads. Each failure is one line with a `hint:`; the
//! command then exits 2 with nothing created.

use crate::aws::errors::error_code_message;
use crate::aws::Aws;
use crate::config::{Config, DbEngine};
use crate::resources::edge::CLOUDFRONT_PREFIX_LIST;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub problem: String,
    pub hint: String,
    /// False: the check could not be made (the endpoint lacks the API); not
    /// a failure, and said so in words rather than as a warning log line.
    #[serde(skip)]
    pub verified: bool,
}

impl Finding {
    fn unverified(check: &'static str, why: String) -> Self {
        Finding { check, problem: why, hint: String::new(), verified: false }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.verified {
            return write!(f, "preflight {}: not verified: {}", self.check, self.problem);
        }
        write!(f, "preflight {}: {}\n  hint: {}", self.check, self.problem, self.hint)
    }
}

/// Failures (exit 2) and the checks that could not be made.
pub fn split(all: Vec<Finding>) -> (Vec<Finding>, Vec<Finding>) {
    all.into_iter().partition(|f| f.verified)
}

/// Does certificate name `pattern` (possibly `*.example.com`) cover `domain`?
pub fn covers(pattern: &str, domain: &str) -> bool {
    let (p, d) = (pattern.to_ascii_lowercase(), domain.to_ascii_lowercase());
    if let Some(rest) = p.strip_prefix("*.") {
        d.split_once('.').map(|(_, tail)| tail == rest).unwrap_or(false)
    } else {
        p == d
    }
}

/// `<account>.dkr.ecr.<region>.amazonaws.com/<repo>[:tag|@digest]` → (region, repo, tag or digest).
pub fn parse_ecr_uri(uri: &str) -> Option<(String, String, String)> {
    let (host, path) = uri.split_once('/')?;
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() < 6 || parts[1] != "dkr" || parts[2] != "ecr" || !host.ends_with(".amazonaws.com") {
        return None;
    }
    let region = parts[3].to_string();
    let (repo, reference) = match path.split_once('@') {
        Some((r, d)) => (r, d),
        None => match path.rsplit_once(':') {
            Some((r, t)) => (r, t),
            None => (path, "latest"),
        },
    };
    Some((region, repo.to_string(), reference.to_string()))
}

/// Run every check; an empty result means go.
pub async fn run(cfg: &Config, aws: &Aws, conn: &crate::aws::Conn) -> Vec<Finding> {
    let mut out = vec![];
    let mut fail = |check: &'static str, problem: String, hint: &str| {
        out.push(Finding { check, problem, hint: hint.to_string(), verified: true })
    };

    // Every check is a read, so all of them go side by side with the
    // credentials check: preflight costs `up` one round of latency, not ten.
    // Without working credentials the other findings are noise, so only the
    // credentials finding is reported then.
    let (sts, a, b, c, d, e) = tokio::join!(
        aws.sts.get_caller_identity().send(),
        certificates(cfg, aws),
        image(cfg, aws, conn),
        classes(cfg, aws),
        prefix_list(cfg, aws),
        quotas(cfg, aws)
    );
    if let Err(e) = sts {
        let (code, msg) = error_code_message(&e);
        fail(
            "credentials",
            format!("cannot identify the caller: {code}: {msg}"),
            "configure AWS credentials (AWS_PROFILE / --profile, env vars or SSO)",
        );
        return out;
    }
    out.extend(a.into_iter().chain(b).chain(c).chain(d).chain(e));
    out
}

async fn certificates(cfg: &Config, aws: &Aws) -> Vec<Finding> {
    let (alb, cdn) = tokio::join!(
        certificate(cfg, "alb-certificate", &cfg.domain.alb_certificate_arn, &aws.acm, cfg.stack.region.as_str(),),
        certificate(
            cfg,
            "cloudfront-certificate",
            &cfg.domain.cloudfront_certificate_arn,
            &aws.acm_global,
            "us-east-1",
        )
    );
    alb.into_iter().chain(cdn).collect()
}

async fn certificate(
    cfg: &Config,
    check: &'static str,
    arn: &str,
    client: &aws_sdk_acm::Client,
    region: &str,
) -> Vec<Finding> {
    let mut out = vec![];
    let mut fail =
        |problem: String, hint: &str| out.push(Finding { check, problem, hint: hint.to_string(), verified: true });
    let arn_region = crate::config::parse_acm_arn(arn).unwrap_or("");
    if arn_region != region {
        fail(
            format!("{arn} is in {arn_region}, must be in {region}"),
            "request the certificate in the right region in ACM",
        );
        return out;
    }
    match client.describe_certificate().certificate_arn(arn).send().await {
        Ok(o) => {
            let Some(c) = o.certificate() else {
                return out;
            };
            let status = c.status().map(|s| s.as_str().to_string()).unwrap_or_default();
            if status != "ISSUED" {
                fail(format!("{arn} is {status}, not ISSUED"), "complete the DNS validation of the certificate in ACM");
            }
            let mut names: Vec<String> = c.subject_alternative_names().to_vec();
            names.extend(c.domain_name().map(str::to_string));
            if !names.iter().any(|n| covers(n, &cfg.domain.name)) {
                fail(
                    format!("{arn} covers {} but not {}", names.join(", "), cfg.domain.name),
                    "request a certificate for domain.name (or a wildcard of its parent)",
                );
            }
        }
        Err(e) => {
            let (code, msg) = error_code_message(&e);
            fail(
                format!("{arn}: {code} {msg}"),
                "check the ARN in moodle.toml; the certificate must exist in that account and region",
            );
        }
    }
    out
}

pub async fn image(cfg: &Config, aws: &Aws, conn: &crate::aws::Conn) -> Vec<Finding> {
    let mut out = vec![];
    let mut fail = |check: &'static str, problem: String, hint: &str| {
        out.push(Finding { check, problem, hint: hint.to_string(), verified: true })
    };

    // Image.
    if let Some((region, repo, reference)) = parse_ecr_uri(&cfg.image.uri) {
        let ecr = if region == aws.region {
            aws.ecr.clone()
        } else {
            let mut c = conn.clone();
            c.region = region.clone();
            Aws::connect(&c).await.ecr
        };
        let id = if reference.starts_with("sha256:") {
            aws_sdk_ecr::types::ImageIdentifier::builder().image_digest(&reference).build()
        } else {
            aws_sdk_ecr::types::ImageIdentifier::builder().image_tag(&reference).build()
        };
        match ecr.describe_images().repository_name(&repo).image_ids(id).send().await {
            Ok(o) if !o.image_details().is_empty() => {}
            Ok(_) => fail(
                "image",
                format!("{} not found in ECR", cfg.image.uri),
                "build and push it: scripts/publish-image.sh",
            ),
            Err(e) => {
                let (code, msg) = error_code_message(&e);
                fail(
                    "image",
                    format!("{}: {code} {msg}", cfg.image.uri),
                    "build and push it: scripts/publish-image.sh (it creates the repository)",
                );
            }
        }
    }

    out
}

async fn classes(cfg: &Config, aws: &Aws) -> Vec<Finding> {
    let (db, cache) = tokio::join!(db_class(cfg, aws), node_type(cfg, aws));
    db.into_iter().chain(cache).collect()
}

async fn db_class(cfg: &Config, aws: &Aws) -> Vec<Finding> {
    let mut out = vec![];
    let mut fail = |check: &'static str, problem: String, hint: &str| {
        out.push(Finding { check, problem, hint: hint.to_string(), verified: true })
    };

    // Instance class / node type offered here.
    if cfg.database.engine != DbEngine::AuroraServerless {
        let engine = match cfg.database.engine {
            DbEngine::Mysql => "mysql",
            DbEngine::Mariadb => "mariadb",
            _ => "aurora-mysql",
        };
        match aws
            .rds
            .describe_orderable_db_instance_options()
            .engine(engine)
            .db_instance_class(&cfg.database.instance_class)
            .send()
            .await
        {
            Ok(o) if !o.orderable_db_instance_options().is_empty() => {}
            Ok(_) => {
                // Nothing for this class: is it the class, or an endpoint with no catalog at all?
                let any = aws
                    .rds
                    .describe_orderable_db_instance_options()
                    .engine(engine)
                    .max_records(20)
                    .send()
                    .await
                    .map(|o| !o.orderable_db_instance_options().is_empty())
                    .unwrap_or(false);
                if any {
                    fail(
                        "database.instance_class",
                        format!("{} is not offered for {engine} in {}", cfg.database.instance_class, cfg.stack.region),
                        "pick a class listed by `aws rds describe-orderable-db-instance-options`",
                    );
                } else {
                    out.push(Finding::unverified(
                        "database.instance_class",
                        format!("the endpoint lists no orderable DB instance options for {engine}"),
                    ));
                }
            }
            Err(e) => {
                let (code, msg) = error_code_message(&e);
                fail(
                    "database.instance_class",
                    format!("cannot check {}: {code} {msg}", cfg.database.instance_class),
                    "check rds:DescribeOrderableDBInstanceOptions permission",
                );
            }
        }
    }
    out
}

async fn node_type(cfg: &Config, aws: &Aws) -> Vec<Finding> {
    let mut out = vec![];
    let mut fail = |check: &'static str, problem: String, hint: &str| {
        out.push(Finding { check, problem, hint: hint.to_string(), verified: true })
    };
    // An optional check: no retry budget (and no backoff sleeps) for an
    // endpoint that lacks the API; a failure here is only a warning.
    let quick = aws_sdk_elasticache::config::Builder::default()
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1));
    match aws
        .elasticache
        .describe_reserved_cache_nodes_offerings()
        .cache_node_type(&cfg.cache.node_type)
        .max_records(20)
        .customize()
        .config_override(quick)
        .send()
        .await
    {
        Ok(o) if !o.reserved_cache_nodes_offerings().is_empty() => {}
        Ok(_) => fail(
            "cache.node_type",
            format!("{} is not offered in {}", cfg.cache.node_type, cfg.stack.region),
            "pick a node type offered in the region",
        ),
        // The one API that lists node types per region is not served by every
        // endpoint (moto lacks it); that is a gap in the check, not a failure.
        Err(e) => out.push(Finding::unverified(
            "cache.node_type",
            match error_code_message(&e).0.as_str() {
                "Unknown" | "" => "the endpoint does not list ElastiCache node offerings".to_string(),
                code => format!("the endpoint refused to list ElastiCache node offerings ({code})"),
            },
        )),
    }

    out
}

async fn prefix_list(cfg: &Config, aws: &Aws) -> Vec<Finding> {
    let mut out = vec![];
    let mut fail = |check: &'static str, problem: String, hint: &str| {
        out.push(Finding { check, problem, hint: hint.to_string(), verified: true })
    };

    // CloudFront prefix list.
    if cfg.cdn.restrict_alb {
        let f = aws_sdk_ec2::types::Filter::builder().name("prefix-list-name").values(CLOUDFRONT_PREFIX_LIST).build();
        match aws.ec2.describe_managed_prefix_lists().filters(f).send().await {
            Ok(o) if o.prefix_lists().iter().any(|p| p.prefix_list_name() == Some(CLOUDFRONT_PREFIX_LIST)) => {}
            Ok(_) => fail(
                "prefix-list",
                format!("{CLOUDFRONT_PREFIX_LIST} does not exist in {}", cfg.stack.region),
                "set cdn.restrict_alb = false to open the ALB to the internet instead",
            ),
            Err(e) => fail(
                "prefix-list",
                format!("cannot look up {CLOUDFRONT_PREFIX_LIST}: {}", error_code_message(&e).0),
                "check ec2:DescribeManagedPrefixLists permission",
            ),
        }
    }

    out
}

async fn quotas(cfg: &Config, aws: &Aws) -> Vec<Finding> {
    let mut out = vec![];
    let mut fail = |check: &'static str, problem: String, hint: &str| {
        out.push(Finding { check, problem, hint: hint.to_string(), verified: true })
    };

    // Quotas that commonly block a first deploy. Only what `up` would add counts.
    let stack_filter =
        aws_sdk_ec2::types::Filter::builder().name("tag:moodlectl:stack").values(&cfg.stack.name).build();
    let ours = |n: usize| n > 0;
    let count_eips = |f: Option<aws_sdk_ec2::types::Filter>| async {
        aws.ec2
            .describe_addresses()
            .set_filters(f.map(|f| vec![f]))
            .send()
            .await
            .map(|o| o.addresses().len())
            .unwrap_or(0)
    };
    let count_vpcs = |f: Option<aws_sdk_ec2::types::Filter>| async {
        aws.ec2.describe_vpcs().set_filters(f.map(|f| vec![f])).send().await.map(|o| o.vpcs().len()).unwrap_or(0)
    };
    let quota = |service: &'static str, code: &'static str| async move {
        aws.quotas
            .get_service_quota()
            .service_code(service)
            .quota_code(code)
            .send()
            .await
            .map(|o| o.quota().and_then(|q| q.value()).unwrap_or(f64::MAX))
            .map_err(|e| error_code_message(&e).0)
    };
    let count_nats = async {
        aws.ec2
            .describe_nat_gateways()
            .send()
            .await
            .map(|o| o.nat_gateways().iter().filter(|n| n.state().map(|s| s.as_str()) == Some("available")).count())
            .unwrap_or(0)
    };
    // Usage and quotas are independent reads: one round trip for all.
    let (eips, our_eips, vpcs, our_vpcs, eip_quota, vpc_quota, nat_quota, nats) = tokio::join!(
        count_eips(None),
        count_eips(Some(stack_filter.clone())),
        count_vpcs(None),
        count_vpcs(Some(stack_filter.clone())),
        quota("ec2", "L-0263D0A3"),
        quota("vpc", "L-F678F1CE"),
        quota("vpc", "L-FE5A380F"),
        count_nats
    );
    let mut unverified = vec![];
    for (check, code, service, limit, used, need) in [
        ("quota-eip", "L-0263D0A3", "ec2", eip_quota, eips, if ours(our_eips) { 0 } else { 2 }),
        ("quota-vpc", "L-F678F1CE", "vpc", vpc_quota, vpcs, if ours(our_vpcs) { 0 } else { 1 }),
    ] {
        if need == 0 {
            continue;
        }
        match limit {
            Ok(limit) if (used + need) as f64 > limit => fail(
                check,
                format!("{used} in use + {need} needed > quota {limit} ({service} {code})"),
                "free some, or request an increase in Service Quotas",
            ),
            Ok(_) => {}
            Err(why) => unverified.push(Finding::unverified(
                check,
                format!("Service Quotas gave no value for quota {service} {code} ({why}), so its room was not checked"),
            )),
        }
    }
    // NAT gateways per AZ: our two go one per AZ. Without knowing the AZ
    // split, the busiest AZ has at least nats/azs.
    if let (false, Ok(limit)) = (ours(our_vpcs), nat_quota) {
        if (nats as f64 / 2.0).ceil() + 1.0 > limit {
            fail(
                "quota-nat",
                format!("{nats} NAT gateways in use; quota {limit} per AZ"),
                "request an increase of 'NAT gateways per Availability Zone'",
            );
        }
    }
    out.extend(unverified);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_names_cover_domains() {
        assert!(covers("moodle.example.com", "moodle.example.com"));
        assert!(covers("*.example.com", "moodle.example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("other.example.com", "moodle.example.com"));
    }

    #[test]
    fn ecr_uris() {
        assert_eq!(
            parse_ecr_uri("123456789012.dkr.ecr.eu-west-1.amazonaws.com/moodle:5.0.2"),
            Some(("eu-west-1".into(), "moodle".into(), "5.0.2".into()))
        );
        assert_eq!(
            parse_ecr_uri("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/moodle@sha256:abc"),
            Some(("eu-west-1".into(), "team/moodle".into(), "sha256:abc".into()))
        );
        assert_eq!(parse_ecr_uri("moodlehq/moodle-php-apache:8.3"), None);
    }
}
