//! Restoring an Aurora cluster snapshot: the same swap by name as an
//! instance restore (`restore`), one level up. The writer `<stack>-db` and
//! the cluster `<stack>-aurora` are renamed `…-replaced-<UTC>`; the snapshot
//! is restored as `<stack>-aurora` with a new writer `<stack>-db`. Cluster
//! endpoints follow the cluster identifier, so Moodle's host name, the DB
//! secret and the event subscription keep naming the right thing.
//!
//! AWS rules encoded here:
//! - A cluster snapshot restores into a cluster without instances
//!   (`RestoreDBClusterFromSnapshot`): the writer is created afterwards
//!   (`CreateDBInstance` with `DBClusterIdentifier`); the cluster must be
//!   `available` first.
//! - The restore takes the network, parameter group, log exports and (for
//!   Serverless v2) the capacity range again: a restored cluster has the
//!   defaults otherwise.
//! - Renames (`NewDBInstanceIdentifier`, `NewDBClusterIdentifier`, applied at
//!   once) take a while; a name is free only once it is gone from `Describe*`.
//! - A cluster with deletion protection, or with instances, cannot be deleted:
//!   `--delete-old` deletes the old writer, switches protection off, then
//!   deletes the cluster.

use crate::error::StepError;
use crate::ops::restore::describe as instance;
use crate::resources::data::{
    log_exports, parameter_group_name, wait_instance_available, DB_CLUSTER, DB_SUBNET_GROUP, SG_DB,
};
use crate::resources::names::{cluster_id, instance_id};
use crate::resources::prelude::*;
use crate::resources::shared::wait::{wait_for, wait_gone, Poll};
use aws_sdk_rds::types::{DbCluster, DbInstance};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

async fn cluster(cx: &StepCx, id: &str) -> Result<Option<DbCluster>, StepError> {
    let r = cx.aws.rds.describe_db_clusters().db_cluster_identifier(id).send().await;
    Ok(r.or_absent("DescribeDBClusters", id)?.and_then(|o| o.db_clusters().first().cloned()))
}

fn status_of<T>(x: &Option<T>, f: impl Fn(&T) -> Option<&str>) -> String {
    x.as_ref().and_then(f).unwrap_or("not yet").to_string()
}

/// The writer's replaced name, derived from the cluster's (same stamp).
pub fn old_writer_name(cx: &StepCx, old_cluster: &str) -> String {
    let stamp = old_cluster.rsplit("-replaced-").next().unwrap_or_default();
    format!("{}-replaced-{stamp}", instance_id(cx))
}

/// Rename the writer, then the cluster, out of the way (each once), and wait
/// until both names are free.
pub async fn rename_current(cx: &StepCx, old_cluster: &str) -> Result<(), StepError> {
    let (writer, name, old_writer) = (instance_id(cx), cluster_id(cx), old_writer_name(cx, old_cluster));
    let rds = &cx.aws.rds;
    if instance(cx, &old_writer).await?.is_none() && instance(cx, &writer).await?.is_some() {
        cx.progress(format!("renaming the writer {writer} to {old_writer}"));
        let call = rds.modify_db_instance().db_instance_identifier(&writer).new_db_instance_identifier(&old_writer);
        call.apply_immediately(true).send().await.ctx("ModifyDBInstance", &writer)?;
    }
    wait_for(cx, &format!("rename of {writer} to {old_writer}"), cx.wait_timeout, || async {
        let (old, busy) = (instance(cx, &old_writer).await?, instance(cx, &writer).await?);
        Ok(match (&old, &busy) {
            (Some(o), None) if o.db_instance_status() == Some("available") => Poll::Ready(()),
            _ => Poll::Pending(format!("{old_writer}: {}", status_of(&old, |i| i.db_instance_status()))),
        })
    })
    .await?;
    if cluster(cx, old_cluster).await?.is_none() {
        cx.progress(format!("renaming the cluster {name} to {old_cluster}"));
        let call = rds.modify_db_cluster().db_cluster_identifier(&name).new_db_cluster_identifier(old_cluster);
        call.apply_immediately(true).send().await.ctx("ModifyDBCluster", &name)?;
    }
    wait_for(cx, &format!("rename of {name} to {old_cluster}"), cx.wait_timeout, || async {
        let (old, busy) = (cluster(cx, old_cluster).await?, cluster(cx, &name).await?);
        Ok(match (&old, &busy) {
            (Some(o), None) if o.status() == Some("available") => Poll::Ready(()),
            _ => Poll::Pending(format!("{old_cluster}: {}", status_of(&old, |c| c.status()))),
        })
    })
    .await
}

