//! The CloudWatch dashboard `<stack>`: the alarms' metrics, grouped by tier
//! (edge, compute, data, audit), each graph with its alarm's threshold drawn in.
//! `PutDashboard` replaces the whole body: it is sent when the body differs.

use super::*;
use crate::resources::prelude::*;

fn body(cx: &StepCx, specs: &[AlarmSpec]) -> serde_json::Value {
    let region = &cx.aws.region;
    let mut widgets = vec![];
    let mut y = 0;
    for (tier, title) in [
        ("edge", "Edge: CloudFront and the load balancer"),
        ("compute", "Compute: the ECS services"),
        ("data", "Data: database, Redis, file system"),
        ("audit", "Audit: the account's security events (CloudTrail)"),
    ] {
        widgets.push(serde_json::json!({"type": "text", "x": 0, "y": y, "width": 24, "height": 1,
            "properties": {"markdown": format!("## {title}")}}));
        y += 1;
        for (i, s) in specs.iter().filter(|s| s.tier == tier).enumerate() {
            let metrics = match &s.source {
                Source::Metric { namespace, metric, stat, dims } => {
                    let mut m = vec![serde_json::json!(namespace), serde_json::json!(metric)];
                    for (k, v) in dims {
                        m.push(serde_json::json!(k));
                        m.push(serde_json::json!(v));
                    }
                    m.push(serde_json::json!({"stat": stat}));
                    vec![serde_json::Value::Array(m)]
                }
                Source::Rate { namespace, num, den, dims } => {
                    let m = |id: &str, metric: &str| {
                        let mut m = vec![serde_json::json!(namespace), serde_json::json!(metric)];
                        for (k, v) in dims {
                            m.push(serde_json::json!(k));
                            m.push(serde_json::json!(v));
                        }
                        m.push(serde_json::json!({"id": id, "stat": "Sum", "visible": false}));
                        serde_json::Value::Array(m)
                    };
                    vec![
                        serde_json::json!([{"expression": "100*m1/m2", "label": "percent", "id": "rate"}]),
                        m("m1", num),
                        m("m2", den),
                    ]
                }
            };
            let widget_region = if s.global { "us-east-1" } else { region.as_str() };
            widgets.push(serde_json::json!({
                "type": "metric", "x": (i % 3) * 8, "y": y + (i / 3) as i32 * 6, "width": 8, "height": 6,
                "properties": {"title": s.description, "region": widget_region, "period": 300, "metrics": metrics,
                    "annotations": {"horizontal": [{"label": "alarm", "value": s.threshold}]}}
            }));
        }
        let n = specs.iter().filter(|s| s.tier == tier).count();
        y += n.div_ceil(3) as i32 * 6;
    }
    serde_json::json!({"widgets": widgets})
}

async fn live_body(cx: &StepCx, name: &str) -> Result<Option<serde_json::Value>, StepError> {
    match cx.aws.cloudwatch.get_dashboard().dashboard_name(name).send().await {
        Ok(o) => Ok(o.dashboard_body().and_then(|b| serde_json::from_str(b).ok())),
        // CloudWatch names a missing dashboard ResourceNotFound.
        Err(e) if crate::aws::errors::error_code_message(&e).0.starts_with("ResourceNotFound") => Ok(None),
        Err(e) => Err(aws_err("GetDashboard", name, e)),
    }
}

pub(crate) struct DashboardStep;

#[async_trait]
impl Step<StepCx> for DashboardStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = cx.cfg.stack.name.clone();
        let live = live_body(cx, &name).await?;
        let Some(specs) = specs(cx) else {
            return Ok(if live.is_some() {
                Outcome::Updated(vec!["dashboard (dependencies pending)".into()])
            } else {
                Outcome::Created
            });
        };
        let want = body(cx, &specs);
        if live.as_ref() == Some(&want) {
            cx.record(DASHBOARD, Resource::new("cloudwatch:dashboard", &name))?;
            return Ok(Outcome::Unchanged);
        }
        if !cx.dry_run {
            let call = cx.aws.cloudwatch.put_dashboard().dashboard_name(&name).dashboard_body(want.to_string());
            call.send().await.ctx("PutDashboard", &name)?;
            cx.record_new(DASHBOARD, Resource::new("cloudwatch:dashboard", &name))?;
        }
        Ok(if live.is_some() { Outcome::Updated(vec![format!("{name}: widgets")]) } else { Outcome::Created })
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = cx.cfg.stack.name.clone();
        let out = match live_body(cx, &name).await? {
            Some(_) => {
                cx.aws
                    .cloudwatch
                    .delete_dashboards()
                    .dashboard_names(&name)
                    .send()
                    .await
                    .ctx("DeleteDashboards", &name)?;
                Outcome::Deleted
            }
            None => Outcome::AlreadyAbsent,
        };
        cx.forget(DASHBOARD)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = cx.cfg.stack.name.clone();
        let found = live_body(cx, &name).await?;
        cx.inspect_one(DASHBOARD, "cloudwatch:dashboard", &name, found, |i, b| {
            let n = b["widgets"].as_array().map(|w| w.len()).unwrap_or(0);
            i.status(Some(&name), "exists", true)
                .detail("widgets", n.to_string())
                .detail("url", dashboard_url(&cx.aws.region, &name))
        })
    }
}
