//! AWS clients for both regions, built once per run, and the shared poller.
//!
//! Every client honours `--endpoint-url` / `AWS_ENDPOINT_URL`, so the whole
//! tool can be pointed at an emulator. WAFv2 (scope CLOUDFRONT), the CloudFront
//! certificate and CloudFront itself live in us-east-1 whatever the stack's
//! region is, so a second set of clients is bound there.
//!
//! An interceptor counts read and mutating API calls (and retries) for the run
//! summary and the benchmark. Built with the `test-hooks` feature (the test
//! suite's builds only), it also carries a crash hook: with
//! `MOODLECTL_CRASH_AFTER_MUTATIONS=N` the process SIGKILLs itself right after
//! the N-th successful mutating call returns — before the step can record the
//! result — which is the worst moment for crash consistency and what the
//! crash-resume tests exercise. `MOODLECTL_CRASH_AFTER_OP=CreateDBInstance`
//! does the same after the first successful call of that operation. A
//! release build has no such switch.
//!
//! [`errors`] turns SDK errors into step errors and says, per operation,
//! which of its modeled errors mean "does not exist".

pub mod errors;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Is this API operation read-only? (Used for counting and for the no-op test.)
pub fn is_read_only(op: &str) -> bool {
    ["Describe", "List", "Get", "Head", "Lookup", "Search"].iter().any(|p| op.starts_with(p))
}

#[derive(Debug, Default)]
pub struct CallStats {
    pub read: AtomicU64,
    pub mutating: AtomicU64,
    pub attempts: AtomicU64,
    pub by_op: Mutex<BTreeMap<String, u64>>,
    #[cfg(feature = "test-hooks")]
    crash: CrashHook,
}

/// The crash-consistency test hook (see the module docs).
#[cfg(feature = "test-hooks")]
#[derive(Debug, Default)]
struct CrashHook {
    after: Option<u64>,
    after_op: Option<String>,
}

#[cfg(feature = "test-hooks")]
impl CrashHook {
    fn from_env() -> CrashHook {
        CrashHook {
            after: std::env::var("MOODLECTL_CRASH_AFTER_MUTATIONS").ok().and_then(|v| v.parse().ok()),
            after_op: std::env::var("MOODLECTL_CRASH_AFTER_OP").ok(),
        }
    }

    fn maybe_crash(&self, n: u64, op: &str) {
        if self.after == Some(n) || self.after_op.as_deref() == Some(op) {
            tracing::warn!("test hook: SIGKILL after mutating call #{n} ({op})");
            // SAFETY: kill(2) on our own pid; nothing is shared with it.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
    }
}

impl CallStats {
    pub fn summary(&self) -> BTreeMap<String, u64> {
        let read = self.read.load(Ordering::Relaxed);
        let mutating = self.mutating.load(Ordering::Relaxed);
        let attempts = self.attempts.load(Ordering::Relaxed);
        BTreeMap::from([
            ("read".to_string(), read),
            ("mutating".to_string(), mutating),
            ("retries".to_string(), attempts.saturating_sub(read + mutating)),
        ])
    }

