//! How long a plan's cells run, and how long the whole run is expected to take: each cell's
//! warm-up and recorded window (longer on an emulated network), the calls a worker makes at
//! least there, and the estimate a run prints before it starts and runs its progress bar on.

use std::time::Duration;

use super::plan::{CellPlan, LoadPoint, Plan};

/// Cells on an emulated network last long enough for this many round trips (at least the
/// plan's duration, at most [`NETWORK_CELL_MAX`]); their warm-up for three.
pub(super) const NETWORK_CELL_RTTS: u32 = 16;
const NETWORK_CELL_MAX: Duration = Duration::from_secs(6);
/// A worker on an emulated network goes on past its cell's length until it has this many
/// calls (an operation of many round trips takes longer than the cell), for at most
/// [`NETWORK_MIN_OPS_MAX`] more: six calls give the median an interval (their smallest and
/// largest hold it with 97 % confidence).
pub const NETWORK_MIN_OPS: u64 = 6;
pub const NETWORK_MIN_OPS_MAX: Duration = Duration::from_secs(4);
/// What a cell run costs beyond its warm-up and recorded window (the store's reset, threads
/// and connections, the checks after it), measured on a 2-core machine: for the estimate.
const CELL_OVERHEAD: Duration = Duration::from_millis(40);
/// The same for a cold cell, whose every call opens a connection (a TLS handshake is about
/// a millisecond of CPU on each side).
const COLD_CELL_OVERHEAD: Duration = Duration::from_millis(60);

impl Plan {
    /// The calls each worker of `cell` makes at least, when it may run past its length to
    /// make them (see [`NETWORK_MIN_OPS`]).
    pub fn min_ops(&self, cell: &CellPlan) -> u64 {
        if cell.emulated && matches!(cell.point, LoadPoint::Closed { .. }) { NETWORK_MIN_OPS } else { 0 }
    }

    /// How long one run of `cell` is expected to take, all in.
    pub fn expected(&self, cell: &CellPlan) -> Duration {
        let (warmup, duration) = self.timing(cell);
        let rtt = self.networks[cell.network].rtt();
        // A connection's set-up, and the call in flight at the deadline.
        let margin = if cell.fresh { COLD_CELL_OVERHEAD } else { CELL_OVERHEAD } + rtt * 2;
        warmup + duration + margin
    }

    /// The run's expected length: every run of every cell of every payload, plus each
    /// payload's server start, equivalence gate and warm pass.
    pub fn estimate(&self) -> Duration {
        let per_payload: Duration =
            (0..self.repeat).flat_map(|round| self.cells_of_round(round)).map(|c| self.expected(&c)).sum();
        (per_payload + self.setup_time()) * self.payloads.len() as u32
    }

    /// What a payload costs before its first cell: the server's start, the equivalence gate
    /// (every protocol × operation once) and the warm pass (the busiest cell of each
    /// protocol and of each operation, for a warm-up's length).
    pub fn setup_time(&self) -> Duration {
        let pairs = (self.protocols.len() * self.operations.len()) as u32;
        let warm = self.warmup.max(Duration::from_millis(50)) + CELL_OVERHEAD;
        Duration::from_secs(2)
            + Duration::from_millis(15) * pairs
            + warm * (self.protocols.len() + self.operations.len()) as u32
    }

    /// Cell runs in the whole run.
    pub fn cell_runs(&self) -> usize {
        (0..self.repeat).map(|round| self.cells_of_round(round).len()).sum::<usize>() * self.payloads.len()
    }

    /// The cells of one round (every cell, but the emulated networks' only in their first
    /// `network_repeat` rounds), in plan order.
    pub(super) fn cells_of_round(&self, round: u32) -> Vec<CellPlan> {
        self.cells().into_iter().filter(|c| !c.emulated || round < self.network_repeat).collect()
    }

    /// Warm-up and recorded length of `cell`: the plan's on loopback; on an emulated
    /// network long enough for [`NETWORK_CELL_RTTS`] round trips.
    pub fn timing(&self, cell: &CellPlan) -> (Duration, Duration) {
        let rtt = self.networks[cell.network].rtt();
        if rtt.is_zero() {
            return (self.warmup, self.duration);
        }
        let duration = (rtt * NETWORK_CELL_RTTS).min(NETWORK_CELL_MAX).max(self.duration);
        (self.warmup.max(rtt * 3), duration)
    }
}
