//! The alarms: one [`AlarmSpec`] per watched metric, from the config and
//! the IDs the other tiers recorded; created, corrected and deleted by
//! comparing a signature of each with the live alarm's.

use super::*;
use crate::config::DbEngine;
use crate::resources::prelude::*;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator as Cmp, Dimension, MetricAlarm, MetricDataQuery, MetricStat, Statistic,
};

/// Where an alarm's value comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// One metric and statistic (`p95`: an extended statistic).
    Metric { namespace: &'static str, metric: String, stat: &'static str, dims: Vec<(&'static str, String)> },
    /// 100 × num / den, both summed (a rate in percent, by metric math).
    Rate { namespace: &'static str, num: &'static str, den: &'static str, dims: Vec<(&'static str, String)> },
}

#[derive(Debug, Clone)]
pub struct AlarmSpec {
    pub name: String,
    pub tier: &'static str,
    pub description: String,
    pub source: Source,
    pub threshold: f64,
    pub cmp: Cmp,
    /// No data counts as breaching (tasks that report nothing are not running).
    pub missing_breaches: bool,
    /// In us-east-1 (CloudFront).
    pub global: bool,
    /// Fires on one breaching period rather than `[alarms] evaluation_minutes`
    /// (a security event: one is enough).
    pub single_period: bool,
}

/// Alarm names: `<stack>-alarm-<what>`; the prefix is how `up` and `down`
/// tell the stack's alarms from others.
pub fn alarm_prefix(cx: &StepCx) -> String {
    cx.cfg.name("alarm-")
}

const PERIOD: i32 = 300;

fn dims_sig(dims: &[(&str, String)]) -> String {
    let mut d: Vec<String> = dims.iter().map(|(k, v)| format!("{k}={v}")).collect();
    d.sort();
    d.join(",")
}

impl AlarmSpec {
    fn evaluation_periods(&self, cx: &StepCx) -> i32 {
        if self.single_period {
            1
        } else {
            (cx.cfg.alarms.evaluation_minutes / 5).max(1)
        }
    }
    /// What must match for the live alarm to need no update.
    pub fn sig(&self, cx: &StepCx, topic: &str) -> String {
        let src = match &self.source {
            Source::Metric { namespace, metric, stat, dims } => {
                format!("{namespace}/{metric}/{stat}/{}", dims_sig(dims))
            }
            Source::Rate { namespace, num, den, dims } => format!("{namespace}/100*{num}/{den}/{}", dims_sig(dims)),
        };
        let missing = if self.missing_breaches { "breaching" } else { "notBreaching" };
        format!(
            "{src}|{PERIOD}|{}|{}|{}|{missing}|{topic}|{topic}",
            self.evaluation_periods(cx),
            self.threshold,
            self.cmp.as_str()
        )
    }
    fn dimensions(dims: &[(&str, String)]) -> Vec<Dimension> {
        dims.iter().map(|(k, v)| Dimension::builder().name(*k).value(v).build()).collect()
    }
    pub fn put(
        &self,
        cx: &StepCx,
        topic: &str,
    ) -> aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder {
        let client = if self.global { &cx.aws.cloudwatch_global } else { &cx.aws.cloudwatch };
        let missing = if self.missing_breaches { "breaching" } else { "notBreaching" };
        let mut call = client
            .put_metric_alarm()
            .alarm_name(&self.name)
            .alarm_description(&self.description)
            .threshold(self.threshold)
            .comparison_operator(self.cmp.clone())
            .evaluation_periods(self.evaluation_periods(cx))
            .treat_missing_data(missing)
            .alarm_actions(topic)
            .ok_actions(topic)
            .set_tags(Some(Tags::new(cx, ALARMS).render()));
        match &self.source {
            Source::Metric { namespace, metric, stat, dims } => {
                call = call
                    .namespace(*namespace)
                    .metric_name(metric)
                    .period(PERIOD)
                    .set_dimensions(Some(Self::dimensions(dims)));
                call = if stat.starts_with('p') {
                    call.extended_statistic(*stat)
                } else {
                    call.statistic(Statistic::from(*stat))
                };
            }
            Source::Rate { namespace, num, den, dims } => {
                let q = |id: &str, metric: &str| {
                    let m = aws_sdk_cloudwatch::types::Metric::builder()
                        .namespace(*namespace)
                        .metric_name(metric)
                        .set_dimensions(Some(Self::dimensions(dims)))
                        .build();
                    let stat = MetricStat::builder().metric(m).period(PERIOD).stat("Sum").build();
                    MetricDataQuery::builder().id(id).metric_stat(stat).return_data(false).build()
                };
                let e = MetricDataQuery::builder()
                    .id("rate")
                    .expression("100*m1/m2")
                    .label("percent")
                    .return_data(true)
                    .build();
                call = call.metrics(q("m1", num)).metrics(q("m2", den)).metrics(e);
            }
        }
        call
    }
}

