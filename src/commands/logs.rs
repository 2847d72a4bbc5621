//! `moodlectl logs`: the Moodle container's CloudWatch logs, oldest first;
//! `--follow` keeps polling for new events until interrupted.

use super::{inputs, CmdError, CmdResult};
use crate::aws::errors::aws_err;
use crate::aws::Aws;
use crate::cli::{Cli, OutputFormat};
use crate::error::exit;
use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

pub async fn run(cli: &Cli, follow: bool, since: Duration) -> CmdResult {
    let inp = inputs(cli)?;
    let group = crate::resources::compute::container_log_group(&inp.cfg.stack.name);
    let aws = Aws::connect(&inp.conn).await;
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let mut start = now_ms - since.as_millis() as i64;
    let mut seen: HashSet<String> = HashSet::new();
    loop {
        let mut events = vec![];
        let mut token = None;
        loop {
            let o = aws
                .logs
                .filter_log_events()
                .log_group_name(&group)
                .start_time(start)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| CmdError::runtime(aws_err("FilterLogEvents", &group, e)))?;
            events.extend(o.events().iter().cloned());
            match o.next_token() {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        events.sort_by_key(|e| (e.timestamp().unwrap_or(0), e.ingestion_time().unwrap_or(0)));
        let mut out = std::io::stdout().lock();
        for e in events {
            let id = e
                .event_id()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{:?}{:?}{:?}", e.timestamp(), e.log_stream_name(), e.message()));
            if !seen.insert(id) {
                continue;
            }
            let ts = e.timestamp().unwrap_or(0);
            start = start.max(ts);
            let when = time::OffsetDateTime::from_unix_timestamp_nanos(ts as i128 * 1_000_000)
                .ok()
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                .unwrap_or_default();
            let stream = e.log_stream_name().unwrap_or_default();
            let msg = e.message().unwrap_or_default().trim_end();
            let _ = match cli.output {
                OutputFormat::Json => {
                    writeln!(out, "{}", serde_json::json!({"timestamp": when, "stream": stream, "message": msg}))
                }
                OutputFormat::Text => writeln!(out, "{when} {stream} {msg}"),
            };
        }
        let _ = out.flush();
        drop(out);
        if !follow {
            return Ok(exit::OK);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(exit::OK),
        }
    }
}
