//! Reporters: how engine events reach a person or a pipeline.
//!
//! The engine never prints. It emits [`Event`]s; a reporter renders them:
//! spinners with elapsed time on a terminal, plain timestamped lines on
//! stderr otherwise (CI logs), or NDJSON on stdout with `--output json`
//! (the only thing on stdout in that mode, so a pipeline can parse it).

use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        command: String,
        stack: String,
        region: String,
        steps: usize,
    },
    StepStarted {
        step: String,
    },
    StepProgress {
        step: String,
        message: String,
    },
    StepFinished {
        step: String,
        outcome: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        changes: Vec<String>,
        elapsed_ms: u64,
    },
    StepFailed {
        step: String,
        error: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        hint: Option<String>,
        elapsed_ms: u64,
    },
    StepSkipped {
        step: String,
        reason: String,
    },
    RunFinished {
        ok: bool,
        elapsed_ms: u64,
        outcomes: BTreeMap<String, usize>,
        api_calls: BTreeMap<String, u64>,
    },
    Outputs {
        outputs: BTreeMap<String, String>,
    },
    /// Things `down` deliberately left in place (final snapshot, audit logs).
    Kept {
        items: Vec<String>,
    },
    /// Ctrl-C stopped the run; `running` were cut short (the state is saved).
    Interrupted {
        command: String,
        running: Vec<String>,
    },
}

pub trait Reporter: Send + Sync {
    fn emit(&self, ev: &Event);
    /// Steps started and not yet finished (what Ctrl-C cuts short), for
    /// reporters that keep track ([`Tracked`]).
    fn running(&self) -> Vec<String> {
        vec![]
    }
}

/// Any reporter, plus what is running: the steps Ctrl-C cuts short, and
/// what the plain reporter's heartbeat reports (they share one [`Running`]).
pub struct Tracked {
    inner: Box<dyn Reporter>,
    running: Arc<Mutex<Running>>,
}

impl Reporter for Tracked {
    fn emit(&self, ev: &Event) {
        self.running.lock().unwrap().observe(ev);
        self.inner.emit(ev);
    }
    fn running(&self) -> Vec<String> {
        self.running.lock().unwrap().steps.keys().cloned().collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// Pick the reporter for this process: JSON, TTY spinners, or plain lines.
pub fn make(json: bool, verbosity: Verbosity) -> Box<dyn Reporter> {
    let running = Arc::new(Mutex::new(Running::default()));
    Box::new(Tracked { inner: pick(json, verbosity, &running), running })
}

fn pick(json: bool, verbosity: Verbosity, running: &Arc<Mutex<Running>>) -> Box<dyn Reporter> {
    let ci = std::env::var("CI").map(|v| v == "true" || v == "1").unwrap_or(false);
    if json {
        Box::new(JsonReporter { out: Mutex::new(()) })
    } else if std::io::stderr().is_terminal() && !ci && verbosity != Verbosity::Quiet {
        Box::new(TtyReporter::new(verbosity, color_enabled()))
    } else {
        Box::new(PlainReporter::new(verbosity, running.clone()))
    }
}

/// Colour on stdout: a terminal, and `NO_COLOR` unset or empty.
pub fn color_stdout() -> bool {
    std::env::var_os("NO_COLOR").map(|v| v.is_empty()).unwrap_or(true) && std::io::stdout().is_terminal()
}

pub fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").map(|v| v.is_empty()).unwrap_or(true) && std::io::stderr().is_terminal()
}

/// NDJSON on stdout, one event per line, each with a timestamp.
pub struct JsonReporter {
    out: Mutex<()>,
}

#[derive(Serialize)]
struct Stamped<'a> {
    ts: String,
    #[serde(flatten)]
    ev: &'a Event,
}

