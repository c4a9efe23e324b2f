//! An open loop near capacity through an outage: operations arrive at a fixed rate whatever
//! happens to the earlier ones (wrk2's and k6's constant arrival rate), each retried by the
//! policy; goodput per bin shows whether the retries keep the server down after the outage
//! ends (a metastable failure) or it recovers, and how long that takes.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::{Setting, Shared, Slot, Tally, guards, logical};

/// Width of a goodput bin.
pub const BIN: Duration = Duration::from_millis(100);
/// Goodput is back when it holds this share of the offered rate ...
pub const RECOVERED_SHARE: f64 = 0.9;
/// ... for this many bins in a row.
pub const RECOVERED_BINS: usize = 5;

/// Per bin of [`BIN`]: operations offered, operations that succeeded (by when they ended),
/// and attempts made (by when their operation ended).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timeline {
    pub offered: Vec<u64>,
    pub goodput: Vec<u64>,
    pub attempts: Vec<u64>,
    /// Arrivals dropped because `max_in_flight` operations were already running.
    pub dropped: u64,
}

impl Timeline {
    fn bump(v: &mut Vec<u64>, bin: usize) {
        if v.len() <= bin {
            v.resize(bin + 1, 0);
        }
        v[bin] += 1;
    }

    /// How long after `end` goodput came back (see [`RECOVERED_SHARE`]); None when it did not
    /// within the run.
    pub fn recovery_after(&self, end: Duration) -> Option<Duration> {
        let first = end.as_millis().div_ceil(BIN.as_millis()) as usize;
        let good = |b: usize| {
            let offered = self.offered.get(b).copied().unwrap_or(0);
            offered > 0
                && self.goodput.get(b).copied().unwrap_or(0) as f64 >= RECOVERED_SHARE * offered as f64
        };
        let last = self.offered.len().saturating_sub(RECOVERED_BINS);
        (first..=last)
            .find(|&b| (b..b + RECOVERED_BINS).all(good))
            .map(|b| (BIN * b as u32).saturating_sub(end))
    }
}

/// Offers `rate` operations per second for `length`, at most `max_in_flight` at once; the
/// timeline, the tally, and the breaker's changes of state.
pub async fn run(
    s: &Setting,
    rate: f64,
    length: Duration,
    max_in_flight: usize,
) -> (Timeline, Tally, Vec<(Duration, guards::State)>) {
    let epoch = Instant::now();
    let shared = Rc::new(RefCell::new(Shared::new(&s.policy, epoch)));
    let tally = Rc::new(RefCell::new(Tally::default()));
    let timeline = Rc::new(RefCell::new(Timeline::default()));
    let idle: Rc<RefCell<Vec<Slot>>> = Rc::new(RefCell::new(Vec::new()));
    let in_flight = Rc::new(std::cell::Cell::new(0usize));
    let setting = Rc::new(s.clone());
    let local = tokio::task::LocalSet::new();
    let interval = Duration::from_secs_f64(1.0 / rate);
    let total = (length.as_secs_f64() * rate) as u64;
    local
        .run_until(async {
            for n in 0..total {
                let due = epoch + interval.mul_f64(n as f64);
                tokio::time::sleep_until(due.into()).await;
                let bin = (due - epoch).as_millis() as usize / BIN.as_millis() as usize;
                Timeline::bump(&mut timeline.borrow_mut().offered, bin);
                if in_flight.get() >= max_in_flight {
                    timeline.borrow_mut().dropped += 1;
                    continue;
                }
                in_flight.set(in_flight.get() + 1);
                let (shared, tally, timeline, idle, in_flight, s) = (
                    shared.clone(),
                    tally.clone(),
                    timeline.clone(),
                    idle.clone(),
                    in_flight.clone(),
                    setting.clone(),
                );
                tokio::task::spawn_local(async move {
                    let mut slot = idle.borrow_mut().pop().unwrap_or_default();
                    let mut rng = ChaCha8Rng::seed_from_u64(s.seed.wrapping_add(n));
                    let (ok, made) = logical(&s, n, &mut slot, &mut rng, &shared, &tally).await;
                    let ended = (epoch.elapsed().as_millis() / BIN.as_millis()) as usize;
                    let mut t = timeline.borrow_mut();
                    if ok {
                        Timeline::bump(&mut t.goodput, ended);
                    }
                    // An operation's attempts, counted in the bin it ended in.
                    for _ in 0..made {
                        Timeline::bump(&mut t.attempts, ended);
                    }
                    idle.borrow_mut().push(slot);
                    in_flight.set(in_flight.get() - 1);
                });
            }
            // Let the last operations finish (bounded by their deadline).
            let until = Instant::now() + Duration::from_millis(s.policy.deadline_ms) + BIN;
            while in_flight.get() > 0 && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
    let changes = shared.borrow_mut().breaker.take().map(|b| b.changes).unwrap_or_default();
    let timeline = timeline.borrow().clone();
    let tally = tally.borrow().clone();
    (timeline, tally, changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_is_the_first_run_of_good_bins_after_the_end() {
        let mut t = Timeline { offered: vec![10; 30], goodput: vec![10; 30], ..Timeline::default() };
        // Down from bin 5 to bin 14; the outage ended at 1 s (bin 10).
        for b in 5..15 {
            t.goodput[b] = 0;
        }
        t.goodput[16] = 5;
        assert_eq!(t.recovery_after(Duration::from_secs(1)), Some(Duration::from_millis(700)));
        t.goodput[20..].fill(0);
        assert_eq!(t.recovery_after(Duration::from_secs(1)), None);
    }
}
