//! Every create→use edge where AWS has not caught up yet, in one table: the
//! refusals AWS documents (or Terraform's AWS provider retries) for a while
//! after a related change, and how long each is waited out. [`retry`]
//! applies them; a module's header names the edges it protects.
//!
//! The bounds follow terraform-provider-aws: IAM propagation 2 min
//! (`propagationTimeout`), EC2 read-after-create 2 min, ECS service
//! creation 5 min, deletes that wait for AWS to let go 10–20 min.
//!
//! [`retry`]: super::retry::retry

use super::retry::Transient;
use std::time::Duration;

const MIN: u64 = 60;

/// Nothing to wait out (a create that names no fresh resource).
pub const NONE: Transient = Transient { waiting_for: "", codes: &[], messages: &[], bound: Duration::ZERO };

/// `CreateCluster` with capacity providers in an account that never used
/// ECS: AWS creates the ECS service-linked role on first use and refuses
/// until it can assume it.
pub const ECS_SERVICE_LINKED_ROLE: Transient = Transient {
    waiting_for: "the ECS service-linked role to be usable",
    codes: &[],
    messages: &[("InvalidParameterException", "unable to assume the service linked role")],
    bound: Duration::from_secs(5 * MIN),
};

/// `RegisterTaskDefinition` naming roles created a moment ago.
pub const TASK_DEFINITION_ROLES: Transient = Transient {
    waiting_for: "the task's IAM roles to propagate",
    codes: &[],
    messages: &[("ClientException", "role is not valid"), ("InvalidParameterException", "unable to assume")],
    bound: Duration::from_secs(2 * MIN),
};

/// `CreateLogGroup`/`AssociateKmsKey` with the stack's KMS key right after
/// its key policy was written: CloudWatch Logs answers AccessDeniedException
/// until KMS shows it the statement for `logs.<region>.amazonaws.com`. A key
/// policy without it fails the same way, so the bound is short.
pub const LOGS_KMS_KEY: Transient = Transient {
    waiting_for: "the KMS key policy to reach CloudWatch Logs",
    codes: &[],
    messages: &[("AccessDeniedException", "kms key")],
    bound: Duration::from_secs(MIN),
};

/// `CreateDBInstance`/`ModifyDBInstance` naming the enhanced monitoring role
/// created a moment ago: RDS answers InvalidParameterValue "... required
/// permissions for: ENHANCED_MONITORING" until IAM shows it the role
/// (terraform-provider-aws waits out the same message).
pub const RDS_MONITORING_ROLE: Transient = Transient {
    waiting_for: "the enhanced monitoring role to propagate",
    codes: &[],
    messages: &[("InvalidParameterValue", "enhanced_monitoring")],
    bound: Duration::from_secs(2 * MIN),
};

/// `PutFileSystemPolicy` naming the task role created a moment ago: EFS
/// validates the principals and refuses one IAM does not show it yet.
pub const EFS_POLICY_PRINCIPAL: Transient = Transient {
    waiting_for: "the task role to propagate to EFS",
    codes: &[],
    messages: &[("InvalidPolicyException", "invalid principal")],
    bound: Duration::from_secs(2 * MIN),
};

/// `CreateService`: the cluster just created, the listener that attaches the
/// target group to the ALB created moments before, the service-linked role.
pub const ECS_SERVICE_CREATE: Transient = Transient {
    waiting_for: "the cluster, the target group's listener and ECS's role to be usable",
    codes: &["ClusterNotFoundException"],
    messages: &[
        ("InvalidParameterException", "does not have an associated load balancer"),
        ("InvalidParameterException", "unable to assume the service linked role"),
        ("InvalidParameterException", "verify that the ecs service role being passed has the proper permissions"),
        ("InvalidParameterException", "unable to assume role"),
    ],
    bound: Duration::from_secs(5 * MIN),
};

/// `CreateFlowLogs` naming the delivery role created a second earlier (and
/// the VPC, as any EC2 call naming a fresh ID).
pub const FLOW_LOG_ROLE: Transient = Transient {
    waiting_for: "the flow log's IAM role to propagate",
    codes: &["InvalidVpcID.NotFound"],
    messages: &[("InvalidParameter", "unable to assume given iam role")],
    bound: Duration::from_secs(2 * MIN),
};

/// `CreateTrail`/`UpdateTrail` naming what was made for the trail a moment
/// ago. The CloudWatch Logs role: CloudTrail answers
/// InvalidCloudWatchLogsRoleArnException (or, for the group,
/// InvalidCloudWatchLogsLogGroupArnException) "Access denied. Verify in IAM
/// that the role has adequate permissions." until IAM shows it the role
/// (terraform-provider-aws waits out the same message). The audit key: the
/// KMS API is eventually consistent ("KMS eventual consistency" in the KMS
/// developer guide: a change usually propagates within seconds, sometimes
/// minutes, and a key used right after `CreateKey` may answer not found), so
/// a key created or re-policied a moment ago may be refused as missing
/// (KmsKeyNotFoundException) or as not admitting CloudTrail
/// (InsufficientEncryptionPolicyException). The key step runs first and
/// checks both the key and its policy, so within the bound these are
/// propagation, not a wrong key.
pub const TRAIL_DESTINATIONS: Transient = Transient {
    waiting_for: "the trail's CloudWatch Logs role and audit key to propagate",
    codes: &["KmsKeyNotFoundException", "InsufficientEncryptionPolicyException"],
    messages: &[
        ("InvalidCloudWatchLogsRoleArnException", "access denied"),
        ("InvalidCloudWatchLogsLogGroupArnException", "access denied"),
    ],
    bound: Duration::from_secs(2 * MIN),
};