/// The signature of a live alarm, comparable with [`AlarmSpec::sig`].
pub fn live_sig(a: &MetricAlarm) -> String {
    let dims = |d: &[Dimension]| {
        let v: Vec<(&str, String)> =
            d.iter().map(|d| (d.name().unwrap_or_default(), d.value().unwrap_or_default().to_string())).collect();
        dims_sig(&v)
    };
    let src = if a.metrics().is_empty() {
        let stat = a.statistic().map(|s| s.as_str().to_string()).or(a.extended_statistic().map(str::to_string));
        format!(
            "{}/{}/{}/{}",
            a.namespace().unwrap_or_default(),
            a.metric_name().unwrap_or_default(),
            stat.unwrap_or_default(),
            dims(a.dimensions())
        )
    } else {
        let metric = |id: &str| {
            a.metrics().iter().find(|q| q.id() == Some(id)).and_then(|q| q.metric_stat()).and_then(|s| s.metric())
        };
        let (m1, m2) = (metric("m1"), metric("m2"));
        format!(
            "{}/100*{}/{}/{}",
            m1.and_then(|m| m.namespace()).unwrap_or_default(),
            m1.and_then(|m| m.metric_name()).unwrap_or_default(),
            m2.and_then(|m| m.metric_name()).unwrap_or_default(),
            dims(m1.map(|m| m.dimensions()).unwrap_or_default())
        )
    };
    let period = a.period().or_else(|| a.metrics().iter().find_map(|q| q.metric_stat().and_then(|s| s.period())));
    format!(
        "{src}|{}|{}|{}|{}|{}|{}|{}",
        period.unwrap_or_default(),
        a.evaluation_periods().unwrap_or_default(),
        a.threshold().unwrap_or_default(),
        a.comparison_operator().map(|c| c.as_str()).unwrap_or_default(),
        a.treat_missing_data().unwrap_or("missing"),
        a.alarm_actions().join(","),
        a.ok_actions().join(",")
    )
}

/// The last path part of an ELB ARN from `marker` on: `app/<name>/<id>`, `targetgroup/<name>/<id>`.
fn elb_dimension(arn: &str, marker: &str) -> String {
    arn.split_once(marker).map(|(_, r)| r.to_string()).unwrap_or_default()
}

/// How many alarms [`specs`] makes for `cfg` (for the cost estimate, which
/// has no state to name them): ten for the edge, compute and file tiers,
/// three for the database (four unless Aurora, whose storage grows by itself),
/// three per cache node and fifteen security events.
pub fn alarm_count(cfg: &crate::config::Config) -> usize {
    if !cfg.alarms.enabled {
        return 0;
    }
    let aurora = matches!(cfg.database.engine, DbEngine::AuroraMysql | DbEngine::AuroraServerless);
    let security = if cfg.alarms.security { crate::resources::audit::security_events().len() } else { 0 };
    10 + if aurora { 3 } else { 4 } + 3 * cfg.cache.num_nodes.max(0) as usize + security
}

