//! IAM roles: trust policy, inline policy, managed policies, tags.
//!
//! Shared by the flow log and the compute tier. IAM returns policy documents
//! URL-encoded: they are compared as JSON, never as text.

use crate::resources::prelude::*;

pub async fn get_role(cx: &StepCx, name: &str) -> Result<Option<aws_sdk_iam::types::Role>, StepError> {
    let r = cx.aws.iam.get_role().role_name(name).send().await.or_absent("GetRole", name)?;
    Ok(r.and_then(|o| o.role().cloned()))
}

/// Ensure role `name` with `trust` and one inline policy `policy`.
pub async fn ensure_role(
    cx: &StepCx,
    key: &str,
    name: &str,
    trust: &serde_json::Value,
    policy_name: &str,
    policy: &serde_json::Value,
) -> Result<Outcome, StepError> {
    let mut out = match get_role(cx, name).await? {
        Some(r) => {
            cx.record(key, Resource::new("iam:role", name).with("arn", r.arn()))?;
            let mut o = Outcome::Unchanged;
            if !same_policy(r.assume_role_policy_document().unwrap_or_default(), trust) {
                o = Outcome::Updated(vec![format!("{name}: trust policy")]);
                if !cx.dry_run {
                    let call = cx.aws.iam.update_assume_role_policy().role_name(name);
                    let call = call.policy_document(trust.to_string());
                    call.send().await.ctx("UpdateAssumeRolePolicy", name)?;
                }
            }
            o
        }
        None if cx.dry_run => return Ok(Outcome::Created),
        None => {
            let call = cx.aws.iam.create_role().role_name(name).assume_role_policy_document(trust.to_string());
            let call = call.description(format!("moodlectl stack {}", cx.cfg.stack.name));
            let call = call.set_tags(Some(Tags::new(cx, key).render()));
            let o = call.send().await.ctx("CreateRole", name)?;
            cx.record_new(
                key,
                Resource::new("iam:role", name).with("arn", o.role().map(|r| r.arn()).unwrap_or_default()),
            )?;
            Outcome::Created
        }
    };
    let call = cx.aws.iam.get_role_policy().role_name(name).policy_name(policy_name);
    let live = call.send().await.or_absent("GetRolePolicy", name)?;
    let same = live.map(|p| same_policy(p.policy_document(), policy)).unwrap_or(false);
    if !same {
        if out == Outcome::Unchanged {
            out = Outcome::Updated(vec![format!("{name}: inline policy {policy_name}")]);
        }
        if !cx.dry_run {
            let call = cx.aws.iam.put_role_policy().role_name(name).policy_name(policy_name);
            let call = call.policy_document(policy.to_string());
            call.send().await.ctx("PutRolePolicy", name)?;
        }
    }
    Ok(out)
}

pub async fn destroy_role(cx: &StepCx, key: &str, name: &str) -> Result<Outcome, StepError> {
    if get_role(cx, name).await?.is_none() {
        cx.forget(key)?;
        return Ok(Outcome::AlreadyAbsent);
    }
    let policies = cx.aws.iam.list_role_policies().role_name(name).send().await.ctx("ListRolePolicies", name)?;
    for p in policies.policy_names() {
        deleted("DeleteRolePolicy", name, cx.aws.iam.delete_role_policy().role_name(name).policy_name(p).send().await)?;
    }
    let attached =
        cx.aws.iam.list_attached_role_policies().role_name(name).send().await.ctx("ListAttachedRolePolicies", name)?;
    for p in attached.attached_policies() {
        if let Some(arn) = p.policy_arn() {
            deleted(
                "DetachRolePolicy",
                name,
                cx.aws.iam.detach_role_policy().role_name(name).policy_arn(arn).send().await,
            )?;
        }
    }
    let out = deleted("DeleteRole", name, cx.aws.iam.delete_role().role_name(name).send().await)?;
    cx.forget(key)?;
    Ok(out)
}

pub async fn inspect_role(cx: &StepCx, key: &str, name: &str) -> Result<Inspection, StepError> {
    Ok(match get_role(cx, name).await? {
        Some(r) => Inspection::new("iam:role", name, Some(r.arn().to_string()), "exists", true),
        None => Inspection::missing("iam:role", name, cx.state.get(key).map(|r| r.id)),
    })
}

/// An IAM role of the stack with its trust policy and one inline policy,
/// as the step that owns it.
pub struct RoleStep {
    pub key: &'static str,
    pub name: fn(&StepCx) -> String,
    /// The trust policy, given the account ID (for `aws:SourceAccount`).
    pub trust: fn(&str) -> serde_json::Value,
    pub policy_name: &'static str,
    pub policy: fn(&StepCx) -> serde_json::Value,
}

#[async_trait]
impl Step<StepCx> for RoleStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let account = crate::resources::shared::bucket::account_id(cx).await?;
        let (trust, policy) = ((self.trust)(&account), (self.policy)(cx));
        ensure_role(cx, self.key, &(self.name)(cx), &trust, self.policy_name, &policy).await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        destroy_role(cx, self.key, &(self.name)(cx)).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![inspect_role(cx, self.key, &(self.name)(cx)).await?])
    }
}

/// A trust policy letting one AWS service assume the role only on behalf of
/// this account (`aws:SourceAccount`: the confused-deputy guard AWS documents
/// for the services that pass it — ECS tasks, VPC flow logs). Not for a
/// service that does not pass it: the role could never be assumed.
pub fn trust_in_account(service: &str, account: &str) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account}}
        }]
    })
}

/// A trust policy letting one AWS service assume the role.
pub fn trust(service: &str) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]
    })
}

/// Compare two JSON policy documents semantically (whitespace, key order,
/// and the URL encoding IAM returns them in).
pub fn same_policy(live: &str, desired: &serde_json::Value) -> bool {
    let live = if live.trim_start().starts_with('{') {
        live.to_string()
    } else {
        percent_encoding::percent_decode_str(live).decode_utf8_lossy().into_owned()
    };
    serde_json::from_str::<serde_json::Value>(&live).map(|v| &v == desired).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_compare_handles_url_encoding() {
        let d = serde_json::json!({"Version": "2012-10-17", "Statement": []});
        assert!(same_policy("%7B%22Version%22%3A%20%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D", &d));
        assert!(same_policy(r#"{ "Statement": [], "Version": "2012-10-17" }"#, &d));
        assert!(!same_policy(r#"{"Version": "2008-10-17", "Statement": []}"#, &d));
    }
}
