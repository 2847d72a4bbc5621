//! VPC endpoints: the S3 gateway endpoint on the private route tables, and
//! interface endpoints (ECR API and Docker, Secrets Manager, CloudWatch Logs)
//! with their security group, so tasks pull images and read secrets without
//! crossing the NAT gateways.
//!
//! Interface endpoints need the VPC's DNS attributes for private DNS; their
//! network interfaces linger after deletion, which the subnet and
//! security-group deletes wait out. Only those in
//! `network.interface_endpoints` are kept: one taken off the list is deleted
//! by `up` (its traffic then goes through the NAT gateways), and `down`
//! deletes every one the stack has, listed or not.
//!
//! Every endpoint's policy admits only principals of this account
//! (`aws:PrincipalAccount`), instead of AWS's default that allows any: all
//! traffic through them is the stack's own roles (the task execution role
//! pulling images from ECR and their layers from S3, reading the secrets,
//! writing logs), so a credential of another account cannot use the VPC's
//! path to AWS, e.g. to copy data out to its own bucket.

use super::*;
use crate::resources::prelude::*;
use aws_sdk_ec2::types::{ResourceType, VpcEndpointType};
use futures::future::try_join_all;
use std::collections::BTreeMap;

// ---------------------------------------------------------------- Security group for endpoints

pub(crate) fn endpoint_ingress(cx: &StepCx) -> Vec<Ingress> {
    vec![Ingress {
        port: 443,
        source: IngressSource::Cidr(cx.cfg.network.vpc_cidr.clone()),
        description: "HTTPS from the VPC to interface endpoints".into(),
    }]
}

/// Interface endpoints admit HTTPS from the VPC.
pub(crate) const ENDPOINT_SG: SecurityGroupStep = SecurityGroupStep {
    key: SG_ENDPOINTS,
    suffix: "endpoints-sg",
    description: "moodlectl: VPC interface endpoints",
    rules: Rules::Own(|cx| Box::pin(async move { Ok(endpoint_ingress(cx)) })),
};

// ---------------------------------------------------------------- VPC endpoints

/// The policy of every endpoint (see the module header).
pub(crate) async fn endpoint_policy(cx: &StepCx) -> Result<serde_json::Value, StepError> {
    let account = crate::resources::shared::bucket::account_id(cx).await?;
    Ok(serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "OnlyThisAccount",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalAccount": account}}
        }]
    }))
}

/// Put `policy` on endpoint `id` unless it has it; the change, if any.
async fn ensure_endpoint_policy(
    cx: &StepCx,
    key: &str,
    e: &VpcEndpoint,
    policy: &serde_json::Value,
) -> Result<Option<String>, StepError> {
    let live = e.policy_document().unwrap_or_default();
    if iam::same_policy(live, policy) {
        return Ok(None);
    }
    let id = e.vpc_endpoint_id().unwrap_or_default();
    if !cx.dry_run {
        let call = cx.aws.ec2.modify_vpc_endpoint().vpc_endpoint_id(id).policy_document(policy.to_string());
        retry::fresh(cx, "ModifyVpcEndpoint", id, || call.clone().send()).await?;
    }
    Ok(Some(format!("{key}.policy: only this account's principals")))
}

/// The states of VPC endpoints `ids`, in one call (`None`: one is unknown).
pub(crate) async fn endpoint_states(
    cx: &StepCx,
    ids: Vec<String>,
) -> Result<Option<BTreeMap<String, String>>, StepError> {
    let call = cx.aws.ec2.describe_vpc_endpoints().set_vpc_endpoint_ids(Some(ids.clone()));
    let r = call.send().await.or_absent("DescribeVpcEndpoints", &ids.join(","))?;
    Ok(r.map(|o| {
        o.vpc_endpoints()
            .iter()
            .filter_map(|e| Some((e.vpc_endpoint_id()?.to_string(), e.state()?.as_str().to_ascii_lowercase())))
            .collect()
    }))
}

/// Wait until VPC endpoints `ids` are gone: subnets can only be deleted once
/// the endpoints' network interfaces are released.
pub(crate) async fn wait_endpoints_deleted(
    cx: &StepCx,
    deleted: Vec<(Option<String>, Outcome)>,
) -> Result<Outcome, StepError> {
    gone_all(cx, "endpoint deletion", deleted, &["deleted"], |ids| endpoint_states(cx, ids)).await
}

