//! One worker of a cell: one connection at a time, its own stats, its own schedule.
//!
//! With `streams` > 1, a connection is shared by that many workers (its lanes, see
//! [`super::client::Client::lane`]): the first opens it and *leads* it; the others run their
//! calls beside its on the same socket.
//!
//! A warm connection's bytes are counted once, by its lead, over the recorded window (its
//! counts when recording began on it, subtracted from its counts when it closes or the cell
//! ends): per call they would overlap on a shared connection, and reading them around each
//! call cost every call two copies of the connection's counts under its lock. A cold call
//! (`fresh_connections`) counts its own connection whole, set-up included.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::client::{self, Call, Client, ClientError, Operations};
use super::clock::Clock;
use super::{CellSpec, CellStats, Mode, SAMPLE_EVERY, WRITE_SAMPLE_EVERY, WRITES_KEPT_FIRST, nanos};
use crate::catalog::{OpParams, Outcome, check_write};
use wirebench_wire::Tally;
use wirebench_wire::kernel::KernelCounts;

/// The times every worker of a cell shares.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub start: Instant,
    /// End of warm-up: recording starts.
    pub measure_from: Instant,
    pub deadline: Instant,
    /// The latest a worker short of its minimum of calls goes on (see `CellSpec::min_ops`).
    pub overtime: Instant,
}

impl Window {
    pub fn new(start: Instant, warmup: Duration, duration: Duration) -> Window {
        let deadline = start + warmup + duration;
        Window { start, measure_from: start + warmup, deadline, overtime: deadline }
    }

    pub fn with_overtime(self, overtime: Duration) -> Window {
        Window { overtime: self.deadline + overtime, ..self }
    }

    /// Whether a worker that has recorded `ops` of its `min_ops` calls stops at `now`.
    fn over(&self, now: Instant, ops: u64, min_ops: u64) -> bool {
        now >= self.deadline && (ops >= min_ops || now >= self.overtime)
    }
}

fn segments(k: Option<KernelCounts>) -> u64 {
    k.map_or(0, |k| u64::from(k.segs_in) + u64::from(k.segs_out))
}

/// The instants of one call.
#[derive(Debug, Clone, Copy)]
struct Times {
    /// Where latency starts: the intended send (open loop) or the actual send.
    from: Instant,
    /// When the worker's previous call ended.
    free_at: Instant,
    sent_at: Instant,
    /// The answer's last byte (or the timeout).
    end: Instant,
}

/// A worker and its connection.
pub(super) struct Worker<'a, C: Client> {
    client: &'static C,
    spec: &'a CellSpec,
    id: u32,
    stats: CellStats,
    conn: Option<C::Conn>,
    /// This worker's parameters: the cell's, with its own idempotency key per write.
    params: OpParams,
    /// Whether this worker opened its connection (and counts its segments and, when shared,
    /// its bytes); false for the other lanes of a shared connection.
    lead: bool,
    /// The connection's kernel segment count when recording began on it.
    segs_at_start: Option<u64>,
    /// A warm connection's counts when recording began on it (leads only).
    wire_at_start: Option<Tally>,
    /// When the first recorded call started (its intended send in open loop).
    first_recorded: Option<Instant>,
    /// When the last recorded answer was complete.
    last_recorded: Option<Instant>,
}

impl<'a, C: Client> Worker<'a, C> {
    pub fn new(client: &'static C, spec: &'a CellSpec, id: u32) -> Self {
        let open = matches!(spec.mode, Mode::Open { .. });
        Worker {
            client,
            spec,
            id,
            stats: CellStats::new(open),
            conn: None,
            params: spec.params.clone(),
            lead: id.is_multiple_of(spec.streams.max(1)),
            segs_at_start: None,
            wire_at_start: None,
            first_recorded: None,
            last_recorded: None,
        }
    }

    /// Whether this worker opens its connection (every worker, unless connections are shared).
    pub fn leads(&self) -> bool {
        self.lead
    }

