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
//! - loss: a lost segment arrives one round trip late (a fast retransmit), holding up the
//!   segments behind it.
//!
//! Not modelled: queue limits and drops at a bottleneck, congestion avoidance after loss,
//! retransmission timeouts (a lost last segment waits one round trip, not an RTO), slow
//! start after idle, delayed acknowledgements, the acknowledgements' own bandwidth, and
//! pacing (BBR spreads a flight over the round trip; this is a window-limited sender such as
//! CUBIC). `interop/linkcheck.py` compares the model with the kernel's TCP over a packet link.

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

/// One direction's state.
#[derive(Debug)]
pub struct Shaper {
    way: Way,
    /// The link's round trip (both delays): when a round's acknowledgement comes back.
    rtt: Duration,
    loss: f64,
    /// When the link finishes sending what it already took.
    busy_until: Option<Instant>,
    /// When the last segment arrives (the next may not arrive before).
    last_arrival: Option<Instant>,
    /// Congestion window, bytes.
    cwnd: usize,
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
            last_arrival: None,
            cwnd: INITIAL_WINDOW * MSS,
            round: None,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Bytes handed to the link at `now`: calls `arrive(when, bytes)` for each segment, in
    /// order.
    pub fn send(&mut self, now: Instant, len: usize, mut arrive: impl FnMut(Instant, usize)) {
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
                at += self.rtt;
            }
            let at = self.last_arrival.map_or(at, |last| last.max(at));
            self.last_arrival = Some(at);
            arrive(at, seg);
        }
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
                self.cwnd += sent;
                self.round = Some((at, seg));
                at
            }
            // A new round: what the last one carried was acknowledged.
            Some((_, sent)) => {
                self.cwnd += sent;
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

    /// When the last of `len` bytes handed over at `t0` arrives.
    fn last(s: &mut Shaper, t0: Instant, len: usize) -> Duration {
        let mut end = t0;
        s.send(t0, len, |at, _| end = end.max(at));
        end - t0
    }

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
        let mut arrivals = Vec::new();
        s.send(t0, 40 * MSS, |at, _| arrivals.push(at - t0));
        let d = Duration::from_millis(20);
        // Rounds of 10, 20, then the last 10: each round one round trip after the last.
        assert!(arrivals[..10].iter().all(|a| *a == d));
        assert!(arrivals[10..30].iter().all(|a| *a == d + rtt));
        assert!(arrivals[30..].iter().all(|a| *a == d + rtt * 2));
        // The window stays open: the next round-trip's worth leaves at once.
        let later = t0 + Duration::from_secs(1);
        assert_eq!(last(&mut s, later, 40 * MSS), d);
    }

    #[test]
    fn jitter_never_reorders_and_loss_costs_a_round_trip() {
        let t0 = Instant::now();
        let mut s = Shaper::new(
            Way { delay_ms: 10.0, kbit: None, jitter_ms: 5.0 },
            Duration::from_millis(20),
            0.0,
            7,
        );
        let mut prev = Duration::ZERO;
        for i in 0..200 {
            s.send(t0 + Duration::from_micros(i * 10), 100, |at, _| {
                let a = at - t0;
                assert!(a >= prev && a >= Duration::from_millis(10));
                prev = a;
            });
        }
        let mut lossy = Shaper::new(way(10.0, None), Duration::from_millis(20), 0.5, 3);
        let late: Vec<Duration> =
            (0..100).map(|i| last(&mut lossy, t0 + Duration::from_secs(i), 10)).collect();
        let lost = late.iter().filter(|d| **d == Duration::from_millis(30)).count();
        assert!(late.iter().all(|d| *d == Duration::from_millis(10) || *d == Duration::from_millis(30)));
        assert!((30..70).contains(&lost), "{lost} of 100 lost at 50 %");
    }
}
