//! One direction of an emulated link, as arithmetic: when each segment handed to the link
//! arrives at the far end. No I/O here; [`super::link`] moves the bytes.
//!
//! What is modelled, per direction:
//! - the stream is cut into segments of [`MSS`] bytes; each carries [`HEADER`] bytes of
//!   TCP/IP headers on the link;
//! - a segment leaves when the link is free and takes its size at the link's rate to leave
//!   (serialization), then arrives one one-way delay later, plus its jitter, never before
//!   the segment ahead of it (TCP delivers in order);
//! - slow start: a connection may have [`INITIAL_WINDOW`] segments unacknowledged (RFC 6928);
//!   the first acknowledgement of a round comes one round trip after the round began, and
//!   the window grows by what that round carried (it doubles while full);
//! - loss, recovered as Linux recovers it (RACK-TLP, RFC 8985), holding up the segments
//!   behind the lost one. Segments sent after a lost one reveal it: their selective
//!   acknowledgements come back a round trip after each left, and it is retransmitted once
//!   one has come and a round trip has passed since it left, plus a quarter round trip
//!   (RACK's reordering window) until [`DUPTHRESH`] have come. Until something reveals it,
//!   a timer runs: a probe two round trips after it left when other segments were in flight,
//!   or the retransmission timeout, a round trip plus [`RTO_MIN`], when it was alone (Linux's
//!   probe waits that long too with one segment in flight). A lost retransmission waits for
//!   the timeout, doubled each time;
//! - the window after a loss: multiplied by CUBIC's 0.7 once a recovery (one segment when a
//!   retransmission is lost too, as after a timeout), then growing by CUBIC's Reno-friendly
//!   [`ALPHA`] segments a round (congestion avoidance) instead of doubling.
//!
//! Not modelled: queue limits and drops at a bottleneck, slow start after idle, delayed
//! acknowledgements, lost acknowledgements, the acknowledgements' own bandwidth, CUBIC's
//! growth curve (a line here), and pacing (BBR spreads a flight over the round trip; this
//! is a window-limited sender such as CUBIC). `interop/linkcheck.py` compares the model with
//! the kernel's TCP over a packet link, clean and (`--lossy`) lossy.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

use super::Way;

/// Payload bytes per segment: a 1500-byte Ethernet MTU less IPv4 (20), TCP (20) and TCP
/// timestamps (12).
pub const MSS: usize = 1448;
/// Header bytes each segment adds on the link.
pub const HEADER: usize = 52;
/// Segments a new connection may send before its first acknowledgement (RFC 6928).
pub const INITIAL_WINDOW: usize = 10;
/// Segments acknowledged after a lost one that mark it lost without RACK's reordering
/// window (Linux's `tcp_reordering` default).
pub const DUPTHRESH: usize = 3;
/// The least retransmission timeout beyond the round trip: Linux's `tcp_rto_min_us` default
/// (RTO = smoothed RTT + max(4 × variance, this)).
pub const RTO_MIN: Duration = Duration::from_millis(200);
/// CUBIC's multiplicative decrease: the window after a loss (RFC 9438).
const BETA: f64 = 0.7;
/// CUBIC's growth in its Reno-friendly region, segments a round trip: 3(1 − β)/(1 + β)
/// (RFC 9438 §4.3; on short paths CUBIC's own curve, timed in seconds, grows slower still).
const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);
/// Retransmissions of one segment modelled before the next is taken to arrive.
const MAX_RETRIES: u32 = 6;

/// A segment on its way: when it arrives (a lost one: its retransmission, as known so far).
#[derive(Debug, Clone, Copy)]
struct Segment {
    seq: u64,
    len: usize,
    at: Instant,
}

/// A lost segment that later segments may yet reveal.
#[derive(Debug, Clone, Copy)]
struct Lost {
    seq: u64,
    /// When its first copy left.
    sent: Instant,
    /// Segments sent after it so far.
    later: usize,
    /// When the first of their acknowledgements comes back.
    first_ack: Option<Instant>,
    /// What its lost retransmissions add.
    retries: Duration,
}

