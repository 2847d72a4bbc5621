//! The DB subnet group and the cache subnet group: RDS and ElastiCache each
//! name the private subnets a database or cache may use, with the same
//! lifecycle — create with the subnets, change the subnets in place, delete
//! once nothing uses the group.
//!
//! Both need the private subnets. On teardown the DB subnet group is refused
//! while the instance still uses it (`InvalidDBSubnetGroupStateFault` while
//! the instance is deleting), so its delete waits; the replication group's
//! delete already waits until it is gone.

use super::*;
use crate::resources::network::private_subnet_ids;
use crate::resources::prelude::*;
use std::future::Future;

/// What differs between the two services.
pub trait SubnetGroupApi: Send + Sync + 'static {
    const KEY: &'static str;
    const KIND: &'static str;
    fn name(cx: &StepCx) -> String;
    /// The group's subnets and status, if it exists.
    fn read(cx: &StepCx, name: &str) -> impl Future<Output = Result<Option<(Vec<String>, String)>, StepError>> + Send;
    fn create(cx: &StepCx, name: &str, subnets: Vec<String>) -> impl Future<Output = Result<(), StepError>> + Send;
    fn modify(cx: &StepCx, name: &str, subnets: Vec<String>) -> impl Future<Output = Result<(), StepError>> + Send;
    fn delete(cx: &StepCx, name: &str) -> impl Future<Output = Result<Outcome, StepError>> + Send;
}

pub struct SubnetGroupStep<A>(std::marker::PhantomData<A>);

impl<A> SubnetGroupStep<A> {
    pub const fn new() -> Self {
        SubnetGroupStep(std::marker::PhantomData)
    }
}

impl<A> Default for SubnetGroupStep<A> {
    fn default() -> Self {
        Self::new()
    }
}

fn description(cx: &StepCx) -> String {
    format!("moodlectl {}: private subnets", cx.cfg.stack.name)
}

#[async_trait]
impl<A: SubnetGroupApi> Step<StepCx> for SubnetGroupStep<A> {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = A::name(cx);
        // A plan before the subnets exist compares against nothing.
        let mut want = if cx.dry_run { private_subnet_ids(cx).unwrap_or_default() } else { private_subnet_ids(cx)? };
        want.sort();
        let Some((mut live, _)) = A::read(cx, &name).await? else {
            dry_run!(cx, Outcome::Created);
            A::create(cx, &name, want).await?;
            cx.record_new(A::KEY, Resource::new(A::KIND, &name))?;
            return Ok(Outcome::Created);
        };
        cx.record(A::KEY, Resource::new(A::KIND, &name))?;
        live.sort();
        if live == want || want.is_empty() {
            return Ok(Outcome::Unchanged);
        }
        let change = change("subnets", live.join(","), want.join(","));
        if !cx.dry_run {
            A::modify(cx, &name, want).await?;
        }
        Ok(Outcome::Updated(vec![change]))
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = A::name(cx);
        let out = match A::read(cx, &name).await? {
            Some(_) => A::delete(cx, &name).await?,
            None => Outcome::AlreadyAbsent,
        };
        cx.forget(A::KEY)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = A::name(cx);
        Ok(vec![match A::read(cx, &name).await? {
            Some((subnets, status)) => Inspection::new(A::KIND, &name, Some(name.clone()), status, true)
                .detail("subnets", subnets.len().to_string()),
            None => Inspection::missing(A::KIND, &name, cx.state.id(A::KEY)),
        }])
    }
}

/// RDS's DB subnet group.
pub struct DbSubnets;

