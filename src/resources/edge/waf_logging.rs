//! The web ACL's request logs: a CloudWatch Logs group in us-east-1 and the
//! WAF logging configuration that writes to it.
//!
//! AWS rules encoded here:
//! - A CLOUDFRONT-scope web ACL lives in us-east-1 and logs to a destination
//!   there; a CloudWatch Logs destination's name must start with
//!   `aws-waf-logs-` (WAFInvalidParameterException otherwise).
//! - WAF adds the log group's resource policy for `delivery.logs.amazonaws.com`
//!   itself when the caller may `logs:PutResourcePolicy`.
//! - The `cookie` and `authorization` headers are redacted: Moodle's session
//!   cookie in a log would let whoever reads it take over the session.

use super::*;
use crate::resources::prelude::*;
use crate::resources::shared::log_group::LogGroupStep;
use aws_sdk_wafv2::types::{FieldToMatch, LoggingConfiguration, SingleHeader};

/// `aws-waf-logs-<stack>` (the prefix is AWS's rule, not ours).
pub fn waf_log_group_name(cx: &StepCx) -> String {
    format!("aws-waf-logs-{}", cx.cfg.stack.name)
}

pub(crate) const WAF_LOGS: LogGroupStep = LogGroupStep {
    key: WAF_LOG_GROUP,
    name: waf_log_group_name,
    retention_days: |cx| cx.cfg.logs.waf_retention_days,
    global: true,
};

const REDACTED: &[&str] = &["cookie", "authorization"];

fn redacted() -> Vec<FieldToMatch> {
    let header = |h: &str| SingleHeader::builder().name(h).build().expect("name");
    REDACTED.iter().map(|h| FieldToMatch::builder().single_header(header(h)).build()).collect()
}

fn redacted_names(c: &LoggingConfiguration) -> Vec<String> {
    let names = c.redacted_fields().iter().filter_map(|f| f.single_header()).map(|h| h.name().to_lowercase());
    let mut v: Vec<String> = names.collect();
    v.sort();
    v
}

async fn find_logging(cx: &StepCx, acl: &str) -> Result<Option<LoggingConfiguration>, StepError> {
    let o = cx.aws.wafv2_global.get_logging_configuration().resource_arn(acl).send().await;
    Ok(o.or_absent("GetLoggingConfiguration", acl)?.and_then(|o| o.logging_configuration().cloned()))
}

async fn destination(cx: &StepCx) -> Result<String, StepError> {
    let account = crate::resources::audit::account_id(cx).await?;
    Ok(format!("arn:aws:logs:us-east-1:{account}:log-group:{}", waf_log_group_name(cx)))
}

pub(crate) struct WafLoggingStep;

#[async_trait]
impl Step<StepCx> for WafLoggingStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some(acl) = cx.dependency(WEB_ACL, ids::EDGE_WAF)? else { return Ok(Outcome::Created) };
        let dest = destination(cx).await?;
        let live = find_logging(cx, &acl).await?;
        let mut want_redacted: Vec<String> = REDACTED.iter().map(|s| s.to_string()).collect();
        want_redacted.sort();
        let out = match &live {
            Some(c) if c.log_destination_configs() == [dest.clone()] && redacted_names(c) == want_redacted => {
                return Ok(Outcome::Unchanged)
            }
            Some(c) => Outcome::Updated(vec![change(
                "logging",
                format!("{} (redacted: {})", c.log_destination_configs().join(","), redacted_names(c).join(",")),
                format!("{dest} (redacted: {})", want_redacted.join(",")),
            )]),
            None => Outcome::Created,
        };
        if !cx.dry_run {
            let c = LoggingConfiguration::builder().resource_arn(&acl).log_destination_configs(&dest);
            let c = c.set_redacted_fields(Some(redacted())).build().expect("arn and destination");
            let call = cx.aws.wafv2_global.put_logging_configuration().logging_configuration(c);
            call.send().await.ctx("PutLoggingConfiguration", &acl)?;
        }
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some(acl) = cx.state.id(WEB_ACL) else { return Ok(Outcome::AlreadyAbsent) };
        let r = cx.aws.wafv2_global.delete_logging_configuration().resource_arn(&acl).send().await;
        deleted("DeleteLoggingConfiguration", &acl, r)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let Some(acl) = cx.state.id(WEB_ACL) else { return Ok(vec![]) };
        let dest = destination(cx).await?;
        let live = find_logging(cx, &acl).await?;
        let name = format!("{} logging", acl_name(cx));
        Ok(vec![match live {
            Some(c) => {
                let to = c.log_destination_configs().join(",");
                let shown = to.rsplit(":log-group:").next().unwrap_or_default();
                let mut i = Inspection::new("wafv2:logging", &name, Some(acl.clone()), format!("to {shown}"), true);
                if to != dest {
                    i.drift = Some(format!("logs to {to} (want {dest})"));
                }
                i
            }
            None => Inspection::missing("wafv2:logging", &name, Some(acl)),
        }])
    }
}
