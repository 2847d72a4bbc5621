//! The stack: its steps, the graph they form, and what they share.
//!
//! One directory per tier, named as its steps are (`network/`, `data/`,
//! `edge/`, `compute/`, `audit/`), one file per resource holding its whole
//! lifecycle (find, create, update, wait, delete, inspect); what several
//! resources share is in `shared/` (tags, lookups, waits, retries, security
//! groups, IAM roles, log groups, secrets). [`graph`] is the one registry `up`,
//! `down`, `plan`, `status` and the benchmark read.

pub mod audit;
pub mod compute;
pub mod context;
pub mod data;
pub mod edge;
pub mod ids;
pub mod keys;
pub mod names;
pub mod network;
pub mod observe;
pub mod prelude;
pub mod shared;

pub use context::{Ctx, Options, StepCx};
pub use observe::alarm_count;

use crate::engine::Graph;
use crate::engine::{Step, StepId};
use prelude::Node;

/// Every step of the stack, in the order ready steps start: the slowest
/// chains first (the database, then the service, the cache, the edge).
pub fn steps() -> Vec<Node> {
    use ids::*;
    use observe::KeyPurpose;
    vec![
        // data: the database
        node(
            DATA_DB_INSTANCE,
            &[
                DATA_DB_SUBNET_GROUP,
                DATA_DB_SG,
                DATA_DB_SECRET,
                DATA_DB_LOG_GROUPS,
                DATA_DB_PARAMS,
                DATA_DB_MONITORING_ROLE,
            ],
            &data::DbInstanceStep,
        ),
        node(DATA_DB_PARAMS, &[], &data::DbParamsStep),
        node(DATA_DB_LOG_GROUPS, &[OBSERVE_ALERTS_KEY], &data::DbLogGroupsStep),
        node(DATA_DB_SUBNET_GROUP, &[NETWORK_SUBNETS], &data::DB_SUBNET_GROUP_DEF),
        node(DATA_DB_SG, &[NETWORK_VPC], &data::DB_SG),
        node(DATA_DB_MONITORING_ROLE, &[], &data::DB_MONITORING_ROLE_DEF),
        // After both services: only then does every task connect with TLS.
        node(DATA_DB_REQUIRE_TLS, &[DATA_DB_PARAMS, COMPUTE_SERVICE, COMPUTE_CRON_SERVICE], &data::DbRequireTlsStep),
        node(DATA_DB_SECRET, &[], &data::DB_CREDENTIALS),
        node(DATA_DB_SECRET_ENDPOINT, &[DATA_DB_INSTANCE, DATA_DB_SECRET], &data::DbSecretEndpointStep),
        node(DATA_EVENTS_TOPIC, &[OBSERVE_ALERTS_KEY], &data::TopicStep { global: false }),
        node(DATA_DB_EVENT_SUBSCRIPTION, &[DATA_EVENTS_TOPIC, DATA_DB_INSTANCE], &data::EventSubscriptionStep),
        // compute
        node(
            COMPUTE_SERVICE,
            &[
                COMPUTE_TASK_DEFINITION,
                COMPUTE_CLUSTER,
                COMPUTE_SERVICE_SG,
                COMPUTE_SG_RULES,
                EDGE_LISTENERS,
                NETWORK_SUBNETS,
                NETWORK_NAT_ROUTES,
                NETWORK_INTERFACE_ENDPOINTS,
                // Tasks mount EFS at start; on `down` the mount targets stay
                // until the tasks are gone. Mounting needs the policy's grant.
                DATA_EFS_MOUNT_TARGETS,
                DATA_EFS_POLICY,
            ],
            &compute::WEB_SERVICE,
        ),
        node(
            COMPUTE_CRON_SERVICE,
            &[
                COMPUTE_CRON_TASK_DEFINITION,
                COMPUTE_CLUSTER,
                COMPUTE_SERVICE_SG,
                COMPUTE_SG_RULES,
                NETWORK_SUBNETS,
                NETWORK_NAT_ROUTES,
                NETWORK_INTERFACE_ENDPOINTS,
                DATA_EFS_MOUNT_TARGETS,
                DATA_EFS_POLICY,
            ],
            &compute::CRON_SERVICE_STEP,
        ),
        node(COMPUTE_TASK_DEFINITION, TASK_DEFINITION_DEPS, &compute::WEB_TASK_DEF),
        node(COMPUTE_CRON_TASK_DEFINITION, TASK_DEFINITION_DEPS, &compute::CRON_TASK_DEF_STEP),
        node(COMPUTE_LOG_GROUP, &[OBSERVE_ALERTS_KEY], &compute::CONTAINER_LOGS),
        node(COMPUTE_ADMIN_SECRET, &[], &compute::ADMIN_SECRET_VALUE),
        node(COMPUTE_EXECUTION_ROLE, &[DATA_DB_SECRET, COMPUTE_ADMIN_SECRET], &compute::EXEC_ROLE_DEF),
        node(COMPUTE_TASK_ROLE, &[], &compute::TASK_ROLE_DEF),
        node(COMPUTE_CLUSTER, &[], &compute::ClusterStep),
        node(COMPUTE_SERVICE_SG, &[NETWORK_VPC, EDGE_ALB_SG], &compute::SERVICE_SG),
        node(COMPUTE_SG_RULES, &[COMPUTE_SERVICE_SG, DATA_DB_SG, DATA_EFS_SG, DATA_CACHE_SG], &compute::SgRulesStep),
        node(COMPUTE_AUTOSCALING, &[COMPUTE_SERVICE], &compute::AutoscalingStep),
        // data: the cache
        node(DATA_REDIS, &[DATA_CACHE_SUBNET_GROUP, DATA_CACHE_SG], &data::ReplicationGroupStep),
        node(DATA_CACHE_SUBNET_GROUP, &[NETWORK_SUBNETS], &data::CACHE_SUBNET_GROUP_DEF),
        node(DATA_CACHE_SG, &[NETWORK_VPC], &data::CACHE_SG),
        // edge: load balancer
        node(EDGE_ALB_SG, &[NETWORK_VPC], &edge::ALB_SG),
        node(EDGE_ALB, &[NETWORK_SUBNETS, NETWORK_IGW, EDGE_ALB_SG, AUDIT_LOGS_BUCKET], &edge::AlbStep),
        node(EDGE_TARGET_GROUP, &[NETWORK_VPC], &edge::TargetGroupStep),
        node(EDGE_LISTENERS, &[EDGE_ALB, EDGE_TARGET_GROUP, EDGE_ORIGIN_SECRET], &edge::ListenersStep),
        node(EDGE_ORIGIN_SECRET, &[], &edge::ORIGIN_SECRET_VALUE),
        // edge: WAF and CloudFront
        node(EDGE_WAF, &[], &edge::WebAclStep),
        node(EDGE_WAF_LOG_GROUP, &[OBSERVE_ALERTS_KEY, OBSERVE_ALERTS_KEY_GLOBAL], &edge::WAF_LOGS),
        node(EDGE_WAF_LOGGING, &[EDGE_WAF, EDGE_WAF_LOG_GROUP], &edge::WafLoggingStep),
        node(EDGE_CLOUDFRONT, &[EDGE_ALB, EDGE_WAF, EDGE_ORIGIN_SECRET, AUDIT_LOGS_BUCKET], &edge::DistributionStep),
        // network
        node(NETWORK_VPC, &[], &network::VpcStep),
        node(NETWORK_VPC_DNS, &[NETWORK_VPC], &network::VpcDnsStep),
        node(NETWORK_DEFAULT_SG, &[NETWORK_VPC], &network::DefaultSgStep),
        node(NETWORK_DEFAULT_NACL, &[NETWORK_VPC], &network::DefaultNaclStep),
        node(NETWORK_SUBNETS, &[NETWORK_VPC], &network::SubnetsStep),
        node(NETWORK_PUBLIC_SUBNET_IP, &[NETWORK_SUBNETS], &network::PublicSubnetIpStep),
        node(NETWORK_EIPS, &[], &network::EipsStep),
        node(NETWORK_IGW, &[NETWORK_VPC], &network::IgwStep),
        node(NETWORK_NAT, &[NETWORK_SUBNETS, NETWORK_EIPS, NETWORK_IGW], &network::NatStep),
        node(NETWORK_ENDPOINT_SG, &[NETWORK_VPC], &network::ENDPOINT_SG),
        node(
            NETWORK_INTERFACE_ENDPOINTS,
            &[NETWORK_SUBNETS, NETWORK_ENDPOINT_SG, NETWORK_VPC_DNS],
            &network::InterfaceEndpointsStep,
        ),
        node(NETWORK_PUBLIC_ROUTES, &[NETWORK_SUBNETS, NETWORK_IGW], &network::PublicRoutesStep),
        node(NETWORK_PRIVATE_ROUTE_TABLES, &[NETWORK_SUBNETS], &network::PrivateRouteTablesStep),
        node(NETWORK_NAT_ROUTES, &[NETWORK_PRIVATE_ROUTE_TABLES, NETWORK_NAT], &network::NatRoutesStep),
        node(NETWORK_S3_ENDPOINT, &[NETWORK_PRIVATE_ROUTE_TABLES], &network::S3EndpointStep),
        node(NETWORK_FLOW_LOG_ROLE, &[], &network::FLOW_ROLE_DEF),
        node(NETWORK_FLOW_LOG_GROUP, &[OBSERVE_ALERTS_KEY], &network::FLOW_LOGS),
        node(NETWORK_FLOW_LOG, &[NETWORK_VPC, NETWORK_FLOW_LOG_ROLE, NETWORK_FLOW_LOG_GROUP], &network::FlowLogStep),
        // data: EFS
        node(DATA_EFS, &[], &data::EfsStep),
        node(DATA_EFS_SG, &[NETWORK_VPC], &data::EFS_SG),
        node(DATA_EFS_MOUNT_TARGETS, &[DATA_EFS, DATA_EFS_SG, NETWORK_SUBNETS], &data::MountTargetsStep),
        node(DATA_EFS_ACCESS_POINT, &[DATA_EFS], &data::AccessPointStep),
        node(DATA_EFS_POLICY, &[DATA_EFS, DATA_EFS_ACCESS_POINT, COMPUTE_TASK_ROLE], &data::EfsPolicyStep),
        node(DATA_EFS_OLD_ACCESS_POINTS, &[COMPUTE_SERVICE, COMPUTE_CRON_SERVICE], &data::OldAccessPointsStep),
        // data: backups of the file system (AWS Backup; DB snapshots are RDS's own)
        node(DATA_BACKUP_VAULT, &[], &data::BackupVaultStep),
        node(DATA_BACKUP_ROLE, &[], &data::BACKUP_ROLE_DEF),
        node(
            DATA_BACKUP_PLAN,
            &[DATA_BACKUP_VAULT, DATA_BACKUP_ROLE, DATA_DB_INSTANCE, DATA_EFS],
            &data::BackupPlanStep,
        ),
        // observe: what to watch once it all exists
        node(
            OBSERVE_ALARMS,
            &[
                DATA_EVENTS_TOPIC,
                OBSERVE_ALERTS_TOPIC_GLOBAL,
                EDGE_ALB,
                EDGE_TARGET_GROUP,
                EDGE_CLOUDFRONT,
                DATA_DB_INSTANCE,
                DATA_REDIS,
                DATA_EFS,
                COMPUTE_SERVICE,
                COMPUTE_CRON_SERVICE,
                // The security alarms watch the filters' metrics.
                AUDIT_SECURITY_FILTERS,
            ],
            &observe::AlarmsStep,
        ),
        node(OBSERVE_DASHBOARD, &[OBSERVE_ALARMS], &observe::DashboardStep),
        node(OBSERVE_ALERTS_KEY, &[], &observe::KeyStep { purpose: KeyPurpose::Alerts { global: false } }),
        node(OBSERVE_ALERTS_KEY_GLOBAL, &[], &observe::KeyStep { purpose: KeyPurpose::Alerts { global: true } }),
        node(OBSERVE_ALERTS_TOPIC_GLOBAL, &[OBSERVE_ALERTS_KEY_GLOBAL], &data::TopicStep { global: true }),
        // audit
        node(AUDIT_KEY, &[], &observe::KeyStep { purpose: KeyPurpose::Audit }),
        node(AUDIT_BUCKET, &[AUDIT_LOGS_BUCKET], &audit::BucketStep),
        node(AUDIT_TRAIL, &[AUDIT_BUCKET, AUDIT_KEY, AUDIT_TRAIL_LOG_GROUP, AUDIT_TRAIL_LOGS_ROLE], &audit::TrailStep),
        node(AUDIT_TRAIL_LOG_GROUP, &[OBSERVE_ALERTS_KEY], &audit::TRAIL_LOGS),
        node(AUDIT_TRAIL_LOGS_ROLE, &[], &audit::TRAIL_LOGS_ROLE_DEF),
        node(AUDIT_SECURITY_FILTERS, &[AUDIT_TRAIL_LOG_GROUP], &audit::SecurityFiltersStep),
        node(AUDIT_LOGS_BUCKET, &[], &audit::LogsBucketStep),
    ]
}

