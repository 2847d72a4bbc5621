//! The RDS instance (MySQL/MariaDB), or the Aurora cluster and its writer.
//!
//! The instance needs its subnet group, its security group and the
//! credentials secret. Settings change in place (`ModifyDBInstance`, applied
//! immediately); teardown takes a final snapshot unless skipped. An instance
//! or cluster with deletion protection is never forced: its
//! `guard_destroy` refuses `down` before any step deletes anything, so the
//! site is not taken apart around a database that must stay.

use super::*;
use crate::config::DbEngine;
use crate::resources::prelude::*;

// ---------------------------------------------------------------- the instance (and Aurora cluster)

pub(crate) struct DbInstanceStep;

pub(crate) async fn find_instance(cx: &StepCx) -> Result<Option<aws_sdk_rds::types::DbInstance>, StepError> {
    let id = instance_id(cx);
    let call = cx.aws.rds.describe_db_instances().db_instance_identifier(&id);
    let r = call.send().await.or_absent("DescribeDBInstances", &id)?;
    Ok(r.and_then(|o| o.db_instances().first().cloned()))
}

pub(crate) async fn find_cluster(cx: &StepCx) -> Result<Option<aws_sdk_rds::types::DbCluster>, StepError> {
    let id = cluster_id(cx);
    let call = cx.aws.rds.describe_db_clusters().db_cluster_identifier(&id);
    let r = call.send().await.or_absent("DescribeDBClusters", &id)?;
    Ok(r.and_then(|o| o.db_clusters().first().cloned()))
}

pub(crate) const DB_FAILED: [&str; 6] = [
    "failed",
    "incompatible-parameters",
    "incompatible-network",
    "incompatible-restore",
    "storage-full",
    "inaccessible-encryption-credentials",
];

pub(crate) async fn wait_instance_available(cx: &StepCx) -> Result<aws_sdk_rds::types::DbInstance, StepError> {
    let id = instance_id(cx);
    wait_for(cx, &format!("DB instance {id}"), cx.wait_timeout, || async {
        let Some(i) = find_instance(cx).await? else {
            return Ok(Poll::Pending("not visible yet".into()));
        };
        match i.db_instance_status().unwrap_or("unknown") {
            "available" if i.pending_modified_values().and_then(|p| p.db_instance_class()).is_none() => {
                Ok(Poll::Ready(i))
            }
            s if DB_FAILED.contains(&s) => Err(StepError::BadState {
                resource: format!("DB instance {id}"),
                state: s.into(),
                wanted: "available".into(),
            }),
            s => Ok(Poll::Pending(s.to_string())),
        }
    })
    .await
}

pub(crate) async fn master_password(cx: &StepCx) -> Result<String, StepError> {
    let arn = cx.require(DB_SECRET, ids::DATA_DB_SECRET)?;
    let doc: serde_json::Value = serde_json::from_str(&secrets::value(cx, &arn).await?)
        .map_err(|_| StepError::Refused(format!("secret {} is not the JSON moodlectl wrote", secret_name(cx))))?;
    doc["password"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| StepError::Refused(format!("secret {} has no `password`", secret_name(cx))))
}

/// Aurora: Moodle connects to the cluster's writer endpoint, which follows
/// failovers, not to the writer instance's own.
async fn record_cluster_endpoint(cx: &StepCx) -> Result<(), StepError> {
    if !is_aurora(cx) {
        return Ok(());
    }
    if let Some(c) = find_cluster(cx).await? {
        let r = cx.state.get(DB_INSTANCE).unwrap_or_default();
        let port = c.port().unwrap_or(3306).to_string();
        cx.record(DB_INSTANCE, r.with("host", c.endpoint().unwrap_or_default()).with("port", port))?;
    }
    Ok(())
}

pub(crate) fn record_instance(cx: &StepCx, i: &aws_sdk_rds::types::DbInstance, new: bool) -> Result<(), StepError> {
    let mut r = Resource::new("rds:db-instance", i.db_instance_identifier().unwrap_or_default())
        .with("arn", i.db_instance_arn().unwrap_or_default());
    if let Some(e) = i.endpoint() {
        r = r.with("host", e.address().unwrap_or_default()).with("port", e.port().unwrap_or(3306).to_string());
    }
    if new {
        cx.record_new(DB_INSTANCE, r)
    } else {
        cx.record(DB_INSTANCE, r)
    }
}

