//! SDK errors into step errors, and which errors mean "does not exist".
//!
//! Most services model their not-found errors (`DbInstanceNotFoundFault`,
//! `NoSuchEntityException`, …): [`NotFound`] matches those variants, one line
//! per operation, so a renamed or new error is a compile error here rather
//! than a silent miss in a string match. Only where the service models none
//! — all of EC2, S3's configuration reads, a few ECS/ELB/Logs calls — is the
//! error code compared, with the codes AWS documents for them.

use crate::error::StepError;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Does this operation error mean the resource (or its parent) does not exist?
pub trait NotFound {
    fn is_not_found(&self) -> bool;
}

/// The service models its not-found errors: match the variants.
macro_rules! typed_not_found {
    ($($err:ty => $($variant:ident)|+;)*) => {$(
        impl NotFound for $err {
            fn is_not_found(&self) -> bool {
                matches!(self, $(Self::$variant(_))|+)
            }
        }
    )*};
}

/// The service models none: compare the error code.
macro_rules! coded_not_found {
    ($($err:ty => $codes:expr;)*) => {$(
        impl NotFound for $err {
            fn is_not_found(&self) -> bool {
                self.code().is_some_and(|c| $codes(c))
            }
        }
    )*};
}

/// EC2 models no errors at all; its not-found codes are `Invalid<Thing>ID.NotFound`
/// (and `NatGatewayNotFound`), per the EC2 API's error-code reference.
fn ec2_not_found(code: &str) -> bool {
    code.ends_with(".NotFound") || code == "NatGatewayNotFound"
}

