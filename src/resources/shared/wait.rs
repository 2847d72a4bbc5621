//! Waiting on AWS: the one bounded poller, and batched waits for several
//! resources of one kind.
//!
//! The SDK's generated waiters fix a 15–30 s minimum delay from the service
//! models and the Rust SDK offers no way to lower it; that floor alone would
//! add minutes to a run whose resources become ready in seconds (and swamp the
//! latency benchmark). [`wait_for`] starts at `MOODLECTL_POLL_MIN_MS`
//! (250 ms), backs off ×1.5 to `MOODLECTL_POLL_MAX_MS` (10 s), reports the
//! current state with elapsed time, and gives up after the step's timeout.

use crate::aws::env_ms;
use crate::engine::Outcome;
use crate::error::StepError;
use crate::resources::StepCx;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One answer of a poll.
pub enum Poll<T> {
    Ready(T),
    /// Not there yet; the string is the current state, shown as progress.
    Pending(String),
}

/// Poll `check` until it answers ready, fails, or `timeout` passes (see the
/// module docs for the pacing).
pub async fn wait_for<T, F, Fut>(cx: &StepCx, what: &str, timeout: Duration, mut check: F) -> Result<T, StepError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, StepError>>,
{
    let start = Instant::now();
    let mut delay = env_ms("MOODLECTL_POLL_MIN_MS", 250);
    let max = env_ms("MOODLECTL_POLL_MAX_MS", 10_000);
    let mut last = String::new();
    loop {
        match check().await? {
            Poll::Ready(v) => return Ok(v),
            Poll::Pending(state) => {
                let elapsed = start.elapsed();
                if elapsed >= timeout {
                    return Err(StepError::Timeout { what: format!("{what} (last state `{state}`)"), elapsed });
                }
                // On a change only: the reporter shows the elapsed time (a
                // moving timer on a terminal, a heartbeat line in CI).
                if state != last {
                    cx.progress(format!("{what}: {state}"));
                    last = state;
                }
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay.mul_f64(1.5)).min(max);
    }
}

/// Wait until `find` no longer returns the resource (a delete AWS carries out
/// in the background); `state` says what it is doing meanwhile.
pub async fn wait_gone<R, F, Fut>(
    cx: &StepCx,
    what: &str,
    find: F,
    state: impl Fn(&R) -> String,
) -> Result<(), StepError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Option<R>, StepError>>,
{
    wait_for(cx, &format!("{what} to be deleted"), cx.wait_timeout, || async {
        Ok(match find().await? {
            None => Poll::Ready(()),
            Some(r) => Poll::Pending(state(&r)),
        })
    })
    .await
}

/// After a step found or created several resources of one kind (`found`:
/// each one's ID and outcome), wait until every one is in state `ready`
/// (one `read` per poll, see [`wait_all`]; a state in `failed` is an error),
/// and merge their outcomes. A dry run does not wait.
pub async fn ready_all<F, Fut>(
    cx: &StepCx,
    what: &str,
    found: Vec<(String, Outcome)>,
    ready: &str,
    failed: &[&str],
    read: F,
) -> Result<Outcome, StepError>
where
    F: Fn(Vec<String>) -> Fut,
    Fut: Future<Output = Result<Option<BTreeMap<String, String>>, StepError>>,
{
    let (ids, outs): (Vec<String>, Vec<Outcome>) = found.into_iter().unzip();
    if !cx.dry_run {
        let want = Want { ready: &[ready], failed, gone_is_ready: false };
        wait_all(cx, what, ids, want, read).await?;
    }
    Ok(outs.into_iter().fold(Outcome::Unchanged, Outcome::merge))
}

/// The deletion twin of [`ready_all`]: after a step deleted several
/// resources of one kind (`deleted`: each one's ID, if there is one to wait
/// for, and outcome), wait until every one is gone — no longer returned by
/// `read`, or in one of the `gone` states (e.g. `deleted`, which AWS shows
/// for a while) — and merge their outcomes.
pub async fn gone_all<F, Fut>(
    cx: &StepCx,
    what: &str,
    deleted: Vec<(Option<String>, Outcome)>,
    gone: &[&str],
    read: F,
) -> Result<Outcome, StepError>
where
    F: Fn(Vec<String>) -> Fut,
    Fut: Future<Output = Result<Option<BTreeMap<String, String>>, StepError>>,
{
    let (ids, outs): (Vec<Option<String>>, Vec<Outcome>) = deleted.into_iter().unzip();
    let want = Want { ready: gone, failed: &[], gone_is_ready: true };
    wait_all(cx, what, ids.into_iter().flatten().collect(), want, read).await?;
    Ok(outs.into_iter().fold(Outcome::AlreadyAbsent, Outcome::merge))
}

/// What [`wait_all`] waits for.
struct Want<'a> {
    /// States that count as done.
    ready: &'a [&'a str],
    /// States that end the wait with an error.
    failed: &'a [&'a str],
    /// Does a resource the read no longer returns count as done (deletion)?
    gone_is_ready: bool,
}

