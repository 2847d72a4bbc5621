//! The database's parameter group: the settings that make the exported logs
//! say something, and TLS required. RDS's default groups keep the
//! slow-query log off and (for MySQL) write logs to a table
//! (`log_output=TABLE`), which CloudWatch Logs export cannot read: an
//! exported `slowquery` log stays empty. Ours turns the slow-query log on for
//! statements over 2 s and writes logs to files.
//!
//! With `database.require_tls` (the default) the group also gets
//! `require_secure_transport=1`: the server refuses any connection without
//! TLS, so a client that forgets it fails loudly instead of sending the
//! password and every query in clear inside the VPC. The image connects with
//! TLS when the task's `MOODLE_DATABASE_TLS` says so (checked against real
//! Moodle by `scripts/real-moodle-check`). Order matters on a running site
//! (the parameter is dynamic: it applies at once):
//! - turning it **on** waits until both services run the task definition
//!   that connects with TLS ([`DbRequireTlsStep`], after the services) —
//!   set first, it would cut off the tasks still connecting in clear;
//! - turning it **off** happens here, before the services roll out tasks
//!   that connect in clear.
//!
//! AWS rules encoded here:
//! - A parameter group belongs to one family — the engine and its major
//!   version (`mysql8.4`, `mariadb11.4`; Aurora: a *cluster* parameter group
//!   of `aurora-mysql8.0`); a new family is a new group.
//! - These parameters are dynamic: a group's change applies at once. A group
//!   newly attached to a running instance applies at its next reboot
//!   (`pending-reboot`); `plan`/`up` say so rather than rebooting the site.
//! - A group in use cannot be deleted: it goes after the database.

use super::*;
use crate::resources::prelude::*;
use aws_sdk_rds::types::{ApplyMethod, Parameter};

/// (name, value) of the parameters we always set.
pub const DB_PARAMETERS: &[(&str, &str)] = &[("slow_query_log", "1"), ("long_query_time", "2"), ("log_output", "FILE")];

/// Refuses connections without TLS.
const SECURE_TRANSPORT: &str = "require_secure_transport";

/// Every (name, value) this step makes the group hold: with TLS not
/// required, `require_secure_transport=0` too (turned off before the
/// services start tasks that connect in clear); turning it on is
/// [`DbRequireTlsStep`]'s.
fn wanted(cx: &StepCx) -> Vec<(&'static str, &'static str)> {
    let off = (!cx.cfg.database.require_tls).then_some((SECURE_TRANSPORT, "0"));
    DB_PARAMETERS.iter().copied().chain(off).collect()
}

pub fn parameter_group_name(cx: &StepCx) -> String {
    cx.cfg.name("db-params")
}

/// The family of the configured engine and version.
pub fn parameter_family(cx: &StepCx) -> String {
    family_of(&cx.cfg.database)
}

fn family_of(d: &crate::config::DatabaseCfg) -> String {
    let major_minor = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
    match d.engine {
        DbEngine::Mysql | DbEngine::Mariadb => {
            format!("{}{}", engine_name(d.engine), major_minor(d.engine_version().unwrap_or_default()))
        }
        // `8.0.mysql_aurora.3.x`, or AWS's default (Aurora MySQL 3, MySQL 8.0).
        _ => format!("aurora-mysql{}", d.engine_version().map(major_minor).unwrap_or_else(|| "8.0".into())),
    }
}

fn parameters(want: &[(&str, &str)]) -> Vec<Parameter> {
    want.iter()
        .map(|(k, v)| {
            Parameter::builder().parameter_name(*k).parameter_value(*v).apply_method(ApplyMethod::Immediate).build()
        })
        .collect()
}

/// Write `want` into the group (cluster group for Aurora).
async fn modify(cx: &StepCx, name: &str, want: &[(&str, &str)]) -> Result<(), StepError> {
    let rds = &cx.aws.rds;
    if is_aurora(cx) {
        let call = rds.modify_db_cluster_parameter_group().db_cluster_parameter_group_name(name);
        call.set_parameters(Some(parameters(want))).send().await.ctx("ModifyDBClusterParameterGroup", name)?;
    } else {
        let call = rds.modify_db_parameter_group().db_parameter_group_name(name);
        call.set_parameters(Some(parameters(want))).send().await.ctx("ModifyDBParameterGroup", name)?;
    }
    Ok(())
}

/// The user-set parameters of the group, or None when it does not exist.
async fn live(cx: &StepCx, name: &str) -> Result<Option<(String, Vec<(String, String)>)>, StepError> {
    let rds = &cx.aws.rds;
    let (family, params) = if is_aurora(cx) {
        let g = rds.describe_db_cluster_parameter_groups().db_cluster_parameter_group_name(name).send().await;
        let g = g.or_absent("DescribeDBClusterParameterGroups", name)?;
        // AWS answers not-found for an unknown name; an empty list is read the same.
        let Some(g) = g.and_then(|g| g.db_cluster_parameter_groups().first().cloned()) else { return Ok(None) };
        let family = g.db_parameter_group_family();
        let p = rds.describe_db_cluster_parameters().db_cluster_parameter_group_name(name).source("user").send().await;
        (family.unwrap_or_default().to_string(), p.ctx("DescribeDBClusterParameters", name)?.parameters().to_vec())
    } else {
        let g = rds.describe_db_parameter_groups().db_parameter_group_name(name).send().await;
        let g = g.or_absent("DescribeDBParameterGroups", name)?;
        let Some(g) = g.and_then(|g| g.db_parameter_groups().first().cloned()) else { return Ok(None) };
        let family = g.db_parameter_group_family();
        let p = rds.describe_db_parameters().db_parameter_group_name(name).source("user").send().await;
        (family.unwrap_or_default().to_string(), p.ctx("DescribeDBParameters", name)?.parameters().to_vec())
    };
    let set = params
        .iter()
        .filter_map(|p| Some((p.parameter_name()?.to_string(), p.parameter_value()?.to_string())))
        .collect();
    Ok(Some((family, set)))
}

