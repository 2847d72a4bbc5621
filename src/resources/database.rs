//! Database tier: RDS (MySQL/MariaDB, or Aurora MySQL provisioned/Serverless
//! v2), its credentials secret, and RDS event alerts by e-mail.
//!
//! Ordering constraints encoded here:
//! - the DB subnet group needs the private subnets; the instance needs the
//!   subnet group, its security group and the credentials secret (the master
//!   password is generated into the secret first, so it is never held
//!   anywhere else — and never in state or logs);
//! - the secret gets the instance's host/port once the endpoint exists;
//! - the event subscription names our instance as its only source, so it
//!   needs the instance to exist (not to be available); the SNS topic is
//!   independent;
//! - teardown: instance (with a final snapshot unless skipped) before its
//!   subnet group and security group; an instance with deletion protection
//!   is reported, never forced.
//!
//! The password is ours, not RDS-managed: RDS rotates a managed master
//! password every 7 days, which would break the copy Moodle keeps in
//! config.php.

use super::network::{destroy_sg, ensure_sg, inspect_sg, private_subnet_ids};
use super::{secrets, TAG_RESOURCE, TAG_STACK};
use crate::aws::{wait_for, Poll};
use crate::config::DbEngine;
use crate::engine::{change, Inspection, Outcome, Step, StepCx};
use crate::error::{absent_ok, aws_err, StepError};
use crate::state::Resource;
use async_trait::async_trait;
use std::sync::Arc;

pub const SG_DB: &str = "sg/db";
pub const DB_SUBNET_GROUP: &str = "rds/subnet-group";
pub const DB_SECRET: &str = "secret/db";
pub const DB_INSTANCE: &str = "rds/instance";
pub const DB_CLUSTER: &str = "rds/cluster";
pub const TOPIC: &str = "sns/rds-events";
pub const EVENT_SUB: &str = "rds/event-subscription";

pub const DB_NAME: &str = "moodledb";
pub const DB_USER: &str = "dbadmin";
pub const EVENT_CATEGORIES: [&str; 5] = [
    "availability",
    "configuration change",
    "failure",
    "maintenance",
    "low storage",
];

pub fn steps() -> Vec<Arc<dyn Step>> {
    vec![
        Arc::new(DbInstanceStep),
        Arc::new(DbSubnetGroupStep),
        Arc::new(DbSgStep),
        Arc::new(DbSecretStep),
        Arc::new(DbSecretEndpointStep),
        Arc::new(TopicStep),
        Arc::new(EventSubscriptionStep),
    ]
}

pub fn instance_id(cx: &StepCx) -> String {
    cx.cfg.name("db")
}
fn cluster_id(cx: &StepCx) -> String {
    cx.cfg.name("aurora")
}
pub fn secret_name(cx: &StepCx) -> String {
    cx.cfg.name("db-credentials")
}
fn subnet_group_name(cx: &StepCx) -> String {
    cx.cfg.name("db-subnets")
}
fn topic_name(cx: &StepCx) -> String {
    cx.cfg.name("rds-events")
}
fn is_aurora(cx: &StepCx) -> bool {
    matches!(
        cx.cfg.database.engine,
        DbEngine::AuroraMysql | DbEngine::AuroraServerless
    )
}

fn engine_name(e: DbEngine) -> &'static str {
    match e {
        DbEngine::Mysql => "mysql",
        DbEngine::Mariadb => "mariadb",
        DbEngine::AuroraMysql | DbEngine::AuroraServerless => "aurora-mysql",
    }
}

/// The instance class the writer uses (Serverless v2 has its own class).
fn instance_class(cx: &StepCx) -> String {
    match cx.cfg.database.engine {
        DbEngine::AuroraServerless => "db.serverless".into(),
        _ => cx.cfg.database.instance_class.clone(),
    }
}

/// Performance Insights is not offered on the smallest burstable classes.
pub fn performance_insights_supported(class: &str) -> bool {
    !(class.starts_with("db.t2.")
        || ["db.t3.micro", "db.t3.small", "db.t4g.micro", "db.t4g.small"].contains(&class))
}

fn rds_tags(cx: &StepCx, key: &str, name: &str) -> Vec<aws_sdk_rds::types::Tag> {
    [
        (TAG_STACK, cx.cfg.stack.name.as_str()),
        (TAG_RESOURCE, key),
        ("Name", name),
    ]
    .iter()
    .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(*k).value(*v).build())
    .collect()
}