/// Every alarm the config asks for, with the IDs recorded so far; `None`
/// while a resource an alarm names is not recorded yet (a plan).
pub fn specs(cx: &StepCx) -> Option<Vec<AlarmSpec>> {
    let a = &cx.cfg.alarms;
    if !a.enabled {
        return Some(vec![]);
    }
    let alb = cx.state.get(ALB)?.id;
    let tg = cx.state.id(TARGET_GROUP)?;
    let lb_dim = elb_dimension(&alb, ":loadbalancer/");
    let tg_dim = format!("targetgroup/{}", elb_dimension(&tg, ":targetgroup/"));
    let fs = cx.state.id(EFS)?;
    let group = cx.state.id(REPLICATION_GROUP)?;
    let dist = cx.state.id(DISTRIBUTION)?;
    let (cluster, web, cron) = (cluster_name(cx), service_name(cx), cron_name(cx));
    let name = |s: &str| format!("{}{s}", alarm_prefix(cx));
    let metric = |namespace, metric: &str, stat, dims: Vec<(&'static str, String)>| Source::Metric {
        namespace,
        metric: metric.to_string(),
        stat,
        dims,
    };
    // One row per alarm: tier, name, source, threshold, comparison, and the
    // description (`{t}`: the threshold).
    let spec = |tier, suffix: &str, source, threshold: f64, cmp, text: &str| AlarmSpec {
        name: name(suffix),
        tier,
        description: text.replace("{t}", &threshold.to_string()),
        source,
        threshold,
        cmp,
        missing_breaches: suffix.ends_with("-running"),
        global: suffix.starts_with("cloudfront"),
        single_period: false,
    };
    let lb = || vec![("LoadBalancer", lb_dim.clone())];
    let lb_tg = || vec![("LoadBalancer", lb_dim.clone()), ("TargetGroup", tg_dim.clone())];
    let svc = |s: &str| vec![("ClusterName", cluster.clone()), ("ServiceName", s.to_string())];
    let elb = |m, stat| metric("AWS/ApplicationELB", m, stat, lb_tg());
    let rate = Source::Rate {
        namespace: "AWS/ApplicationELB",
        num: "HTTPCode_ELB_5XX_Count",
        den: "RequestCount",
        dims: lb(),
    };
    let tasks = |s: &str| metric("ECS/ContainerInsights", "RunningTaskCount", "Minimum", svc(s));
    let cf = vec![("DistributionId", dist), ("Region", "Global".to_string())];
    let desired = cx.cfg.service.desired_count as f64;
    use Cmp::{GreaterThanOrEqualToThreshold as Ge, GreaterThanThreshold as Gt, LessThanThreshold as Lt};
    #[rustfmt::skip]
    let mut v = vec![
        spec("edge", "alb-5xx-rate", rate, a.alb_5xx_percent, Gt, "load balancer 5xx above {t}% of requests"),
        spec("edge", "target-5xx", elb("HTTPCode_Target_5XX_Count", "Sum"), a.target_5xx_count, Gt,
            "Moodle answered more than {t} 5xx in 5 minutes"),
        spec("edge", "unhealthy-targets", elb("UnHealthyHostCount", "Maximum"), a.unhealthy_targets, Ge,
            "{t} or more Moodle tasks fail the health check"),
        spec("edge", "response-time-p95", elb("TargetResponseTime", "p95"), a.response_time_p95_seconds, Gt,
            "p95 response time above {t} s"),
        spec("edge", "cloudfront-5xx", metric("AWS/CloudFront", "5xxErrorRate", "Average", cf), a.cloudfront_5xx_percent,
            Gt, "CloudFront 5xx error rate above {t}%"),
        spec("compute", "ecs-cpu", metric("AWS/ECS", "CPUUtilization", "Average", svc(&web)), a.ecs_cpu_percent, Gt,
            "web tasks' CPU above {t}%"),
        spec("compute", "ecs-memory", metric("AWS/ECS", "MemoryUtilization", "Average", svc(&web)), a.ecs_memory_percent,
            Gt, "web tasks' memory above {t}%"),
        spec("compute", "web-running", tasks(&web), desired, Lt, "fewer than {t} web tasks running"),
        spec("compute", "cron-running", tasks(&cron), 1.0, Lt, "the cron task is not running (scheduled tasks stop)"),
        spec("data", "efs-io-limit", metric("AWS/EFS", "PercentIOLimit", "Maximum", vec![("FileSystemId", fs)]),
            a.efs_io_limit_percent, Gt, "file system I/O limit above {t}%"),
    ];
    let aurora = matches!(cx.cfg.database.engine, DbEngine::AuroraMysql | DbEngine::AuroraServerless);
    let db = if aurora {
        ("DBClusterIdentifier", cx.state.id(DB_CLUSTER)?)
    } else {
        ("DBInstanceIdentifier", cx.state.id(DB_INSTANCE)?)
    };
    let rds = |m, stat| metric("AWS/RDS", m, stat, vec![(db.0, db.1.clone())]);
    let (mib, gib) = (1024.0 * 1024.0, 1024.0 * 1024.0 * 1024.0);
    #[rustfmt::skip]
    v.extend([
        spec("data", "rds-cpu", rds("CPUUtilization", "Average"), a.rds_cpu_percent, Gt, "database CPU above {t}%"),
        spec("data", "rds-memory", rds("FreeableMemory", "Minimum"), a.rds_freeable_memory_mib * mib, Lt,
            &format!("database freeable memory below {} MiB", a.rds_freeable_memory_mib)),
        spec("data", "rds-connections", rds("DatabaseConnections", "Maximum"), a.rds_connections, Gt,
            "more than {t} database connections"),
    ]);
    if !aurora {
        // Aurora's storage grows by itself.
        let free = rds("FreeStorageSpace", "Minimum");
        let text = format!("database free storage below {} GiB", a.rds_free_storage_gib);
        v.push(spec("data", "rds-storage", free, a.rds_free_storage_gib * gib, Lt, &text));
    }
    for n in 1..=cx.cfg.cache.num_nodes {
        let node = format!("{group}-{n:03}");
        let redis = |m, stat| metric("AWS/ElastiCache", m, stat, vec![("CacheClusterId", node.clone())]);
        #[rustfmt::skip]
        v.extend([
            spec("data", &format!("redis-memory-{n}"), redis("DatabaseMemoryUsagePercentage", "Maximum"),
                a.redis_memory_percent, Gt, &format!("Redis node {node}: memory above {{t}}%")),
            spec("data", &format!("redis-evictions-{n}"), redis("Evictions", "Sum"), a.redis_evictions, Gt,
                &format!("Redis node {node}: more than {{t}} keys evicted in 5 minutes (sessions lost)")),
            spec("data", &format!("redis-cpu-{n}"), redis("EngineCPUUtilization", "Maximum"), a.redis_cpu_percent, Gt,
                &format!("Redis node {node}: engine CPU above {{t}}%")),
        ]);
    }
    v.extend(security_specs(cx));
    Some(v)
}