mod ops {
    pub use aws_sdk_applicationautoscaling::operation::{
        delete_scaling_policy::DeleteScalingPolicyError, deregister_scalable_target::DeregisterScalableTargetError,
    };
    pub use aws_sdk_backup::operation::{
        delete_backup_plan::DeleteBackupPlanError, delete_backup_selection::DeleteBackupSelectionError,
        get_backup_plan::GetBackupPlanError, get_backup_selection::GetBackupSelectionError,
    };
    pub use aws_sdk_backup::operation::{
        delete_backup_vault::DeleteBackupVaultError, delete_recovery_point::DeleteRecoveryPointError,
        describe_backup_vault::DescribeBackupVaultError,
    };
    pub use aws_sdk_cloudfront::operation::{
        delete_distribution::DeleteDistributionError, get_distribution::GetDistributionError,
        get_distribution_config::GetDistributionConfigError,
    };
    pub use aws_sdk_cloudtrail::operation::{
        delete_trail::DeleteTrailError, get_event_selectors::GetEventSelectorsError, get_trail::GetTrailError,
        get_trail_status::GetTrailStatusError,
    };
    pub use aws_sdk_cloudwatchlogs::operation::{
        delete_log_group::DeleteLogGroupError, delete_metric_filter::DeleteMetricFilterError,
        put_retention_policy::PutRetentionPolicyError,
    };
    pub use aws_sdk_ec2::operation::{
        delete_flow_logs::DeleteFlowLogsError, delete_internet_gateway::DeleteInternetGatewayError,
        delete_nat_gateway::DeleteNatGatewayError, delete_route::DeleteRouteError,
        delete_route_table::DeleteRouteTableError, delete_security_group::DeleteSecurityGroupError,
        delete_subnet::DeleteSubnetError, delete_vpc::DeleteVpcError, delete_vpc_endpoints::DeleteVpcEndpointsError,
        describe_addresses::DescribeAddressesError, describe_flow_logs::DescribeFlowLogsError,
        describe_internet_gateways::DescribeInternetGatewaysError, describe_nat_gateways::DescribeNatGatewaysError,
        describe_route_tables::DescribeRouteTablesError, describe_security_groups::DescribeSecurityGroupsError,
        describe_subnets::DescribeSubnetsError, describe_vpc_endpoints::DescribeVpcEndpointsError,
        describe_vpcs::DescribeVpcsError, detach_internet_gateway::DetachInternetGatewayError,
        disassociate_route_table::DisassociateRouteTableError, release_address::ReleaseAddressError,
    };
    pub use aws_sdk_ecs::operation::{
        delete_cluster::DeleteClusterError, delete_service::DeleteServiceError,
        deregister_task_definition::DeregisterTaskDefinitionError, describe_services::DescribeServicesError,
        describe_task_definition::DescribeTaskDefinitionError,
    };
    pub use aws_sdk_efs::operation::describe_file_system_policy::DescribeFileSystemPolicyError;
    pub use aws_sdk_efs::operation::{
        delete_access_point::DeleteAccessPointError, delete_file_system::DeleteFileSystemError,
        delete_mount_target::DeleteMountTargetError, describe_access_points::DescribeAccessPointsError,
        describe_backup_policy::DescribeBackupPolicyError, describe_file_systems::DescribeFileSystemsError,
        describe_mount_targets::DescribeMountTargetsError,
    };
    pub use aws_sdk_elasticache::operation::{
        delete_cache_subnet_group::DeleteCacheSubnetGroupError, delete_replication_group::DeleteReplicationGroupError,
        describe_cache_subnet_groups::DescribeCacheSubnetGroupsError,
        describe_replication_groups::DescribeReplicationGroupsError,
    };
    pub use aws_sdk_elasticloadbalancingv2::operation::{
        delete_listener::DeleteListenerError, delete_load_balancer::DeleteLoadBalancerError,
        delete_rule::DeleteRuleError, delete_target_group::DeleteTargetGroupError,
        describe_listeners::DescribeListenersError, describe_load_balancers::DescribeLoadBalancersError,
        describe_target_groups::DescribeTargetGroupsError,
    };
    pub use aws_sdk_iam::operation::{
        delete_role::DeleteRoleError, delete_role_policy::DeleteRolePolicyError,
        detach_role_policy::DetachRolePolicyError, get_role::GetRoleError, get_role_policy::GetRolePolicyError,
    };
    pub use aws_sdk_kms::operation::{describe_key::DescribeKeyError, list_resource_tags::ListResourceTagsError};
    pub use aws_sdk_rds::operation::{
        delete_db_cluster::DeleteDBClusterError, delete_db_instance::DeleteDBInstanceError,
        delete_db_snapshot::DeleteDBSnapshotError, delete_db_subnet_group::DeleteDBSubnetGroupError,
        delete_event_subscription::DeleteEventSubscriptionError, describe_db_clusters::DescribeDBClustersError,
        describe_db_instances::DescribeDBInstancesError, describe_db_snapshots::DescribeDBSnapshotsError,
        describe_db_subnet_groups::DescribeDBSubnetGroupsError,
        describe_event_subscriptions::DescribeEventSubscriptionsError,
    };
    pub use aws_sdk_rds::operation::{
        delete_db_cluster_parameter_group::DeleteDBClusterParameterGroupError,
        delete_db_parameter_group::DeleteDBParameterGroupError,
        describe_db_cluster_parameter_groups::DescribeDBClusterParameterGroupsError,
        describe_db_parameter_groups::DescribeDBParameterGroupsError,
    };
    pub use aws_sdk_s3::operation::{
        delete_bucket::DeleteBucketError, get_bucket_encryption::GetBucketEncryptionError,
        get_bucket_lifecycle_configuration::GetBucketLifecycleConfigurationError,
        get_bucket_ownership_controls::GetBucketOwnershipControlsError, get_bucket_policy::GetBucketPolicyError,
        get_bucket_tagging::GetBucketTaggingError, get_public_access_block::GetPublicAccessBlockError,
        head_bucket::HeadBucketError,
    };
    pub use aws_sdk_secretsmanager::operation::{
        delete_secret::DeleteSecretError, describe_secret::DescribeSecretError, get_secret_value::GetSecretValueError,
    };
    pub use aws_sdk_sns::operation::{
        delete_topic::DeleteTopicError, get_topic_attributes::GetTopicAttributesError, unsubscribe::UnsubscribeError,
    };
    pub use aws_sdk_wafv2::operation::{
        delete_logging_configuration::DeleteLoggingConfigurationError, delete_web_acl::DeleteWebACLError,
        get_logging_configuration::GetLoggingConfigurationError, get_web_acl::GetWebACLError,
    };
}
use ops::*;

