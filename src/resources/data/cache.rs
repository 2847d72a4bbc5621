//! The Redis (or Valkey) replication group for Moodle's sessions and
//! application cache, with its security group and cache subnet group.
//!
//! The subnet group needs the private subnets; the group needs the subnet
//! group and its security group. Teardown deletes the replication group and
//! waits until it is gone (its nodes hold ENIs in the subnets) before the
//! subnet group. In-transit encryption is on: the image connects with TLS.
//!
//! Nodes: a primary and `cache.num_nodes - 1` replicas. AWS refuses
//! automatic failover (and Multi-AZ, which needs it) on a group of one node,
//! so a one-node group has both off. Growing the group is in place:
//! `IncreaseReplicaCount` first, then failover and Multi-AZ on — the order
//! terraform-provider-aws uses, since the reverse is refused while the
//! replica does not exist yet. Shrinking turns failover off first when one
//! node would be left, then `DecreaseReplicaCount`.

use super::*;
use crate::config::CacheEngine;
use crate::resources::prelude::*;

pub(crate) struct ReplicationGroupStep;

pub async fn find_group(cx: &StepCx) -> Result<Option<aws_sdk_elasticache::types::ReplicationGroup>, StepError> {
    let id = group_id(cx);
    let call = cx.aws.elasticache.describe_replication_groups().replication_group_id(&id);
    let r = call.send().await.or_absent("DescribeReplicationGroups", &id)?;
    Ok(r.and_then(|o| o.replication_groups().first().cloned()))
}

pub(crate) fn primary_endpoint(g: &aws_sdk_elasticache::types::ReplicationGroup) -> Option<(String, i32)> {
    let e = g.node_groups().first()?.primary_endpoint()?;
    Some((e.address()?.to_string(), e.port().unwrap_or(PORT)))
}

pub(crate) fn record_group(
    cx: &StepCx,
    g: &aws_sdk_elasticache::types::ReplicationGroup,
    new: bool,
) -> Result<(), StepError> {
    let mut r = Resource::new("elasticache:replication-group", g.replication_group_id().unwrap_or_default())
        .with("arn", g.arn().unwrap_or_default());
    if let Some((host, port)) = primary_endpoint(g) {
        r = r.with("host", host).with("port", port.to_string());
    }
    r = r.with("tls", g.transit_encryption_enabled().unwrap_or(false).to_string());
    if new {
        cx.record_new(REPLICATION_GROUP, r)
    } else {
        cx.record(REPLICATION_GROUP, r)
    }
}

#[async_trait]
impl Step<StepCx> for ReplicationGroupStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let c = &cx.cfg.cache;
        let id = group_id(cx);
        let out = match find_group(cx).await? {
            Some(g) => {
                record_group(cx, &g, false)?;
                if g.status() == Some("deleting") {
                    return Err(StepError::Refused(format!(
                        "replication group {id} is being deleted; let `moodlectl down` finish first"
                    )));
                }
                if g.transit_encryption_enabled() != Some(true) || g.at_rest_encryption_enabled() != Some(true) {
                    return Err(StepError::Refused(format!("replication group {id} lacks in-transit or at-rest encryption, which cannot be switched on in place here; recreate it")));
                }
                let mut changes = vec![];
                if g.cache_node_type() != Some(c.node_type.as_str()) {
                    changes.push(change("node_type", g.cache_node_type().unwrap_or("?"), &c.node_type));
                    if !cx.dry_run {
                        let call = cx.aws.elasticache.modify_replication_group().replication_group_id(&id);
                        let call = call.cache_node_type(&c.node_type).apply_immediately(true);
                        call.send().await.ctx("ModifyReplicationGroup", &id)?;
                        wait_group(cx).await?;
                    }
                }
                changes.extend(ensure_nodes(cx, &g).await?);
                Outcome::of_changes(changes)
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let engine = match c.engine {
                    CacheEngine::Redis => "redis",
                    CacheEngine::Valkey => "valkey",
                };
                let o = cx
                    .aws
                    .elasticache
                    .create_replication_group()
                    .replication_group_id(&id)
                    .replication_group_description(format!(
                        "moodlectl {}: Moodle sessions and cache",
                        cx.cfg.stack.name
                    ))
                    .engine(engine)
                    .cache_node_type(&c.node_type)
                    .num_cache_clusters(c.num_nodes)
                    .multi_az_enabled(c.num_nodes > 1)
                    .automatic_failover_enabled(c.num_nodes > 1)
                    .at_rest_encryption_enabled(true)
                    .transit_encryption_enabled(true)
                    .auto_minor_version_upgrade(true)
                    .port(PORT)
                    .cache_subnet_group_name(cx.require(CACHE_SUBNET_GROUP, ids::DATA_CACHE_SUBNET_GROUP)?)
                    .security_group_ids(cx.require(SG_CACHE, ids::DATA_CACHE_SG)?)
                    .set_tags(Some(Tags::named(cx, REPLICATION_GROUP, &id).render()))
                    .send()
                    .await
                    .ctx("CreateReplicationGroup", &id)?;
                if let Some(g) = o.replication_group() {
                    record_group(cx, g, true)?;
                }
                Outcome::Created
            }
        };
        if cx.dry_run {
            return Ok(out);
        }
        let g = wait_group(cx).await?;
        record_group(cx, &g, false)?;
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let id = group_id(cx);
        cx.remove(REPLICATION_GROUP, find_group(cx).await?, |g| async move {
            let out = if g.status() == Some("deleting") {
                Outcome::Deleted
            } else {
                let r = cx.aws.elasticache.delete_replication_group().replication_group_id(&id).send().await;
                deleted("DeleteReplicationGroup", &id, r)?
            };
            let what = format!("replication group {id}");
            wait_gone(cx, &what, || find_group(cx), |g| g.status().unwrap_or("deleting").to_string()).await?;
            Ok(out)
        })
        .await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        cx.inspect_one(
            REPLICATION_GROUP,
            "elasticache:replication-group",
            &group_id(cx),
            find_group(cx).await?,
            |i, g| {
                let st = g.status().unwrap_or("unknown").to_string();
                let mut i = i
                    .status(g.arn(), &st, st == "available")
                    .detail("node_type", g.cache_node_type().unwrap_or_default())
                    .detail("members", g.member_clusters().len().to_string())
                    .detail("failover", g.automatic_failover().map(|f| f.as_str()).unwrap_or("?"))
                    .detail("tls", g.transit_encryption_enabled().unwrap_or(false).to_string());
                if let Some((h, p)) = primary_endpoint(&g) {
                    i = i.detail("primary_endpoint", format!("{h}:{p}"));
                }
                i
            },
        )
    }
}

