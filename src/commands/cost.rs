//! `moodlectl cost`: the stack's monthly estimate as configured, line by
//! line, and beside it another profile's (`--compare small`); and the cost
//! section `plan` prints under its changes.
//!
//! It needs no stack and no state: a school can price both profiles before
//! it has built anything. Prices come from the Price List API when it
//! answers, else from the embedded table (see `cost::prices`); the output
//! always says which, and of when.

use super::{inputs, print_table, CmdError, CmdResult};
use crate::cli::{Cli, OutputFormat};
use crate::config::{Config, Profile};
use crate::cost::{self, prices, Estimate, Shape};
use crate::error::exit;
use std::io::Write;
use std::time::Duration;

/// A Price List client in us-east-1 (which prices every region). It honours
/// `MOODLECTL_PRICING_ENDPOINT`, else `--endpoint-url`; it fails fast (one
/// retry, short timeouts): the embedded table is a good answer too.
pub async fn pricing_client(conn: &crate::aws::Conn) -> aws_sdk_pricing::Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(20))
                .build(),
        );
    if let Some(p) = &conn.profile {
        loader = loader.profile_name(p);
    }
    let endpoint = std::env::var("MOODLECTL_PRICING_ENDPOINT").ok().or_else(|| conn.endpoint_url.clone());
    if let Some(u) = endpoint {
        loader = loader.endpoint_url(u);
    }
    aws_sdk_pricing::Client::new(&loader.load().await)
}

/// Prices for every key `shapes` need.
pub async fn prices_for(conn: &crate::aws::Conn, shapes: &[&Shape], offline: bool) -> prices::Prices {
    let mut keys: Vec<String> = shapes.iter().flat_map(|s| s.price_keys()).collect();
    keys.sort();
    keys.dedup();
    let client = if offline { None } else { Some(pricing_client(conn).await) };
    prices::resolve(client.as_ref(), &shapes[0].region, &keys).await
}

pub async fn run(cli: &Cli, compare: Option<Profile>, offline: bool) -> CmdResult {
    let inp = inputs(cli)?;
    let cfg = &inp.cfg;
    let other = match compare {
        Some(p) => Some((p, other_profile(cli, cfg, p)?)),
        None => None,
    };
    let shape = Shape::of(cfg);
    let other_shape = other.as_ref().map(|(_, c)| Shape::of(c));
    let mut shapes = vec![&shape];
    shapes.extend(other_shape.as_ref());
    let prices = prices_for(&inp.conn, &shapes, offline).await;
    let this = cost::estimate(&shape, &cfg.usage, &prices);
    let that = other_shape.as_ref().map(|s| cost::estimate(s, &cfg.usage, &prices));
    let profile = cfg.stack.profile;
    match cli.output {
        OutputFormat::Json => {
            let mut doc = serde_json::json!({
                "schema": "moodlectl.cost/v1",
                "region": cfg.stack.region,
                "profile": profile.as_str(),
                "currency": "USD",
                "hours_per_month": cost::HOURS_PER_MONTH,
                "prices": prices_json(&prices),
                "usage": cfg.usage,
                "estimate": this,
            });
            if let (Some((p, _)), Some(t)) = (&other, &that) {
                doc["compare"] = serde_json::json!({
                    "profile": p.as_str(),
                    "estimate": t,
                    "difference": cost::round2(t.total - this.total),
                });
            }
            println!("{}", serde_json::to_string_pretty(&doc).expect("JSON"));
        }
        OutputFormat::Text => {
            let mut out = std::io::stdout().lock();
            match (&other, &that) {
                (Some((p, _)), Some(t)) => print_compare(&mut out, (profile, &this), (*p, t)),
                _ => print_estimate(&mut out, &this),
            }
            let _ = writeln!(out, "\nRegion {}; prices: {}.", cfg.stack.region, prices.source);
            note_prices(&mut out, &prices);
            let usage: Vec<String> = cfg.usage.entries().iter().map(|(k, v)| format!("{k} = {v}")).collect();
            let _ = writeln!(out, "Usage assumed ([usage]): {}.", usage.join(", "));
        }
    }
    Ok(exit::OK)
}

/// The configuration read with profile `p` (every key the file sets still wins).
fn other_profile(cli: &Cli, cfg: &Config, p: Profile) -> Result<Config, CmdError> {
    let src = std::fs::read_to_string(&cli.config).map_err(CmdError::usage)?;
    let mut c = Config::with_profile(&cli.config, &src, p).map_err(CmdError::usage)?;
    c.stack.region = cfg.stack.region.clone();
    Ok(c)
}

pub fn prices_json(p: &prices::Prices) -> serde_json::Value {
    serde_json::json!({
        "source": p.source,
        "values": p.values,
        "unknown": p.unknown,
        "from_embedded_table": p.from_table,
    })
}

fn money(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.2}")).unwrap_or_else(|| "?".into())
}

