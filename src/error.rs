//! The error a step returns, and the process exit codes.
//!
//! Every AWS failure becomes a [`StepError::Aws`] that carries the API
//! operation, the resource it was acting on and the AWS error code, because
//! that triple is what an operator needs to act ("CreateNatGateway on
//! `moodle-nat-a` failed: NatGatewayLimitExceeded"); the SDK error itself is
//! kept as the source. The conversion from SDK errors lives with the AWS
//! clients (`crate::aws::errors`): this module knows no SDK type.

use crate::engine::StepId;
use crate::state::StateError;
use std::time::Duration;

/// Process exit codes; documented in the README.
pub mod exit {
    pub const OK: u8 = 0;
    pub const RUNTIME: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const CHANGES_PENDING: u8 = 3;
    pub const DEGRADED: u8 = 4;
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("failed to {op} {resource}: {code}: {message}")]
    Aws {
        op: String,
        resource: String,
        code: String,
        message: String,
        #[source]
        source: Option<BoxError>,
    },
    #[error("timed out after {}s waiting for {what}", elapsed.as_secs())]
    Timeout { what: String, elapsed: Duration },
    #[error("{resource} entered state `{state}` while waiting for `{wanted}`")]
    BadState { resource: String, state: String, wanted: String },
    #[error("{what} is missing: step `{step}` must run first")]
    MissingDependency { step: StepId, what: String },
    #[error("{0}")]
    Refused(String),
    #[error("state file: {0}")]
    State(#[from] StateError),
    #[error("the step stopped on an internal error (a bug; please report it): {0}")]
    Panicked(String),
}

impl StepError {
    /// The AWS error code, when the failure came from AWS.
    pub fn code(&self) -> Option<&str> {
        match self {
            StepError::Aws { code, .. } => Some(code),
            _ => None,
        }
    }

    /// A `hint:` line for failures the user can act on.
    pub fn hint(&self) -> Option<&'static str> {
        let code = self.code()?;
        Some(match code {
            c if c.contains("LimitExceeded") || c.contains("QuotaExceeded") => {
                "a service quota is exhausted; request an increase in Service Quotas or free unused resources"
            }
            "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" | "AuthFailure" => {
                "the credentials lack a permission; see the IAM policy in the README"
            }
            "InvalidClientTokenId" | "ExpiredToken" | "UnrecognizedClientException" => {
                "check AWS credentials (AWS_PROFILE / --profile) or refresh the session"
            }
            "DispatchFailure" | "TimeoutError" => {
                "the endpoint could not be reached; check --endpoint-url / network; rerun `moodlectl up` to resume"
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_for_actionable_codes() {
        let e = StepError::Aws {
            op: "CreateVpc".into(),
            resource: "VPC `x`".into(),
            code: "VpcLimitExceeded".into(),
            message: String::new(),
            source: None,
        };
        assert!(e.hint().unwrap().contains("quota"));
        assert_eq!(e.to_string(), "failed to CreateVpc VPC `x`: VpcLimitExceeded: ");
    }
}