/// Delete the endpoint `key` (without waiting); its ID if there is one to wait for.
pub(crate) async fn delete_endpoint(cx: &StepCx, key: &str) -> Result<(Option<String>, Outcome), StepError> {
    Ok(match ec2::find::<VpcEndpoint>(cx, key, Some(VPC)).await? {
        Some(e) => {
            let id = e.vpc_endpoint_id().unwrap_or_default().to_string();
            let r = cx.aws.ec2.delete_vpc_endpoints().vpc_endpoint_ids(&id).send().await;
            let out = deleted("DeleteVpcEndpoints", &id, r)?;
            (Some(id), out)
        }
        None => (cx.state.id(key), Outcome::AlreadyAbsent),
    })
}

pub(crate) async fn destroy_endpoint(cx: &StepCx, key: &str) -> Result<Outcome, StepError> {
    let out = wait_endpoints_deleted(cx, vec![delete_endpoint(cx, key).await?]).await?;
    cx.forget(key)?;
    Ok(out)
}

pub(crate) fn inspect_endpoint(cx: &StepCx, key: &str, e: Option<VpcEndpoint>) -> Inspection {
    let name = cx.cfg.name(&key.replace("vpce/", "vpce-"));
    match e {
        Some(e) => {
            let st = e.state().map(|s| s.as_str().to_ascii_lowercase()).unwrap_or_default();
            Inspection::new(
                "ec2:vpc-endpoint",
                name,
                e.vpc_endpoint_id().map(str::to_string),
                st.clone(),
                st == "available",
            )
            .detail("service", e.service_name().unwrap_or_default())
        }
        None => Inspection::missing("ec2:vpc-endpoint", name, cx.state.id(key)),
    }
}

pub(crate) struct InterfaceEndpointsStep;

/// The interface endpoints the configuration lists, and the others.
type Endpoints = Vec<(&'static str, &'static str)>;
fn interface_endpoints(cx: &StepCx) -> (Endpoints, Endpoints) {
    INTERFACE_ENDPOINTS.iter().partition(|(_, svc)| cx.cfg.network.interface_endpoints.iter().any(|e| e == svc))
}

#[async_trait]
impl Step<StepCx> for InterfaceEndpointsStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let (wanted, unwanted) = interface_endpoints(cx);
        let policy = &endpoint_policy(cx).await?;
        let futs = wanted.into_iter().map(|(suffix, svc)| async move {
            let key = format!("vpce/{suffix}");
            let name = cx.cfg.name(&format!("vpce-{suffix}"));
            let (id, out) = match ec2::find::<VpcEndpoint>(cx, &key, Some(VPC)).await? {
                Some(e) => {
                    let id = e.vpc_endpoint_id().unwrap_or_default().to_string();
                    cx.record(&key, Resource::new("ec2:vpc-endpoint", &id))?;
                    let mut changes = vec![];
                    if e.private_dns_enabled() != Some(true) {
                        changes.push(change(&format!("{key}.private_dns"), false, true));
                        if !cx.dry_run {
                            let call = cx.aws.ec2.modify_vpc_endpoint().vpc_endpoint_id(&id).private_dns_enabled(true);
                            retry::fresh(cx, "ModifyVpcEndpoint", &id, || call.clone().send()).await?;
                        }
                    }
                    changes.extend(ensure_endpoint_policy(cx, &key, &e, policy).await?);
                    (id, Outcome::of_changes(changes))
                }
                None if cx.dry_run => (String::new(), Outcome::Created),
                None => {
                    let vpc = cx.require(VPC, ids::NETWORK_VPC)?;
                    let sg = cx.require(SG_ENDPOINTS, ids::NETWORK_ENDPOINT_SG)?;
                    let call = cx.aws.ec2.create_vpc_endpoint().vpc_id(&vpc);
                    let call = call.vpc_endpoint_type(VpcEndpointType::Interface);
                    let call = call.service_name(format!("com.amazonaws.{}.{svc}", cx.aws.region));
                    let call = call.set_subnet_ids(Some(private_subnet_ids(cx)?)).security_group_ids(sg);
                    let call = call.private_dns_enabled(true).client_token(cx.token(&key)?);
                    let call = call.policy_document(policy.to_string());
                    let call = call.tag_specifications(ec2_tag_spec(cx, ResourceType::VpcEndpoint, &key, &name));
                    let o = retry::fresh(cx, "CreateVpcEndpoint", &name, || call.clone().send()).await?;
                    let id = o.vpc_endpoint().and_then(|e| e.vpc_endpoint_id()).unwrap_or_default().to_string();
                    cx.record_new(&key, Resource::new("ec2:vpc-endpoint", &id))?;
                    (id, Outcome::Created)
                }
            };
            Ok::<_, StepError>((id, out))
        });
        let found = try_join_all(futs).await?;
        let failed = ["failed", "rejected", "deleting", "deleted"];
        let out = ready_all(cx, "endpoint", found, "available", &failed, |ids| endpoint_states(cx, ids)).await?;
        let mut dropped = vec![];
        for (suffix, _) in unwanted {
            let key = format!("vpce/{suffix}");
            if cx.state.id(&key).is_none() && ec2::find::<VpcEndpoint>(cx, &key, Some(VPC)).await?.is_none() {
                continue;
            }
            dropped.push(format!("{key}: delete (not in network.interface_endpoints)"));
            if !cx.dry_run {
                destroy_endpoint(cx, &key).await?;
            }
        }
        Ok(if dropped.is_empty() { out } else { out.merge(Outcome::Updated(dropped)) })
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let keys: Vec<String> = INTERFACE_ENDPOINTS.iter().map(|(suffix, _)| format!("vpce/{suffix}")).collect();
        let deleted = try_join_all(keys.iter().map(|k| delete_endpoint(cx, k))).await?;
        let out = wait_endpoints_deleted(cx, deleted).await?;
        for k in &keys {
            cx.forget(k)?;
        }
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let mut rows = vec![];
        for (suffix, _) in interface_endpoints(cx).0 {
            let key = format!("vpce/{suffix}");
            rows.push(inspect_endpoint(cx, &key, ec2::find::<VpcEndpoint>(cx, &key, Some(VPC)).await?));
        }
        Ok(rows)
    }
}