/// Wait until each of `ids` is done, reading the states of all those not
/// done yet with one call per poll: `read(ids)` returns the states it sees,
/// by ID, or `None` when the service refused the call because one of the IDs
/// is unknown to it (then each is read on its own). Several resources of one
/// kind (two NAT gateways, four endpoints) cost one call per poll rather than
/// one each — API rate limits are per account, and a step's waits run beside
/// the whole stack's creates.
async fn wait_all<F, Fut>(cx: &StepCx, what: &str, ids: Vec<String>, want: Want<'_>, read: F) -> Result<(), StepError>
where
    F: Fn(Vec<String>) -> Fut,
    Fut: Future<Output = Result<Option<BTreeMap<String, String>>, StepError>>,
{
    let pending = Mutex::new(ids);
    wait_for(cx, what, cx.wait_timeout, || async {
        let ids = pending.lock().unwrap().clone();
        if ids.is_empty() {
            return Ok(Poll::Ready(()));
        }
        let states = match read(ids.clone()).await? {
            Some(m) => m,
            None => {
                let mut m = BTreeMap::new();
                if ids.len() > 1 {
                    for id in &ids {
                        m.extend(read(vec![id.clone()]).await?.unwrap_or_default());
                    }
                }
                m
            }
        };
        let left = not_done(what, ids, &states, &want)?;
        let shown = left.iter().map(|(id, s)| format!("{id} {s}")).collect::<Vec<_>>().join(", ");
        let done = left.is_empty();
        *pending.lock().unwrap() = left.into_iter().map(|(id, _)| id).collect();
        Ok(if done { Poll::Ready(()) } else { Poll::Pending(shown) })
    })
    .await
}

/// The IDs of `ids` not done yet, each with its state; an error for one
/// that failed.
fn not_done(
    what: &str,
    ids: Vec<String>,
    states: &BTreeMap<String, String>,
    want: &Want<'_>,
) -> Result<Vec<(String, String)>, StepError> {
    let mut left = vec![];
    for id in ids {
        match states.get(&id).map(String::as_str) {
            Some(s) if want.ready.contains(&s) => {}
            Some(s) if want.failed.contains(&s) => {
                return Err(StepError::BadState {
                    resource: format!("{what} {id}"),
                    state: s.to_string(),
                    wanted: want.ready.first().copied().unwrap_or("gone").into(),
                })
            }
            None if want.gone_is_ready => {}
            s => {
                let s = s.unwrap_or("not visible yet").to_string();
                left.push((id, s));
            }
        }
    }
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_waits_keep_only_what_is_not_done() {
        let states: BTreeMap<String, String> =
            [("a", "available"), ("b", "pending")].into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let create = Want { ready: &["available"], failed: &["failed"], gone_is_ready: false };
        assert_eq!(
            not_done("NAT gateway", ids(&["a", "b", "c"]), &states, &create).unwrap(),
            vec![("b".to_string(), "pending".to_string()), ("c".to_string(), "not visible yet".to_string())]
        );
        // Deletion: an ID the service no longer returns is done.
        let delete = Want { ready: &["deleted"], failed: &[], gone_is_ready: true };
        assert_eq!(
            not_done("NAT gateway", ids(&["b", "c"]), &states, &delete).unwrap(),
            vec![("b".to_string(), "pending".to_string())]
        );
        let failed: BTreeMap<String, String> = [("a".to_string(), "failed".to_string())].into_iter().collect();
        let e = not_done("NAT gateway", ids(&["a"]), &failed, &create).unwrap_err();
        assert!(e.to_string().contains("NAT gateway a") && e.to_string().contains("failed"), "{e}");
    }
}
