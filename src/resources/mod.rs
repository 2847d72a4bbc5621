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
pub mod network;
pub mod prelude;
pub mod shared;

pub use context::{Ctx, Options, StepCx};

use crate::engine::Graph;
use prelude::Node;

/// Every step of the stack, in the order ready steps start: the slowest
/// chains first (the database, then the service, the cache, the edge).
pub fn steps() -> Vec<Node> {
    vec![
        // data: the database
        data::DB_INSTANCE_STEP,
        data::DB_SUBNET_GROUP_STEP,
        data::DB_SG_STEP,
        data::DB_SECRET_STEP,
        data::DB_SECRET_ENDPOINT_STEP,
        data::TOPIC_STEP,
        data::EVENT_SUBSCRIPTION_STEP,
        // compute
        compute::SERVICE_STEP,
        compute::TASK_DEF_STEP,
        compute::LOG_GROUP_STEP,
        compute::ADMIN_SECRET_STEP,
        compute::EXEC_ROLE_STEP,
        compute::TASK_ROLE_STEP,
        compute::CLUSTER_STEP,
        compute::SERVICE_SG_STEP,
        compute::SG_RULES_STEP,
        compute::AUTOSCALING_STEP,
        // data: the cache
        data::REPLICATION_GROUP_STEP,
        data::CACHE_SUBNET_GROUP_STEP,
        data::CACHE_SG_STEP,
        // edge: load balancer
        edge::ALB_SG_STEP,
        edge::ALB_STEP,
        edge::TARGET_GROUP_STEP,
        edge::LISTENERS_STEP,
        edge::ORIGIN_SECRET_STEP,
        // edge: WAF and CloudFront
        edge::WEB_ACL_STEP,
        edge::DISTRIBUTION_STEP,
        // network
        network::VPC_STEP,
        network::VPC_DNS_STEP,
        network::SUBNETS_STEP,
        network::PUBLIC_SUBNET_IP_STEP,
        network::EIPS_STEP,
        network::IGW_STEP,
        network::NAT_STEP,
        network::ENDPOINT_SG_STEP,
        network::INTERFACE_ENDPOINTS_STEP,
        network::PUBLIC_ROUTES_STEP,
        network::PRIVATE_ROUTE_TABLES_STEP,
        network::NAT_ROUTES_STEP,
        network::S3_ENDPOINT_STEP,
        network::FLOW_LOG_ROLE_STEP,
        network::FLOW_LOG_GROUP_STEP,
        network::FLOW_LOG_STEP,
        // data: EFS
        data::EFS_STEP,
        data::EFS_SG_STEP,
        data::MOUNT_TARGETS_STEP,
        data::ACCESS_POINT_STEP,
        data::OLD_ACCESS_POINTS_STEP,
        // audit
        audit::BUCKET_STEP,
        audit::TRAIL_STEP,
    ]
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
}