// ---------------------------------------------------------------- security group, subnet group

struct DbSgStep;

#[async_trait]
impl Step for DbSgStep {
    fn id(&self) -> &'static str {
        "data.db-sg"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["network.vpc"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        // Ingress (3306 from the service) is owned by compute.sg-rules.
        ensure_sg(cx, SG_DB, "db-sg", "moodlectl: RDS", None).await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        destroy_sg(cx, SG_DB).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![
            inspect_sg(
                cx,
                SG_DB,
                "db-sg",
                &super::network::expected_ingress(cx, SG_DB),
            )
            .await?,
        ])
    }
}

struct DbSubnetGroupStep;

async fn find_subnet_group(
    cx: &StepCx,
) -> Result<Option<aws_sdk_rds::types::DbSubnetGroup>, StepError> {
    let name = subnet_group_name(cx);
    let r = absent_ok(
        "DescribeDBSubnetGroups",
        &name,
        cx.aws
            .rds
            .describe_db_subnet_groups()
            .db_subnet_group_name(&name)
            .send()
            .await,
    )?;
    Ok(r.and_then(|o| o.db_subnet_groups().first().cloned()))
}

#[async_trait]
impl Step for DbSubnetGroupStep {
    fn id(&self) -> &'static str {
        "data.db-subnet-group"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["network.subnets"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = subnet_group_name(cx);
        let want = if cx.dry_run {
            private_subnet_ids(cx).unwrap_or_default()
        } else {
            private_subnet_ids(cx)?
        };
        match find_subnet_group(cx).await? {
            Some(g) => {
                cx.record(DB_SUBNET_GROUP, Resource::new("rds:subnet-group", &name))?;
                let mut live: Vec<String> = g
                    .subnets()
                    .iter()
                    .filter_map(|s| s.subnet_identifier().map(str::to_string))
                    .collect();
                live.sort();
                let mut w = want.clone();
                w.sort();
                if live == w || want.is_empty() {
                    return Ok(Outcome::Unchanged);
                }
                if !cx.dry_run {
                    cx.aws
                        .rds
                        .modify_db_subnet_group()
                        .db_subnet_group_name(&name)
                        .set_subnet_ids(Some(want))
                        .send()
                        .await
                        .map_err(|e| aws_err("ModifyDBSubnetGroup", &name, e))?;
                }
                Ok(Outcome::Updated(vec![change(
                    "subnets",
                    live.join(","),
                    w.join(","),
                )]))
            }
            None if cx.dry_run => Ok(Outcome::Created),
            None => {
                cx.aws
                    .rds
                    .create_db_subnet_group()
                    .db_subnet_group_name(&name)
                    .db_subnet_group_description(format!(
                        "moodlectl {}: private subnets",
                        cx.cfg.stack.name
                    ))
                    .set_subnet_ids(Some(want))
                    .set_tags(Some(rds_tags(cx, DB_SUBNET_GROUP, &name)))
                    .send()
                    .await
                    .map_err(|e| aws_err("CreateDBSubnetGroup", &name, e))?;
                cx.record_new(DB_SUBNET_GROUP, Resource::new("rds:subnet-group", &name))?;
                Ok(Outcome::Created)
            }
        }
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = subnet_group_name(cx);
        let out = if find_subnet_group(cx).await?.is_some() {
            super::retry_while_in_use(cx, "DeleteDBSubnetGroup", &name, || {
                cx.aws
                    .rds
                    .delete_db_subnet_group()
                    .db_subnet_group_name(&name)
                    .send()
            })
            .await?
        } else {
            Outcome::AlreadyAbsent
        };
        cx.forget(DB_SUBNET_GROUP)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = subnet_group_name(cx);
        Ok(vec![match find_subnet_group(cx).await? {
            Some(g) => Inspection::new(
                "rds:subnet-group",
                &name,
                Some(name.clone()),
                g.subnet_group_status().unwrap_or("Complete").to_lowercase(),
                true,
            )
            .detail("subnets", g.subnets().len().to_string()),
            None => Inspection::missing("rds:subnet-group", &name, cx.state.id(DB_SUBNET_GROUP)),
        }])
    }
}

// ---------------------------------------------------------------- credentials secret

struct DbSecretStep;