fn missing(want: &[(&str, &str)], set: &[(String, String)]) -> Vec<String> {
    want.iter()
        .filter(|(k, v)| !set.iter().any(|(lk, lv)| lk == k && lv == v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

pub(crate) struct DbParamsStep;

#[async_trait]
impl Step<StepCx> for DbParamsStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let (name, family) = (parameter_group_name(cx), parameter_family(cx));
        let rds = &cx.aws.rds;
        let aurora = is_aurora(cx);
        let key = DB_PARAMS;
        let (out, set) = match live(cx, &name).await? {
            Some((live_family, _)) if live_family != family => {
                return Err(StepError::Refused(format!(
                    "DB parameter group {name} is of family {live_family}, the configured engine needs {family}: \
                     a major version change is not done in place by moodlectl"
                )));
            }
            Some((_, set)) => {
                cx.record(key, Resource::new("rds:parameter-group", &name).with("family", &family))?;
                (Outcome::Unchanged, set)
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let tags = Some(Tags::named(cx, key, &name).render());
                let desc = format!("moodlectl {}: slow-query log, logs to files, TLS", cx.cfg.stack.name);
                if aurora {
                    let call = rds.create_db_cluster_parameter_group().db_cluster_parameter_group_name(&name);
                    let call = call.db_parameter_group_family(&family).description(desc).set_tags(tags);
                    call.send().await.ctx("CreateDBClusterParameterGroup", &name)?;
                } else {
                    let call = rds.create_db_parameter_group().db_parameter_group_name(&name);
                    let call = call.db_parameter_group_family(&family).description(desc).set_tags(tags);
                    call.send().await.ctx("CreateDBParameterGroup", &name)?;
                }
                cx.record_new(key, Resource::new("rds:parameter-group", &name).with("family", &family))?;
                (Outcome::Created, vec![])
            }
        };
        let want = wanted(cx);
        let todo = missing(&want, &set);
        if todo.is_empty() {
            return Ok(out);
        }
        if !cx.dry_run {
            modify(cx, &name, &want).await?;
        }
        Ok(if out == Outcome::Created {
            out
        } else {
            Outcome::Updated(vec![format!("parameters: {}", todo.join(", "))])
        })
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = parameter_group_name(cx);
        let found = live(cx, &name).await?.map(|_| name.clone());
        let aurora = is_aurora(cx);
        cx.remove(DB_PARAMS, found, |name| async move {
            let rds = &cx.aws.rds;
            if aurora {
                let r = rds.delete_db_cluster_parameter_group().db_cluster_parameter_group_name(&name).send().await;
                deleted("DeleteDBClusterParameterGroup", &name, r)
            } else {
                let r = rds.delete_db_parameter_group().db_parameter_group_name(&name).send().await;
                deleted("DeleteDBParameterGroup", &name, r)
            }
        })
        .await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = parameter_group_name(cx);
        let found = live(cx, &name).await?;
        cx.inspect_one(DB_PARAMS, "rds:parameter-group", &name, found, |i, (family, set)| {
            let mut i = i.status(Some(&name), family, true);
            // Everything the group should hold once `up` is done, TLS included.
            let mut want = wanted(cx);
            want.extend(cx.cfg.database.require_tls.then_some((SECURE_TRANSPORT, "1")));
            let todo = missing(&want, &set);
            if !todo.is_empty() {
                i.drift = Some(format!("parameters differ: want {}", todo.join(", ")));
            }
            i
        })
    }
}

/// `require_secure_transport=1`, once both services run tasks that connect
/// with TLS (see the module header for why after them).
pub(crate) struct DbRequireTlsStep;

#[async_trait]
impl Step<StepCx> for DbRequireTlsStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        if !cx.cfg.database.require_tls {
            return Ok(Outcome::Unchanged); // turned off by the group's own step
        }
        let name = parameter_group_name(cx);
        let want = [(SECURE_TRANSPORT, "1")];
        let todo = match live(cx, &name).await? {
            Some((_, set)) => missing(&want, &set),
            None if cx.dry_run => return Ok(Outcome::Created),
            None => return Err(StepError::MissingDependency { step: ids::DATA_DB_PARAMS, what: DB_PARAMS.into() }),
        };
        if todo.is_empty() {
            return Ok(Outcome::Unchanged);
        }
        if !cx.dry_run {
            modify(cx, &name, &want).await?;
        }
        Ok(Outcome::Updated(vec![format!("parameters: {} (the services connect with TLS)", todo.join(", "))]))
    }
    async fn destroy(&self, _cx: &StepCx) -> Result<Outcome, StepError> {
        Ok(Outcome::AlreadyAbsent) // the setting goes with the group
    }
    async fn inspect(&self, _cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![]) // the group's row carries it
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn families_follow_engine_and_major_version() {
        let fam = |engine: &str, v: Option<&str>| {
            let d = crate::config::DatabaseCfg {
                engine: serde_json::from_value(serde_json::json!(engine)).unwrap(),
                engine_version: v.map(str::to_string),
                ..Default::default()
            };
            super::family_of(&d)
        };
        assert_eq!(fam("mysql", None), "mysql8.4");
        assert_eq!(fam("mysql", Some("8.0.39")), "mysql8.0");
        assert_eq!(fam("mariadb", None), "mariadb11.4");
        assert_eq!(fam("aurora-mysql", None), "aurora-mysql8.0");
        assert_eq!(fam("aurora-serverless", Some("8.0.mysql_aurora.3.08.0")), "aurora-mysql8.0");
    }
}