/// One alarm per security event class (`audit::security_events`): its
/// filter's metric summed over 5 minutes, on the first event; no data (no
/// event) is fine.
fn security_specs(cx: &StepCx) -> Vec<AlarmSpec> {
    if !crate::resources::audit::security_events_on(cx) {
        return vec![];
    }
    let events = crate::resources::audit::security_events();
    events
        .into_iter()
        .map(|e| AlarmSpec {
            name: format!("{}security-{}", alarm_prefix(cx), e.suffix),
            tier: "audit",
            description: format!("security: {}", e.description),
            source: Source::Metric {
                namespace: crate::resources::audit::SECURITY_NAMESPACE,
                metric: e.metric_name(cx),
                stat: "Sum",
                dims: vec![],
            },
            threshold: 1.0,
            cmp: Cmp::GreaterThanOrEqualToThreshold,
            missing_breaches: false,
            global: false,
            single_period: true,
        })
        .collect()
}

/// The stack's alarms as they are, in both regions.
pub async fn live_alarms(cx: &StepCx) -> Result<Vec<(bool, MetricAlarm)>, StepError> {
    let prefix = alarm_prefix(cx);
    let mut out = vec![];
    for (global, client) in [(false, &cx.aws.cloudwatch), (true, &cx.aws.cloudwatch_global)] {
        let call = client.describe_alarms().alarm_name_prefix(&prefix);
        let pages = call.into_paginator().send().collect::<Result<Vec<_>, _>>().await.ctx("DescribeAlarms", &prefix)?;
        out.extend(pages.iter().flat_map(|p| p.metric_alarms().iter().cloned()).map(|a| (global, a)));
    }
    Ok(out)
}

pub(crate) struct AlarmsStep;