#[async_trait]
impl Step for DbSecretStep {
    fn id(&self) -> &'static str {
        "data.db-secret"
    }
    fn deps(&self) -> &'static [&'static str] {
        &[]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let engine = engine_name(cx.cfg.database.engine);
        let (out, _) = secrets::ensure(cx, DB_SECRET, &secret_name(cx), "moodlectl: Moodle database master credentials", |pw| {
            serde_json::json!({"username": DB_USER, "password": pw, "engine": engine, "dbname": DB_NAME}).to_string()
        })
        .await?;
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        secrets::destroy(cx, DB_SECRET, &secret_name(cx)).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![
            secrets::inspect(cx, DB_SECRET, &secret_name(cx)).await?,
        ])
    }
}

/// Writes the endpoint into the secret, like the reference's attached secret.
struct DbSecretEndpointStep;

#[async_trait]
impl Step for DbSecretEndpointStep {
    fn id(&self) -> &'static str {
        "data.db-secret-endpoint"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["data.db-instance", "data.db-secret"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let (Some(arn), Some(host)) = (
            cx.state.id(DB_SECRET),
            cx.state
                .get(DB_INSTANCE)
                .and_then(|r| r.attrs.get("host").cloned()),
        ) else {
            return if cx.dry_run {
                Ok(Outcome::Created)
            } else {
                Err(StepError::MissingDependency {
                    step: "data.db-instance",
                    what: "endpoint".into(),
                })
            };
        };
        let port = cx
            .state
            .get(DB_INSTANCE)
            .and_then(|r| r.attrs.get("port").cloned())
            .unwrap_or("3306".into());
        let mut doc: serde_json::Value = serde_json::from_str(&secrets::value(cx, &arn).await?)
            .unwrap_or_else(|_| serde_json::json!({}));
        let port_num: u64 = port.parse().unwrap_or(3306);
        if doc["host"] == host.as_str() && doc["port"] == port_num {
            return Ok(Outcome::Unchanged);
        }
        let was = doc["host"].as_str().unwrap_or("none").to_string();
        doc["host"] = host.clone().into();
        doc["port"] = port_num.into();
        if !cx.dry_run {
            secrets::put(cx, &arn, doc.to_string()).await?;
        }
        Ok(Outcome::Updated(vec![change("secret host", was, host)]))
    }
    async fn destroy(&self, _cx: &StepCx) -> Result<Outcome, StepError> {
        Ok(Outcome::AlreadyAbsent) // the secret itself is deleted by data.db-secret
    }
    async fn inspect(&self, _cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![])
    }
}

// ---------------------------------------------------------------- the instance (and Aurora cluster)

struct DbInstanceStep;

async fn find_instance(cx: &StepCx) -> Result<Option<aws_sdk_rds::types::DbInstance>, StepError> {
    let id = instance_id(cx);
    let r = absent_ok(
        "DescribeDBInstances",
        &id,
        cx.aws
            .rds
            .describe_db_instances()
            .db_instance_identifier(&id)
            .send()
            .await,
    )?;
    Ok(r.and_then(|o| o.db_instances().first().cloned()))
}

async fn find_cluster(cx: &StepCx) -> Result<Option<aws_sdk_rds::types::DbCluster>, StepError> {
    let id = cluster_id(cx);
    let r = absent_ok(
        "DescribeDBClusters",
        &id,
        cx.aws
            .rds
            .describe_db_clusters()
            .db_cluster_identifier(&id)
            .send()
            .await,
    )?;
    Ok(r.and_then(|o| o.db_clusters().first().cloned()))
}

const DB_FAILED: [&str; 6] = [
    "failed",
    "incompatible-parameters",
    "incompatible-network",
    "incompatible-restore",
    "storage-full",
    "inaccessible-encryption-credentials",
];

async fn wait_instance_available(cx: &StepCx) -> Result<aws_sdk_rds::types::DbInstance, StepError> {
    let id = instance_id(cx);
    wait_for(
        cx,
        &format!("DB instance {id}"),
        cx.wait_timeout,
        || async {
            let Some(i) = find_instance(cx).await? else {
                return Ok(Poll::Pending("not visible yet".into()));
            };
            match i.db_instance_status().unwrap_or("unknown") {
                "available"
                    if i.pending_modified_values()
                        .and_then(|p| p.db_instance_class())
                        .is_none() =>
                {
                    Ok(Poll::Ready(i))
                }
                s if DB_FAILED.contains(&s) => Err(StepError::BadState {
                    resource: format!("DB instance {id}"),
                    state: s.into(),
                    wanted: "available".into(),
                }),
                s => Ok(Poll::Pending(s.to_string())),
            }
        },
    )
    .await
}

