//! The trail's CloudWatch Logs copy and the account's security events on it:
//! the log group CloudTrail delivers to, the role it writes as, and one
//! metric filter per event class of CIS AWS Foundations' monitoring section
//! (root use, console sign-in without MFA or failing, denied API calls, IAM
//! policy, CloudTrail, Config, KMS key, bucket policy, security group,
//! network ACL, gateway, route table, VPC and Organizations changes). The
//! alarms on their metrics are `observe`'s, beside the others (`[alarms]
//! security`).
//!
//! Why a Moodle stack watches the account: the trail is the stack's own and
//! covers every region, and the day someone opens the database's security
//! group, stops the trail or signs in as root, the people who run the site
//! are the ones to hear of it. The S3 copy in the audit bucket stays the
//! record (`logs.audit_retention_days`); this copy feeds the alarms and
//! Logs Insights searches (`logs.audit_cloudwatch_retention_days`, a year
//! by default: the same events the bucket keeps, no new personal data).
//!
//! AWS rules encoded here:
//! - CloudTrail takes the group as its ARN with the log-stream wildcard
//!   (`…:log-group:<name>:*`) and a role it can assume; a role IAM does not
//!   show it yet is refused with "Access denied" — waited out by the trail
//!   step (`propagation::TRAIL_DESTINATIONS`), which runs after this one.
//! - A multi-region trail delivers every region's events to this one group,
//!   in streams `<account>_CloudTrail_<region>`: the role may create and
//!   write those streams of this group only.
//! - The role trusts `cloudtrail.amazonaws.com` without an
//!   `aws:SourceAccount`/`aws:SourceArn` condition: CloudTrail's guide says
//!   confused-deputy keys are not supported for this role ("Role policy
//!   document for CloudTrail to use CloudWatch Logs"), so a condition would
//!   leave the role unassumable and every `UpdateTrail` refused.
//! - `PutMetricFilter` creates or replaces a filter by name; a pattern is at
//!   most 1024 characters. Filters go with their log group.

use super::*;
use crate::resources::prelude::*;
use crate::resources::shared::{iam, log_group};
use aws_sdk_cloudwatchlogs::types::{MetricFilter, MetricTransformation};

pub fn trail_log_group_name(cx: &StepCx) -> String {
    format!("/moodlectl/{}/cloudtrail", cx.cfg.stack.name)
}

/// The group as CloudTrail takes it: an ARN with the log-stream wildcard.
pub(crate) fn trail_log_group_arn(cx: &StepCx, account: &str) -> String {
    format!("arn:aws:logs:{}:{account}:log-group:{}:*", cx.aws.region, trail_log_group_name(cx))
}

pub(crate) const TRAIL_LOGS: log_group::LogGroupStep = log_group::LogGroupStep {
    key: TRAIL_LOG_GROUP,
    name: trail_log_group_name,
    retention_days: |cx| cx.cfg.logs.audit_cloudwatch_retention_days,
    global: false,
};

fn trail_logs_permissions(cx: &StepCx) -> serde_json::Value {
    let streams =
        format!("arn:aws:logs:{}:*:log-group:{}:log-stream:*_CloudTrail_*", cx.aws.region, trail_log_group_name(cx));
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "TrailToCloudWatchLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": streams
        }]
    })
}

pub(crate) const TRAIL_LOGS_ROLE_DEF: iam::RoleStep = iam::RoleStep {
    key: TRAIL_LOGS_ROLE,
    name: trail_logs_role_name,
    trust: |_| iam::trust("cloudtrail.amazonaws.com"),
    policy_name: "cloudtrail-to-cloudwatch-logs",
    policy: trail_logs_permissions,
};

/// Whether the trail delivers to CloudWatch Logs: only the security alarms read it.
pub fn security_events_on(cx: &StepCx) -> bool {
    cx.cfg.alarms.enabled && cx.cfg.alarms.security
}

/// One watched class of account events: a metric filter and its alarm.
#[derive(Debug, Clone)]
pub struct SecurityEvent {
    /// The filter's, the metric's and the alarm's name part.
    pub suffix: &'static str,
    pub description: &'static str,
    pub pattern: String,
}

/// The metrics' namespace; the metric names carry the stack's name.
pub const SECURITY_NAMESPACE: &str = "Moodlectl/Security";

/// What each matching event adds to its metric.
const METRIC_VALUE: &str = "1";

impl SecurityEvent {
    /// What must match for the live filter to need no update.
    fn sig(&self, cx: &StepCx) -> String {
        filter_sig(&self.pattern, SECURITY_NAMESPACE, &self.metric_name(cx), METRIC_VALUE)
    }
    pub fn filter_name(&self, cx: &StepCx) -> String {
        format!("{}{}", filter_prefix(cx), self.suffix)
    }
    pub fn metric_name(&self, cx: &StepCx) -> String {
        cx.cfg.name(self.suffix)
    }
}