pub(crate) struct S3EndpointStep;

#[async_trait]
impl Step<StepCx> for S3EndpointStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = cx.cfg.name("vpce-s3");
        let tables: Vec<String> = AZS.iter().filter_map(|az| cx.state.id(&private_rtb_key(az))).collect();
        let policy = endpoint_policy(cx).await?;
        match ec2::find::<VpcEndpoint>(cx, VPCE_S3, Some(VPC)).await? {
            Some(e) => {
                let id = e.vpc_endpoint_id().unwrap_or_default().to_string();
                cx.record(VPCE_S3, Resource::new("ec2:vpc-endpoint", &id))?;
                let mut changes: Vec<String> =
                    ensure_endpoint_policy(cx, VPCE_S3, &e, &policy).await?.into_iter().collect();
                let missing: Vec<String> =
                    tables.iter().filter(|t| !e.route_table_ids().contains(t)).cloned().collect();
                if !missing.is_empty() {
                    if !cx.dry_run {
                        let call = cx.aws.ec2.modify_vpc_endpoint().vpc_endpoint_id(&id);
                        let call = call.set_add_route_table_ids(Some(missing.clone()));
                        retry::fresh(cx, "ModifyVpcEndpoint", &id, || call.clone().send()).await?;
                    }
                    changes.push(format!("route tables: add {}", missing.join(",")));
                }
                Ok(Outcome::of_changes(changes))
            }
            None if cx.dry_run => Ok(Outcome::Created),
            None => {
                let vpc = cx.require(VPC, ids::NETWORK_VPC)?;
                if tables.len() != AZS.len() {
                    cx.require(&private_rtb_key("a"), ids::NETWORK_PRIVATE_ROUTE_TABLES)?;
                    cx.require(&private_rtb_key("b"), ids::NETWORK_PRIVATE_ROUTE_TABLES)?;
                }
                let call = cx.aws.ec2.create_vpc_endpoint().vpc_id(&vpc).vpc_endpoint_type(VpcEndpointType::Gateway);
                let call = call.service_name(format!("com.amazonaws.{}.s3", cx.aws.region));
                let call = call.set_route_table_ids(Some(tables)).client_token(cx.token(VPCE_S3)?);
                let call = call.policy_document(policy.to_string());
                let call = call.tag_specifications(ec2_tag_spec(cx, ResourceType::VpcEndpoint, VPCE_S3, &name));
                let o = retry::fresh(cx, "CreateVpcEndpoint", &name, || call.clone().send()).await?;
                let id = o.vpc_endpoint().and_then(|e| e.vpc_endpoint_id()).unwrap_or_default().to_string();
                cx.record_new(VPCE_S3, Resource::new("ec2:vpc-endpoint", &id))?;
                Ok(Outcome::Created)
            }
        }
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        destroy_endpoint(cx, VPCE_S3).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![inspect_endpoint(cx, VPCE_S3, ec2::find::<VpcEndpoint>(cx, VPCE_S3, Some(VPC)).await?)])
    }
}