typed_not_found! {
    DescribeKeyError => NotFoundException;
    ListResourceTagsError => NotFoundException;
    DescribeDBParameterGroupsError => DbParameterGroupNotFoundFault;
    DeleteDBParameterGroupError => DbParameterGroupNotFoundFault;
    DescribeDBClusterParameterGroupsError => DbParameterGroupNotFoundFault;
    DeleteDBClusterParameterGroupError => DbParameterGroupNotFoundFault;
    GetLoggingConfigurationError => WafNonexistentItemException;
    DeleteLoggingConfigurationError => WafNonexistentItemException;
    DescribeFileSystemPolicyError => PolicyNotFound | FileSystemNotFound;
    GetBackupPlanError => ResourceNotFoundException;
    DeleteBackupPlanError => ResourceNotFoundException;
    GetBackupSelectionError => ResourceNotFoundException;
    DeleteBackupSelectionError => ResourceNotFoundException;
    DeleteBackupVaultError => ResourceNotFoundException;
    DeleteRecoveryPointError => ResourceNotFoundException;
    DescribeBackupVaultError => ResourceNotFoundException;
    DeleteDBSnapshotError => DbSnapshotNotFoundFault;
    DescribeDBSnapshotsError => DbSnapshotNotFoundFault;
    DeleteScalingPolicyError => ObjectNotFoundException;
    DeregisterScalableTargetError => ObjectNotFoundException;
    DeleteDistributionError => NoSuchDistribution;
    GetDistributionError => NoSuchDistribution;
    GetDistributionConfigError => NoSuchDistribution;
    DeleteTrailError => TrailNotFoundException;
    GetTrailError => TrailNotFoundException;
    GetTrailStatusError => TrailNotFoundException;
    GetEventSelectorsError => TrailNotFoundException;
    DeleteLogGroupError => ResourceNotFoundException;
    DeleteMetricFilterError => ResourceNotFoundException;
    PutRetentionPolicyError => ResourceNotFoundException;
    DeleteClusterError => ClusterNotFoundException;
    DeleteServiceError => ClusterNotFoundException | ServiceNotFoundException;
    DescribeServicesError => ClusterNotFoundException;
    DeleteAccessPointError => AccessPointNotFound;
    DeleteFileSystemError => FileSystemNotFound;
    DeleteMountTargetError => MountTargetNotFound;
    DescribeAccessPointsError => AccessPointNotFound | FileSystemNotFound;
    DescribeBackupPolicyError => FileSystemNotFound | PolicyNotFound;
    DescribeFileSystemsError => FileSystemNotFound;
    DescribeMountTargetsError => AccessPointNotFound | FileSystemNotFound | MountTargetNotFound;
    DeleteCacheSubnetGroupError => CacheSubnetGroupNotFoundFault;
    DeleteReplicationGroupError => ReplicationGroupNotFoundFault;
    DescribeCacheSubnetGroupsError => CacheSubnetGroupNotFoundFault;
    DescribeReplicationGroupsError => ReplicationGroupNotFoundFault;
    DeleteListenerError => ListenerNotFoundException;
    DeleteLoadBalancerError => LoadBalancerNotFoundException;
    DeleteRuleError => RuleNotFoundException;
    DescribeListenersError => ListenerNotFoundException | LoadBalancerNotFoundException;
    DescribeLoadBalancersError => LoadBalancerNotFoundException;
    DescribeTargetGroupsError => LoadBalancerNotFoundException | TargetGroupNotFoundException;
    DeleteRoleError => NoSuchEntityException;
    DeleteRolePolicyError => NoSuchEntityException;
    DetachRolePolicyError => NoSuchEntityException;
    GetRoleError => NoSuchEntityException;
    GetRolePolicyError => NoSuchEntityException;
    DeleteDBClusterError => DbClusterNotFoundFault;
    DeleteDBInstanceError => DbInstanceNotFoundFault;
    DeleteDBSubnetGroupError => DbSubnetGroupNotFoundFault;
    DeleteEventSubscriptionError => SubscriptionNotFoundFault;
    DescribeDBClustersError => DbClusterNotFoundFault;
    DescribeDBInstancesError => DbInstanceNotFoundFault;
    DescribeDBSubnetGroupsError => DbSubnetGroupNotFoundFault;
    DescribeEventSubscriptionsError => SubscriptionNotFoundFault;
    HeadBucketError => NotFound;
    DeleteSecretError => ResourceNotFoundException;
    DescribeSecretError => ResourceNotFoundException;
    GetSecretValueError => ResourceNotFoundException;
    DeleteTopicError => NotFoundException;
    GetTopicAttributesError => NotFoundException;
    UnsubscribeError => NotFoundException;
    DeleteWebACLError => WafNonexistentItemException;
    GetWebACLError => WafNonexistentItemException;
}