impl Reporter for JsonReporter {
    fn emit(&self, ev: &Event) {
        let _g = self.out.lock().unwrap();
        let line = serde_json::to_string(&Stamped { ts: crate::state::now_rfc3339(), ev }).expect("event serialises");
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Timestamped lines on stderr (non-TTY, CI), and a heartbeat: every
/// `MOODLECTL_HEARTBEAT_S` (default 10) seconds, one "still …" line per step
/// that has been running that long, as Terraform prints "Still creating…
/// [1m20s elapsed]" — a CI log that is silent for minutes looks hung.
pub struct PlainReporter {
    verbosity: Verbosity,
}

/// What is running, kept by [`Tracked`]: the run's verb and each running
/// step's start and last progress message.
#[derive(Default)]
pub struct Running {
    verb: &'static str,
    steps: BTreeMap<String, (Instant, Option<String>)>,
}

impl Running {
    fn observe(&mut self, ev: &Event) {
        match ev {
            Event::RunStarted { command, .. } => self.verb = if command == "down" { "deleting" } else { "working" },
            Event::StepStarted { step } => {
                self.steps.insert(step.clone(), (Instant::now(), None));
            }
            Event::StepProgress { step, message } => {
                if let Some(s) = self.steps.get_mut(step) {
                    s.1 = Some(message.clone());
                }
            }
            Event::StepFinished { step, .. } | Event::StepFailed { step, .. } => {
                self.steps.remove(step);
            }
            _ => {}
        }
    }
}

impl PlainReporter {
    /// `running` is the [`Tracked`] reporter's, read by the heartbeat.
    pub fn new(verbosity: Verbosity, running: Arc<Mutex<Running>>) -> Self {
        if verbosity != Verbosity::Quiet {
            let every = std::env::var("MOODLECTL_HEARTBEAT_S").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
            // Lives as long as the process; it only reads the shared map.
            std::thread::spawn(move || heartbeat(&running, std::time::Duration::from_secs(every.max(1))));
        }
        PlainReporter { verbosity }
    }
}

fn heartbeat(running: &Mutex<Running>, every: std::time::Duration) {
    loop {
        std::thread::sleep(every);
        let r = running.lock().unwrap();
        for (step, (started, last)) in &r.steps {
            let elapsed = started.elapsed();
            if elapsed >= every {
                let mut line = format!("{step}: still {}… [{} elapsed]", r.verb, elapsed_words(elapsed.as_secs()));
                if let Some(m) = last {
                    line.push_str(&format!(" — {m}"));
                }
                eprintln!("{} {line}", clock());
            }
        }
    }
}

/// `80` → `1m20s`, `7` → `7s`.
pub fn elapsed_words(s: u64) -> String {
    match (s / 60, s % 60) {
        (0, s) => format!("{s}s"),
        (m, s) => format!("{m}m{s}s"),
    }
}

fn clock() -> String {
    time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!("[hour]:[minute]:[second]"))
        .unwrap_or_default()
}

pub fn describe(ev: &Event) -> Option<String> {
    Some(match ev {
        Event::RunStarted { command, stack, region, steps } => {
            format!("{command}: stack `{stack}` in {region}, {steps} steps")
        }
        Event::StepStarted { step } => format!("{step}: started"),
        Event::StepProgress { step, message } => format!("{step}: {message}"),
        Event::StepFinished { step, outcome, changes, elapsed_ms } => {
            let mut s = format!("{step}: {outcome} ({})", secs(*elapsed_ms));
            if !changes.is_empty() {
                s.push_str(&format!(" [{}]", changes.join(", ")));
            }
            s
        }
        Event::StepFailed { step, error, hint, elapsed_ms, .. } => {
            let mut s = format!("{step}: FAILED after {}: {error}", secs(*elapsed_ms));
            if let Some(h) = hint {
                s.push_str(&format!("\n  hint: {h}"));
            }
            s
        }
        Event::StepSkipped { step, reason } => format!("{step}: skipped ({reason})"),
        Event::RunFinished { ok, elapsed_ms, outcomes, .. } => {
            let counts: Vec<String> = outcomes.iter().map(|(k, v)| format!("{v} {k}")).collect();
            format!("{} in {}: {}", if *ok { "done" } else { "failed" }, secs(*elapsed_ms), counts.join(", "))
        }
        Event::Outputs { .. } => return None,
        // `down` prints what it kept on stdout (data); not twice.
        Event::Kept { .. } => return None,
        Event::Interrupted { command, running } => {
            let stopped = if running.is_empty() {
                "nothing was running".into()
            } else {
                format!("stopped {}", running.join(", "))
            };
            format!("interrupted: {stopped}; the state is saved, `moodlectl {command}` resumes")
        }
    })
}

fn secs(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

impl Reporter for PlainReporter {
    fn emit(&self, ev: &Event) {
        let important = matches!(ev, Event::StepFailed { .. } | Event::RunFinished { .. } | Event::Interrupted { .. });
        let chatty = matches!(ev, Event::StepStarted { .. } | Event::StepProgress { .. });
        match self.verbosity {
            Verbosity::Quiet if !important => return,
            Verbosity::Normal if chatty && !matches!(ev, Event::StepProgress { .. }) => return,
            _ => {}
        }
        if let Some(line) = describe(ev) {
            eprintln!("{} {line}", clock());
        }
    }
}

/// Spinners with elapsed time, one per running step.
pub struct TtyReporter {
    multi: indicatif::MultiProgress,
    bars: Mutex<HashMap<String, (indicatif::ProgressBar, Instant)>>,
    verbosity: Verbosity,
    color: bool,
}

impl TtyReporter {
    fn new(verbosity: Verbosity, color: bool) -> Self {
        TtyReporter {
            multi: indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
            verbosity,
            color,
        }
    }

    fn style(&self) -> indicatif::ProgressStyle {
        let tpl = if self.color {
            "{spinner:.cyan} {prefix:.bold} {msg} {elapsed:.dim}"
        } else {
            "{spinner} {prefix} {msg} {elapsed}"
        };
        indicatif::ProgressStyle::with_template(tpl).expect("valid template")
    }

    fn paint(&self, s: &str, code: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

impl Reporter for TtyReporter {
    fn emit(&self, ev: &Event) {
        let mut bars = self.bars.lock().unwrap();
        match ev {
            Event::StepStarted { step } => {
                let pb = self.multi.add(indicatif::ProgressBar::new_spinner());
                pb.set_style(self.style());
                pb.set_prefix(step.clone());
                pb.set_message("working");
                pb.enable_steady_tick(std::time::Duration::from_millis(120));
                bars.insert(step.clone(), (pb, Instant::now()));
            }
            Event::StepProgress { step, message } => {
                if let Some((pb, _)) = bars.get(step) {
                    pb.set_message(message.clone());
                }
            }
            Event::StepFinished { step, .. } | Event::StepFailed { step, .. } => {
                let failed = matches!(ev, Event::StepFailed { .. });
                let mark = if failed { self.paint("✗", "31") } else { self.paint("✓", "32") };
                let line = format!("{mark} {}", describe(ev).unwrap_or_default());
                if let Some((pb, _)) = bars.remove(step) {
                    pb.finish_and_clear();
                    self.multi.remove(&pb);
                }
                let unchanged = matches!(ev, Event::StepFinished { outcome, .. } if outcome == "unchanged" || outcome == "already absent");
                if failed || !unchanged || self.verbosity == Verbosity::Verbose {
                    let _ = self.multi.println(line);
                }
            }
            Event::Interrupted { .. } => {
                // No frozen spinner frame left behind on the terminal.
                for (_, (pb, _)) in bars.drain() {
                    pb.finish_and_clear();
                }
                let _ = self.multi.clear();
                eprintln!("{}", describe(ev).unwrap_or_default());
            }
            other => {
                if let Some(line) = describe(other) {
                    let _ = self.multi.println(line);
                }
            }
        }
    }
}

/// Collects events in memory (tests, and commands that render a table at the end).
#[derive(Default)]
pub struct Collect(pub Mutex<Vec<Event>>);

impl Reporter for Collect {
    fn emit(&self, ev: &Event) {
        self.0.lock().unwrap().push(ev.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_events_are_tagged_snake_case() {
        let ev = Event::StepFinished {
            step: "network.vpc".into(),
            outcome: "created".into(),
            changes: vec![],
            elapsed_ms: 1200,
        };
        let v: serde_json::Value = serde_json::from_str(&serde_json::to_string(&ev).unwrap()).unwrap();
        assert_eq!(v["event"], "step_finished");
        assert_eq!(v["outcome"], "created");
        assert!(v.get("changes").is_none());
        assert_eq!(describe(&ev).unwrap(), "network.vpc: created (1.2s)");
    }
}