/// One direction's state.
#[derive(Debug)]
pub struct Shaper {
    way: Way,
    /// The link's round trip (both delays): when a round's acknowledgement comes back.
    rtt: Duration,
    loss: f64,
    /// When the link finishes sending what it already took.
    busy_until: Option<Instant>,
    /// When the last segment left.
    last_departure: Option<Instant>,
    /// Segments not yet arrived, in order.
    queue: VecDeque<Segment>,
    seq: u64,
    /// Losses that later segments may yet reveal sooner.
    lost: Vec<Lost>,
    /// Congestion window, bytes.
    cwnd: usize,
    /// Slow start threshold: the window grows by [`ALPHA`] segments a round, not by the
    /// round's bytes, from here on (set by a loss).
    ssthresh: usize,
    /// The window is cut once per recovery: losses until this instant (a round trip after
    /// the cut) belong to the same one.
    recovering_until: Option<Instant>,
    /// The current round: when its first segment left, and the bytes sent in it.
    round: Option<(Instant, usize)>,
    rng: ChaCha8Rng,
}

impl Shaper {
    pub fn new(way: Way, rtt: Duration, loss: f64, seed: u64) -> Shaper {
        Shaper {
            way,
            rtt,
            loss,
            busy_until: None,
            last_departure: None,
            queue: VecDeque::new(),
            seq: 0,
            lost: Vec::new(),
            cwnd: INITIAL_WINDOW * MSS,
            ssthresh: usize::MAX,
            recovering_until: None,
            round: None,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Bytes handed to the link at `now`, cut into segments and queued.
    pub fn send(&mut self, now: Instant, len: usize) {
        let mut left = len;
        while left > 0 {
            let seg = left.min(MSS);
            left -= seg;
            let start = self.window(self.busy_until.map_or(now, |b| b.max(now)), seg);
            let departed = start + self.way.serialization(seg + HEADER);
            self.busy_until = Some(departed);
            let mut at = departed + self.way.delay();
            if !self.way.jitter().is_zero() {
                at += self.way.jitter().mul_f64(self.rng.random::<f64>());
            }
            if self.loss > 0.0 && self.rng.random::<f64>() < self.loss {
                at = self.lose(departed);
            } else {
                // Only a segment that arrives is acknowledged.
                self.reveal(departed);
            }
            self.last_departure = Some(departed);
            self.queue.push_back(Segment { seq: self.seq, len: seg, at });
            self.seq += 1;
        }
    }

    /// When the segment at the head of the queue arrives (those behind it wait for it).
    pub fn next_arrival(&self) -> Option<Instant> {
        self.queue.front().map(|s| s.at)
    }

    /// Takes the segments that have arrived by `now`, in order; returns their bytes.
    pub fn arrived(&mut self, now: Instant) -> usize {
        let mut bytes = 0;
        while let Some(s) = self.queue.front().filter(|s| s.at <= now) {
            bytes += s.len;
            self.queue.pop_front();
        }
        let head = self.queue.front().map_or(self.seq, |s| s.seq);
        self.lost.retain(|l| l.seq >= head);
        bytes
    }

    /// A segment that left at `departed` is lost: the window is cut (once a recovery; to one
    /// segment when a retransmission is lost too, as after a timeout), and until later
    /// segments reveal the loss, its timer decides when the retransmission arrives.
    fn lose(&mut self, departed: Instant) -> Instant {
        if self.recovering_until.is_none_or(|until| departed >= until) {
            self.cwnd = ((self.cwnd as f64 * BETA) as usize).max(2 * MSS);
            self.ssthresh = self.cwnd;
            self.recovering_until = Some(departed + self.rtt);
        }
        let rto = self.rtt + RTO_MIN;
        let in_flight = self.last_departure.is_some_and(|d| d + self.rtt > departed);
        let timer = if in_flight { self.rtt * 2 } else { rto };
        // Each lost retransmission waits for the timeout, backed off.
        let (mut retries, mut backoff) = (Duration::ZERO, rto);
        for _ in 0..MAX_RETRIES {
            if self.rng.random::<f64>() >= self.loss {
                break;
            }
            retries += backoff;
            backoff *= 2;
        }
        if !retries.is_zero() {
            self.ssthresh = self.cwnd;
            self.cwnd = MSS;
        }
        self.lost.push(Lost { seq: self.seq, sent: departed, later: 0, first_ack: None, retries });
        departed + timer + self.way.delay() + retries
    }

    /// A segment left at `departed`, after every unrevealed loss: its acknowledgement may
    /// reveal them sooner than their timers. Once the first comes back, RACK marks a loss a
    /// round trip and its reordering window after it left; at the [`DUPTHRESH`]th, at once
    /// (later acknowledgements come later still, so the loss is then settled).
    fn reveal(&mut self, departed: Instant) {
        let (rtt, delay) = (self.rtt, self.way.delay());
        // Unrevealed losses are still queued (`arrived` forgets those it takes).
        let head = self.queue.front().map_or(self.seq, |s| s.seq);
        let queue = &mut self.queue;
        self.lost.retain_mut(|l| {
            l.later += 1;
            let ack = departed + rtt;
            let first_ack = *l.first_ack.get_or_insert(ack);
            let marked = if l.later >= DUPTHRESH { ack } else { first_ack.max(l.sent + rtt + rtt / 4) };
            if let Some(s) = queue.get_mut((l.seq - head) as usize) {
                s.at = s.at.min(marked + delay + l.retries);
            }
            l.later < DUPTHRESH
        });
    }

    /// The window's growth when a round of `sent` bytes was acknowledged: the round's bytes in
    /// slow start, [`ALPHA`] segments in congestion avoidance.
    fn grow(&mut self, sent: usize) {
        self.cwnd += if self.cwnd < self.ssthresh { sent } else { (MSS as f64 * ALPHA) as usize };
    }

    /// When a segment of `seg` bytes that could leave at `start` may leave under slow start.
    fn window(&mut self, start: Instant, seg: usize) -> Instant {
        match self.round {
            // Within the round and the window: leaves now.
            Some((began, sent)) if start < began + self.rtt && sent + seg <= self.cwnd => {
                self.round = Some((began, sent + seg));
                start
            }
            // The window is full: wait for the round's first acknowledgement.
            Some((began, sent)) if start < began + self.rtt => {
                let at = began + self.rtt;
                self.grow(sent);
                self.round = Some((at, seg));
                at
            }
            // A new round: what the last one carried was acknowledged.
            Some((_, sent)) => {
                self.grow(sent);
                self.round = Some((start, seg));
                start
            }
            None => {
                self.round = Some((start, seg));
                start
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn way(delay_ms: f64, kbit: Option<f64>) -> Way {
        Way { delay_ms, kbit, jitter_ms: 0.0 }
    }

    /// When each segment on its way arrives, from `t0`: none before the one ahead of it.
    fn arrivals(s: &Shaper, t0: Instant) -> Vec<Duration> {
        let mut last = t0;
        s.queue
            .iter()
            .map(|seg| {
                last = last.max(seg.at);
                last - t0
            })
            .collect()
    }

    /// When the last of `len` bytes handed over at `t0` arrives; every byte is taken then.
    fn last(s: &mut Shaper, t0: Instant, len: usize) -> Duration {
        s.send(t0, len);
        let end = arrivals(s, t0).last().copied().unwrap_or_default();
        assert_eq!(s.arrived(t0 + end), len);
        assert!(s.next_arrival().is_none());
        end
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_small_message_takes_the_delay_and_its_serialization() {
        let t0 = Instant::now();
        let mut s = Shaper::new(way(20.0, Some(10_000.0)), Duration::from_millis(40), 0.0, 1);
        // 100 bytes + 52 of headers at 10 Mbit/s: 121.6 µs.
        let d = last(&mut s, t0, 100);
        assert_eq!(d, Duration::from_millis(20) + Duration::from_nanos(121_600));
    }

    #[test]
    fn a_megabyte_at_ten_megabit_takes_its_arithmetic() {
        let t0 = Instant::now();
        let mut s = Shaper::new(way(0.0, Some(10_000.0)), Duration::ZERO, 0.0, 1);
        let mib: usize = 1 << 20;
        let segments = mib.div_ceil(MSS);
        let expected = (mib + segments * HEADER) as f64 * 8.0 / 10e6;
        let d = last(&mut s, t0, mib).as_secs_f64();
        assert!((d - expected).abs() < 1e-6, "{d} vs {expected}");
        assert!((d - 0.84).abs() / 0.84 < 0.05, "{d}");
    }

    #[test]
    fn slow_start_sends_ten_segments_then_waits_a_round_trip_and_doubles() {
        let t0 = Instant::now();
        let rtt = Duration::from_millis(40);
        let mut s = Shaper::new(way(20.0, None), rtt, 0.0, 1);
        s.send(t0, 40 * MSS);
        let arrivals = arrivals(&s, t0);
        let d = Duration::from_millis(20);
        // Rounds of 10, 20, then the last 10: each round one round trip after the last.
        assert!(arrivals[..10].iter().all(|a| *a == d));
        assert!(arrivals[10..30].iter().all(|a| *a == d + rtt));
        assert!(arrivals[30..].iter().all(|a| *a == d + rtt * 2));
        assert_eq!(s.arrived(t0 + d + rtt), 30 * MSS, "the first two rounds");
        assert_eq!(s.arrived(t0 + d + rtt * 2), 10 * MSS);
        // The window stays open: the next round-trip's worth leaves at once.
        let later = t0 + Duration::from_secs(1);
        assert_eq!(last(&mut s, later, 40 * MSS), d);
    }

    #[test]
    fn jitter_never_reorders() {
        let t0 = Instant::now();
        let jittery = Way { delay_ms: 10.0, kbit: None, jitter_ms: 5.0 };
        let mut s = Shaper::new(jittery, Duration::from_millis(20), 0.0, 7);
        for i in 0..200 {
            s.send(t0 + Duration::from_micros(i * 10), 100);
        }
        let own: Vec<Instant> = s.queue.iter().map(|seg| seg.at).collect();
        assert!(own.windows(2).any(|w| w[1] < w[0]), "jitter would reorder some");
        assert_eq!(s.arrived(t0 + 10 * MS - Duration::from_nanos(1)), 0);
        // Whatever has arrived is a prefix: nothing behind a segment still on its way.
        let mid = t0 + Duration::from_micros(12_500);
        let taken = s.arrived(mid) / 100;
        assert!(own[..taken].iter().all(|at| *at <= mid));
        assert!(own[taken] > mid);
        assert_eq!(s.arrived(t0 + Duration::from_secs(1)), (200 - taken) * 100);
    }

    /// Over many seeds at 50 % loss: each of `sends` (a time after t0 and a length), then the
    /// arrival of the first segment, from t0.
    fn first_arrivals(sends: &[(Duration, usize)]) -> Vec<Duration> {
        let t0 = Instant::now();
        (0..400)
            .map(|seed| {
                let mut s = Shaper::new(way(10.0, None), 20 * MS, 0.5, seed);
                for (after, len) in sends {
                    s.send(t0 + *after, *len);
                }
                s.queue.front().map(|seg| seg.at - t0).expect("sent")
            })
            .collect()
    }

    #[test]
    fn a_lost_lone_segment_waits_for_the_timeout_and_a_lost_retransmission_for_twice_that() {
        let late = first_arrivals(&[(Duration::ZERO, 100)]);
        let timeout = 10 * MS + 20 * MS + RTO_MIN;
        assert!(late.iter().all(|d| *d == 10 * MS || *d == timeout || *d >= timeout + 20 * MS + RTO_MIN));
        let lost = late.iter().filter(|d| **d >= timeout).count();
        assert!((150..250).contains(&lost), "{lost} of 400 lost at 50 %");
        assert!(late.contains(&timeout) && late.iter().any(|d| *d > timeout));
    }

    #[test]
    fn a_segment_after_a_lost_one_reveals_it_a_round_trip_and_a_quarter_after_it_left() {
        // The second leaves 1 ms later; its acknowledgement is back at 21 ms, and RACK waits
        // until 25 ms (20 + 20 / 4) since the first left: the retransmission arrives at 35.
        // When both are lost, the first (alone when it left) waits for the timeout.
        let late = first_arrivals(&[(Duration::ZERO, 100), (MS, 100)]);
        let timeout = 10 * MS + 20 * MS + RTO_MIN;
        assert!(late.iter().all(|d| [10 * MS, 35 * MS].contains(d) || *d >= timeout), "{late:?}");
        assert!(late.contains(&(35 * MS)) && late.contains(&timeout));
    }

    #[test]
    fn three_segments_after_a_lost_one_reveal_it_when_the_third_is_acknowledged() {
        // Four segments 1 ms apart, the first lost and the other three not: marked lost when
        // the third after it is acknowledged (23 ms), arriving at 33.
        let sends: Vec<_> = (0..4).map(|i| (i * MS, 100)).collect();
        let late = first_arrivals(&sends);
        assert!(late.contains(&(33 * MS)), "{late:?}");
        assert!(late.iter().all(|d| *d <= 35 * MS || *d >= 10 * MS + 20 * MS + RTO_MIN));
    }

    #[test]
    fn a_lost_tail_with_others_in_flight_is_probed_two_round_trips_after_it_left() {
        // The first leaves at 0, the second 1 ms later and nothing after it: a lost second,
        // with the first still unacknowledged, is probed at 41 ms and arrives at 51.
        let t0 = Instant::now();
        let tails: Vec<Duration> = (0..400)
            .map(|seed| {
                let mut s = Shaper::new(way(10.0, None), 20 * MS, 0.5, seed);
                s.send(t0, 100);
                s.send(t0 + MS, 100);
                s.queue.back().map(|seg| seg.at - t0).expect("sent")
            })
            .collect();
        assert!(tails.contains(&(51 * MS)), "{tails:?}");
        assert!(tails.iter().all(|d| *d == 11 * MS || *d == 51 * MS || *d >= 51 * MS + 20 * MS + RTO_MIN));
    }

    #[test]
    fn a_loss_cuts_the_window_once_a_recovery_and_its_growth_slows() {
        let t0 = Instant::now();
        let mut s = Shaper::new(way(10.0, None), 20 * MS, 0.0, 1);
        s.lose(t0);
        assert_eq!(s.cwnd, INITIAL_WINDOW * MSS * 7 / 10);
        s.lose(t0 + 19 * MS);
        assert_eq!(s.cwnd, INITIAL_WINDOW * MSS * 7 / 10, "the same recovery");
        s.grow(s.cwnd);
        // 3 × 0.3 / 1.7 of a segment.
        assert_eq!(s.cwnd, INITIAL_WINDOW * MSS * 7 / 10 + 766);
        for i in 1..=4 {
            s.lose(t0 + i * 20 * MS);
        }
        assert_eq!(s.cwnd, 2 * MSS, "never below two segments");
        // A lost retransmission: a timeout, and the window starts again from one segment.
        let mut s = Shaper::new(way(10.0, None), 20 * MS, 1.0, 1);
        s.lose(t0);
        assert_eq!(s.cwnd, MSS);
    }
}