async fn master_password(cx: &StepCx) -> Result<String, StepError> {
    let arn = cx.require(DB_SECRET, "data.db-secret")?;
    let doc: serde_json::Value =
        serde_json::from_str(&secrets::value(cx, &arn).await?).map_err(|_| {
            StepError::Refused(format!(
                "secret {} is not the JSON moodlectl wrote",
                secret_name(cx)
            ))
        })?;
    doc["password"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| StepError::Refused(format!("secret {} has no `password`", secret_name(cx))))
}

fn record_instance(
    cx: &StepCx,
    i: &aws_sdk_rds::types::DbInstance,
    new: bool,
) -> Result<(), StepError> {
    let mut r = Resource::new(
        "rds:db-instance",
        i.db_instance_identifier().unwrap_or_default(),
    )
    .with("arn", i.db_instance_arn().unwrap_or_default());
    if let Some(e) = i.endpoint() {
        r = r
            .with("host", e.address().unwrap_or_default())
            .with("port", e.port().unwrap_or(3306).to_string());
    }
    if new {
        cx.record_new(DB_INSTANCE, r)
    } else {
        cx.record(DB_INSTANCE, r)
    }
}

/// Aurora: the cluster holds storage, credentials and backups; the instance is its writer.
async fn ensure_cluster(cx: &StepCx) -> Result<Outcome, StepError> {
    let d = &cx.cfg.database;
    let id = cluster_id(cx);
    if let Some(c) = find_cluster(cx).await? {
        cx.record(
            DB_CLUSTER,
            Resource::new("rds:db-cluster", &id)
                .with("arn", c.db_cluster_arn().unwrap_or_default()),
        )?;
        let mut changes = vec![];
        if c.backup_retention_period() != Some(d.backup_retention_days) {
            changes.push(change(
                "backup_retention_days",
                c.backup_retention_period().unwrap_or(0),
                d.backup_retention_days,
            ));
            if !cx.dry_run {
                cx.aws
                    .rds
                    .modify_db_cluster()
                    .db_cluster_identifier(&id)
                    .backup_retention_period(d.backup_retention_days)
                    .apply_immediately(true)
                    .send()
                    .await
                    .map_err(|e| aws_err("ModifyDBCluster", &id, e))?;
            }
        }
        return Ok(if changes.is_empty() {
            Outcome::Unchanged
        } else {
            Outcome::Updated(changes)
        });
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
        .db_subnet_group_name(cx.require(DB_SUBNET_GROUP, "data.db-subnet-group")?)
        .vpc_security_group_ids(cx.require(SG_DB, "data.db-sg")?)
        .storage_encrypted(true)
        .backup_retention_period(d.backup_retention_days)
        .copy_tags_to_snapshot(true)
        .deletion_protection(d.deletion_protection)
        .set_tags(Some(rds_tags(cx, DB_CLUSTER, &id)));
    // Aurora versions are spelled `8.0.mysql_aurora.3.x`; otherwise take AWS's default.
    if d.engine_version.contains("aurora") {
        req = req.engine_version(&d.engine_version);
    }
    if d.engine == DbEngine::AuroraServerless {
        req = req.serverless_v2_scaling_configuration(
            aws_sdk_rds::types::ServerlessV2ScalingConfiguration::builder()
                .min_capacity(d.serverless_min_acu)
                .max_capacity(d.serverless_max_acu)
                .build(),
        );
    }
    let o = req
        .send()
        .await
        .map_err(|e| aws_err("CreateDBCluster", &id, e))?;
    cx.record_new(
        DB_CLUSTER,
        Resource::new("rds:db-cluster", &id).with(
            "arn",
            o.db_cluster()
                .and_then(|c| c.db_cluster_arn())
                .unwrap_or_default(),
        ),
    )?;
    Ok(Outcome::Created)
}

#[async_trait]
impl Step for DbInstanceStep {
    fn id(&self) -> &'static str {
        "data.db-instance"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["data.db-subnet-group", "data.db-sg", "data.db-secret"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let d = &cx.cfg.database;
        let id = instance_id(cx);
        let class = instance_class(cx);
        let aurora = is_aurora(cx);
        let cluster_out = if aurora {
            ensure_cluster(cx).await?
        } else {
            Outcome::Unchanged
        };
        // A first run creates: fetch the master password alongside the lookup
        // rather than after it, since both sit on the stack's critical path.
        let (found, mut password) = if cx.state.id(DB_INSTANCE).is_none() && !aurora && !cx.dry_run
        {
            let (f, p) = tokio::join!(find_instance(cx), master_password(cx));
            (f?, Some(p))
        } else {
            (find_instance(cx).await?, None)
        };
        let out = match found {
            Some(i) => {
                record_instance(cx, &i, false)?;
                if i.db_instance_status() == Some("deleting") {
                    return Err(StepError::Refused(format!("DB instance {id} is being deleted; wait for `moodlectl down` to finish, then run `up` again")));
                }
                let mut changes = vec![];
                let mut req = cx
                    .aws
                    .rds
                    .modify_db_instance()
                    .db_instance_identifier(&id)
                    .apply_immediately(true);
                if i.db_instance_class() != Some(class.as_str()) {
                    changes.push(change(
                        "instance_class",
                        i.db_instance_class().unwrap_or("?"),
                        &class,
                    ));
                    req = req.db_instance_class(&class);
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
                            i.max_allocated_storage()
                                .map(|v| v.to_string())
                                .unwrap_or("none".into()),
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
                        changes.push(change(
                            "multi_az",
                            i.multi_az().unwrap_or(false),
                            d.multi_az,
                        ));
                        req = req.multi_az(d.multi_az);
                    }
                }
                if i.deletion_protection() != Some(d.deletion_protection) {
                    changes.push(change(
                        "deletion_protection",
                        i.deletion_protection().unwrap_or(false),
                        d.deletion_protection,
                    ));
                    req = req.deletion_protection(d.deletion_protection);
                }
                if changes.is_empty() {
                    Outcome::Unchanged
                } else {
                    if !cx.dry_run {
                        req.send()
                            .await
                            .map_err(|e| aws_err("ModifyDBInstance", &id, e))?;
                    }
                    Outcome::Updated(changes)
                }
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
                    .enable_performance_insights(performance_insights_supported(&class))
                    .publicly_accessible(false)
                    .copy_tags_to_snapshot(true)
                    .set_tags(Some(rds_tags(cx, DB_INSTANCE, &id)));
                if aurora {
                    req = req.db_cluster_identifier(cluster_id(cx));
                } else {
                    req = req
                        .engine_version(&d.engine_version)
                        .allocated_storage(d.allocated_storage_gb)
                        .max_allocated_storage(d.max_allocated_storage_gb)
                        .storage_type("gp3")
                        .multi_az(d.multi_az)
                        .storage_encrypted(true)
                        .backup_retention_period(d.backup_retention_days)
                        .deletion_protection(d.deletion_protection)
                        .db_name(DB_NAME)
                        .master_username(DB_USER)
                        .master_user_password(match password.take() {
                            Some(p) => p?,
                            None => master_password(cx).await?,
                        })
                        .db_subnet_group_name(cx.require(DB_SUBNET_GROUP, "data.db-subnet-group")?)
                        .vpc_security_group_ids(cx.require(SG_DB, "data.db-sg")?);
                }
                let o = req
                    .send()
                    .await
                    .map_err(|e| aws_err("CreateDBInstance", &id, e))?;
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
        if aurora {
            // Moodle connects to the cluster's writer endpoint, which follows failovers.
            if let Some(c) = find_cluster(cx).await? {
                let r = cx.state.get(DB_INSTANCE).unwrap_or_default();
                cx.record(
                    DB_INSTANCE,
                    r.with("host", c.endpoint().unwrap_or_default())
                        .with("port", c.port().unwrap_or(3306).to_string()),
                )?;
            }
        }
        Ok(cluster_out.merge(out))
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let id = instance_id(cx);
        let aurora_cluster = find_cluster(cx).await?;
        let snapshot = format!(
            "{}-final-{}",
            cx.cfg.stack.name,
            time::OffsetDateTime::now_utc()
                .format(time::macros::format_description!(
                    "[year][month][day]-[hour][minute][second]"
                ))
                .unwrap_or_default()
        );
        let mut out = Outcome::AlreadyAbsent;
        if let Some(i) = find_instance(cx).await? {
            if i.deletion_protection() == Some(true) {
                return Err(StepError::Refused(format!(
                    "DB instance {id} has deletion protection; it was not deleted.\nhint: set database.deletion_protection = false and run `moodlectl up`, then `moodlectl down` again"
                )));
            }
            if i.db_instance_status() != Some("deleting") {
                let mut req = cx.aws.rds.delete_db_instance().db_instance_identifier(&id);
                // Aurora members have no snapshot of their own: the cluster's is taken below.
                if aurora_cluster.is_some() || cx.opts.skip_final_snapshot {
                    req = req.skip_final_snapshot(true);
                } else {
                    req = req
                        .skip_final_snapshot(false)
                        .final_db_snapshot_identifier(&snapshot);
                }
                out = super::deleted("DeleteDBInstance", &id, req.send().await)?;
                if out == Outcome::Deleted
                    && aurora_cluster.is_none()
                    && !cx.opts.skip_final_snapshot
                {
                    cx.note(format!(
                        "kept: final DB snapshot `{snapshot}` (RDS snapshots in {})",
                        cx.aws.region
                    ));
                    cx.progress(format!("final snapshot `{snapshot}` is being taken"));
                }
            } else {
                out = Outcome::Deleted;
            }
            wait_for(
                cx,
                &format!("DB instance {id} deletion"),
                cx.wait_timeout,
                || async {
                    Ok(match find_instance(cx).await? {
                        None => Poll::Ready(()),
                        Some(i) => {
                            Poll::Pending(i.db_instance_status().unwrap_or("deleting").to_string())
                        }
                    })
                },
            )
            .await?;
        }
        if let Some(c) = aurora_cluster {
            let cid = cluster_id(cx);
            if c.deletion_protection() == Some(true) {
                return Err(StepError::Refused(format!(
                    "DB cluster {cid} has deletion protection; it was not deleted"
                )));
            }
            if c.status() != Some("deleting") {
                let req = cx.aws.rds.delete_db_cluster().db_cluster_identifier(&cid);
                let req = if cx.opts.skip_final_snapshot {
                    req.skip_final_snapshot(true)
                } else {
                    req.skip_final_snapshot(false)
                        .final_db_snapshot_identifier(&snapshot)
                };
                out = out.merge(super::deleted("DeleteDBCluster", &cid, req.send().await)?);
                if !cx.opts.skip_final_snapshot {
                    cx.note(format!(
                        "kept: final DB cluster snapshot `{snapshot}` (RDS snapshots in {})",
                        cx.aws.region
                    ));
                }
            }
            wait_for(
                cx,
                &format!("DB cluster {cid} deletion"),
                cx.wait_timeout,
                || async {
                    Ok(match find_cluster(cx).await? {
                        None => Poll::Ready(()),
                        Some(c) => Poll::Pending(c.status().unwrap_or("deleting").to_string()),
                    })
                },
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
                    format!(
                        "{} {}",
                        i.engine().unwrap_or_default(),
                        i.engine_version().unwrap_or_default()
                    ),
                )
                .detail("multi_az", i.multi_az().unwrap_or(false).to_string());
                if let Some(e) = i.endpoint() {
                    row = row.detail(
                        "endpoint",
                        format!(
                            "{}:{}",
                            e.address().unwrap_or_default(),
                            e.port().unwrap_or(0)
                        ),
                    );
                }
                row
            }
            None => Inspection::missing(
                "rds:db-instance",
                &id,
                cx.state.get(DB_INSTANCE).map(|r| r.id),
            ),
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

// ---------------------------------------------------------------- alerts

struct TopicStep;

async fn find_topic(cx: &StepCx) -> Result<Option<String>, StepError> {
    if let Some(arn) = cx.state.id(TOPIC) {
        if absent_ok(
            "GetTopicAttributes",
            &arn,
            cx.aws
                .sns
                .get_topic_attributes()
                .topic_arn(&arn)
                .send()
                .await,
        )?
        .is_some()
        {
            return Ok(Some(arn));
        }
    }
    let suffix = format!(":{}", topic_name(cx));
    let mut token = None;
    loop {
        let o = cx
            .aws
            .sns
            .list_topics()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws_err("ListTopics", "SNS topics", e))?;
        if let Some(t) = o
            .topics()
            .iter()
            .filter_map(|t| t.topic_arn())
            .find(|a| a.ends_with(&suffix))
        {
            return Ok(Some(t.to_string()));
        }
        match o.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => return Ok(None),
        }
    }
}

#[async_trait]
impl Step for TopicStep {
    fn id(&self) -> &'static str {
        "data.events-topic"
    }
    fn deps(&self) -> &'static [&'static str] {
        &[]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = topic_name(cx);
        let email = &cx.cfg.database.event_email;
        let (arn, mut out) = match find_topic(cx).await? {
            Some(arn) => {
                cx.record(TOPIC, Resource::new("sns:topic", &arn))?;
                (arn, Outcome::Unchanged)
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let tags = [
                    (TAG_STACK, cx.cfg.stack.name.as_str()),
                    (TAG_RESOURCE, TOPIC),
                ]
                .iter()
                .map(|(k, v)| {
                    aws_sdk_sns::types::Tag::builder()
                        .key(*k)
                        .value(*v)
                        .build()
                        .expect("key and value set")
                })
                .collect();
                let o = cx
                    .aws
                    .sns
                    .create_topic()
                    .name(&name)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(|e| aws_err("CreateTopic", &name, e))?;
                let arn = o.topic_arn().unwrap_or_default().to_string();
                cx.record_new(TOPIC, Resource::new("sns:topic", &arn))?;
                (arn, Outcome::Created)
            }
        };
        let subs = cx
            .aws
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(&arn)
            .send()
            .await
            .map_err(|e| aws_err("ListSubscriptionsByTopic", &name, e))?;
        let emails: Vec<_> = subs
            .subscriptions()
            .iter()
            .filter(|s| s.protocol() == Some("email"))
            .collect();
        if !emails.iter().any(|s| s.endpoint() == Some(email.as_str())) {
            if out == Outcome::Unchanged {
                out = Outcome::Updated(vec![change(
                    "event_email",
                    emails.first().and_then(|s| s.endpoint()).unwrap_or("none"),
                    email,
                )]);
            }
            if !cx.dry_run {
                cx.aws
                    .sns
                    .subscribe()
                    .topic_arn(&arn)
                    .protocol("email")
                    .endpoint(email)
                    .return_subscription_arn(true)
                    .send()
                    .await
                    .map_err(|e| aws_err("Subscribe", &name, e))?;
            }
        }
        // Old addresses stop receiving alerts (unconfirmed ones expire by themselves).
        for s in emails
            .iter()
            .filter(|s| s.endpoint() != Some(email.as_str()))
        {
            if let Some(sarn) = s.subscription_arn().filter(|a| a.starts_with("arn:")) {
                if !cx.dry_run {
                    super::deleted(
                        "Unsubscribe",
                        sarn,
                        cx.aws.sns.unsubscribe().subscription_arn(sarn).send().await,
                    )?;
                }
            }
        }
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let out = match find_topic(cx).await? {
            Some(arn) => super::deleted(
                "DeleteTopic",
                &arn,
                cx.aws.sns.delete_topic().topic_arn(&arn).send().await,
            )?,
            None => Outcome::AlreadyAbsent,
        };
        cx.forget(TOPIC)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = topic_name(cx);
        Ok(vec![match find_topic(cx).await? {
            Some(arn) => {
                let subs = cx
                    .aws
                    .sns
                    .list_subscriptions_by_topic()
                    .topic_arn(&arn)
                    .send()
                    .await
                    .map_err(|e| aws_err("ListSubscriptionsByTopic", &name, e))?;
                let emails: Vec<String> = subs
                    .subscriptions()
                    .iter()
                    .filter(|s| s.protocol() == Some("email"))
                    .filter_map(|s| s.endpoint().map(str::to_string))
                    .collect();
                let mut i = Inspection::new(
                    "sns:topic",
                    &name,
                    Some(arn),
                    format!("{} e-mail subscription(s)", emails.len()),
                    true,
                )
                .detail("emails", emails.join(","));
                if !emails.contains(&cx.cfg.database.event_email) {
                    i.drift = Some(format!(
                        "no subscription for {}",
                        cx.cfg.database.event_email
                    ));
                }
                i
            }
            None => Inspection::missing("sns:topic", &name, cx.state.id(TOPIC)),
        }])
    }
}

