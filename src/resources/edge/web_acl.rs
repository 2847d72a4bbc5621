//! The WAFv2 web ACL (scope CLOUDFRONT, so created through the us-east-1
//! client whatever the stack's region).
//!
//! The reference needs two CloudFormation stacks, an SSM parameter and a
//! Lambda custom resource to get the web ACL's ARN across regions; a direct
//! SDK call in us-east-1 returns it. Every update sends the lock token of the
//! read it follows. Deleted after the distribution no longer references it.
//!
//! Eventual consistency: a web ACL stays "associated" for a while after the
//! distribution let go of it (`WAFAssociatedItemException`,
//! `transient::WEB_ACL_DELETE`); every attempt reads a fresh lock token.

use super::*;
use crate::resources::prelude::*;
use aws_sdk_wafv2::types as waf;

// ---------------------------------------------------------------- WAF

pub(crate) fn visibility(metric: &str) -> waf::VisibilityConfig {
    waf::VisibilityConfig::builder()
        .sampled_requests_enabled(true)
        .cloud_watch_metrics_enabled(true)
        .metric_name(metric.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect::<String>())
        .build()
        .expect("all fields set")
}

/// The rules we want: IP reputation at priority 0, then the configured extras.
pub(crate) fn desired_rules(cx: &StepCx) -> Vec<waf::Rule> {
    let mut groups = vec![(IP_REPUTATION.to_string(), "AWS".to_string(), vec![])];
    for g in &cx.cfg.cdn.extra_managed_rule_groups {
        groups.push((g.name.clone(), g.vendor.clone(), g.count_rules.clone()));
    }
    groups
        .into_iter()
        .enumerate()
        .map(|(i, (name, vendor, count))| {
            let overrides: Vec<waf::RuleActionOverride> = count
                .iter()
                .map(|r| {
                    waf::RuleActionOverride::builder()
                        .name(r)
                        .action_to_use(waf::RuleAction::builder().count(waf::CountAction::builder().build()).build())
                        .build()
                        .expect("name and action set")
                })
                .collect();
            let stmt = waf::ManagedRuleGroupStatement::builder()
                .vendor_name(&vendor)
                .name(&name)
                .set_rule_action_overrides((!overrides.is_empty()).then_some(overrides))
                .build()
                .expect("vendor and name set");
            waf::Rule::builder()
                .name(&name)
                .priority(i as i32)
                .statement(waf::Statement::builder().managed_rule_group_statement(stmt).build())
                .override_action(waf::OverrideAction::builder().none(waf::NoneAction::builder().build()).build())
                .visibility_config(visibility(&name))
                .build()
                .expect("rule fields set")
        })
        .collect()
}

/// A comparable signature of a rule list (name, priority, group, overrides).
pub(crate) fn rules_sig(rules: &[waf::Rule]) -> Vec<String> {
    let mut v: Vec<String> = rules
        .iter()
        .map(|r| {
            let g = r.statement().and_then(|s| s.managed_rule_group_statement());
            let mut o: Vec<String> =
                g.map(|g| g.rule_action_overrides().iter().map(|o| o.name().to_string()).collect()).unwrap_or_default();
            o.sort();
            format!(
                "{}|{}|{}/{}|{}|none={}",
                r.name(),
                r.priority(),
                g.map(|g| g.vendor_name()).unwrap_or(""),
                g.map(|g| g.name()).unwrap_or(""),
                o.join(","),
                r.override_action().and_then(|a| a.none()).is_some()
            )
        })
        .collect();
    v.sort();
    v
}

/// (id, arn, lock token) of our web ACL, if it exists.
pub(crate) async fn find_acl(cx: &StepCx) -> Result<Option<(String, String, String)>, StepError> {
    let name = acl_name(cx);
    let mut marker = None;
    loop {
        let call = cx.aws.wafv2_global.list_web_acls().scope(waf::Scope::Cloudfront).set_next_marker(marker);
        let o = call.send().await.ctx("ListWebACLs", &name)?;
        if let Some(a) = o.web_acls().iter().find(|a| a.name() == Some(name.as_str())) {
            return Ok(Some((
                a.id().unwrap_or_default().to_string(),
                a.arn().unwrap_or_default().to_string(),
                a.lock_token().unwrap_or_default().to_string(),
            )));
        }
        match o.next_marker().filter(|m| !m.is_empty() && !o.web_acls().is_empty()) {
            Some(m) => marker = Some(m.to_string()),
            None => return Ok(None),
        }
    }
}

