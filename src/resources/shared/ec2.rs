//! EC2 lookups: every EC2 resource of the stack is found the same way — by
//! the ID the state recorded, then by its tags with a filter, checked again
//! client-side — and read with the same `Describe*` call shape.
//!
//! [`Ec2Resource`] says, per resource type, which call reads it, how its IDs
//! and filters are passed, and which of its states still count (a deleted NAT
//! gateway or endpoint stays visible for an hour); [`find`] does the rest.
//! Resources that only live inside the VPC are not looked up at all when this
//! run created the VPC ([`crate::resources::context::CreatedThisRun`]).

use crate::aws::errors::SdkLookupExt;
use crate::error::StepError;
use crate::resources::shared::lookup;
use crate::resources::shared::tags::{ec2_filters, is_ours};
use crate::resources::StepCx;
use aws_sdk_ec2::types::{
    Address, Filter, FlowLog, InternetGateway, NatGateway, RouteTable, SecurityGroup, Subnet, Tag, Vpc, VpcEndpoint,
};

/// An EC2 resource type the stack looks up.
pub trait Ec2Resource: Sized + Clone + Send + Sync {
    /// The `Describe*` operation, for errors.
    const OP: &'static str;
    /// Those with the given ID (`Some`) or matching the filters.
    fn describe(
        cx: &StepCx,
        id: Option<&str>,
        filters: Vec<Filter>,
    ) -> impl std::future::Future<Output = Result<Option<Vec<Self>>, StepError>> + Send;
    fn tags(&self) -> &[Tag];
    /// Still a resource of the stack (not deleted, deleting, failed, default).
    fn usable(&self) -> bool {
        true
    }
}

macro_rules! ec2_resource {
    ($t:ty, $op:literal, $call:ident, $ids:ident, $filters:ident, $list:ident, $usable:expr) => {
        impl Ec2Resource for $t {
            const OP: &'static str = $op;
            async fn describe(
                cx: &StepCx,
                id: Option<&str>,
                filters: Vec<Filter>,
            ) -> Result<Option<Vec<Self>>, StepError> {
                let req = cx.aws.ec2.$call().$filters(Some(filters));
                let req = match id {
                    Some(id) => req.$ids(id),
                    None => req,
                };
                let what = id.unwrap_or($op);
                // Not-found for a recorded ID is absence, not an error.
                Ok(req.send().await.or_absent($op, what)?.map(|o| o.$list().to_vec()))
            }
            fn tags(&self) -> &[Tag] {
                self.tags()
            }
            fn usable(&self) -> bool {
                $usable(self)
            }
        }
    };
}

/// NAT gateways and endpoints stay visible for a while after deletion.
fn live_state(state: Option<&str>) -> bool {
    !matches!(state.map(str::to_ascii_lowercase).as_deref(), Some("deleted" | "deleting" | "failed" | "rejected"))
}

ec2_resource!(Vpc, "DescribeVpcs", describe_vpcs, vpc_ids, set_filters, vpcs, |v: &Vpc| v.is_default() != Some(true));
ec2_resource!(Subnet, "DescribeSubnets", describe_subnets, subnet_ids, set_filters, subnets, |_: &Subnet| true);
ec2_resource!(
    InternetGateway,
    "DescribeInternetGateways",
    describe_internet_gateways,
    internet_gateway_ids,
    set_filters,
    internet_gateways,
    |_: &InternetGateway| true
);
ec2_resource!(
    Address,
    "DescribeAddresses",
    describe_addresses,
    allocation_ids,
    set_filters,
    addresses,
    |_: &Address| true
);
ec2_resource!(
    NatGateway,
    "DescribeNatGateways",
    describe_nat_gateways,
    nat_gateway_ids,
    set_filter,
    nat_gateways,
    |n: &NatGateway| live_state(n.state().map(|s| s.as_str()))
);
ec2_resource!(
    RouteTable,
    "DescribeRouteTables",
    describe_route_tables,
    route_table_ids,
    set_filters,
    route_tables,
    |_: &RouteTable| true
);
ec2_resource!(
    SecurityGroup,
    "DescribeSecurityGroups",
    describe_security_groups,
    group_ids,
    set_filters,
    security_groups,
    |_: &SecurityGroup| true
);
ec2_resource!(
    VpcEndpoint,
    "DescribeVpcEndpoints",
    describe_vpc_endpoints,
    vpc_endpoint_ids,
    set_filters,
    vpc_endpoints,
    |e: &VpcEndpoint| live_state(e.state().map(|s| s.as_str()))
);
ec2_resource!(FlowLog, "DescribeFlowLogs", describe_flow_logs, flow_log_ids, set_filter, flow_logs, |_: &FlowLog| true);

/// Find the stack's resource with logical `key`. With `inside: Some(parent)`
/// it lives inside `parent` (the VPC), and when this run created the parent
/// it cannot exist yet: no call is made.
pub async fn find<R: Ec2Resource>(cx: &StepCx, key: &str, inside: Option<&str>) -> Result<Option<R>, StepError> {
    if let Some(parent) = inside {
        if !cx.created.may_preexist(key, parent) {
            return Ok(None);
        }
    }
    lookup::find(
        cx,
        key,
        |id| async move {
            Ok(R::describe(cx, Some(&id), vec![])
                .await?
                .unwrap_or_default()
                .into_iter()
                .find(R::usable))
        },
        || async {
            R::describe(cx, None, ec2_filters(cx, key)).await.map(Option::unwrap_or_default)
        },
        |r: &R| r.usable() && is_ours(cx, r.tags(), key),
    )
    .await
}

/// Every usable resource of a type carrying the stack's tag (for `status`).
pub async fn all_of_stack<R: Ec2Resource>(cx: &StepCx) -> Result<Vec<R>, StepError> {
    Ok(R::describe(cx, None, vec![crate::resources::shared::tags::ec2_stack_filter(cx)])
        .await?
        .unwrap_or_default()
        .into_iter()
        .filter(R::usable)
        .collect())
}