/// Application Auto Scaling's `RegisterScalableTarget`: it creates its
/// service-linked role on first use, and sees a new ECS service late.
pub const SCALABLE_TARGET: Transient = Transient {
    waiting_for: "Application Auto Scaling to see the service and its role",
    codes: &[],
    messages: &[("ValidationException", "unable to assume iam role"), ("ValidationException", "service doesn't exist")],
    bound: Duration::from_secs(5 * MIN),
};

/// `PutScalingPolicy` right after its target was registered.
pub const SCALING_POLICY: Transient = Transient {
    waiting_for: "the scalable target to be registered",
    codes: &["FailedResourceAccessException", "ObjectNotFoundException"],
    messages: &[],
    bound: Duration::from_secs(5 * MIN),
};

/// EC2 read-after-create (the EC2 API reference's "Eventual consistency"):
/// a call naming an ID created milliseconds earlier may answer that ID's
/// `Invalid*.NotFound`. Never used for deletes, where not-found is success.
pub const EC2_FRESH_ID: Transient = Transient {
    waiting_for: "EC2 to see a resource created a moment ago",
    codes: &[
        "InvalidVpcID.NotFound",
        "InvalidSubnetID.NotFound",
        "InvalidGroup.NotFound",
        "InvalidGroupId.NotFound",
        "InvalidRouteTableID.NotFound",
        "InvalidInternetGatewayID.NotFound",
        "InvalidGatewayID.NotFound",
        "InvalidAllocationID.NotFound",
        "InvalidNatGatewayID.NotFound",
        "NatGatewayNotFound",
        "InvalidVpcEndpointId.NotFound",
    ],
    messages: &[],
    bound: Duration::from_secs(2 * MIN),
};

/// `DeleteWebACL` after its distribution went: WAF still counts it
/// associated for minutes (each attempt needs a fresh lock token).
pub const WEB_ACL_DELETE: Transient = Transient {
    waiting_for: "CloudFront to release the web ACL",
    codes: &["WAFAssociatedItemException", "WAFUnavailableEntityException", "WAFOptimisticLockException"],
    messages: &[],
    bound: Duration::from_secs(10 * MIN),
};

/// `DeleteFileSystem` after its last mount target went: EFS counts mount
/// targets down asynchronously.
pub const FILE_SYSTEM_DELETE: Transient = Transient {
    waiting_for: "EFS to release the file system's mount targets",
    codes: &["FileSystemInUse"],
    messages: &[],
    bound: Duration::from_secs(10 * MIN),
};

/// `DeleteBucket` while CloudTrail's last deliveries still land.
pub const BUCKET_DELETE: Transient = Transient {
    waiting_for: "the last log deliveries to land (emptied again each time)",
    codes: &["BucketNotEmpty"],
    messages: &[],
    bound: Duration::from_secs(5 * MIN),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_matches_the_refusal_it_names_and_nothing_else() {
        assert!(ECS_SERVICE_LINKED_ROLE.matches(
            "InvalidParameterException",
            "Unable to assume the service linked role. Please verify that the ECS service linked role exists."
        ));
        assert!(!ECS_SERVICE_LINKED_ROLE.matches("InvalidParameterException", "Invalid capacity provider"));
        assert!(ECS_SERVICE_CREATE.matches(
            "InvalidParameterException",
            "The target group with targetGroupArn arn:aws:elasticloadbalancing:x does not have an associated load balancer."
        ));
        assert!(ECS_SERVICE_CREATE.matches("ClusterNotFoundException", "Cluster not found."));
        assert!(!ECS_SERVICE_CREATE.matches("InvalidParameterException", "Task definition does not exist"));
        assert!(FLOW_LOG_ROLE.matches("InvalidParameter", "Unable to assume given IAM role (arn:aws:iam::1:role/x)."));
        assert!(SCALABLE_TARGET.matches("ValidationException", "ECS service doesn't exist: service/c/s"));
        assert!(!SCALABLE_TARGET.matches("ValidationException", "Maximum capacity cannot be less than minimum"));
        assert!(SCALING_POLICY.matches("ObjectNotFoundException", ""));
        assert!(EC2_FRESH_ID.matches("InvalidVpcID.NotFound", "The vpc ID 'vpc-1' does not exist"));
        assert!(!EC2_FRESH_ID.matches("InvalidParameterValue", ""));
        assert!(WEB_ACL_DELETE.matches("WAFAssociatedItemException", ""));
        assert!(FILE_SYSTEM_DELETE.matches("FileSystemInUse", ""));
        assert!(BUCKET_DELETE.matches("BucketNotEmpty", ""));
        assert!(TRAIL_DESTINATIONS.matches("KmsKeyNotFoundException", "KMS key arn:aws:kms:x not found"));
        assert!(TRAIL_DESTINATIONS.matches("InsufficientEncryptionPolicyException", ""));
        assert!(TRAIL_DESTINATIONS.matches(
            "InvalidCloudWatchLogsRoleArnException",
            "Access denied. Verify in IAM that the role has adequate permissions."
        ));
        assert!(!TRAIL_DESTINATIONS.matches("InvalidCloudWatchLogsRoleArnException", "Role must trust CloudTrail"));
        assert!(!TRAIL_DESTINATIONS.matches("KmsException", "KMS key is Disabled."));
        assert!(!BUCKET_DELETE.matches("AccessDenied", ""));
    }
}
