//! Network profiles: what a link does in each direction, from `results/networks.toml`, a
//! user's file, or an ad-hoc spec on the command line.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The built-in profiles, compiled in.
const BUILTIN: &str = include_str!("../networks.toml");

/// The profile that is no emulation at all: the client's socket as it is.
pub const LOOPBACK: &str = "loopback";

/// One direction of a link.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Way {
    /// One-way delay, milliseconds.
    #[serde(default)]
    pub delay_ms: f64,
    /// Link rate in kbit/s of IP packets (headers included); none: unlimited.
    #[serde(default)]
    pub kbit: Option<f64>,
    /// Each segment is late by a uniform 0..jitter milliseconds, never overtaking.
    #[serde(default)]
    pub jitter_ms: f64,
}

impl Way {
    pub fn delay(&self) -> Duration {
        Duration::from_secs_f64(self.delay_ms / 1e3)
    }

    pub fn jitter(&self) -> Duration {
        Duration::from_secs_f64(self.jitter_ms / 1e3)
    }

    /// How long `bytes` take to leave at this link's rate (zero when unlimited).
    pub fn serialization(&self, bytes: usize) -> Duration {
        match self.kbit {
            Some(kbit) => Duration::from_secs_f64(bytes as f64 * 8.0 / (kbit * 1e3)),
            None => Duration::ZERO,
        }
    }
}

/// A named link: both directions, and loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Network {
    pub name: String,
    /// Where the numbers come from.
    pub source: String,
    /// Client to server.
    pub up: Way,
    /// Server to client.
    pub down: Way,
    /// Share of segments lost in each direction (0 to 1).
    #[serde(default)]
    pub loss: f64,
}

impl Network {
    /// The link's round trip without queueing: both one-way delays.
    pub fn rtt(&self) -> Duration {
        self.up.delay() + self.down.delay()
    }

    /// Whether this is the unemulated loopback.
    pub fn is_loopback(&self) -> bool {
        self.name == LOOPBACK
    }

    fn loopback() -> Network {
        Network {
            name: LOOPBACK.into(),
            source: "this machine's loopback, not emulated".into(),
            up: Way::default(),
            down: Way::default(),
            loss: 0.0,
        }
    }

    /// One line for tables: "40 ms round trip, 10.2/10.2 Mbit/s".
    pub fn describe(&self) -> String {
        if self.is_loopback() {
            return "no emulation".into();
        }
        let rate = |w: &Way| w.kbit.map_or_else(|| "unlimited".into(), |k| format!("{:.3}", k / 1e3));
        let mut s = format!(
            "{} ms round trip, {} down / {} up Mbit/s",
            trim(self.rtt().as_secs_f64() * 1e3),
            rate(&self.down),
            rate(&self.up)
        );
        if self.up.jitter_ms > 0.0 || self.down.jitter_ms > 0.0 {
            s += &format!(", jitter {}/{} ms", trim(self.down.jitter_ms), trim(self.up.jitter_ms));
        }
        if self.loss > 0.0 {
            s += &format!(", loss {} %", trim(self.loss * 100.0));
        }
        s
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A profile as the file writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    source: String,
    up: Way,
    down: Way,
    #[serde(default)]
    loss: f64,
}

/// Every profile known to a run.
#[derive(Debug, Clone)]
pub struct Networks {
    by_name: BTreeMap<String, Network>,
}

impl Networks {
    /// The built-in profiles, with those of `extra` (which replace same-named ones).
    pub fn load(extra: Option<&Path>) -> anyhow::Result<Networks> {
        let mut by_name = parse(BUILTIN).context("results/networks.toml")?;
        if let Some(path) = extra {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            by_name.extend(parse(&text).with_context(|| format!("{}", path.display()))?);
        }
        by_name.insert(LOOPBACK.into(), Network::loopback());
        Ok(Networks { by_name })
    }