/// The MySQL/MariaDB logs exported to CloudWatch Logs (by the instance, or
/// by the Aurora cluster): the error log and the slow-query log. RDS writes
/// them to `/aws/rds/{instance|cluster}/<id>/<type>` (`DbLogGroupsStep`
/// creates those first, with their retention: RDS's own never expire).
pub const LOG_EXPORTS: &[&str] = &["error", "slowquery"];

pub(crate) fn log_exports() -> Vec<String> {
    LOG_EXPORTS.iter().map(|s| s.to_string()).collect()
}

/// The export change for a live instance or cluster, if its exports differ.
fn log_exports_change(live: &[String]) -> Option<(aws_sdk_rds::types::CloudwatchLogsExportConfiguration, String)> {
    let enable: Vec<String> =
        LOG_EXPORTS.iter().filter(|t| !live.iter().any(|l| l == *t)).map(|t| t.to_string()).collect();
    let disable: Vec<String> = live.iter().filter(|l| !LOG_EXPORTS.contains(&l.as_str())).cloned().collect();
    if enable.is_empty() && disable.is_empty() {
        return None;
    }
    let conf = aws_sdk_rds::types::CloudwatchLogsExportConfiguration::builder()
        .set_enable_log_types(Some(enable))
        .set_disable_log_types(Some(disable))
        .build();
    Some((conf, change("log_exports", live.join(","), LOG_EXPORTS.join(","))))
}

/// Aurora: the cluster holds storage, credentials and backups; the instance is its writer.
pub(crate) async fn ensure_cluster(cx: &StepCx) -> Result<Outcome, StepError> {
    let d = &cx.cfg.database;
    let id = cluster_id(cx);
    if let Some(c) = find_cluster(cx).await? {
        cx.record(
            DB_CLUSTER,
            Resource::new("rds:db-cluster", &id).with("arn", c.db_cluster_arn().unwrap_or_default()),
        )?;
        let mut changes = vec![];
        let mut call = cx.aws.rds.modify_db_cluster().db_cluster_identifier(&id).apply_immediately(true);
        let retention = c.backup_retention_period().unwrap_or(0);
        if retention != d.backup_retention_days {
            changes.push(change("backup_retention_days", retention, d.backup_retention_days));
            call = call.backup_retention_period(d.backup_retention_days);
        }
        // Aurora keeps deletion protection on the cluster, not its instances.
        let protected = c.deletion_protection().unwrap_or(false);
        if protected != d.deletion_protection {
            changes.push(change("deletion_protection", protected, d.deletion_protection));
            call = call.deletion_protection(d.deletion_protection);
        }
        if let Some((conf, shown)) = log_exports_change(c.enabled_cloudwatch_logs_exports()) {
            changes.push(shown);
            call = call.cloudwatch_logs_export_configuration(conf);
        }
        let params = parameter_group_name(cx);
        if c.db_cluster_parameter_group() != Some(params.as_str()) {
            changes.push(change("parameter_group", c.db_cluster_parameter_group().unwrap_or("default"), &params));
            call = call.db_cluster_parameter_group_name(&params);
        }
        if !changes.is_empty() && !cx.dry_run {
            call.send().await.ctx("ModifyDBCluster", &id)?;
        }
        return Ok(Outcome::of_changes(changes));
    }
    if cx.dry_run {
        return Ok(Outcome::Created);
    }
    let mut req = cx
        .aws
        .rds
        .create_db_cluster()
        .db_cluster_identifier(&id)
        .engine("aurora-mysql")
        .database_name(DB_NAME)
        .master_username(DB_USER)
        .master_user_password(master_password(cx).await?)
        .db_subnet_group_name(cx.require(DB_SUBNET_GROUP, ids::DATA_DB_SUBNET_GROUP)?)
        .vpc_security_group_ids(cx.require(SG_DB, ids::DATA_DB_SG)?)
        .storage_encrypted(true)
        .backup_retention_period(d.backup_retention_days)
        .copy_tags_to_snapshot(true)
        .deletion_protection(d.deletion_protection)
        .set_enable_cloudwatch_logs_exports(Some(log_exports()))
        .db_cluster_parameter_group_name(parameter_group_name(cx))
        .set_tags(Some(Tags::named(cx, DB_CLUSTER, &id).render()));
    // Aurora versions are spelled `8.0.mysql_aurora.3.x`; otherwise take AWS's default.
    req = req.set_engine_version(d.engine_version().map(str::to_string));
    if d.engine == DbEngine::AuroraServerless {
        req = req.serverless_v2_scaling_configuration(
            aws_sdk_rds::types::ServerlessV2ScalingConfiguration::builder()
                .min_capacity(d.serverless_min_acu)
                .max_capacity(d.serverless_max_acu)
                .build(),
        );
    }
    let o = req.send().await.ctx("CreateDBCluster", &id)?;
    cx.record_new(
        DB_CLUSTER,
        Resource::new("rds:db-cluster", &id)
            .with("arn", o.db_cluster().and_then(|c| c.db_cluster_arn()).unwrap_or_default()),
    )?;
    Ok(Outcome::Created)
}

