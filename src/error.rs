//! Errors shared by every resource module, and the process exit codes.
//!
//! Every AWS failure is turned into a [`StepError::Aws`] that carries the API
//! operation, the resource it was acting on and the AWS error code, because
//! that triple is what an operator needs to act ("CreateNatGateway on
//! `moodle-nat-a` failed: NatGatewayLimitExceeded"). Resource modules match
//! specific service errors through `into_service_error()`; everything else is
//! converted here so the code never gets lost.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::time::Duration;

/// Process exit codes; documented in the README.
pub mod exit {
    pub const OK: u8 = 0;
    pub const RUNTIME: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const CHANGES_PENDING: u8 = 3;
    pub const DEGRADED: u8 = 4;
}

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("failed to {op} {resource}: {code}: {message}")]
    Aws {
        op: String,
        resource: String,
        code: String,
        message: String,
    },
    #[error("timed out after {}s waiting for {what}", elapsed.as_secs())]
    Timeout { what: String, elapsed: Duration },
    #[error("{resource} entered state `{state}` while waiting for `{wanted}`")]
    BadState {
        resource: String,
        state: String,
        wanted: String,
    },
    #[error("{what} is missing: step `{step}` must run first")]
    MissingDependency { step: &'static str, what: String },
    #[error("{0}")]
    Refused(String),
    #[error("state file: {0}")]
    State(String),
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
            "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" => {
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

/// Convert any SDK error into a [`StepError::Aws`] naming the operation and resource.
pub fn aws_err<E, R>(op: &str, resource: impl Into<String>, err: SdkError<E, R>) -> StepError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let (code, message) = error_code_message(&err);
    StepError::Aws {
        op: op.to_string(),
        resource: resource.into(),
        code,
        message,
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
            (
                e.code().unwrap_or("Unknown").to_string(),
                e.message().unwrap_or("").to_string(),
            )
        }
        SdkError::TimeoutError(_) => ("TimeoutError".into(), "request timed out".into()),
        SdkError::DispatchFailure(_) => (
            "DispatchFailure".into(),
            DisplayErrorContext(err).to_string(),
        ),
        _ => ("ClientError".into(), DisplayErrorContext(err).to_string()),
    }
}

/// AWS spells "does not exist" a dozen ways; all of them mean the same to a
/// destroy step (success) and to a lookup (absent).
pub fn is_not_found_code(code: &str) -> bool {
    code.contains("NotFound")
        || code.contains("NoSuch")
        || code == "ResourceNotFoundException"
        || code == "InvalidAllocationID.NotFound"
        || code == "InvalidParameterValue.NotFound"
}

/// True when an SDK error means the resource does not exist.
pub fn sdk_not_found<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match err {
        SdkError::ServiceError(se) => se.err().code().map(is_not_found_code).unwrap_or(false),
        _ => false,
    }
}

/// `Ok(None)` for not-found, the value otherwise, an error for anything else.
pub fn absent_ok<T, E, R>(
    op: &str,
    resource: &str,
    res: Result<T, SdkError<E, R>>,
) -> Result<Option<T>, StepError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
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

    #[test]
    fn not_found_codes_are_recognised() {
        for c in [
            "InvalidVpcID.NotFound",
            "NoSuchEntity",
            "ResourceNotFoundException",
            "NatGatewayNotFound",
            "InvalidAllocationID.NotFound",
        ] {
            assert!(is_not_found_code(c), "{c}");
        }
        for c in ["DependencyViolation", "Throttling", "InvalidParameterValue"] {
            assert!(!is_not_found_code(c), "{c}");
        }
    }

    #[test]
    fn hints_for_actionable_codes() {
        let e = StepError::Aws {
            op: "CreateVpc".into(),
            resource: "VPC `x`".into(),
            code: "VpcLimitExceeded".into(),
            message: String::new(),
        };
        assert!(e.hint().unwrap().contains("quota"));
        assert_eq!(
            e.to_string(),
            "failed to CreateVpc VPC `x`: VpcLimitExceeded: "
        );
    }
}
