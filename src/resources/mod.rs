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

use crate::engine::{Graph, Step};
use std::sync::Arc;

/// Every step of the stack, in the order ready steps start: the slowest
/// chains first (the database, then the service, the cache, the edge).
pub fn steps() -> Vec<Arc<dyn Step<StepCx>>> {
    vec![
        // data: the database
        Arc::new(data::DbInstanceStep),
        Arc::new(data::DbSubnetGroupStep),
        Arc::new(data::DbSgStep),
        Arc::new(data::DbSecretStep),
        Arc::new(data::DbSecretEndpointStep),
        Arc::new(data::TopicStep),
        Arc::new(data::EventSubscriptionStep),
        // compute
        Arc::new(compute::ServiceStep),
        Arc::new(compute::TaskDefStep),
        Arc::new(compute::LogGroupStep),
        Arc::new(compute::AdminSecretStep),
        Arc::new(compute::ExecRoleStep),
        Arc::new(compute::TaskRoleStep),
        Arc::new(compute::ClusterStep),
        Arc::new(compute::ServiceSgStep),
        Arc::new(compute::SgRulesStep),
        Arc::new(compute::AutoscalingStep),
        // data: the cache
        Arc::new(data::ReplicationGroupStep),
        Arc::new(data::CacheSubnetGroupStep),
        Arc::new(data::CacheSgStep),
        // edge: load balancer
        Arc::new(edge::AlbSgStep),
        Arc::new(edge::AlbStep),
        Arc::new(edge::TargetGroupStep),
        Arc::new(edge::ListenersStep),
        Arc::new(edge::OriginSecretStep),
        // edge: WAF and CloudFront
        Arc::new(edge::WebAclStep),
        Arc::new(edge::DistributionStep),
        // network
        Arc::new(network::VpcStep),
        Arc::new(network::VpcDnsStep),
        Arc::new(network::SubnetsStep),
        Arc::new(network::PublicSubnetIpStep),
        Arc::new(network::EipsStep),
        Arc::new(network::IgwStep),
        Arc::new(network::NatStep),
        Arc::new(network::EndpointSgStep),
        Arc::new(network::InterfaceEndpointsStep),
        Arc::new(network::PublicRoutesStep),
        Arc::new(network::PrivateRouteTablesStep),
        Arc::new(network::NatRoutesStep),
        Arc::new(network::S3EndpointStep),
        Arc::new(network::FlowLogRoleStep),
        Arc::new(network::FlowLogGroupStep),
        Arc::new(network::FlowLogStep),
        // data: EFS
        Arc::new(data::EfsStep),
        Arc::new(data::EfsSgStep),
        Arc::new(data::MountTargetsStep),
        Arc::new(data::AccessPointStep),
        Arc::new(data::OldAccessPointsStep),
        // audit
        Arc::new(audit::BucketStep),
        Arc::new(audit::TrailStep),
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