fn filter_prefix(cx: &StepCx) -> String {
    cx.cfg.name("security-")
}

/// `{ ($.eventSource = "s") && (($.eventName = "A") || …) && (extra) }`,
/// values quoted (CloudWatch Logs' JSON filter syntax).
fn pattern(source: Option<&str>, names: &[&str], extra: &[&str]) -> String {
    let mut parts = vec![];
    if let Some(s) = source {
        parts.push(format!("($.eventSource = \"{s}\")"));
    }
    if !names.is_empty() {
        let any: Vec<String> = names.iter().map(|n| format!("($.eventName = \"{n}\")")).collect();
        parts.push(if names.len() == 1 { any[0].clone() } else { format!("({})", any.join(" || ")) });
    }
    parts.extend(extra.iter().map(|e| format!("({e})")));
    format!("{{ {} }}", parts.join(" && "))
}

/// The fifteen event classes, in CIS AWS Foundations' order (section
/// "Monitoring"), with CIS's own event lists.
pub fn security_events() -> Vec<SecurityEvent> {
    let ev = |suffix, description, pattern| SecurityEvent { suffix, description, pattern };
    vec![
        ev(
            "unauthorized-api-calls",
            "API calls refused as unauthorized (AccessDenied, UnauthorizedOperation)",
            "{ (($.errorCode = \"*UnauthorizedOperation\") || ($.errorCode = \"AccessDenied*\")) && \
             ($.sourceIPAddress != \"delivery.logs.amazonaws.com\") && ($.eventName != \"HeadBucket\") }"
                .into(),
        ),
        ev(
            "console-sign-in-without-mfa",
            "console sign-in of an IAM user without MFA",
            pattern(
                None,
                &["ConsoleLogin"],
                &[
                    "$.additionalEventData.MFAUsed != \"Yes\"",
                    "$.userIdentity.type = \"IAMUser\"",
                    "$.responseElements.ConsoleLogin = \"Success\"",
                ],
            ),
        ),
        ev(
            "root-usage",
            "the account's root user was used",
            "{ $.userIdentity.type = \"Root\" && $.userIdentity.invokedBy NOT EXISTS && \
             $.eventType != \"AwsServiceEvent\" }"
                .into(),
        ),
        ev(
            "iam-policy-changes",
            "an IAM policy was changed",
            pattern(
                None,
                &[
                    "DeleteGroupPolicy",
                    "DeleteRolePolicy",
                    "DeleteUserPolicy",
                    "PutGroupPolicy",
                    "PutRolePolicy",
                    "PutUserPolicy",
                    "CreatePolicy",
                    "DeletePolicy",
                    "CreatePolicyVersion",
                    "DeletePolicyVersion",
                    "AttachRolePolicy",
                    "DetachRolePolicy",
                    "AttachUserPolicy",
                    "DetachUserPolicy",
                    "AttachGroupPolicy",
                    "DetachGroupPolicy",
                ],
                &[],
            ),
        ),
        ev(
            "cloudtrail-changes",
            "a CloudTrail trail was changed, stopped or deleted",
            pattern(None, &["CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging"], &[]),
        ),
        ev(
            "console-sign-in-failures",
            "console sign-in failed",
            pattern(None, &["ConsoleLogin"], &["$.errorMessage = \"Failed authentication\""]),
        ),
        ev(
            "kms-key-disabled-or-deleted",
            "a KMS key was disabled or scheduled for deletion",
            pattern(Some("kms.amazonaws.com"), &["DisableKey", "ScheduleKeyDeletion"], &[]),
        ),
        ev(
            "s3-bucket-policy-changes",
            "an S3 bucket's policy, ACL, CORS, lifecycle or replication was changed",
            pattern(
                Some("s3.amazonaws.com"),
                &[
                    "PutBucketAcl",
                    "PutBucketPolicy",
                    "PutBucketCors",
                    "PutBucketLifecycle",
                    "PutBucketReplication",
                    "DeleteBucketPolicy",
                    "DeleteBucketCors",
                    "DeleteBucketLifecycle",
                    "DeleteBucketReplication",
                ],
                &[],
            ),
        ),
        ev(
            "config-changes",
            "AWS Config's recorder or delivery channel was changed",
            pattern(
                Some("config.amazonaws.com"),
                &[
                    "StopConfigurationRecorder",
                    "DeleteDeliveryChannel",
                    "PutDeliveryChannel",
                    "PutConfigurationRecorder",
                ],
                &[],
            ),
        ),
        ev(
            "security-group-changes",
            "a security group was changed",
            pattern(
                None,
                &[
                    "AuthorizeSecurityGroupIngress",
                    "AuthorizeSecurityGroupEgress",
                    "RevokeSecurityGroupIngress",
                    "RevokeSecurityGroupEgress",
                    "CreateSecurityGroup",
                    "DeleteSecurityGroup",
                ],
                &[],
            ),
        ),
        ev(
            "network-acl-changes",
            "a network ACL was changed",
            pattern(
                None,
                &[
                    "CreateNetworkAcl",
                    "CreateNetworkAclEntry",
                    "DeleteNetworkAcl",
                    "DeleteNetworkAclEntry",
                    "ReplaceNetworkAclEntry",
                    "ReplaceNetworkAclAssociation",
                ],
                &[],
            ),
        ),
        ev(
            "network-gateway-changes",
            "an internet or customer gateway was changed",
            pattern(
                None,
                &[
                    "CreateCustomerGateway",
                    "DeleteCustomerGateway",
                    "AttachInternetGateway",
                    "CreateInternetGateway",
                    "DeleteInternetGateway",
                    "DetachInternetGateway",
                ],
                &[],
            ),
        ),
        ev(
            "route-table-changes",
            "a route table was changed",
            pattern(
                Some("ec2.amazonaws.com"),
                &[
                    "CreateRoute",
                    "CreateRouteTable",
                    "ReplaceRoute",
                    "ReplaceRouteTableAssociation",
                    "DeleteRouteTable",
                    "DeleteRoute",
                    "DisassociateRouteTable",
                ],
                &[],
            ),
        ),
        ev(
            "vpc-changes",
            "a VPC or its peering was changed",
            pattern(
                None,
                &[
                    "CreateVpc",
                    "DeleteVpc",
                    "ModifyVpcAttribute",
                    "AcceptVpcPeeringConnection",
                    "CreateVpcPeeringConnection",
                    "DeleteVpcPeeringConnection",
                    "RejectVpcPeeringConnection",
                    "AttachClassicLinkVpc",
                    "DetachClassicLinkVpc",
                    "DisableVpcClassicLink",
                    "EnableVpcClassicLink",
                ],
                &[],
            ),
        ),
        ev(
            "organizations-changes",
            "AWS Organizations was changed",
            pattern(
                Some("organizations.amazonaws.com"),
                &[
                    "AcceptHandshake",
                    "AttachPolicy",
                    "CancelHandshake",
                    "CreateAccount",
                    "CreateOrganization",
                    "CreateOrganizationalUnit",
                    "CreatePolicy",
                    "DeclineHandshake",
                    "DeleteOrganization",
                    "DeleteOrganizationalUnit",
                    "DeletePolicy",
                    "EnableAllFeatures",
                    "EnablePolicyType",
                    "InviteAccountToOrganization",
                    "LeaveOrganization",
                    "DetachPolicy",
                    "DisablePolicyType",
                    "MoveAccount",
                    "RemoveAccountFromOrganization",
                    "UpdateOrganizationalUnit",
                    "UpdatePolicy",
                ],
                &[],
            ),
        ),
    ]
}

