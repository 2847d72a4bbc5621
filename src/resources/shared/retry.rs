//! "AWS has not caught up yet": retrying a call AWS refuses for a while after
//! a related change, on named error codes, within a bound.
//!
//! Create→use edges where AWS is eventually consistent (a new IAM role not yet
//! assumable, a network interface of a deleted endpoint still attached, a
//! file system "in use" after its last mount target went, …) fail with
//! documented codes for seconds to minutes. The SDK's own retry does not
//! cover them: they are not throttling or 5xx. Each caller names the codes
//! (and, where one code covers several meanings, the message fragments) that
//! mean "wait", what it waits for, and how long; anything else fails at once.
//! While it waits the progress line says what for; when the bound runs out the
//! error names the operation, the resource and the last AWS error. The rules
//! themselves are in [`super::propagation`].

use crate::aws::errors::{aws_err, sdk_not_found, NotFound};
use crate::engine::Outcome;
use crate::error::StepError;
use crate::resources::shared::wait::{wait_for, Poll};
use crate::resources::StepCx;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

/// Which refusals to wait out, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Transient {
    /// What the wait is for, as the progress line says it: "network
    /// interfaces to be released".
    pub waiting_for: &'static str,
    /// Error codes that always mean "not yet".
    pub codes: &'static [&'static str],
    /// (code, lower-case message fragment): the code means "not yet" only
    /// with that message (e.g. ECS's InvalidParameterException "unable to
    /// assume role", which otherwise means a real mistake).
    pub messages: &'static [(&'static str, &'static str)],
    /// How long to keep asking (capped by the step's wait timeout).
    pub bound: Duration,
}

impl Transient {
    pub fn matches(&self, code: &str, message: &str) -> bool {
        let message = message.to_ascii_lowercase();
        self.codes.contains(&code) || self.messages.iter().any(|(c, m)| *c == code && message.contains(m))
    }
}

/// Deleting something other resources still hold on to for a moment (their
/// network interfaces, attachments): AWS answers these codes until it lets go.
pub const IN_USE: Transient = Transient {
    waiting_for: "dependent resources to be released",
    // Not AuthFailure: a real permission error would look like a 20-minute hang.
    codes: &[
        "DependencyViolation",
        "ResourceInUse",
        "ResourceInUseException",
        "InvalidIPAddress.InUse",
        // ECS: a cluster whose last tasks or service are still stopping.
        "ClusterContainsTasksException",
        "ClusterContainsServicesException",
    ],
    messages: &[],
    bound: Duration::from_secs(20 * 60),
};

/// Call until AWS stops refusing with one of `rule`'s errors, within its bound.
pub async fn retry<T, E, R, F, Fut>(
    cx: &StepCx,
    op: &str,
    resource: &str,
    rule: &Transient,
    mut call: F,
) -> Result<T, StepError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
{
    attempts(cx, op, resource, rule, || {
        let fut = call();
        async move {
            match fut.await {
                Ok(v) => Ok(Attempt::Done(v)),
                Err(e) => rule.judge(op, resource, e),
            }
        }
    })
    .await
}

/// How one attempt of an operation ended: done, or refused with an error
/// the rule says to wait out.
pub enum Attempt<T> {
    Done(T),
    Refused(StepError),
}

impl Transient {
    /// An SDK error of `op` as the rule sees it: a refusal to wait out, or
    /// the step's error.
    pub fn judge<T, E, R>(&self, op: &str, resource: &str, e: SdkError<E, R>) -> Result<Attempt<T>, StepError>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        if self.matches(e.code().unwrap_or_default(), e.message().unwrap_or_default()) {
            Ok(Attempt::Refused(aws_err(op, resource, e)))
        } else {
            Err(aws_err(op, resource, e))
        }
    }

    /// One delete attempt's result: done (deleted, or already gone — not
    /// found is success), a refusal to wait out, or the step's error.
    pub fn judge_delete<T, E, R>(
        &self,
        op: &str,
        resource: &str,
        res: Result<T, SdkError<E, R>>,
    ) -> Result<Attempt<Outcome>, StepError>
    where
        E: NotFound + ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        match res {
            Ok(_) => Ok(Attempt::Done(Outcome::Deleted)),
            Err(e) if sdk_not_found(&e) => Ok(Attempt::Done(Outcome::AlreadyAbsent)),
            Err(e) => self.judge(op, resource, e),
        }
    }
}

