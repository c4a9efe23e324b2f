//! What one shard of a distributed run did, as its results record it and `merge` lists it
//! (set by `wirebench::shard`).

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A cell that started later than this after its slot counts as late.
pub const LATE: Duration = Duration::from_millis(10);

/// What one shard did, as recorded in its results and listed by merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ShardRun {
    pub index: u32,
    pub count: u32,
    /// The host the shard ran on.
    pub host: String,
    /// The shared start time, Unix seconds (an input).
    pub start_unix_s: f64,
    /// The target server's clock minus this shard's, in nanoseconds, when it could be
    /// estimated (see `wirebench::shard::clock_offset`).
    pub clock_offset_ns: Option<i64>,
    /// Half the window the offset was narrowed to: the offset is within ± this.
    pub clock_uncertainty_ns: Option<u64>,
    /// Cells that started over 10 ms after their slot.
    pub cells_late: u32,
    /// The latest start of a cell after its slot.
    pub max_start_lag_ns: u64,
    /// The highest send-lag p99 of its open-loop cells.
    pub max_send_lag_p99_ns: Option<u64>,
}

impl ShardRun {
    /// Its clock's offset from the server as people read it: `+0.009 ms ± 0.039 ms`, or
    /// `unknown`.
    pub fn clock_offset_shown(&self) -> String {
        match (self.clock_offset_ns, self.clock_uncertainty_ns) {
            (Some(o), Some(u)) => format!("{:+.3} ms ± {:.3} ms", o as f64 / 1e6, u as f64 / 1e6),
            _ => "unknown".to_owned(),
        }
    }

    /// Fills in how late its cells started and how far its sends lagged.
    pub fn note_cells(&mut self, cells: &[super::Cell]) {
        let lags = cells.iter().filter_map(|c| c.start_lag_ns);
        self.cells_late = lags.clone().filter(|l| *l > LATE.as_nanos() as u64).count() as u32;
        self.max_start_lag_ns = lags.max().unwrap_or(0);
        self.max_send_lag_p99_ns = cells.iter().filter_map(|c| c.send_lag.as_ref()).map(|l| l.p99_ns).max();
    }
}