#[async_trait]
impl Step<StepCx> for DbInstanceStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let d = &cx.cfg.database;
        let id = instance_id(cx);
        let class = instance_class(cx);
        let aurora = is_aurora(cx);
        let cluster_out = if aurora { ensure_cluster(cx).await? } else { Outcome::Unchanged };
        // A first run creates: fetch the master password alongside the lookup
        // rather than after it, since both sit on the stack's critical path.
        let (found, mut password) = if cx.state.id(DB_INSTANCE).is_none() && !aurora && !cx.dry_run {
            let (f, p) = tokio::join!(find_instance(cx), master_password(cx));
            (f?, Some(p))
        } else {
            (find_instance(cx).await?, None)
        };
        let out = match found {
            Some(i) => {
                record_instance(cx, &i, false)?;
                // A plan reads the host too (the secret's endpoint, the task
                // definitions): the same one `up` records.
                record_cluster_endpoint(cx).await?;
                if i.db_instance_status() == Some("deleting") {
                    return Err(StepError::Refused(format!(
                        "DB instance {id} is being deleted; wait for `moodlectl down` to finish, then run `up` again"
                    )));
                }
                let mut changes = vec![];
                let mut req = cx.aws.rds.modify_db_instance().db_instance_identifier(&id).apply_immediately(true);
                if i.db_instance_class() != Some(class.as_str()) {
                    changes.push(change("instance_class", i.db_instance_class().unwrap_or("?"), &class));
                    req = req.db_instance_class(&class);
                }
                let (interval, role) = monitoring(cx)?;
                let live_interval = i.monitoring_interval().unwrap_or(0);
                let live_role = i.monitoring_role_arn();
                let role_moved = interval > 0 && role.is_some() && live_role != role.as_deref();
                if live_interval != interval || role_moved {
                    if live_interval != interval {
                        changes.push(change("monitoring_interval_seconds", live_interval, interval));
                    } else {
                        changes.push(change(
                            "monitoring_role",
                            live_role.unwrap_or("none"),
                            role.as_deref().unwrap_or(""),
                        ));
                    }
                    req = req.monitoring_interval(interval).set_monitoring_role_arn(role);
                }
                if !aurora {
                    if i.backup_retention_period() != Some(d.backup_retention_days) {
                        changes.push(change(
                            "backup_retention_days",
                            i.backup_retention_period().unwrap_or(0),
                            d.backup_retention_days,
                        ));
                        req = req.backup_retention_period(d.backup_retention_days);
                    }
                    if i.max_allocated_storage() != Some(d.max_allocated_storage_gb) {
                        changes.push(change(
                            "max_allocated_storage_gb",
                            i.max_allocated_storage().map(|v| v.to_string()).unwrap_or("none".into()),
                            d.max_allocated_storage_gb,
                        ));
                        req = req.max_allocated_storage(d.max_allocated_storage_gb);
                    }
                    if i.allocated_storage().unwrap_or(0) < d.allocated_storage_gb {
                        changes.push(change(
                            "allocated_storage_gb",
                            i.allocated_storage().unwrap_or(0),
                            d.allocated_storage_gb,
                        ));
                        req = req.allocated_storage(d.allocated_storage_gb);
                    }
                    if i.multi_az() != Some(d.multi_az) {
                        changes.push(change("multi_az", i.multi_az().unwrap_or(false), d.multi_az));
                        req = req.multi_az(d.multi_az);
                    }
                    let protected = i.deletion_protection().unwrap_or(false);
                    if protected != d.deletion_protection {
                        changes.push(change("deletion_protection", protected, d.deletion_protection));
                        req = req.deletion_protection(d.deletion_protection);
                    }
                    if let Some((conf, shown)) = log_exports_change(i.enabled_cloudwatch_logs_exports()) {
                        changes.push(shown);
                        req = req.cloudwatch_logs_export_configuration(conf);
                    }
                    // Attached to a running instance, a group applies at its
                    // next reboot: said, not forced (a reboot is an outage).
                    let params = parameter_group_name(cx);
                    let live = i.db_parameter_groups().first().and_then(|g| g.db_parameter_group_name());
                    if live != Some(params.as_str()) {
                        changes.push(format!(
                            "{} (applies at the next reboot)",
                            change("parameter_group", live.unwrap_or("default"), &params)
                        ));
                        req = req.db_parameter_group_name(&params);
                    }
                }
                if !changes.is_empty() && !cx.dry_run {
                    retry(cx, "ModifyDBInstance", &id, &transient::RDS_MONITORING_ROLE, || req.clone().send()).await?;
                }
                Outcome::of_changes(changes)
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let mut req = cx
                    .aws
                    .rds
                    .create_db_instance()
                    .db_instance_identifier(&id)
                    .db_instance_class(&class)
                    .engine(engine_name(d.engine))
                    .auto_minor_version_upgrade(true)
                    .enable_performance_insights(performance_insights_supported(d.engine, &class))
                    .publicly_accessible(false)
                    .copy_tags_to_snapshot(true)
                    .set_tags(Some(Tags::named(cx, DB_INSTANCE, &id).render()));
                let (interval, role) = monitoring(cx)?;
                if interval > 0 {
                    req = req.monitoring_interval(interval).set_monitoring_role_arn(role);
                }
                if aurora {
                    req = req.db_cluster_identifier(cluster_id(cx));
                } else {
                    req = req
                        .set_engine_version(d.engine_version().map(str::to_string))
                        .allocated_storage(d.allocated_storage_gb)
                        .max_allocated_storage(d.max_allocated_storage_gb)
                        .storage_type("gp3")
                        .multi_az(d.multi_az)
                        .storage_encrypted(true)
                        .backup_retention_period(d.backup_retention_days)
                        .deletion_protection(d.deletion_protection)
                        .set_enable_cloudwatch_logs_exports(Some(log_exports()))
                        .db_parameter_group_name(parameter_group_name(cx))
                        .db_name(DB_NAME)
                        .master_username(DB_USER)
                        .master_user_password(match password.take() {
                            Some(p) => p?,
                            None => master_password(cx).await?,
                        })
                        .db_subnet_group_name(cx.require(DB_SUBNET_GROUP, ids::DATA_DB_SUBNET_GROUP)?)
                        .vpc_security_group_ids(cx.require(SG_DB, ids::DATA_DB_SG)?);
                }
                // Nothing is created while RDS refuses the new monitoring
                // role, so asking again is safe.
                let rule = &transient::RDS_MONITORING_ROLE;
                let o = retry(cx, "CreateDBInstance", &id, rule, || req.clone().send()).await?;
                if let Some(i) = o.db_instance() {
                    record_instance(cx, i, true)?;
                }
                Outcome::Created
            }
        };
        if cx.dry_run {
            return Ok(cluster_out.merge(out));
        }
        let i = wait_instance_available(cx).await?;
        record_instance(cx, &i, false)?;
        record_cluster_endpoint(cx).await?;
        Ok(cluster_out.merge(out))
    }
    async fn guard_destroy(&self, cx: &StepCx) -> Result<(), StepError> {
        if let Some(c) = find_cluster(cx).await? {
            refuse_if_protected("DB cluster", &cluster_id(cx), c.deletion_protection())?;
        }
        if let Some(i) = find_instance(cx).await? {
            refuse_if_protected("DB instance", &instance_id(cx), i.deletion_protection())?;
        }
        Ok(())
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let id = instance_id(cx);
        let aurora_cluster = find_cluster(cx).await?;
        let snapshot = format!(
            "{}-final-{}",
            cx.cfg.stack.name,
            time::OffsetDateTime::now_utc()
                .format(time::macros::format_description!("[year][month][day]-[hour][minute][second]"))
                .unwrap_or_default()
        );
        let mut out = Outcome::AlreadyAbsent;
        if let Some(i) = find_instance(cx).await? {
            refuse_if_protected("DB instance", &id, i.deletion_protection())?;
            if i.db_instance_status() != Some("deleting") {
                let mut req = cx.aws.rds.delete_db_instance().db_instance_identifier(&id);
                // Aurora members have no snapshot of their own: the cluster's is taken below.
                if aurora_cluster.is_some() || cx.opts.skip_final_snapshot {
                    req = req.skip_final_snapshot(true);
                } else {
                    req = req.skip_final_snapshot(false).final_db_snapshot_identifier(&snapshot);
                }
                out = deleted("DeleteDBInstance", &id, req.send().await)?;
                if out == Outcome::Deleted && aurora_cluster.is_none() && !cx.opts.skip_final_snapshot {
                    cx.note(format!("kept: final DB snapshot `{snapshot}` (RDS snapshots in {})", cx.aws.region));
                    cx.progress(format!("final snapshot `{snapshot}` is being taken"));
                }
            } else {
                out = Outcome::Deleted;
            }
            wait_gone(
                cx,
                &format!("DB instance {id}"),
                || find_instance(cx),
                |i| i.db_instance_status().unwrap_or("deleting").to_string(),
            )
            .await?;
        }
        if let Some(c) = aurora_cluster {
            let cid = cluster_id(cx);
            refuse_if_protected("DB cluster", &cid, c.deletion_protection())?;
            if c.status() != Some("deleting") {
                let req = cx.aws.rds.delete_db_cluster().db_cluster_identifier(&cid);
                let req = if cx.opts.skip_final_snapshot {
                    req.skip_final_snapshot(true)
                } else {
                    req.skip_final_snapshot(false).final_db_snapshot_identifier(&snapshot)
                };
                out = out.merge(deleted("DeleteDBCluster", &cid, req.send().await)?);
                if !cx.opts.skip_final_snapshot {
                    cx.note(format!(
                        "kept: final DB cluster snapshot `{snapshot}` (RDS snapshots in {})",
                        cx.aws.region
                    ));
                }
            }
            wait_gone(
                cx,
                &format!("DB cluster {cid}"),
                || find_cluster(cx),
                |c| c.status().unwrap_or("deleting").to_string(),
            )
            .await?;
        }
        cx.forget(DB_INSTANCE)?;
        cx.forget(DB_CLUSTER)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let id = instance_id(cx);
        let mut rows = vec![match find_instance(cx).await? {
            Some(i) => {
                let st = i.db_instance_status().unwrap_or("unknown").to_string();
                let mut row = Inspection::new(
                    "rds:db-instance",
                    &id,
                    i.db_instance_arn().map(str::to_string),
                    &st,
                    st == "available",
                )
                .detail("class", i.db_instance_class().unwrap_or_default())
                .detail(
                    "engine",
                    format!("{} {}", i.engine().unwrap_or_default(), i.engine_version().unwrap_or_default()),
                )
                .detail("multi_az", i.multi_az().unwrap_or(false).to_string());
                if let Some(e) = i.endpoint() {
                    row = row
                        .detail("endpoint", format!("{}:{}", e.address().unwrap_or_default(), e.port().unwrap_or(0)));
                }
                row
            }
            None => Inspection::missing("rds:db-instance", &id, cx.state.get(DB_INSTANCE).map(|r| r.id)),
        }];
        if is_aurora(cx) {
            let cid = cluster_id(cx);
            rows.push(match find_cluster(cx).await? {
                Some(c) => Inspection::new(
                    "rds:db-cluster",
                    &cid,
                    c.db_cluster_arn().map(str::to_string),
                    c.status().unwrap_or("unknown"),
                    c.status() == Some("available"),
                ),
                None => Inspection::missing("rds:db-cluster", &cid, cx.state.id(DB_CLUSTER)),
            });
        }
        Ok(rows)
    }
}