fn print_estimate(out: &mut dyn Write, e: &Estimate) {
    let rows: Vec<Vec<String>> = e
        .lines
        .iter()
        .map(|l| vec![l.tier.to_string(), l.item.clone(), l.quantity.clone(), money(l.monthly)])
        .collect();
    print_table(out, &["TIER", "ITEM", "QUANTITY", "USD/MONTH"], &rows);
    let _ = writeln!(out, "\nTotal: ${:.2}/month", e.total);
    if !e.unpriced.is_empty() {
        let _ = writeln!(out, "Not in the total (no price found): {}", e.unpriced.join(", "));
    }
}

fn print_compare(out: &mut dyn Write, (p, a): (Profile, &Estimate), (q, b): (Profile, &Estimate)) {
    let rows: Vec<Vec<String>> = a
        .lines
        .iter()
        .zip(&b.lines)
        .map(|(x, y)| vec![x.tier.to_string(), x.item.clone(), money(x.monthly), money(y.monthly), y.quantity.clone()])
        .collect();
    let (hp, hq) = (p.as_str().to_uppercase(), q.as_str().to_uppercase());
    print_table(out, &["TIER", "ITEM", &hp, &hq, &format!("{hq} QUANTITY")], &rows);
    let _ = writeln!(out, "\nTotal: ${:.2}/month ({}), ${:.2}/month ({})", a.total, p.as_str(), b.total, q.as_str());
    let _ = writeln!(out, "{} instead of {}: {}", q.as_str(), p.as_str(), cost::signed(b.total - a.total));
    for (name, e) in [(p, a), (q, b)] {
        if !e.unpriced.is_empty() {
            let _ = writeln!(out, "Not in the {} total (no price found): {}", name.as_str(), e.unpriced.join(", "));
        }
    }
}

fn note_prices(out: &mut dyn Write, p: &prices::Prices) {
    if !p.from_table.is_empty() {
        let _ = writeln!(out, "From the embedded table (no Price List product): {}.", p.from_table.join(", "));
    }
    if !p.unknown.is_empty() {
        let _ = writeln!(out, "No price known for: {}.", p.unknown.join(", "));
    }
}

/// `plan`'s cost section: the configuration's estimate, line by line, beside
/// the shape the last complete `up` built (`applied`, from the state).
pub struct PlanCost {
    pub now: Estimate,
    /// `None`: nothing built yet (or by a moodlectl that did not record it).
    pub before: Option<Estimate>,
    pub source: prices::Source,
}

impl PlanCost {
    pub fn delta(&self) -> f64 {
        self.now.total - self.before.as_ref().map_or(0.0, |b| b.total)
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "currency": "USD",
            "monthly": self.now.total,
            "before": self.before.as_ref().map(|b| b.total),
            "delta": cost::round2(self.delta()),
            "prices": self.source,
            "lines": self.now.lines,
            "before_lines": self.before.as_ref().map(|b| &b.lines),
        })
    }
    /// The lines that change (all of them with `all`, or for a new stack),
    /// before → after, and the totals.
    pub fn print(&self, out: &mut dyn Write, all: bool) {
        let before = |i: usize| self.before.as_ref().map(|b| b.lines[i].monthly);
        let rows: Vec<Vec<String>> = self
            .now
            .lines
            .iter()
            .enumerate()
            .filter(|(i, l)| all || before(*i).is_none_or(|b| b != l.monthly))
            .map(|(i, l)| {
                let was = before(i).flatten();
                let change = match (was, l.monthly) {
                    (Some(b), Some(a)) => cost::signed(a - b).trim_end_matches("/month").to_string(),
                    (None, Some(a)) if self.before.is_none() => cost::signed(a).trim_end_matches("/month").to_string(),
                    _ => "?".into(),
                };
                let was = if self.before.is_none() { "-".into() } else { money(was) };
                vec![l.item.clone(), l.quantity.clone(), was, money(l.monthly), change]
            })
            .collect();
        let change = match &self.before {
            Some(b) => format!("{} (was ${:.2}/month)", cost::signed(self.now.total - b.total), b.total),
            None => format!("{} (nothing built yet)", cost::signed(self.now.total)),
        };
        let _ = writeln!(out, "Cost: ${:.2}/month estimated, {change}.", self.now.total);
        if !rows.is_empty() {
            print_table(out, &["ITEM", "QUANTITY", "BEFORE", "AFTER", "CHANGE"], &rows);
        }
        if !self.now.unpriced.is_empty() {
            let _ = writeln!(out, "Not in the total (no price found): {}", self.now.unpriced.join(", "));
        }
        let _ =
            writeln!(out, "Prices: {}; usage from [usage]; `moodlectl cost` itemises the whole stack.", self.source);
    }
}

pub async fn plan_cost(inp: &super::Inputs, applied: Option<serde_json::Value>) -> PlanCost {
    let shape = Shape::of(&inp.cfg);
    let before: Option<Shape> = applied.and_then(|v| serde_json::from_value(v).ok());
    let mut shapes = vec![&shape];
    shapes.extend(before.as_ref());
    let prices = prices_for(&inp.conn, &shapes, false).await;
    let now = cost::estimate(&shape, &inp.cfg.usage, &prices);
    let before = before.map(|b| cost::estimate(&b, &inp.cfg.usage, &prices));
    PlanCost { now, before, source: prices.source }
}