    pub fn mutating_ops(&self) -> Vec<String> {
        self.by_op.lock().unwrap().keys().filter(|k| !is_read_only(k.split(':').nth(1).unwrap_or(k))).cloned().collect()
    }
}

#[derive(Debug, Clone)]
struct Counter(Arc<CallStats>);

/// When the operation (all its attempts) began: for the `-vv` call log.
#[derive(Debug, Clone)]
struct CallStart(Instant);

impl Storable for CallStart {
    type Storer = StoreReplace<Self>;
}

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "moodlectl-call-counter"
    }

    fn read_before_execution(
        &self,
        _ctx: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(CallStart(Instant::now()));
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.attempts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn read_after_execution(
        &self,
        ctx: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, op) =
            cfg.load::<Metadata>().map(|m| (m.service().to_string(), m.name().to_string())).unwrap_or_default();
        let read = is_read_only(&op);
        let n = if read {
            self.0.read.fetch_add(1, Ordering::Relaxed)
        } else {
            self.0.mutating.fetch_add(1, Ordering::Relaxed) + 1
        };
        *self.0.by_op.lock().unwrap().entry(format!("{service}:{op}")).or_default() += 1;
        let succeeded = matches!(ctx.output_or_error(), Some(Ok(_)));
        // Which calls a run made and how long each took, retries included:
        // what a slow step spends its time on (`-vv`).
        tracing::debug!(
            target: "moodlectl::api",
            "{service}:{op} {} in {} ms",
            if succeeded { "ok" } else { "failed" },
            cfg.load::<CallStart>()
                .map_or(0, |s| s.0.elapsed().as_millis())
        );
        #[cfg(feature = "test-hooks")]
        if !read && succeeded {
            self.0.crash.maybe_crash(n, &op);
        }
        #[cfg(not(feature = "test-hooks"))]
        let _ = n;
        Ok(())
    }
}

/// Connection settings from the command line.
#[derive(Debug, Clone, Default)]
pub struct Conn {
    pub region: String,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
}

/// All service clients a run may use.
#[derive(Clone)]
pub struct Aws {
    pub region: String,
    pub stats: Arc<CallStats>,
    pub ec2: aws_sdk_ec2::Client,
    pub iam: aws_sdk_iam::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub sts: aws_sdk_sts::Client,
    pub rds: aws_sdk_rds::Client,
    pub elasticache: aws_sdk_elasticache::Client,
    pub efs: aws_sdk_efs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sns: aws_sdk_sns::Client,
    pub s3: aws_sdk_s3::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub cloudtrail: aws_sdk_cloudtrail::Client,
    pub acm: aws_sdk_acm::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    pub quotas: aws_sdk_servicequotas::Client,
    pub backup: aws_sdk_backup::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// us-east-1: CloudFront's metrics and their alarms.
    pub cloudwatch_global: aws_sdk_cloudwatch::Client,
    /// us-east-1: the topic CloudFront's alarm notifies (an alarm may only
    /// notify a topic of its own region).
    pub sns_global: aws_sdk_sns::Client,
    /// The keys that encrypt the alert topics, one per region.
    pub kms: aws_sdk_kms::Client,
    pub kms_global: aws_sdk_kms::Client,
    /// us-east-1: the WAF's request logs (a CLOUDFRONT-scope web ACL logs to its own region).
    pub logs_global: aws_sdk_cloudwatchlogs::Client,
    /// us-east-1: WAFv2 with scope CLOUDFRONT.
    pub wafv2_global: aws_sdk_wafv2::Client,
    /// us-east-1: the CloudFront certificate.
    pub acm_global: aws_sdk_acm::Client,
    /// CloudFront is global; its API is served from us-east-1.
    pub cloudfront: aws_sdk_cloudfront::Client,
    /// The credentials' account, asked of STS once per run: bucket names,
    /// key and bucket policies, trust policies and ARNs all need it.
    pub account: tokio::sync::OnceCell<String>,
}

async fn sdk_config(conn: &Conn, region: &str) -> SdkConfig {
    let attempts: u32 = std::env::var("MOODLECTL_MAX_ATTEMPTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        // Throttling and 5xx are normal under load: retry with jittered
        // exponential backoff well past the SDK's default of 3 attempts.
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(attempts)
                .with_initial_backoff(Duration::from_millis(100))
                .with_max_backoff(Duration::from_secs(10)),
        )
        // A hung attempt is abandoned and retried like a 5xx. The bound is
        // generous on purpose: a create without an idempotency token (e.g.
        // CreateVpc) that was applied but answered late would be applied
        // twice by the retry.
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(env_ms("MOODLECTL_ATTEMPT_TIMEOUT_MS", 30_000))
                .build(),
        )
        // Shows as `app/moodlectl` in the User-Agent: CloudTrail entries say
        // which tool made a change.
        .app_name(aws_config::AppName::new("moodlectl").expect("valid app name"));
    if let Some(p) = &conn.profile {
        loader = loader.profile_name(p);
    }
    if let Some(u) = &conn.endpoint_url {
        loader = loader.endpoint_url(u);
    }
    loader.load().await
}