/// The filters the config asks for (none with the security alarms off).
fn wanted(cx: &StepCx) -> Vec<SecurityEvent> {
    if security_events_on(cx) {
        security_events()
    } else {
        vec![]
    }
}

fn filter_sig(pattern: &str, namespace: &str, metric: &str, value: &str) -> String {
    format!("{pattern}|{namespace}|{metric}|{value}")
}

fn live_filter_sig(f: &MetricFilter) -> String {
    let t = f.metric_transformations().first();
    filter_sig(
        f.filter_pattern().unwrap_or_default(),
        t.map(|t| t.metric_namespace()).unwrap_or_default(),
        t.map(|t| t.metric_name()).unwrap_or_default(),
        t.map(|t| t.metric_value()).unwrap_or_default(),
    )
}

async fn live_filters(cx: &StepCx) -> Result<Option<Vec<MetricFilter>>, StepError> {
    let group = trail_log_group_name(cx);
    if log_group::find(&cx.aws.logs, &group).await?.is_none() {
        return Ok(None);
    }
    let call = cx.aws.logs.describe_metric_filters().log_group_name(&group).filter_name_prefix(filter_prefix(cx));
    let pages =
        call.into_paginator().send().collect::<Result<Vec<_>, _>>().await.ctx("DescribeMetricFilters", &group)?;
    Ok(Some(pages.iter().flat_map(|p| p.metric_filters().iter().cloned()).collect()))
}

pub(crate) struct SecurityFiltersStep;

