//! The resource tiers and the step graph they form.
//!
//! Each module owns one AWS area and exposes its steps; [`steps`] assembles
//! the graph `up`, `down`, `plan`, `status` and the benchmark all read.
//! Shared helpers here encode the conventions every tier follows: the
//! `moodlectl:stack` / `moodlectl:resource` / `Name` tags that make adoption
//! possible, not-found-on-delete as success, and retrying deletes that AWS
//! refuses while dependents are still being released.

pub mod audit;
pub mod cache;
pub mod compute;
pub mod database;
pub mod edge;
pub mod loadbalancer;
pub mod network;
pub mod secrets;
pub mod storage;

use crate::aws::{wait_for, Poll};
use crate::engine::{Outcome, Step, StepCx};
use crate::error::{aws_err, sdk_not_found, StepError};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub const TAG_STACK: &str = "moodlectl:stack";
pub const TAG_RESOURCE: &str = "moodlectl:resource";

/// Every step of the stack, in an order that starts slow work first.
pub fn steps() -> Vec<Arc<dyn Step>> {
    let mut v: Vec<Arc<dyn Step>> = Vec::new();
    // Slowest chains first: the engine starts ready steps in this order.
    v.extend(database::steps());
    v.extend(compute::steps());
    v.extend(cache::steps());
    v.extend(loadbalancer::steps());
    v.extend(edge::steps());
    v.extend(network::steps());
    v.extend(storage::steps());
    v.extend(audit::steps());
    v
}

/// EC2 tags for a resource: stack, logical key and Name.
pub fn ec2_tags(cx: &StepCx, key: &str, name: &str) -> Vec<aws_sdk_ec2::types::Tag> {
    use aws_sdk_ec2::types::Tag;
    vec![
        Tag::builder()
            .key(TAG_STACK)
            .value(&cx.cfg.stack.name)
            .build(),
        Tag::builder().key(TAG_RESOURCE).value(key).build(),
        Tag::builder().key("Name").value(name).build(),
    ]
}

pub fn ec2_tag_spec(
    cx: &StepCx,
    rtype: aws_sdk_ec2::types::ResourceType,
    key: &str,
    name: &str,
) -> aws_sdk_ec2::types::TagSpecification {
    aws_sdk_ec2::types::TagSpecification::builder()
        .resource_type(rtype)
        .set_tags(Some(ec2_tags(cx, key, name)))
        .build()
}

/// Filters that find the resource with logical `key` of this stack.
pub fn ec2_filters(cx: &StepCx, key: &str) -> Vec<aws_sdk_ec2::types::Filter> {
    use aws_sdk_ec2::types::Filter;
    vec![
        Filter::builder()
            .name(format!("tag:{TAG_STACK}"))
            .values(&cx.cfg.stack.name)
            .build(),
        Filter::builder()
            .name(format!("tag:{TAG_RESOURCE}"))
            .values(key)
            .build(),
    ]
}

/// Filter on the stack tag only (every resource of the stack of one kind).
pub fn ec2_stack_filter(cx: &StepCx) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(format!("tag:{TAG_STACK}"))
        .values(&cx.cfg.stack.name)
        .build()
}

/// Does a resource carry this stack's tags for logical `key`? Lookups check
/// this client-side too: some endpoints (moto for NAT gateways) ignore tag
/// filters, and adopting the wrong resource would be far worse than a
/// redundant comparison.
pub fn ec2_tagged(cx: &StepCx, tags: &[aws_sdk_ec2::types::Tag], key: &str) -> bool {
    ec2_tag(tags, TAG_STACK) == Some(cx.cfg.stack.name.as_str())
        && ec2_tag(tags, TAG_RESOURCE) == Some(key)
}

pub fn ec2_tag<'a>(tags: &'a [aws_sdk_ec2::types::Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

/// Map a delete call's result: success → Deleted, not-found → AlreadyAbsent.
pub fn deleted<T, E, R>(
    op: &str,
    resource: &str,
    res: Result<T, SdkError<E, R>>,
) -> Result<Outcome, StepError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match res {
        Ok(_) => Ok(Outcome::Deleted),
        Err(e) if sdk_not_found(&e) => Ok(Outcome::AlreadyAbsent),
        Err(e) => Err(aws_err(op, resource, e)),
    }
}

/// Retry a call that AWS refuses while dependent resources are still being
/// released (`DependencyViolation`, `InvalidParameterValue` "in use", …):
/// network interfaces of a deleted NAT gateway or endpoint linger for a while.
pub async fn retry_while_in_use<T, E, R, F, Fut>(
    cx: &StepCx,
    op: &str,
    resource: &str,
    mut call: F,
) -> Result<Outcome, StepError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
{
    let timeout = cx.wait_timeout.min(Duration::from_secs(20 * 60));
    wait_for(cx, &format!("{op} {resource}"), timeout, || {
        let fut = call();
        async move {
            match fut.await {
                Ok(_) => Ok(Poll::Ready(Outcome::Deleted)),
                Err(e) if sdk_not_found(&e) => Ok(Poll::Ready(Outcome::AlreadyAbsent)),
                Err(e) => {
                    let code = e.code().unwrap_or_default().to_string();
                    if code == "DependencyViolation"
                        || code == "ResourceInUse"
                        || code == "ResourceInUseException"
                        || code == "InvalidIPAddress.InUse"
                        || code == "AuthFailure"
                    {
                        Ok(Poll::Pending(format!("{code}, retrying")))
                    } else {
                        Err(aws_err(op, resource, e))
                    }
                }
            }
        }
    })
    .await
}

/// Percent-decode (IAM returns policy documents URL-encoded).
pub fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Compare two JSON policy documents semantically (whitespace, encoding).
pub fn same_policy(live: &str, desired: &serde_json::Value) -> bool {
    let live = if live.trim_start().starts_with('{') {
        live.to_string()
    } else {
        url_decode(live)
    };
    serde_json::from_str::<serde_json::Value>(&live)
        .map(|v| &v == desired)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::validate_graph;

    #[test]
    fn graph_is_valid() {
        validate_graph(&steps()).unwrap();
    }

    #[test]
    fn policy_compare_handles_url_encoding() {
        let d = serde_json::json!({"Version": "2012-10-17", "Statement": []});
        assert!(same_policy(
            "%7B%22Version%22%3A%20%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D",
            &d
        ));
        assert!(same_policy(
            r#"{ "Statement": [], "Version": "2012-10-17" }"#,
            &d
        ));
        assert!(!same_policy(
            r#"{"Version": "2008-10-17", "Statement": []}"#,
            &d
        ));
    }
}
