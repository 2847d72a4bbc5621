//! Finding a resource of the stack: by the ID the state recorded, then by
//! its tags.
//!
//! The recorded ID is exact and cheap; the tag lookup is how a lost or stale
//! state file is rebuilt (the resource is "adopted"). The tag match is
//! checked again on each candidate, because some endpoints ignore tag
//! filters, and because a filter on a list call may return more than asked.

use crate::error::StepError;
use crate::resources::shared::wait::{wait_for, Poll};
use crate::resources::StepCx;
use std::future::Future;

/// Find the resource with logical `key`: `by_id` reads the recorded ID
/// (`None` when it no longer exists, or is no longer usable — deleted, …);
/// otherwise `by_tags` lists candidates, and the first for which `ours`
/// holds is it.
///
/// Not finding a resource created moments ago proves nothing on AWS (reads
/// are eventually consistent): while `key` is within its settle window
/// ([`StepCx::settle_left`]) the lookup is repeated until it shows up or the
/// window passes.
pub async fn find<R, FId, FutId, FTags, FutTags>(
    cx: &StepCx,
    key: &str,
    by_id: FId,
    by_tags: FTags,
    ours: impl Fn(&R) -> bool,
) -> Result<Option<R>, StepError>
where
    FId: Fn(String) -> FutId,
    FutId: Future<Output = Result<Option<R>, StepError>>,
    FTags: Fn() -> FutTags,
    FutTags: Future<Output = Result<Vec<R>, StepError>>,
{
    let once = || async {
        // A recorded ID is trusted as is: its tags may have been edited by
        // hand, and not finding it by tag would mean creating a second one.
        if let Some(id) = cx.state.id(key) {
            if let Some(r) = by_id(id).await? {
                return Ok(Some(r));
            }
        }
        Ok::<_, StepError>(by_tags().await?.into_iter().find(|r| ours(r)))
    };
    if let Some(r) = once().await? {
        return Ok(Some(r));
    }
    let Some(left) = cx.settle_left(key) else {
        return Ok(None);
    };
    let what = format!("{key}, created moments ago, to become visible");
    let seen = wait_for(cx, &what, left, || async {
        Ok(match once().await? {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending("not visible yet".into()),
        })
    })
    .await;
    match seen {
        Ok(r) => Ok(Some(r)),
        Err(StepError::Timeout { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}