/// Like [`retry`], for an operation of several calls per attempt (a delete
/// that needs a fresh lock token; a bucket emptied again before each
/// delete): repeat `attempt` while it ends [`Attempt::Refused`], within the
/// rule's bound; on timeout, the last refusal is the error.
pub async fn attempts<T, F, Fut>(
    cx: &StepCx,
    op: &str,
    resource: &str,
    rule: &Transient,
    mut attempt: F,
) -> Result<T, StepError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Attempt<T>, StepError>>,
{
    let last: Mutex<Option<StepError>> = Mutex::new(None);
    let what = format!("{} ({op} {resource})", rule.waiting_for);
    let bound = cx.wait_timeout.min(rule.bound);
    let result = wait_for(cx, &what, bound, || {
        let fut = attempt();
        let last = &last;
        async move {
            match fut.await? {
                Attempt::Done(v) => Ok(Poll::Ready(v)),
                Attempt::Refused(e) => {
                    let code = match &e {
                        StepError::Aws { code, .. } => code.clone(),
                        e => e.to_string(),
                    };
                    *last.lock().unwrap() = Some(e);
                    Ok(Poll::Pending(code))
                }
            }
        }
    })
    .await;
    match result {
        Err(StepError::Timeout { elapsed, .. }) if last.lock().unwrap().is_some() => {
            Err(still_refused(last.into_inner().unwrap().expect("checked"), elapsed))
        }
        other => other,
    }
}

/// An EC2 call naming IDs that may have been created a moment ago: waits out
/// EC2's read-after-create `Invalid*.NotFound` ([`propagation::EC2_FRESH_ID`]).
///
/// [`propagation::EC2_FRESH_ID`]: super::propagation::EC2_FRESH_ID
pub async fn fresh<T, E, R, F, Fut>(cx: &StepCx, op: &str, resource: &str, call: F) -> Result<T, StepError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
{
    retry(cx, op, resource, &super::propagation::EC2_FRESH_ID, call).await
}

/// A delete refused while other resources still hold on to the target
/// ([`IN_USE`]); not-found is success.
pub async fn retry_in_use<T, E, R, F, Fut>(cx: &StepCx, op: &str, resource: &str, call: F) -> Result<Outcome, StepError>
where
    E: NotFound + ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
{
    delete(cx, op, resource, &IN_USE, call).await
}

/// A delete that AWS may refuse for a while (`rule`); not-found is success.
pub async fn delete<T, E, R, F, Fut>(
    cx: &StepCx,
    op: &str,
    resource: &str,
    rule: &Transient,
    mut call: F,
) -> Result<Outcome, StepError>
where
    E: NotFound + ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
{
    attempts(cx, op, resource, rule, || {
        let fut = call();
        async move { rule.judge_delete(op, resource, fut.await) }
    })
    .await
}

/// Map a delete call's result: success → Deleted, not-found → AlreadyAbsent.
pub fn deleted<T, E, R>(op: &str, resource: &str, res: Result<T, SdkError<E, R>>) -> Result<Outcome, StepError>
where
    E: NotFound + ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match res {
        Ok(_) => Ok(Outcome::Deleted),
        Err(e) if sdk_not_found(&e) => Ok(Outcome::AlreadyAbsent),
        Err(e) => Err(aws_err(op, resource, e)),
    }
}

/// The last refusal, saying how long it was waited out.
pub(crate) fn still_refused(e: StepError, elapsed: Duration) -> StepError {
    match e {
        StepError::Aws { op, resource, code, message, source } => StepError::Aws {
            op,
            resource,
            code,
            message: format!("{message} (still refused after {}s of retries)", elapsed.as_secs()),
            source,
        },
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_code_message_pairs() {
        const ROLE: Transient = Transient {
            waiting_for: "the IAM role to propagate",
            codes: &["ClusterNotFoundException"],
            messages: &[("InvalidParameterException", "unable to assume")],
            bound: Duration::from_secs(1),
        };
        assert!(ROLE.matches("ClusterNotFoundException", ""));
        assert!(ROLE.matches("InvalidParameterException", "Unable to assume the service linked role"));
        assert!(!ROLE.matches("InvalidParameterException", "cpu must be one of"));
        assert!(!ROLE.matches("AccessDenied", "unable to assume"));
    }

    #[test]
    fn a_permission_error_is_not_waited_out_as_in_use() {
        // AuthFailure is a real permission problem: failing at once beats
        // looking like a 20-minute hang.
        assert!(!IN_USE.matches("AuthFailure", "not authorized"));
        assert!(IN_USE.matches("DependencyViolation", ""));
    }
}