/// Wait until the group is `available` (after a create or a modification).
async fn wait_group(cx: &StepCx) -> Result<aws_sdk_elasticache::types::ReplicationGroup, StepError> {
    let id = group_id(cx);
    wait_for(cx, &format!("replication group {id}"), cx.wait_timeout, || async {
        let Some(g) = find_group(cx).await? else {
            return Ok(Poll::Pending("not visible yet".into()));
        };
        match g.status().unwrap_or("unknown") {
            "available" => Ok(Poll::Ready(g)),
            s @ ("create-failed" | "deleting") => Err(StepError::BadState {
                resource: format!("replication group {id}"),
                state: s.into(),
                wanted: "available".into(),
            }),
            s => Ok(Poll::Pending(s.to_string())),
        }
    })
    .await
}

/// Bring the node count and failover to the configuration, in the order AWS
/// accepts (see the module header). Returns the changes (made unless dry run).
async fn ensure_nodes(cx: &StepCx, g: &aws_sdk_elasticache::types::ReplicationGroup) -> Result<Vec<String>, StepError> {
    use aws_sdk_elasticache::types::AutomaticFailoverStatus as F;
    let id = group_id(cx);
    let want = cx.cfg.cache.num_nodes;
    let have = g.member_clusters().len() as i32;
    let want_failover = want > 1;
    let has_failover = matches!(g.automatic_failover(), Some(F::Enabled | F::Enabling));
    let mut changes = vec![];
    let rg = id.as_str();
    let set_failover = |on: bool| async move {
        let call = cx.aws.elasticache.modify_replication_group().replication_group_id(rg);
        let call = call.automatic_failover_enabled(on).multi_az_enabled(on).apply_immediately(true);
        call.send().await.ctx("ModifyReplicationGroup", rg)?;
        wait_group(cx).await.map(|_| ())
    };
    if has_failover && !want_failover {
        changes.push(change("automatic_failover", true, false));
        if !cx.dry_run {
            set_failover(false).await?;
        }
    }
    if want != have {
        changes.push(change("num_nodes", have, want));
        if !cx.dry_run {
            if want > have {
                let call = cx.aws.elasticache.increase_replica_count().replication_group_id(&id);
                let call = call.new_replica_count(want - 1).apply_immediately(true);
                call.send().await.ctx("IncreaseReplicaCount", &id)?;
            } else {
                let call = cx.aws.elasticache.decrease_replica_count().replication_group_id(&id);
                let call = call.new_replica_count(want - 1).apply_immediately(true);
                call.send().await.ctx("DecreaseReplicaCount", &id)?;
            }
            wait_group(cx).await?;
        }
    }
    if want_failover && !has_failover {
        changes.push(change("automatic_failover", false, true));
        if !cx.dry_run {
            set_failover(true).await?;
        }
    }
    Ok(changes)
}