/// What both services' task definitions name: logs, roles, secrets, the
/// database and cache endpoints, the file system's access point.
const TASK_DEFINITION_DEPS: &[StepId] = &[
    ids::COMPUTE_LOG_GROUP,
    ids::COMPUTE_EXECUTION_ROLE,
    ids::COMPUTE_TASK_ROLE,
    ids::COMPUTE_ADMIN_SECRET,
    ids::DATA_DB_INSTANCE,
    ids::DATA_DB_SECRET,
    ids::DATA_REDIS,
    ids::DATA_EFS_ACCESS_POINT,
];

/// One row of [`steps`]: a step, its ID and what must be done before it.
const fn node(id: StepId, deps: &'static [StepId], step: &'static dyn Step<StepCx>) -> Node {
    Node { id, deps, step }
}

/// The stack's graph, checked (unique IDs, known dependencies, no cycle).
pub fn graph() -> Graph<StepCx> {
    Graph::new(steps()).expect("the stack's step graph is valid (see the graph test)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_graph_is_valid() {
        Graph::new(steps()).unwrap();
    }

    #[test]
    fn the_service_waits_for_the_file_system_it_mounts() {
        // Tasks mount EFS when they start; on `down` the mount targets must
        // outlive the draining tasks.
        let service = steps().into_iter().find(|n| n.id == ids::COMPUTE_SERVICE).unwrap();
        assert!(service.deps.contains(&ids::DATA_EFS_MOUNT_TARGETS));
    }
}