    /// Opens a connection, retrying (with a pause) until `by`; errors are counted.
    pub async fn open(&mut self, by: Instant) {
        while self.conn.is_none() && Instant::now() < by && !self.spec.stop.load(Ordering::Relaxed) {
            let attempt = tokio::time::timeout(
                self.spec.call_timeout,
                self.client.open(self.spec.dial.clone(), self.spec.op),
            );
            match attempt.await {
                Ok(Ok(conn)) => {
                    self.stats.opened(conn.counters());
                    self.conn = Some(conn);
                    return;
                }
                Ok(Err(e)) => self.stats.error(&e),
                Err(_) => self.stats.error(&ClientError::Timeout),
            }
            // A refused or dead server: back off a little, never spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Adds the segments the current connection exchanged while recording (and, when it is
    /// shared, its bytes).
    fn close_segments(&mut self) {
        if let (Some(start), Some(conn)) = (self.segs_at_start.take(), &self.conn) {
            self.stats.segments += segments(conn.counters().kernel()).saturating_sub(start);
        }
        if let (Some(start), Some(conn)) = (self.wire_at_start.take(), &self.conn) {
            self.stats.wire.add(&conn.counters().snapshot().since(&start));
        }
    }

    /// Replaces a broken or timed-out connection; false when none opened before `by`. A lane
    /// of a shared connection gets a connection of its own, which it leads (the lanes left
    /// on the old one go on uncounted in bytes: an error of the cell, reported as such).
    async fn reconnect(&mut self, by: Instant) -> bool {
        self.close_segments();
        self.conn = None;
        self.lead = true;
        self.open(by).await;
        self.conn.is_some()
    }

    /// Gives this call's write its own idempotency key (reads have none).
    fn key(&mut self, seq: u64) {
        if self.spec.op.writes() {
            let key = self.params.idempotency_key.get_or_insert_with(String::new);
            key.clear();
            // Formatting into a String cannot fail.
            let _ = write!(key, "{}-{}-{seq}", self.spec.key_prefix, self.id);
        }
    }

    /// Runs one call on the open connection (with fresh connections: on a new one, opened
    /// inside the call's time): its outcome, what a new connection carried (set-up included;
    /// a warm connection's bytes are counted over the window, see the module docs), its
    /// decode time, the send time and the end (the answer's last byte, or the timeout).
    async fn call(&mut self) -> (Result<Call, ClientError>, Option<Tally>, Duration, Instant, Instant) {
        let sent_at = Instant::now();
        let timeout = self.spec.call_timeout;
        let deadline = tokio::time::Instant::from_std(sent_at + timeout);
        let fresh = self.conn.is_none();
        if fresh {
            match tokio::time::timeout_at(deadline, self.client.open(self.spec.dial.clone(), self.spec.op))
                .await
            {
                Ok(Ok(conn)) => {
                    self.stats.opened(conn.counters());
                    self.conn = Some(conn);
                }
                Ok(Err(e)) => return (Err(e), None, Duration::ZERO, sent_at, Instant::now()),
                Err(_) => {
                    return (Err(ClientError::Timeout), None, Duration::ZERO, sent_at, sent_at + timeout);
                }
            }
        }
        let conn = self.conn.as_mut().expect("a worker calls only with a connection");
        // The call's own decoding, even when other calls share its connection.
        let call = wirebench_wire::timing_decode(client::call(conn, self.spec.op, &self.params));
        let (result, decode) = match tokio::time::timeout_at(deadline, call).await {
            Ok((result, decode)) => (Ok(result), decode),
            Err(elapsed) => (Err(elapsed), Duration::ZERO),
        };
        let now = Instant::now();
        let counters = conn.counters();
        let (outcome, end) = match result {
            Ok(Ok(call)) => {
                let last = counters.last_answer().filter(|t| *t >= sent_at && *t <= now);
                (Ok(call), last.unwrap_or(now))
            }
            Ok(Err(e)) => (Err(e), now),
            Err(_) => (Err(ClientError::Timeout), sent_at + timeout),
        };
        // A cold call's connection is its own: all it carried, set-up included.
        let wire = fresh.then(|| counters.snapshot());
        (outcome, wire, decode, sent_at, end)
    }

    /// Runs one call and accounts for it; false when the worker must stop. `free_at`: when the
    /// worker's previous call ended.
    async fn step(
        &mut self,
        seq: u64,
        (intended, free_at): (Option<Instant>, Instant),
        window: Window,
    ) -> bool {
        let recording = intended.unwrap_or_else(Instant::now) >= window.measure_from;
        if recording && self.lead && self.segs_at_start.is_none() {
            // A connection opened by the call counts from its first segment.
            self.segs_at_start = Some(self.conn.as_ref().map_or(0, |c| segments(c.counters().kernel())));
            if !self.spec.fresh_connections {
                self.wire_at_start = self.conn.as_ref().map(|c| c.counters().snapshot());
            }
        }
        self.key(seq);
        let (outcome, wire, decode, sent_at, end) = self.call().await;
        if self.spec.fresh_connections {
            // Cold: the next call opens its own connection.
            self.close_segments();
            self.conn = None;
        }
        let times = Times { from: intended.unwrap_or(sent_at), free_at, sent_at, end };
        let failure = match outcome {
            Ok(call) => {
                if recording {
                    match self.inspect(&call) {
                        Ok(()) => self.record(&call, wire.as_ref(), decode, times),
                        // A wrong answer is an error of the cell, not an operation.
                        Err(why) => self.stats.count_error("check".into(), why),
                    }
                }
                return true;
            }
            Err(e) => e,
        };
        if recording {
            if matches!(failure, ClientError::Timeout) {
                self.record_latency(times);
            }
            self.stats.error(&failure);
        }
        // A server's error answer leaves the connection usable; anything else replaces it.
        self.spec.fresh_connections || failure.answered_by_server() || self.reconnect(window.deadline).await
    }

    /// Checks a recorded answer: a write's against its request, now; one read in
    /// [`SAMPLE_EVERY`] is kept, and a write's records (the worker's first
    /// [`WRITES_KEPT_FIRST`], then one in [`WRITE_SAMPLE_EVERY`]), to check against the
    /// server's store after the cell.
    fn inspect(&mut self, call: &Call) -> Result<(), String> {
        let samples = &mut self.stats.samples;
        let ops = self.stats.ops;
        if !self.spec.op.writes() {
            if ops.is_multiple_of(SAMPLE_EVERY) {
                samples.reads.push(call.outcome.clone());
            }
            return Ok(());
        }
        let kept = ops < WRITES_KEPT_FIRST || ops.is_multiple_of(WRITE_SAMPLE_EVERY);
        match &call.outcome {
            // Stand-in bytes carry no records to check.
            Outcome::StandIn(_) => return Ok(()),
            Outcome::Created { order, .. } if kept => samples.created.push(order.clone()),
            Outcome::Imported(summary) if kept => samples.imported.extend(&summary.order_ids),
            _ => {}
        }
        check_write(&self.params, &call.outcome)?;
        samples.writes_checked += 1;
        Ok(())
    }

    /// Latency from the intended (or actual) send and from the actual send; in open loop,
    /// how long the send waited for the worker's previous call and how late it then left.
    fn record_latency(&mut self, t: Times) {
        let stats = &mut self.stats;
        stats.latency.saturating_record(nanos(t.end.saturating_duration_since(t.from)));
        if let Some(u) = &mut stats.uncorrected {
            u.saturating_record(nanos(t.end.saturating_duration_since(t.sent_at)));
        }
        let could_leave = t.from.max(t.free_at);
        if let Some(wait) = &mut stats.connection_wait {
            wait.saturating_record(nanos(could_leave - t.from));
        }
        if let Some(lag) = &mut stats.send_lag {
            lag.saturating_record(nanos(t.sent_at.saturating_duration_since(could_leave)));
        }
    }

    /// Records one finished, successful call.
    fn record(&mut self, call: &Call, wire: Option<&Tally>, decode: Duration, t: Times) {
        self.record_latency(t);
        let stats = &mut self.stats;
        stats.decode.saturating_record(nanos(decode));
        for t in &call.message_times {
            stats.messages.saturating_record(nanos(*t));
        }
        stats.ops += 1;
        if let Some(wire) = wire {
            stats.wire.add(wire);
        }
        self.first_recorded.get_or_insert(t.from);
        self.last_recorded = Some(t.end);
    }

    /// Runs the worker's schedule from the cell's shared start (woken by its thread's `clock`
    /// in open loop, as `slot`); returns its stats.
    pub async fn run(mut self, window: Window, clock: &Clock, slot: usize) -> CellStats {
        let spec = self.spec;
        let concurrency = spec.workers();
        let budget = spec.max_ops.div_ceil(u64::from(concurrency));
        let interval = match spec.mode {
            Mode::Open { rate } => Some(Duration::from_secs_f64(f64::from(concurrency) / rate.max(1e-9))),
            Mode::Closed => None,
        };
        // Stagger the workers' schedules evenly within one interval.
        let mut intended =
            interval.map(|i| window.start + i.mul_f64(f64::from(self.id) / f64::from(concurrency)));
        let (mut seq, mut free_at) = (0u64, window.start);
        if spec.fresh_connections && self.conn.is_some() {
            // The connection opened before the start only showed the server answers; every
            // call opens its own.
            self.conn = None;
        } else if self.conn.is_none() {
            return self.finish(None, None, window);
        }
        while !spec.stop.load(Ordering::Relaxed) && self.stats.ops < budget {
            if let Some(at) = intended {
                clock.until(slot, at).await;
            }
            let min_ops = if interval.is_none() { spec.min_ops } else { 0 };
            if window.over(Instant::now(), self.stats.ops, min_ops)
                || !self.step(seq, (intended, free_at), window).await
            {
                break;
            }
            (seq, free_at) = (seq + 1, Instant::now());
            if let (Some(at), Some(i)) = (&mut intended, interval) {
                *at += i;
            }
        }
        let budget_spent = self.stats.ops >= budget || spec.stop.load(Ordering::Relaxed);
        self.finish(intended.filter(|_| !budget_spent), interval, window)
    }

    /// Closes the books: segments, missed sends (open loop: those due from `next` to the
    /// deadline, within the recorded window), the recorded window's length.
    fn finish(mut self, next: Option<Instant>, interval: Option<Duration>, window: Window) -> CellStats {
        self.close_segments();
        if let (Some(next), Some(interval)) = (next, interval) {
            self.stats.missed += missed(next, interval, window);
        }
        self.stats.span = self.first_recorded.zip(self.last_recorded);
        self.stats.elapsed =
            self.stats.span.map_or(Duration::ZERO, |(first, last)| last.saturating_duration_since(first));
        self.stats
    }
}

/// Gives every lane of a shared connection a handle onto its lead's connection (see the
/// module docs); a lane whose lead has no connection has none either, and ends at once.
pub(super) fn join_lanes<C: Client>(workers: &mut [Worker<'_, C>]) {
    let streams = workers.first().map_or(1, |w| w.spec.streams.max(1));
    if streams == 1 {
        return;
    }
    for i in 0..workers.len() {
        if workers[i].lead {
            continue;
        }
        let lead_id = workers[i].id - workers[i].id % streams;
        let lane = workers
            .iter()
            .find(|w| w.id == lead_id)
            .and_then(|lead| lead.conn.as_ref())
            .and_then(|conn| workers[i].client.lane(conn));
        workers[i].conn = lane;
    }
}

/// Sends of a schedule `next, next + interval, …` that fall in `[measure_from, deadline)`.
fn missed(next: Instant, interval: Duration, window: Window) -> u64 {
    let step = interval.as_nanos().max(1);
    // The first scheduled send inside the recorded window.
    let skip = window.measure_from.saturating_duration_since(next).as_nanos().div_ceil(step);
    let first = next + Duration::from_nanos(u64::try_from(skip * step).unwrap_or(u64::MAX));
    let left = window.deadline.saturating_duration_since(first).as_nanos();
    u64::try_from(left.div_ceil(step)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_sends_are_those_due_inside_the_recorded_window() {
        let start = Instant::now();
        let w = Window::new(start, Duration::from_millis(100), Duration::from_millis(1000));
        let ms = Duration::from_millis;
        // Behind at the deadline by 10 sends of 10 ms: 10 missed.
        assert_eq!(missed(w.deadline - ms(100), ms(10), w), 10);
        // Still in warm-up: only the sends from the end of warm-up count (100 of them).
        assert_eq!(missed(start + ms(95), ms(10), w), 100);
        // On time: nothing due before the deadline is left.
        assert_eq!(missed(w.deadline, ms(10), w), 0);
        assert_eq!(missed(w.deadline + ms(3), ms(10), w), 0);
    }
}