struct EventSubscriptionStep;

async fn find_event_sub(
    cx: &StepCx,
) -> Result<Option<aws_sdk_rds::types::EventSubscription>, StepError> {
    let name = topic_name(cx);
    let r = absent_ok(
        "DescribeEventSubscriptions",
        &name,
        cx.aws
            .rds
            .describe_event_subscriptions()
            .subscription_name(&name)
            .send()
            .await,
    )?;
    Ok(r.and_then(|o| o.event_subscriptions_list().first().cloned()))
}

#[async_trait]
impl Step for EventSubscriptionStep {
    fn id(&self) -> &'static str {
        "data.db-event-subscription"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["data.events-topic", "data.db-instance"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = topic_name(cx);
        let source = instance_id(cx);
        let mut cats: Vec<String> = EVENT_CATEGORIES.iter().map(|s| s.to_string()).collect();
        cats.sort();
        match find_event_sub(cx).await? {
            Some(s) => {
                cx.record(EVENT_SUB, Resource::new("rds:event-subscription", &name))?;
                let topic = cx.state.id(TOPIC).unwrap_or_default();
                let mut live: Vec<String> = s.event_categories_list().to_vec();
                live.sort();
                let mut changes = vec![];
                if live != cats
                    || s.sns_topic_arn() != Some(topic.as_str())
                    || s.enabled() != Some(true)
                    || s.source_type() != Some("db-instance")
                {
                    changes.push(change("event subscription", live.join("|"), cats.join("|")));
                    if !cx.dry_run {
                        cx.aws
                            .rds
                            .modify_event_subscription()
                            .subscription_name(&name)
                            .sns_topic_arn(&topic)
                            .source_type("db-instance")
                            .set_event_categories(Some(cats.clone()))
                            .enabled(true)
                            .send()
                            .await
                            .map_err(|e| aws_err("ModifyEventSubscription", &name, e))?;
                    }
                }
                for other in s.source_ids_list().iter().filter(|i| **i != source) {
                    changes.push(format!("remove source {other}"));
                    if !cx.dry_run {
                        cx.aws
                            .rds
                            .remove_source_identifier_from_subscription()
                            .subscription_name(&name)
                            .source_identifier(other)
                            .send()
                            .await
                            .map_err(|e| {
                                aws_err("RemoveSourceIdentifierFromSubscription", &name, e)
                            })?;
                    }
                }
                if !s.source_ids_list().contains(&source) {
                    changes.push(format!("add source {source}"));
                    if !cx.dry_run {
                        cx.aws
                            .rds
                            .add_source_identifier_to_subscription()
                            .subscription_name(&name)
                            .source_identifier(&source)
                            .send()
                            .await
                            .map_err(|e| aws_err("AddSourceIdentifierToSubscription", &name, e))?;
                    }
                }
                Ok(if changes.is_empty() {
                    Outcome::Unchanged
                } else {
                    Outcome::Updated(changes)
                })
            }
            None if cx.dry_run => Ok(Outcome::Created),
            None => {
                let topic = cx.require(TOPIC, "data.events-topic")?;
                cx.aws
                    .rds
                    .create_event_subscription()
                    .subscription_name(&name)
                    .sns_topic_arn(topic)
                    .source_type("db-instance")
                    .source_ids(&source)
                    .set_event_categories(Some(cats))
                    .enabled(true)
                    .set_tags(Some(rds_tags(cx, EVENT_SUB, &name)))
                    .send()
                    .await
                    .map_err(|e| aws_err("CreateEventSubscription", &name, e))?;
                cx.record_new(EVENT_SUB, Resource::new("rds:event-subscription", &name))?;
                Ok(Outcome::Created)
            }
        }
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = topic_name(cx);
        let out = match find_event_sub(cx).await? {
            Some(_) => super::deleted(
                "DeleteEventSubscription",
                &name,
                cx.aws
                    .rds
                    .delete_event_subscription()
                    .subscription_name(&name)
                    .send()
                    .await,
            )?,
            None => Outcome::AlreadyAbsent,
        };
        cx.forget(EVENT_SUB)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = topic_name(cx);
        Ok(vec![match find_event_sub(cx).await? {
            Some(s) => Inspection::new(
                "rds:event-subscription",
                &name,
                s.event_subscription_arn().map(str::to_string),
                s.status().unwrap_or("unknown"),
                s.enabled() == Some(true),
            )
            .detail("sources", s.source_ids_list().join(","))
            .detail("categories", s.event_categories_list().join(",")),
            None => Inspection::missing("rds:event-subscription", &name, cx.state.id(EVENT_SUB)),
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn performance_insights_class_support() {
        assert!(performance_insights_supported("db.r6g.large"));
        assert!(performance_insights_supported("db.t3.medium"));
        assert!(!performance_insights_supported("db.t3.micro"));
        assert!(!performance_insights_supported("db.t2.small"));
    }
}