pub(crate) struct WebAclStep;

#[async_trait]
impl Step<StepCx> for WebAclStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = acl_name(cx);
        let want = desired_rules(cx);
        match find_acl(cx).await? {
            Some((id, arn, _)) => {
                cx.record(WEB_ACL, Resource::new("wafv2:web-acl", &arn).with("id", &id))?;
                let call = cx.aws.wafv2_global.get_web_acl().name(&name).scope(waf::Scope::Cloudfront).id(&id);
                let g = call.send().await.ctx("GetWebACL", &name)?;
                let acl = g.web_acl().ok_or_else(|| StepError::Refused(format!("GetWebACL {name} returned no ACL")))?;
                let allow = acl.default_action().and_then(|d| d.allow()).is_some();
                if rules_sig(acl.rules()) == rules_sig(&want) && allow {
                    return Ok(Outcome::Unchanged);
                }
                let changes = vec![change("rules", rules_sig(acl.rules()).len(), rules_sig(&want).len())];
                if !cx.dry_run {
                    // The lock token from the read just made: a concurrent
                    // writer makes this fail with WAFOptimisticLockException.
                    cx.aws
                        .wafv2_global
                        .update_web_acl()
                        .name(&name)
                        .scope(waf::Scope::Cloudfront)
                        .id(&id)
                        .lock_token(g.lock_token().unwrap_or_default())
                        .default_action(
                            waf::DefaultAction::builder().allow(waf::AllowAction::builder().build()).build(),
                        )
                        .set_rules(Some(want))
                        .visibility_config(visibility(&name))
                        .send()
                        .await
                        .ctx("UpdateWebACL", &name)?;
                }
                Ok(Outcome::Updated(changes))
            }
            None if cx.dry_run => Ok(Outcome::Created),
            None => {
                let tags = Tags::new(cx, WEB_ACL).render();
                let o = cx
                    .aws
                    .wafv2_global
                    .create_web_acl()
                    .name(&name)
                    .scope(waf::Scope::Cloudfront)
                    .description(format!("moodlectl {}: CloudFront", cx.cfg.stack.name))
                    .default_action(waf::DefaultAction::builder().allow(waf::AllowAction::builder().build()).build())
                    .set_rules(Some(want))
                    .visibility_config(visibility(&name))
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .ctx("CreateWebACL", &name)?;
                let s = o.summary().cloned().unwrap_or_else(|| waf::WebAclSummary::builder().build());
                cx.record_new(
                    WEB_ACL,
                    Resource::new("wafv2:web-acl", s.arn().unwrap_or_default()).with("id", s.id().unwrap_or_default()),
                )?;
                Ok(Outcome::Created)
            }
        }
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = acl_name(cx);
        let rule = &transient::WEB_ACL_DELETE;
        // WAF counts the ACL associated for minutes after its distribution
        // went; each attempt reads the ACL again, since a delete must carry
        // its current lock token.
        let out = retry::attempts(cx, "DeleteWebACL", &name, rule, || async {
            let Some((id, _, lock)) = find_acl(cx).await? else {
                return Ok(retry::Attempt::Done(Outcome::AlreadyAbsent));
            };
            let call = cx.aws.wafv2_global.delete_web_acl().name(&name).scope(waf::Scope::Cloudfront);
            rule.judge_delete("DeleteWebACL", &name, call.id(&id).lock_token(lock).send().await)
        })
        .await?;
        cx.forget(WEB_ACL)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        cx.inspect_one(WEB_ACL, "wafv2:web-acl", &acl_name(cx), find_acl(cx).await?, |i, (_, arn, _)| {
            i.status(Some(&arn), "exists (us-east-1, CLOUDFRONT)", true)
        })
    }
}
