//! `moodlectl outputs`: what a user needs after `up`, read from the state file.

use super::{inputs, print_table, CmdResult};
use crate::cli::{Cli, OutputFormat};
use crate::config::Config;
use crate::error::exit;
use crate::resources::network::{nat_key, private_rtb_key, subnet_key, AZS, VPC};
use crate::resources::{audit, compute, data, edge};
use crate::state::StateData;
use std::collections::BTreeMap;

/// Outputs derivable from the state file (no AWS call).
pub fn collect(cfg: &Config, st: &StateData) -> BTreeMap<String, String> {
    let id = |k: &str| st.resources.get(k).map(|r| r.id.clone());
    let ids = |f: &dyn Fn(&str) -> String| -> Option<String> {
        let v: Vec<String> = AZS.iter().filter_map(|az| id(&f(az))).collect();
        (!v.is_empty()).then(|| v.join(","))
    };
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    };
    put("vpc_id", id(VPC));
    put("public_subnet_ids", ids(&|az| subnet_key(true, az)));
    put("private_subnet_ids", ids(&|az| subnet_key(false, az)));
    put("nat_gateway_ids", ids(&|az| nat_key(az)));
    put("private_route_table_ids", ids(&|az| private_rtb_key(az)));
    let attr = |k: &str, a: &str| st.resources.get(k).and_then(|r| r.attrs.get(a).cloned());
    put(
        "db_endpoint",
        attr(data::DB_INSTANCE, "host")
            .map(|h| format!("{h}:{}", attr(data::DB_INSTANCE, "port").unwrap_or("3306".into()))),
    );
    put("db_secret_arn", id(data::DB_SECRET));
    put(
        "redis_primary_endpoint",
        attr(data::REPLICATION_GROUP, "host")
            .map(|h| format!("{h}:{}", attr(data::REPLICATION_GROUP, "port").unwrap_or("6379".into()))),
    );
    put("efs_file_system_id", id(data::EFS));
    put("efs_access_point_id", id(data::ACCESS_POINT));
    put("rds_events_topic_arn", id(data::TOPIC));
    put("alb_dns_name", attr(edge::ALB, "dns"));
    put("cloudfront_domain", attr(edge::DISTRIBUTION, "domain"));
    put("cloudfront_distribution_id", id(edge::DISTRIBUTION));
    put("waf_web_acl_arn", id(edge::WEB_ACL));
    put("origin_verify_secret_arn", id(edge::ORIGIN_SECRET));
    put("cloudtrail_bucket", id(audit::BUCKET));
    put("ecs_cluster", attr(compute::CLUSTER, "name"));
    put("ecs_service", attr(compute::SERVICE, "name"));
    put("ecs_task_definition", id(compute::TASK_DEF));
    put("container_log_group", id(compute::LOG_GROUP));
    put("moodle_admin_secret_arn", id(compute::ADMIN_SECRET));
    put("ecs_cron_service", attr(compute::CRON_SERVICE, "name"));
    put("backup_vault", id(crate::resources::keys::BACKUP_VAULT));
    let dashboard = id(crate::resources::keys::DASHBOARD);
    put("dashboard_url", dashboard.map(|d| crate::resources::observe::dashboard_url(&cfg.stack.region, &d)));
    put(
        "moodle_admin_password_command",
        id(compute::ADMIN_SECRET).map(|a| {
            format!(
                "aws secretsmanager get-secret-value --region {} --secret-id {a} --query SecretString --output text",
                cfg.stack.region
            )
        }),
    );
    put("site_url", Some(format!("https://{}", cfg.domain.name)));
    put("dns_record", attr(edge::DISTRIBUTION, "domain").map(|d| format!("{} CNAME {d}", cfg.domain.name)));
    put("moodle_admin_user", Some(cfg.moodle.admin_user.clone()));
    m
}

pub async fn run(cli: &Cli) -> CmdResult {
    let inp = inputs(cli)?;
    let store = super::open_state(&inp, false).await?;
    if !store.existed() {
        return Err(super::CmdError::runtime(anyhow::anyhow!(
            "no state at {}: the stack `{}` has not been created (run `moodlectl up`)",
            store.path().display(),
            inp.cfg.stack.name
        )));
    }
    let st = store.snapshot();
    let outs = collect(&inp.cfg, &st);
    print(cli, &outs);
    Ok(exit::OK)
}

pub fn print(cli: &Cli, outs: &BTreeMap<String, String>) {
    match cli.output {
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(outs).expect("outputs serialise"))
        }
        OutputFormat::Text => {
            let rows: Vec<Vec<String>> = outs.iter().map(|(k, v)| vec![k.clone(), v.clone()]).collect();
            print_table(&mut std::io::stdout().lock(), &["OUTPUT", "VALUE"], &rows);
        }
    }
}