/// `down` never forces deletion protection off: the setting is the owner's
/// word that this database must outlive the stack.
fn refuse_if_protected(kind: &str, id: &str, protected: Option<bool>) -> Result<(), StepError> {
    if protected == Some(true) {
        return Err(StepError::Refused(format!(
            "{kind} {id} has deletion protection, so `down` deletes nothing.\nhint: set database.deletion_protection = false and run `moodlectl up`, then `moodlectl down` again"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn performance_insights_class_support() {
        use DbEngine::*;
        assert!(performance_insights_supported(Mysql, "db.r6g.large"));
        assert!(performance_insights_supported(Mysql, "db.t3.medium"));
        assert!(!performance_insights_supported(Mysql, "db.t3.micro"));
        assert!(!performance_insights_supported(Mariadb, "db.t2.small"));
        assert!(performance_insights_supported(AuroraMysql, "db.r6g.large"));
        assert!(performance_insights_supported(AuroraMysql, "db.t4g.medium"));
        assert!(!performance_insights_supported(AuroraMysql, "db.t3.medium"), "no db.t3 on Aurora MySQL");
        assert!(!performance_insights_supported(AuroraMysql, "db.t2.medium"));
        assert!(!performance_insights_supported(AuroraMysql, "db.t4g.small"));
    }
}