coded_not_found! {
    DeleteFlowLogsError => ec2_not_found;
    DeleteInternetGatewayError => ec2_not_found;
    DeleteNatGatewayError => ec2_not_found;
    DeleteRouteError => ec2_not_found;
    DeleteRouteTableError => ec2_not_found;
    DeleteSecurityGroupError => ec2_not_found;
    DeleteSubnetError => ec2_not_found;
    DeleteVpcError => ec2_not_found;
    DeleteVpcEndpointsError => ec2_not_found;
    DescribeAddressesError => ec2_not_found;
    DescribeFlowLogsError => ec2_not_found;
    DescribeInternetGatewaysError => ec2_not_found;
    DescribeNatGatewaysError => ec2_not_found;
    DescribeRouteTablesError => ec2_not_found;
    DescribeSecurityGroupsError => ec2_not_found;
    DescribeSubnetsError => ec2_not_found;
    DescribeVpcEndpointsError => ec2_not_found;
    DescribeVpcsError => ec2_not_found;
    DetachInternetGatewayError => ec2_not_found;
    DisassociateRouteTableError => ec2_not_found;
    ReleaseAddressError => ec2_not_found;
    // S3's bucket-configuration reads name a missing configuration with a
    // code of its own; none is modeled.
    DeleteBucketError => |c| c == "NoSuchBucket";
    GetBucketEncryptionError => |c| c == "NoSuchBucket" || c == "ServerSideEncryptionConfigurationNotFoundError";
    GetBucketOwnershipControlsError => |c| c == "NoSuchBucket" || c == "OwnershipControlsNotFoundError";
    GetBucketPolicyError => |c| c == "NoSuchBucket" || c == "NoSuchBucketPolicy";
    GetBucketTaggingError => |c| c == "NoSuchBucket" || c == "NoSuchTagSet";
    GetPublicAccessBlockError => |c| c == "NoSuchBucket" || c == "NoSuchPublicAccessBlockConfiguration";
    GetBucketLifecycleConfigurationError => |c| c == "NoSuchBucket" || c == "NoSuchLifecycleConfiguration";
    // ECS answers an unknown task definition with a ClientException whose
    // message says so; ELB's DeleteTargetGroup models no error at all.
    DeregisterTaskDefinitionError => |c| c == "ClientException";
    DescribeTaskDefinitionError => |c| c == "ClientException";
    DeleteTargetGroupError => |c| c == "TargetGroupNotFound";
}

