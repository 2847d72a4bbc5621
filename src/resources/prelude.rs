//! What every step file uses: the step trait and its context, outcomes and
//! errors, the toolkit (tags, lookup, waits, retries, dry-run guard) and the
//! step IDs.

pub use crate::aws::errors::{absent_ok, aws_err, sdk_not_found, SdkLookupExt, SdkResultExt};
pub use crate::dry_run;
pub use crate::engine::{change, Inspection, Outcome, Step, StepId};

/// A step of this stack in the graph.
pub type Node = crate::engine::Node<StepCx>;

pub use crate::error::StepError;
pub use crate::resources::context::StepCx;
pub use crate::resources::ids;
pub use crate::resources::shared::lookup;
pub use crate::resources::shared::propagation::{self as transient};
pub use crate::resources::shared::retry::{self, delete, deleted, retry, retry_in_use, Transient, IN_USE};
pub use crate::resources::shared::sg::{
    expected_ingress, Ingress, IngressSource, Rules, SecurityGroupStep, SG_ALB, SG_SERVICE,
};
pub use crate::resources::shared::tags::{
    ec2_filter, ec2_filters, ec2_stack_filter, ec2_tag_spec, is_ours, map_is_ours, tag_value, Tags, TAG_RESOURCE,
    TAG_STACK,
};
pub use crate::resources::shared::wait::{gone_all, ready_all, wait_for, wait_gone, Poll};
pub use crate::resources::shared::{ec2, iam, log_group, secrets, sg};
pub use crate::state::Resource;
pub use async_trait::async_trait;
pub use std::sync::Arc;
