//! `[alarms]`: the thresholds of the CloudWatch alarms (`resources::observe`).
//! Every key has a default fit for a production site; each is documented in
//! the README's alarm table and in `moodle.toml`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlarmsCfg {
    /// Alarms on or off (off: none is created; existing ones are deleted).
    pub enabled: bool,
    /// Minutes a threshold must be breached before the alarm fires (5-minute periods).
    pub evaluation_minutes: i32,
    /// Load balancer 5xx (its own) as a share of requests, percent.
    pub alb_5xx_percent: f64,
    /// 5xx answered by the Moodle tasks, per 5 minutes.
    pub target_5xx_count: f64,
    /// Unhealthy targets behind the load balancer (≥).
    pub unhealthy_targets: f64,
    /// p95 response time of the Moodle tasks, seconds.
    pub response_time_p95_seconds: f64,
    pub ecs_cpu_percent: f64,
    pub ecs_memory_percent: f64,
    pub rds_cpu_percent: f64,
    /// Free storage below, GiB.
    pub rds_free_storage_gib: f64,
    /// Freeable memory below, MiB.
    pub rds_freeable_memory_mib: f64,
    pub rds_connections: f64,
    /// Redis memory used, percent of the node's.
    pub redis_memory_percent: f64,
    /// Keys evicted per 5 minutes (sessions lost).
    pub redis_evictions: f64,
    /// Redis engine thread CPU, percent.
    pub redis_cpu_percent: f64,
    /// EFS I/O limit used (General Purpose mode), percent.
    pub efs_io_limit_percent: f64,
    /// CloudFront 5xx error rate, percent.
    pub cloudfront_5xx_percent: f64,
    /// The account's security events (CIS AWS Foundations' metric filters on
    /// the trail's CloudWatch Logs copy): one alarm each, on the first event.
    pub security: bool,
}

impl Default for AlarmsCfg {
    fn default() -> Self {
        Self {
            enabled: true,
            evaluation_minutes: 10,
            alb_5xx_percent: 5.0,
            target_5xx_count: 25.0,
            unhealthy_targets: 1.0,
            response_time_p95_seconds: 3.0,
            ecs_cpu_percent: 90.0,
            ecs_memory_percent: 90.0,
            rds_cpu_percent: 85.0,
            rds_free_storage_gib: 10.0,
            rds_freeable_memory_mib: 256.0,
            rds_connections: 500.0,
            redis_memory_percent: 80.0,
            redis_evictions: 100.0,
            redis_cpu_percent: 80.0,
            efs_io_limit_percent: 90.0,
            cloudfront_5xx_percent: 5.0,
            security: true,
        }
    }
}

impl AlarmsCfg {
    /// `(key, value)` of every threshold, for validation.
    pub fn thresholds(&self) -> [(&'static str, f64); 15] {
        [
            ("alb_5xx_percent", self.alb_5xx_percent),
            ("target_5xx_count", self.target_5xx_count),
            ("unhealthy_targets", self.unhealthy_targets),
            ("response_time_p95_seconds", self.response_time_p95_seconds),
            ("ecs_cpu_percent", self.ecs_cpu_percent),
            ("ecs_memory_percent", self.ecs_memory_percent),
            ("rds_cpu_percent", self.rds_cpu_percent),
            ("rds_free_storage_gib", self.rds_free_storage_gib),
            ("rds_freeable_memory_mib", self.rds_freeable_memory_mib),
            ("rds_connections", self.rds_connections),
            ("redis_memory_percent", self.redis_memory_percent),
            ("redis_evictions", self.redis_evictions),
            ("redis_cpu_percent", self.redis_cpu_percent),
            ("efs_io_limit_percent", self.efs_io_limit_percent),
            ("cloudfront_5xx_percent", self.cloudfront_5xx_percent),
        ]
    }
}
