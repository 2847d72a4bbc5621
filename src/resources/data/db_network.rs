//! The database's security group and DB subnet group.
//!
//! The subnet group needs the private subnets; the instance needs both; on
//! teardown the subnet group waits until the instance no longer uses it.

use super::*;
use crate::resources::network::private_subnet_ids;
use crate::resources::prelude::*;
use crate::resources::shared::sg::destroy_sg;
use crate::resources::shared::sg::ensure_sg;
use crate::resources::shared::sg::expected_ingress;
use crate::resources::shared::sg::inspect_sg;

// ---------------------------------------------------------------- security group, subnet group

pub(crate) struct DbSgStep;

#[async_trait]
impl Step<StepCx> for DbSgStep {
    fn id(&self) -> StepId {
        ids::DATA_DB_SG
    }
    fn deps(&self) -> &'static [StepId] {
        &[ids::NETWORK_VPC]
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
            inspect_sg(cx, SG_DB, "db-sg", &expected_ingress(cx, SG_DB)).await?,
        ])
    }
}

pub(crate) struct DbSubnetGroupStep;

pub(crate) async fn find_subnet_group(
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
impl Step<StepCx> for DbSubnetGroupStep {
    fn id(&self) -> StepId {
        ids::DATA_DB_SUBNET_GROUP
    }
    fn deps(&self) -> &'static [StepId] {
        &[ids::NETWORK_SUBNETS]
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
                    .set_tags(Some(Tags::named(cx, DB_SUBNET_GROUP, &name).render()))
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
            retry_in_use(cx, "DeleteDBSubnetGroup", &name, || {
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
