//! What AWS itself puts into our VPC, found and removed before the subnets
//! and the VPC are deleted.
//!
//! GuardDuty Runtime Monitoring (an account setting, often switched on by an
//! organization) adds to every VPC an interface endpoint for
//! `com.amazonaws.<region>.guardduty-data` and a security group named
//! `GuardDutyManagedSecurityGroup-<vpc-id>`. Neither carries our tags, so no
//! step knows them, yet while they exist `DeleteSubnet` and `DeleteVpc`
//! answer `DependencyViolation` — for as long as anyone retries. They serve
//! only this VPC and go with it, so `down` deletes them and says so.

use super::*;
use crate::resources::prelude::*;
use aws_sdk_ec2::types::Filter;

/// GuardDuty's endpoints and security group in `vpc`: deleted (endpoints
/// first — the group is theirs — and waited out, since their network
/// interfaces hold the subnets). Returns what was removed, for the notes.
pub(crate) async fn remove_guardduty(cx: &StepCx, vpc: &str) -> Result<Vec<String>, StepError> {
    let mut removed = vec![];
    let in_vpc = Filter::builder().name("vpc-id").values(vpc).build();
    let service = format!("com.amazonaws.{}.guardduty-data", cx.aws.region);
    let by_service = Filter::builder().name("service-name").values(&service).build();
    let call = cx.aws.ec2.describe_vpc_endpoints().filters(in_vpc.clone()).filters(by_service);
    let found = call.send().await.ctx("DescribeVpcEndpoints", vpc)?;
    let endpoints: Vec<String> = found
        .vpc_endpoints()
        .iter()
        .filter(|e| e.service_name() == Some(service.as_str()))
        .filter(|e| !matches!(e.state().map(|s| s.as_str().to_ascii_lowercase()).as_deref(), Some("deleted")))
        .filter_map(|e| e.vpc_endpoint_id().map(str::to_string))
        .collect();
    if !endpoints.is_empty() {
        cx.progress(format!("removing GuardDuty's endpoint(s) {} from the VPC", endpoints.join(", ")));
        let call = cx.aws.ec2.delete_vpc_endpoints().set_vpc_endpoint_ids(Some(endpoints.clone()));
        deleted("DeleteVpcEndpoints", &endpoints.join(","), call.send().await)?;
        let waiting = endpoints.iter().map(|id| (Some(id.clone()), Outcome::Deleted)).collect();
        gone_all(cx, "GuardDuty endpoint", waiting, &["deleted"], |ids| endpoint_states(cx, ids)).await?;
        removed.extend(endpoints.iter().map(|e| format!("GuardDuty VPC endpoint {e}")));
    }
    let named = Filter::builder().name("group-name").values(format!("GuardDutyManagedSecurityGroup-{vpc}")).build();
    let groups = cx.aws.ec2.describe_security_groups().filters(in_vpc).filters(named).send().await;
    for g in groups.ctx("DescribeSecurityGroups", vpc)?.security_groups() {
        let id = g.group_id().unwrap_or_default();
        retry_in_use(cx, "DeleteSecurityGroup", id, || cx.aws.ec2.delete_security_group().group_id(id).send()).await?;
        removed.push(format!("GuardDuty security group {id} ({})", g.group_name().unwrap_or_default()));
    }
    for r in &removed {
        cx.note(format!("removed {r}: AWS added it to the stack's VPC (GuardDuty Runtime Monitoring)"));
    }
    Ok(removed)
}