#[async_trait]
impl Step<StepCx> for AlarmsStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let live = live_alarms(cx).await?;
        let Some(main) = cx.dependency(TOPIC, ids::DATA_EVENTS_TOPIC)? else { return Ok(Outcome::Created) };
        let global = if !needs_us_east_1_twin(cx) {
            Some(main.clone())
        } else {
            cx.dependency(TOPIC_GLOBAL, ids::OBSERVE_ALERTS_TOPIC_GLOBAL)?
        };
        let Some(global) = global else { return Ok(Outcome::Created) };
        let Some(specs) = specs(cx) else {
            if cx.dry_run {
                return Ok(if live.is_empty() {
                    Outcome::Created
                } else {
                    Outcome::Updated(vec!["alarms (dependencies pending)".into()])
                });
            }
            return Err(StepError::MissingDependency {
                step: ids::EDGE_CLOUDFRONT,
                what: "the IDs the alarms watch".into(),
            });
        };
        let mut changes = vec![];
        for s in &specs {
            let topic = if s.global { &global } else { &main };
            let found = live.iter().find(|(g, a)| *g == s.global && a.alarm_name() == Some(s.name.as_str()));
            match found {
                Some((_, a)) if live_sig(a) == s.sig(cx, topic) => continue,
                Some(_) => changes.push(format!("{}: update", s.name)),
                None => changes.push(format!("{}: create", s.name)),
            }
            if !cx.dry_run {
                s.put(cx, topic).send().await.ctx("PutMetricAlarm", &s.name)?;
            }
        }
        let stale: Vec<&(bool, MetricAlarm)> = live
            .iter()
            .filter(|(g, a)| !specs.iter().any(|s| s.global == *g && a.alarm_name() == Some(s.name.as_str())))
            .collect();
        for global in [false, true] {
            let names = names_in(stale.iter().copied(), global);
            changes.extend(names.iter().map(|n| format!("{n}: delete")));
            if !cx.dry_run {
                delete_alarms(cx, global, names).await?;
            }
        }
        cx.record(ALARMS, Resource::new("cloudwatch:alarms", alarm_prefix(cx)).with("count", specs.len().to_string()))?;
        Ok(if live.is_empty() && !specs.is_empty() { Outcome::Created } else { Outcome::of_changes(changes) })
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let live = live_alarms(cx).await?;
        let mut out = Outcome::AlreadyAbsent;
        for global in [false, true] {
            let names = names_in(live.iter(), global);
            if !names.is_empty() {
                delete_alarms(cx, global, names).await?;
                out = Outcome::Deleted;
            }
        }
        cx.forget(ALARMS)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let live = live_alarms(cx).await?;
        let main = cx.state.id(TOPIC).unwrap_or_default();
        let global =
            if needs_us_east_1_twin(cx) { cx.state.id(TOPIC_GLOBAL).unwrap_or_default() } else { main.clone() };
        let Some(specs) = specs(cx) else { return Ok(vec![]) };
        Ok(specs
            .iter()
            .map(|s| {
                let found = live.iter().find(|(g, a)| *g == s.global && a.alarm_name() == Some(s.name.as_str()));
                match found {
                    None => Inspection::missing("cloudwatch:alarm", &s.name, cx.state.id(ALARMS)),
                    Some((_, a)) => {
                        let state = a.state_value().map(|v| v.as_str()).unwrap_or("?");
                        let mut i = Inspection::new(
                            "cloudwatch:alarm",
                            &s.name,
                            a.alarm_arn().map(str::to_string),
                            state,
                            state != "ALARM",
                        )
                        .detail("description", &s.description);
                        if let Some(r) = a.state_reason().filter(|_| state == "ALARM") {
                            i = i.detail("reason", r);
                        }
                        if live_sig(a) != s.sig(cx, if s.global { &global } else { &main }) {
                            i.drift = Some("differs from config (threshold, metric or actions)".into());
                        }
                        i
                    }
                }
            })
            .collect())
    }
}

/// The names of the alarms in one region (us-east-1 when `global`).
fn names_in<'a>(alarms: impl Iterator<Item = &'a (bool, MetricAlarm)>, global: bool) -> Vec<String> {
    alarms.filter(|(g, _)| *g == global).filter_map(|(_, a)| a.alarm_name().map(str::to_string)).collect()
}

async fn delete_alarms(cx: &StepCx, global: bool, names: Vec<String>) -> Result<(), StepError> {
    let client = if global { &cx.aws.cloudwatch_global } else { &cx.aws.cloudwatch };
    for chunk in names.chunks(100) {
        client
            .delete_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .send()
            .await
            .ctx("DeleteAlarms", chunk.join(","))?;
    }
    Ok(())
}