    /// Every known profile's name (loopback included), in name order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// The networks a `--network` list names: names, and `key=value` items that together
    /// make one ad-hoc link (named by its spec).
    pub fn select(&self, list: &[String]) -> anyhow::Result<Vec<Network>> {
        let mut out = Vec::new();
        let mut adhoc = Vec::new();
        for item in list.iter().flat_map(|s| s.split(',')).map(str::trim).filter(|s| !s.is_empty()) {
            if item.contains('=') {
                adhoc.push(item);
            } else {
                let n = self.by_name.get(item).with_context(|| {
                    let known: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
                    format!(
                        "unknown network {item:?} (known: {}; or rtt=40ms,down=20mbit,...)",
                        known.join(", ")
                    )
                })?;
                out.push(n.clone());
            }
        }
        if !adhoc.is_empty() {
            out.push(adhoc_spec(&adhoc.join(","))?);
        }
        Ok(out)
    }
}

fn parse(text: &str) -> anyhow::Result<BTreeMap<String, Network>> {
    let entries: BTreeMap<String, Entry> = toml::from_str(text)?;
    let mut out = BTreeMap::new();
    for (name, e) in entries {
        let n = Network { name: name.clone(), source: e.source, up: e.up, down: e.down, loss: e.loss };
        validate(&n)?;
        out.insert(name, n);
    }
    Ok(out)
}

fn validate(n: &Network) -> anyhow::Result<()> {
    for (what, w) in [("up", &n.up), ("down", &n.down)] {
        let ok = w.delay_ms.is_finite()
            && w.delay_ms >= 0.0
            && w.jitter_ms.is_finite()
            && w.jitter_ms >= 0.0
            && w.kbit.is_none_or(|k| k.is_finite() && k > 0.0);
        if !ok {
            bail!("network {}: {what} needs delay and jitter ≥ 0 and a rate > 0", n.name);
        }
    }
    if !(0.0..1.0).contains(&n.loss) {
        bail!("network {}: loss must be at least 0 and below 1", n.name);
    }
    Ok(())
}

/// An ad-hoc link: `rtt=40ms` (or `delay=20ms`, one way), `down=20mbit`, `up=5mbit` (also
/// `kbit`, `gbit`), `jitter=1ms` (each direction), `loss=0.5%` (or a share, `0.005`).
pub fn adhoc_spec(spec: &str) -> anyhow::Result<Network> {
    let mut n = Network {
        name: spec.to_owned(),
        source: "given on the command line".into(),
        up: Way::default(),
        down: Way::default(),
        loss: 0.0,
    };
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (key, value) = item.split_once('=').with_context(|| format!("{item:?} is not key=value"))?;
        let bad = || format!("network spec {item:?}: cannot read {value:?}");
        match key.trim() {
            "rtt" => {
                let ms = millis(value).with_context(bad)?;
                (n.up.delay_ms, n.down.delay_ms) = (ms / 2.0, ms / 2.0);
            }
            "delay" => {
                let ms = millis(value).with_context(bad)?;
                (n.up.delay_ms, n.down.delay_ms) = (ms, ms);
            }
            "jitter" => {
                let ms = millis(value).with_context(bad)?;
                (n.up.jitter_ms, n.down.jitter_ms) = (ms, ms);
            }
            "down" => n.down.kbit = Some(kbits(value).with_context(bad)?),
            "up" => n.up.kbit = Some(kbits(value).with_context(bad)?),
            "rate" => {
                let k = kbits(value).with_context(bad)?;
                (n.up.kbit, n.down.kbit) = (Some(k), Some(k));
            }
            "loss" => {
                let v = value.trim();
                n.loss = match v.strip_suffix('%') {
                    Some(p) => p.trim().parse::<f64>().with_context(bad)? / 100.0,
                    None => v.parse::<f64>().with_context(bad)?,
                };
            }
            other => bail!("network spec: unknown key {other:?} (rtt, delay, jitter, down, up, rate, loss)"),
        }
    }
    validate(&n)?;
    Ok(n)
}

/// "40ms", "1.5s", "250us" → milliseconds.
fn millis(v: &str) -> Option<f64> {
    let v = v.trim();
    let (num, scale) = if let Some(x) = v.strip_suffix("ms") {
        (x, 1.0)
    } else if let Some(x) = v.strip_suffix("us") {
        (x, 1e-3)
    } else if let Some(x) = v.strip_suffix('s') {
        (x, 1e3)
    } else {
        return None;
    };
    num.trim().parse::<f64>().ok().map(|x| x * scale)
}

/// "20mbit", "512kbit", "1gbit" → kbit/s.
fn kbits(v: &str) -> Option<f64> {
    let v = v.trim().to_ascii_lowercase();
    let (num, scale) = if let Some(x) = v.strip_suffix("gbit") {
        (x, 1e6)
    } else if let Some(x) = v.strip_suffix("mbit") {
        (x, 1e3)
    } else if let Some(x) = v.strip_suffix("kbit") {
        (x, 1.0)
    } else {
        return None;
    };
    num.trim().parse::<f64>().ok().map(|x| x * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_name_their_source_and_load() {
        let n = Networks::load(None).unwrap();
        let picked = n.select(&["loopback,wan,4g".into()]).unwrap();
        assert_eq!(picked.len(), 3);
        assert!(picked[0].is_loopback());
        assert_eq!(picked[1].rtt(), Duration::from_millis(40));
        assert_eq!(picked[2].rtt(), Duration::from_millis(70));
        assert!(picked.iter().all(|p| !p.source.is_empty()));
    }

    #[test]
    fn adhoc_specs_read_units_and_unknown_names_fail() {
        let n = Networks::load(None).unwrap();
        let picked = n.select(&["wan,rtt=40ms,down=20mbit,up=5mbit,loss=1%".into()]).unwrap();
        let a = &picked[1];
        assert_eq!((a.up.delay_ms, a.down.delay_ms), (20.0, 20.0));
        assert_eq!((a.down.kbit, a.up.kbit), (Some(20_000.0), Some(5_000.0)));
        assert!((a.loss - 0.01).abs() < 1e-12);
        assert!(n.select(&["moon".into()]).unwrap_err().to_string().contains("known"));
        assert!(adhoc_spec("rtt=fast").is_err());
        assert!(adhoc_spec("loss=1.5").is_err());
    }
}