macro_rules! client {
    ($krate:ident, $conf:expr, $hook:expr) => {
        $krate::Client::from_conf($krate::config::Builder::from($conf).interceptor($hook.clone()).build())
    };
}

impl Aws {
    /// Build every client. No request is sent until a client is used.
    pub async fn connect(conn: &Conn) -> Aws {
        let stats = Arc::new(CallStats {
            #[cfg(feature = "test-hooks")]
            crash: CrashHook::from_env(),
            ..Default::default()
        });
        let hook = Counter(stats.clone());
        let main = sdk_config(conn, &conn.region).await;
        let global = sdk_config(conn, "us-east-1").await;
        let custom_endpoint = main.endpoint_url().is_some();
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&main)
                // Emulators serve buckets by path, not by virtual host.
                .force_path_style(custom_endpoint)
                .interceptor(hook.clone())
                .build(),
        );
        Aws {
            region: conn.region.clone(),
            ec2: client!(aws_sdk_ec2, &main, hook),
            iam: client!(aws_sdk_iam, &main, hook),
            logs: client!(aws_sdk_cloudwatchlogs, &main, hook),
            sts: client!(aws_sdk_sts, &main, hook),
            rds: client!(aws_sdk_rds, &main, hook),
            elasticache: client!(aws_sdk_elasticache, &main, hook),
            efs: client!(aws_sdk_efs, &main, hook),
            secrets: client!(aws_sdk_secretsmanager, &main, hook),
            sns: client!(aws_sdk_sns, &main, hook),
            s3,
            ecs: client!(aws_sdk_ecs, &main, hook),
            elbv2: client!(aws_sdk_elasticloadbalancingv2, &main, hook),
            cloudtrail: client!(aws_sdk_cloudtrail, &main, hook),
            acm: client!(aws_sdk_acm, &main, hook),
            ecr: client!(aws_sdk_ecr, &main, hook),
            autoscaling: client!(aws_sdk_applicationautoscaling, &main, hook),
            quotas: client!(aws_sdk_servicequotas, &main, hook),
            backup: client!(aws_sdk_backup, &main, hook),
            cloudwatch: client!(aws_sdk_cloudwatch, &main, hook),
            cloudwatch_global: client!(aws_sdk_cloudwatch, &global, hook),
            sns_global: client!(aws_sdk_sns, &global, hook),
            kms: client!(aws_sdk_kms, &main, hook),
            kms_global: client!(aws_sdk_kms, &global, hook),
            logs_global: client!(aws_sdk_cloudwatchlogs, &global, hook),
            wafv2_global: client!(aws_sdk_wafv2, &global, hook),
            acm_global: client!(aws_sdk_acm, &global, hook),
            cloudfront: client!(aws_sdk_cloudfront, &global, hook),
            account: tokio::sync::OnceCell::new(),
            stats,
        }
    }
}

/// A duration in milliseconds from the environment (tunables for tests and
/// the latency emulator).
pub fn env_ms(name: &str, default: u64) -> Duration {
    Duration::from_millis(std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_classification() {
        for op in ["DescribeVpcs", "ListTagsForResource", "GetRole", "HeadObject"] {
            assert!(is_read_only(op), "{op}");
        }
        for op in ["CreateVpc", "ModifyVpcAttribute", "PutRetentionPolicy", "DeleteVpc", "TagResource"] {
            assert!(!is_read_only(op), "{op}");
        }
    }
}
