//! A cell over its rounds, as `summaries` in results.json holds it: each figure with its
//! interval (computed by `crate::repeats`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::stats::Estimate;
use crate::vocab::Operation;

/// One cell (protocol, operation, payload, load point) over its rounds.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CellSummary {
    pub protocol: String,
    pub operation: Operation,
    pub payload: String,
    #[serde(default = "crate::loopback")]
    pub network: String,
    #[serde(default)]
    pub fresh_connections: bool,
    #[serde(default = "crate::plain")]
    pub tls: String,
    #[serde(default = "crate::one")]
    pub streams: u32,
    /// A cell of the size sweep: N orders.
    #[serde(default)]
    pub size: Option<u32>,
    /// The gateway in the path (`direct`: none).
    #[serde(default = "crate::direct")]
    pub via: String,
    pub mode: String,
    pub concurrency: u32,
    pub rate: Option<f64>,
    /// Rounds measured.
    pub runs: usize,
    /// Each figure over every round, with its interval and the rounds' spread.
    pub figures: BTreeMap<String, Estimate>,
    /// Figures whose interval reaches further than 10 % from them (see
    /// [`crate::stats::NOISY_HALF_WIDTH`]).
    pub noisy: Vec<String>,
}