impl SubnetGroupApi for DbSubnets {
    const KEY: &'static str = DB_SUBNET_GROUP;
    const KIND: &'static str = "rds:subnet-group";
    fn name(cx: &StepCx) -> String {
        subnet_group_name(cx)
    }
    async fn read(cx: &StepCx, name: &str) -> Result<Option<(Vec<String>, String)>, StepError> {
        let r = cx.aws.rds.describe_db_subnet_groups().db_subnet_group_name(name).send().await;
        Ok(absent_ok("DescribeDBSubnetGroups", name, r)?.and_then(|o| o.db_subnet_groups().first().cloned()).map(|g| {
            let status = g.subnet_group_status().unwrap_or("Complete").to_lowercase();
            (g.subnets().iter().filter_map(|s| s.subnet_identifier().map(str::to_string)).collect(), status)
        }))
    }
    async fn create(cx: &StepCx, name: &str, subnets: Vec<String>) -> Result<(), StepError> {
        let tags = Tags::named(cx, Self::KEY, name).render();
        let req = cx.aws.rds.create_db_subnet_group().db_subnet_group_name(name);
        let req = req.db_subnet_group_description(description(cx)).set_subnet_ids(Some(subnets));
        req.set_tags(Some(tags)).send().await.ctx("CreateDBSubnetGroup", name)?;
        Ok(())
    }
    async fn modify(cx: &StepCx, name: &str, subnets: Vec<String>) -> Result<(), StepError> {
        let req = cx.aws.rds.modify_db_subnet_group().db_subnet_group_name(name).set_subnet_ids(Some(subnets));
        req.send().await.ctx("ModifyDBSubnetGroup", name)?;
        Ok(())
    }
    async fn delete(cx: &StepCx, name: &str) -> Result<Outcome, StepError> {
        retry_in_use(cx, "DeleteDBSubnetGroup", name, || {
            cx.aws.rds.delete_db_subnet_group().db_subnet_group_name(name).send()
        })
        .await
    }
}

/// ElastiCache's cache subnet group.
pub struct CacheSubnets;

impl SubnetGroupApi for CacheSubnets {
    const KEY: &'static str = CACHE_SUBNET_GROUP;
    const KIND: &'static str = "elasticache:subnet-group";
    fn name(cx: &StepCx) -> String {
        cache_subnet_group_name(cx)
    }
    async fn read(cx: &StepCx, name: &str) -> Result<Option<(Vec<String>, String)>, StepError> {
        let r = cx.aws.elasticache.describe_cache_subnet_groups().cache_subnet_group_name(name).send().await;
        Ok(absent_ok("DescribeCacheSubnetGroups", name, r)?.and_then(|o| o.cache_subnet_groups().first().cloned()).map(
            |g| {
                let subnets = g.subnets().iter().filter_map(|s| s.subnet_identifier().map(str::to_string)).collect();
                (subnets, "exists".to_string())
            },
        ))
    }
    async fn create(cx: &StepCx, name: &str, subnets: Vec<String>) -> Result<(), StepError> {
        let tags = Tags::named(cx, Self::KEY, name).render();
        let req = cx.aws.elasticache.create_cache_subnet_group().cache_subnet_group_name(name);
        let req = req.cache_subnet_group_description(description(cx)).set_subnet_ids(Some(subnets));
        req.set_tags(Some(tags)).send().await.ctx("CreateCacheSubnetGroup", name)?;
        Ok(())
    }
    async fn modify(cx: &StepCx, name: &str, subnets: Vec<String>) -> Result<(), StepError> {
        let req = cx.aws.elasticache.modify_cache_subnet_group().cache_subnet_group_name(name);
        req.set_subnet_ids(Some(subnets)).send().await.ctx("ModifyCacheSubnetGroup", name)?;
        Ok(())
    }
    async fn delete(cx: &StepCx, name: &str) -> Result<Outcome, StepError> {
        let r = cx.aws.elasticache.delete_cache_subnet_group().cache_subnet_group_name(name).send().await;
        deleted("DeleteCacheSubnetGroup", name, r)
    }
}

pub(crate) const DB_SUBNET_GROUP_DEF: SubnetGroupStep<DbSubnets> = SubnetGroupStep::new();
pub(crate) const CACHE_SUBNET_GROUP_DEF: SubnetGroupStep<CacheSubnets> = SubnetGroupStep::new();