#[async_trait]
impl Step<StepCx> for SecurityFiltersStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let group = trail_log_group_name(cx);
        let want = wanted(cx);
        let Some(live) = live_filters(cx).await? else {
            if want.is_empty() {
                return Ok(Outcome::Unchanged);
            }
            // The group's step runs first: its absence is a plan's, or an
            // error to say, never filters silently left out.
            if cx.dry_run {
                return Ok(Outcome::Created);
            }
            return Err(StepError::MissingDependency {
                step: ids::AUDIT_TRAIL_LOG_GROUP,
                what: format!("the log group {group}"),
            });
        };
        let mut changes = vec![];
        for e in &want {
            let name = e.filter_name(cx);
            match live.iter().find(|f| f.filter_name() == Some(name.as_str())) {
                Some(f) if live_filter_sig(f) == e.sig(cx) => continue,
                Some(_) => changes.push(format!("{name}: update")),
                None => changes.push(format!("{name}: create")),
            }
            if !cx.dry_run {
                let t = MetricTransformation::builder()
                    .metric_namespace(SECURITY_NAMESPACE)
                    .metric_name(e.metric_name(cx))
                    .metric_value(METRIC_VALUE)
                    .build()
                    .expect("namespace, name and value are set");
                let call = cx.aws.logs.put_metric_filter().log_group_name(&group).filter_name(&name);
                call.filter_pattern(&e.pattern).metric_transformations(t).send().await.ctx("PutMetricFilter", &name)?;
            }
        }
        for f in &live {
            let name = f.filter_name().unwrap_or_default();
            if want.iter().any(|e| e.filter_name(cx) == name) {
                continue;
            }
            changes.push(format!("{name}: delete"));
            if !cx.dry_run {
                let call = cx.aws.logs.delete_metric_filter().log_group_name(&group).filter_name(name);
                deleted("DeleteMetricFilter", name, call.send().await)?;
            }
        }
        if want.is_empty() {
            cx.forget(SECURITY_FILTERS)?;
        } else {
            let res = Resource::new("logs:metric-filters", filter_prefix(cx)).with("count", want.len().to_string());
            cx.record(SECURITY_FILTERS, res)?;
        }
        Ok(if live.is_empty() && !want.is_empty() { Outcome::Created } else { Outcome::of_changes(changes) })
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        // The filters go with their log group (deleted next); nothing to
        // call here but the record to drop.
        let had = cx.state.id(SECURITY_FILTERS).is_some();
        cx.forget(SECURITY_FILTERS)?;
        Ok(if had { Outcome::Deleted } else { Outcome::AlreadyAbsent })
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let live = live_filters(cx).await?.unwrap_or_default();
        Ok(wanted(cx)
            .iter()
            .map(|e| {
                let name = e.filter_name(cx);
                match live.iter().find(|f| f.filter_name() == Some(name.as_str())) {
                    None => Inspection::missing("logs:metric-filter", &name, cx.state.id(SECURITY_FILTERS)),
                    Some(f) => {
                        let mut i = Inspection::new("logs:metric-filter", &name, Some(name.clone()), "exists", true)
                            .detail("metric", format!("{SECURITY_NAMESPACE}/{}", e.metric_name(cx)));
                        if live_filter_sig(f) != e.sig(cx) {
                            i.drift = Some("pattern or metric differs from moodlectl's".into());
                        }
                        i
                    }
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_fits_cloudwatch_logs_and_names_its_events_exactly() {
        let events = security_events();
        assert_eq!(events.len(), 15);
        for e in &events {
            // PutMetricFilter: filterPattern is at most 1024 characters.
            assert!(e.pattern.len() <= 1024, "{}: {} characters", e.suffix, e.pattern.len());
            assert!(e.pattern.starts_with("{ ") && e.pattern.ends_with(" }"), "{}", e.pattern);
            assert_eq!(e.pattern.matches('(').count(), e.pattern.matches(')').count(), "{}", e.pattern);
            assert_eq!(e.pattern.matches('"').count() % 2, 0, "{}", e.pattern);
        }
        let vpc = events.iter().find(|e| e.suffix == "route-table-changes").unwrap();
        assert_eq!(
            vpc.pattern,
            "{ ($.eventSource = \"ec2.amazonaws.com\") && (($.eventName = \"CreateRoute\") || \
             ($.eventName = \"CreateRouteTable\") || ($.eventName = \"ReplaceRoute\") || \
             ($.eventName = \"ReplaceRouteTableAssociation\") || ($.eventName = \"DeleteRouteTable\") || \
             ($.eventName = \"DeleteRoute\") || ($.eventName = \"DisassociateRouteTable\")) }"
        );
        let mfa = events.iter().find(|e| e.suffix == "console-sign-in-without-mfa").unwrap();
        assert_eq!(
            mfa.pattern,
            "{ ($.eventName = \"ConsoleLogin\") && ($.additionalEventData.MFAUsed != \"Yes\") && \
             ($.userIdentity.type = \"IAMUser\") && ($.responseElements.ConsoleLogin = \"Success\") }"
        );
        let mut suffixes: Vec<&str> = events.iter().map(|e| e.suffix).collect();
        suffixes.sort();
        suffixes.dedup();
        assert_eq!(suffixes.len(), 15, "suffixes are unique");
    }
}
