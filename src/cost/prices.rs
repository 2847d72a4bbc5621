//! Where the prices of an estimate come from, in order:
//!
//! 1. the on-disk cache of Price List answers for the region, if under a day
//!    old (`$MOODLECTL_CACHE_DIR`, else `$XDG_CACHE_HOME` or `~/.cache`,
//!    then `moodlectl/prices-<region>.json`);
//! 2. the AWS Price List Query API ([`super::pricelist`]) — one failure
//!    (no credentials, no network, an emulator without the service) and the
//!    whole estimate uses
//! 3. the embedded table (`prices.toml`), stamped with the date it was taken.
//!
//! The estimate says which it used, and when; a key the Price List has no
//! product for is taken from the embedded table and listed as such.

use super::pricelist;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const EMBEDDED: &str = include_str!("prices.toml");
/// Price List answers are reused for a day.
const CACHE_SECONDS: u64 = 24 * 3600;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// The Price List API, asked on `date` (perhaps earlier and cached).
    PriceList { date: String, cached: bool },
    /// The embedded table, taken on `date`; `region` is the table's region
    /// (us-east-1 when the stack's has none), `reason` why it was used.
    Embedded { date: String, region: String, reason: String },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::PriceList { date, cached: false } => write!(f, "AWS Price List API, {date}"),
            Source::PriceList { date, cached: true } => write!(f, "AWS Price List API, {date} (cached)"),
            Source::Embedded { date, region, reason } => {
                write!(f, "embedded price table for {region}, taken {date} ({reason})")
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Prices {
    pub values: BTreeMap<String, f64>,
    pub source: Source,
    /// Keys neither the Price List nor the embedded table could price.
    pub unknown: Vec<String>,
    /// Keys the Price List had no product for, taken from the embedded table.
    pub from_table: Vec<String>,
}

impl Prices {
    pub fn get(&self, key: &str) -> Option<f64> {
        self.values.get(key).copied()
    }
}

#[derive(serde::Deserialize)]
struct Table {
    meta: Meta,
    regions: BTreeMap<String, BTreeMap<String, f64>>,
}
#[derive(serde::Deserialize)]
struct Meta {
    taken: String,
}

fn table() -> Table {
    toml::from_str(EMBEDDED).expect("prices.toml is valid (unit-tested)")
}

/// The embedded prices of `keys` for `region` (or us-east-1's).
pub fn embedded(region: &str, keys: &[String], reason: &str) -> Prices {
    let t = table();
    let used = if t.regions.contains_key(region) { region } else { "us-east-1" };
    let reason = if used == region {
        reason.to_string()
    } else {
        format!("{reason}; no embedded prices for {region}, us-east-1's used")
    };
    let row = &t.regions[used];
    let mut values = BTreeMap::new();
    let mut unknown = vec![];
    for k in keys {
        match row.get(k) {
            Some(v) => {
                values.insert(k.clone(), *v);
            }
            None => unknown.push(k.clone()),
        }
    }
    Prices {
        values,
        source: Source::Embedded { date: t.meta.taken, region: used.to_string(), reason },
        unknown,
        from_table: vec![],
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Cache {
    fetched_at: u64,
    date: String,
    values: BTreeMap<String, f64>,
    /// Keys the Price List has no product for (not asked again within the day).
    #[serde(default)]
    absent: Vec<String>,
}

/// The cache directory (see the module header).
fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("MOODLECTL_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("moodlectl")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("moodlectl")))
}

fn read_cache(dir: Option<&Path>, region: &str) -> Option<Cache> {
    let path = dir?.join(format!("prices-{region}.json"));
    let c: Cache = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    (crate::state::unix_now().saturating_sub(c.fetched_at) < CACHE_SECONDS).then_some(c)
}

fn write_cache(dir: Option<&Path>, region: &str, c: &Cache) {
    let Some(dir) = dir else { return };
    let p = dir.join(format!("prices-{region}.json"));
    if let Some(dir) = p.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // A cache that cannot be written only costs the next run its calls.
    let _ = crate::state::write_atomic(&p, &serde_json::to_vec_pretty(c).unwrap_or_default());
}

/// The prices of `keys` for `region`: cache, Price List, or embedded table.
/// `client` is `None` when the Price List is not to be asked (`--offline`).
pub async fn resolve(client: Option<&aws_sdk_pricing::Client>, region: &str, keys: &[String]) -> Prices {
    resolve_in(client, region, keys, cache_dir().as_deref()).await
}

/// [`resolve`] with the cache in `dir` (`None`: no cache).
pub async fn resolve_in(
    client: Option<&aws_sdk_pricing::Client>,
    region: &str,
    keys: &[String],
    dir: Option<&Path>,
) -> Prices {
    let Some(client) = client else { return embedded(region, keys, "--offline") };
    let cached = read_cache(dir, region);
    let mut values = cached.as_ref().map(|c| c.values.clone()).unwrap_or_default();
    let mut none: Vec<String> = cached.as_ref().map(|c| c.absent.clone()).unwrap_or_default();
    let missing: Vec<&String> = keys.iter().filter(|k| !values.contains_key(*k) && !none.contains(k)).collect();
    let fetched = !missing.is_empty();
    // A few calls at once: about twenty prices, each one GetProducts.
    // Per key: no query for it (`None`), or the Price List's answer.
    type Answer = Option<Result<Option<f64>, String>>;
    let answers: Vec<(String, Answer)> = futures::stream::iter(missing)
        .map(|k| async move {
            match pricelist::query(k, region) {
                Some(q) => (k.clone(), Some(pricelist::fetch(client, &q).await)),
                None => (k.clone(), None),
            }
        })
        .buffer_unordered(6)
        .collect()
        .await;
    for (k, answer) in answers {
        match answer {
            Some(Ok(Some(v))) => {
                values.insert(k, v);
            }
            None | Some(Ok(None)) => none.push(k),
            Some(Err(code)) => return embedded(region, keys, &format!("Price List API unreachable: {code}")),
        }
    }
    let date = if fetched {
        let date = crate::state::now_rfc3339()[..10].to_string();
        write_cache(
            dir,
            region,
            &Cache {
                fetched_at: crate::state::unix_now(),
                date: date.clone(),
                values: values.clone(),
                absent: none.clone(),
            },
        );
        date
    } else {
        cached.map(|c| c.date).unwrap_or_default()
    };
    none.retain(|k| keys.contains(k));
    let table = embedded(region, &none, "");
    let mut unknown = table.unknown.clone();
    unknown.sort();
    let from_table: Vec<String> = table.values.keys().cloned().collect();
    values.extend(table.values);
    values.retain(|k, _| keys.contains(k));
    Prices { values, source: Source::PriceList { date, cached: !fetched }, unknown, from_table }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_table_parses_and_prices_every_profile_in_its_regions() {
        let t = table();
        assert!(t.meta.taken.len() == 10, "taken is a date: {}", t.meta.taken);
        for (region, row) in &t.regions {
            assert!(crate::config::REGIONS.contains(&region.as_str()), "{region}");
            for (k, v) in row {
                assert!(*v > 0.0, "{region} {k}");
                assert!(pricelist::query(k, region).is_some(), "{k} has no Price List query");
            }
        }
    }

    #[test]
    fn a_region_without_a_table_uses_us_east_1_and_says_so() {
        let p = embedded("sa-east-1", &["nat.hour".to_string()], "offline");
        assert_eq!(p.get("nat.hour"), Some(0.045));
        assert!(p.source.to_string().contains("no embedded prices for sa-east-1"), "{}", p.source);
    }
}