/// Convert any SDK error into a [`StepError::Aws`] naming the operation and
/// resource; the SDK error is kept as its source.
pub fn aws_err<E, R>(op: &str, resource: impl Into<String>, err: SdkError<E, R>) -> StepError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let (code, message) = error_code_message(&err);
    StepError::Aws { op: op.to_string(), resource: resource.into(), code, message, source: Some(Box::new(err)) }
}

/// `.send().await.ctx("Op", &id)?`: an SDK result whose error becomes a
/// [`StepError::Aws`] naming the operation and the resource, the one shape
/// every call site needs.
pub trait SdkResultExt<T> {
    fn ctx(self, op: &str, resource: impl Into<String>) -> Result<T, StepError>;
}

impl<T, E, R> SdkResultExt<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn ctx(self, op: &str, resource: impl Into<String>) -> Result<T, StepError> {
        self.map_err(|e| aws_err(op, resource, e))
    }
}

/// `.send().await.or_absent("Op", &id)?`: `Ok(None)` when the error means
/// the resource does not exist ([`NotFound`]), the value otherwise.
pub trait SdkLookupExt<T> {
    fn or_absent(self, op: &str, resource: &str) -> Result<Option<T>, StepError>;
}

impl<T, E, R> SdkLookupExt<T> for Result<T, SdkError<E, R>>
where
    E: NotFound + ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn or_absent(self, op: &str, resource: &str) -> Result<Option<T>, StepError> {
        absent_ok(op, resource, self)
    }
}

/// The AWS error code of an SDK error, or a synthetic code for transport failures.
pub fn error_code_message<E, R>(err: &SdkError<E, R>) -> (String, String)
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            (e.code().unwrap_or("Unknown").to_string(), e.message().unwrap_or("").to_string())
        }
        SdkError::TimeoutError(_) => ("TimeoutError".into(), "request timed out".into()),
        SdkError::DispatchFailure(_) => ("DispatchFailure".into(), DisplayErrorContext(err).to_string()),
        _ => ("ClientError".into(), DisplayErrorContext(err).to_string()),
    }
}

/// True when an SDK error means the resource does not exist.
pub fn sdk_not_found<E: NotFound, R>(err: &SdkError<E, R>) -> bool {
    match err {
        SdkError::ServiceError(se) => se.err().is_not_found(),
        _ => false,
    }
}

/// `Ok(None)` for not-found, the value otherwise, an error for anything else.
pub fn absent_ok<T, E, R>(op: &str, resource: &str, res: Result<T, SdkError<E, R>>) -> Result<Option<T>, StepError>
where
    E: NotFound + ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match res {
        Ok(v) => Ok(Some(v)),
        Err(e) if sdk_not_found(&e) => Ok(None),
        Err(e) => Err(aws_err(op, resource, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::error::ErrorMetadata;

    #[test]
    fn ec2_not_found_codes() {
        for c in [
            "InvalidVpcID.NotFound",
            "InvalidAllocationID.NotFound",
            "NatGatewayNotFound",
            "InvalidRouteTableID.NotFound",
        ] {
            assert!(ec2_not_found(c), "{c}");
        }
        for c in ["DependencyViolation", "InvalidParameterValue", "NotFoundish"] {
            assert!(!ec2_not_found(c), "{c}");
        }
    }

    #[test]
    fn modeled_and_coded_not_found() {
        let rds = DescribeDBInstancesError::DbInstanceNotFoundFault(
            aws_sdk_rds::types::error::DbInstanceNotFoundFault::builder().build(),
        );
        assert!(rds.is_not_found());
        let other = DescribeDBInstancesError::generic(ErrorMetadata::builder().code("Throttling").build());
        assert!(!other.is_not_found());
        let ec2 = DescribeVpcsError::generic(ErrorMetadata::builder().code("InvalidVpcID.NotFound").build());
        assert!(ec2.is_not_found());
        let s3 = GetBucketPolicyError::generic(ErrorMetadata::builder().code("NoSuchBucketPolicy").build());
        assert!(s3.is_not_found());
    }
}