/// Restore `snapshot` as the stack's cluster with a new writer, and wait
/// until the writer is available.
pub async fn restore(cx: &StepCx, snapshot: &str) -> Result<(), StepError> {
    let (name, writer) = (cluster_id(cx), instance_id(cx));
    let d = &cx.cfg.database;
    if cluster(cx, &name).await?.is_none() {
        cx.progress(format!("restoring cluster snapshot {snapshot} as {name}"));
        let tags = Tags::named(cx, DB_CLUSTER, &name).render();
        let mut call = cx
            .aws
            .rds
            .restore_db_cluster_from_snapshot()
            .db_cluster_identifier(&name)
            .snapshot_identifier(snapshot)
            .engine("aurora-mysql")
            .db_subnet_group_name(cx.require(DB_SUBNET_GROUP, ids::DATA_DB_SUBNET_GROUP)?)
            .vpc_security_group_ids(cx.require(SG_DB, ids::DATA_DB_SG)?)
            .db_cluster_parameter_group_name(parameter_group_name(cx))
            .set_enable_cloudwatch_logs_exports(Some(log_exports()))
            .deletion_protection(d.deletion_protection)
            .copy_tags_to_snapshot(true)
            .set_tags(Some(tags));
        if d.engine == crate::config::DbEngine::AuroraServerless {
            call = call.serverless_v2_scaling_configuration(
                aws_sdk_rds::types::ServerlessV2ScalingConfiguration::builder()
                    .min_capacity(d.serverless_min_acu)
                    .max_capacity(d.serverless_max_acu)
                    .build(),
            );
        }
        match call.send().await {
            Ok(_) => {}
            Err(e) if e.code() == Some("DBClusterAlreadyExistsFault") => {}
            Err(e) => return Err(aws_err("RestoreDBClusterFromSnapshot", &name, e)),
        }
    }
    wait_for(cx, &format!("DB cluster {name}"), cx.wait_timeout, || async {
        let c = cluster(cx, &name).await?;
        Ok(match c.as_ref().and_then(|c| c.status()) {
            Some("available") => Poll::Ready(()),
            _ => Poll::Pending(status_of(&c, |c| c.status())),
        })
    })
    .await?;
    if instance(cx, &writer).await?.is_none() {
        cx.progress(format!("creating the writer {writer}"));
        let tags = Tags::named(cx, crate::resources::data::DB_INSTANCE, &writer).render();
        let call = cx.aws.rds.create_db_instance().db_instance_identifier(&writer).db_cluster_identifier(&name);
        let call = call.engine("aurora-mysql").db_instance_class(crate::resources::data::instance_class(cx));
        let call = call.publicly_accessible(false).set_tags(Some(tags));
        match call.send().await {
            Ok(_) => {}
            Err(e) if e.code() == Some("DBInstanceAlreadyExists") => {}
            Err(e) => return Err(aws_err("CreateDBInstance", &writer, e)),
        }
    }
    wait_instance_available(cx).await.map(|_| ())
}

/// Delete the replaced writer, then the replaced cluster.
pub async fn delete_old(cx: &StepCx, old_cluster: &str) -> Result<(), StepError> {
    let old_writer = old_writer_name(cx, old_cluster);
    let rds = &cx.aws.rds;
    if let Some(i) = instance(cx, &old_writer).await? {
        if i.db_instance_status() != Some("deleting") {
            let call = rds.delete_db_instance().db_instance_identifier(&old_writer).skip_final_snapshot(true);
            deleted("DeleteDBInstance", &old_writer, call.send().await)?;
        }
        let st = |i: &DbInstance| i.db_instance_status().unwrap_or("?").to_string();
        wait_gone(cx, &format!("DB instance {old_writer}"), || instance(cx, &old_writer), st).await?;
    }
    if let Some(c) = cluster(cx, old_cluster).await? {
        if c.deletion_protection() == Some(true) {
            let call = rds.modify_db_cluster().db_cluster_identifier(old_cluster).deletion_protection(false);
            call.apply_immediately(true).send().await.ctx("ModifyDBCluster", old_cluster)?;
        }
        if c.status() != Some("deleting") {
            // Its data is the state the restore replaced; the restored
            // snapshot is what the site runs on now.
            let call = rds.delete_db_cluster().db_cluster_identifier(old_cluster).skip_final_snapshot(true);
            deleted("DeleteDBCluster", old_cluster, call.send().await)?;
        }
        let st = |c: &DbCluster| c.status().unwrap_or("?").to_string();
        wait_gone(cx, &format!("DB cluster {old_cluster}"), || cluster(cx, old_cluster), st).await?;
    }
    Ok(())
}
