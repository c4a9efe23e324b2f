//! The open loop's clock: wakes each worker of a client thread within about a microsecond of
//! its next send. tokio's own timer rounds to whole milliseconds, which made a low-rate open
//! loop measure the timer, not the protocol.
//!
//! One clock per client thread, run beside its workers. Workers ask it to wake them at an
//! instant ([`Clock::until`]). While the next wake is more than [`SPIN`] away the thread
//! sleeps on one `timerfd` (armed on `CLOCK_MONOTONIC`, the clock `Instant` reads, with the
//! thread's timer slack taken down to 1 ns); from [`SPIN`] before a wake the clock
//! yield-spins, so the thread is awake and hot when the send is due, and the workers'
//! replies keep being served meanwhile. At rates where wakes are closer together than
//! [`SPIN`], the clock never arms its timer at all: a timer interrupt landing on a send
//! costs it about 10 µs on a virtual machine.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::os::fd::OwnedFd;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;

/// How long before a wake the clock stops sleeping and spins (covers the kernel's timer
/// wake-up latency on this kind of machine, tens of microseconds at p99).
pub const SPIN: Duration = Duration::from_micros(250);

/// What [`Clock::due`] found.
enum Due {
    Closed,
    /// Workers were woken.
    Woke,
    /// Nobody was due; the earliest wake ahead, if any.
    Next(Option<Instant>),
}

/// A client thread's clock. `!Send`: it lives with its thread's workers.
#[derive(Debug)]
pub struct Clock {
    fd: AsyncFd<OwnedFd>,
    state: RefCell<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Per worker slot: when it wants waking, and its waker.
    waiting: Vec<Option<(Instant, Waker)>>,
    /// The clock's own task, to poke when a wake earlier than planned is asked for.
    clock: Option<Waker>,
    /// When the timer is armed to fire, if it is.
    armed: Option<Instant>,
    /// A worker asked for a wake earlier than the sleeping clock planned.
    poked: bool,
    /// Every worker is done: the clock stops.
    closed: bool,
}

impl Clock {
    /// A clock for `workers` workers of the current runtime's thread.
    pub fn new(workers: usize) -> io::Result<Clock> {
        let state = State { waiting: vec![None; workers], ..State::default() };
        Ok(Clock { fd: wirebench_wire::kernel::monotonic_timer()?, state: RefCell::new(state) })
    }

    /// Resolves at `at` (at once when it has passed), for the worker in `slot`.
    pub async fn until(&self, slot: usize, at: Instant) {
        poll_fn(|cx| {
            let mut s = self.state.borrow_mut();
            if s.closed || Instant::now() >= at {
                s.waiting[slot] = None;
                return Poll::Ready(());
            }
            match &mut s.waiting[slot] {
                Some((when, waker)) if *when == at && waker.will_wake(cx.waker()) => {}
                entry => *entry = Some((at, cx.waker().clone())),
            }
            // The clock sleeps with a later plan (or none): it must plan again.
            let wake = at.checked_sub(SPIN).unwrap_or(at);
            if s.clock.is_some() && s.armed.is_none_or(|armed| wake < armed) {
                s.poked = true;
                if let Some(clock) = &s.clock {
                    clock.wake_by_ref();
                }
            }
            Poll::Pending
        })
        .await;
    }

    /// Every worker is done: [`Clock::run`] returns.
    pub fn close(&self) {
        let mut s = self.state.borrow_mut();
        s.closed = true;
        if let Some(clock) = s.clock.take() {
            clock.wake();
        }
    }

    /// Wakes the workers whose time has come. Says whether it woke any, the earliest wake
    /// still ahead, and whether the clock must stop.
    fn due(&self) -> Due {
        let mut s = self.state.borrow_mut();
        let now = Instant::now();
        let (mut next, mut woke): (Option<Instant>, bool) = (None, false);
        for entry in &mut s.waiting {
            match entry {
                Some((at, _)) if *at <= now => {
                    if let Some((_, waker)) = entry.take() {
                        waker.wake();
                        woke = true;
                    }
                }
                Some((at, _)) => next = Some(next.map_or(*at, |n| n.min(*at))),
                None => {}
            }
        }
        if s.closed {
            Due::Closed
        } else if woke {
            Due::Woke
        } else {
            Due::Next(next)
        }
    }

    /// Runs the clock until [`Clock::close`]. Fails only if the timer does; the workers are
    /// then woken at once from then on (their sends late, which their send lag shows).
    pub async fn run(&self) -> io::Result<()> {
        let ran = self.tick().await;
        if ran.is_err() {
            let mut s = self.state.borrow_mut();
            s.closed = true;
            for (_, waker) in s.waiting.iter_mut().filter_map(Option::take) {
                waker.wake();
            }
        }
        ran
    }

    async fn tick(&self) -> io::Result<()> {
        loop {
            match self.due() {
                Due::Closed => return Ok(()),
                // Let the woken workers send before planning anything (a timer syscall here
                // would delay their sends).
                Due::Woke => tokio::task::yield_now().await,
                Due::Next(Some(at)) if at.saturating_duration_since(Instant::now()) <= SPIN => {
                    tokio::task::yield_now().await;
                }
                Due::Next(next) => self.sleep(next.map(|at| at - SPIN)).await?,
            }
        }
    }

    /// Sleeps until `wake` (none: until poked), or until a worker asks for an earlier wake.
    async fn sleep(&self, wake: Option<Instant>) -> io::Result<()> {
        if let Some(at) = wake {
            self.arm(at)?;
        }
        self.state.borrow_mut().armed = wake;
        let slept = poll_fn(|cx| {
            {
                let mut s = self.state.borrow_mut();
                if s.closed || std::mem::take(&mut s.poked) {
                    return Poll::Ready(Ok(()));
                }
                s.clock = Some(cx.waker().clone());
            }
            if wake.is_none() {
                return Poll::Pending;
            }
            loop {
                let mut ready = match self.fd.poll_read_ready(cx) {
                    Poll::Ready(Ok(ready)) => ready,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                };
                let mut expirations = [0u8; 8];
                match ready.try_io(|fd| Ok(rustix::io::read(fd.get_ref(), &mut expirations)?)) {
                    Ok(read) => return Poll::Ready(read.map(|_| ())),
                    // Readiness left over from an earlier expiry: cleared; wait for the next.
                    Err(_would_block) => {}
                }
            }
        })
        .await;
        let mut s = self.state.borrow_mut();
        (s.armed, s.clock, s.poked) = (None, None, false);
        slept
    }

    /// Arms the timer to fire at `at`.
    fn arm(&self, at: Instant) -> io::Result<()> {
        wirebench_wire::kernel::arm_timer(self.fd.get_ref(), at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `workers` on one thread, each asking for wakes `interval` apart, staggered evenly, for
    /// `span`; returns every wake's lateness.
    fn lateness(workers: usize, interval: Duration, span: Duration) -> Vec<Duration> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let clock = Clock::new(workers).unwrap();
            let start = Instant::now() + Duration::from_millis(1);
            let end = start + span;
            let runs = (0..workers).map(|slot| {
                let clock = &clock;
                async move {
                    let mut late = Vec::new();
                    let mut at = start + interval.mul_f64(slot as f64 / workers as f64);
                    while at < end {
                        clock.until(slot, at).await;
                        let now = Instant::now();
                        // Never early.
                        assert!(now >= at);
                        late.push(now - at);
                        at += interval;
                    }
                    late
                }
            });
            let all = async {
                let late = futures::future::join_all(runs).await;
                clock.close();
                late
            };
            let (late, ran) = futures::join!(all, clock.run());
            ran.unwrap();
            late.into_iter().flatten().collect()
        })
    }

    #[test]
    fn wakes_every_worker_never_early() {
        // Sparse (the timer sleeps between wakes) and dense (the clock only spins).
        for (workers, interval) in [(1, Duration::from_millis(2)), (8, Duration::from_micros(400))] {
            let span = Duration::from_millis(40);
            let late = lateness(workers, interval, span);
            let expected = workers * (span.as_micros() / interval.as_micros()) as usize;
            // How late is a measurement (send lag, in the results), not a test: only count.
            assert!(late.len().abs_diff(expected) <= workers, "{} wakes, expected {expected}", late.len());
        }
    }

    #[test]
    #[ignore = "prints the clock's lateness on this machine; run with --release --ignored"]
    fn print_lateness() {
        for (workers, interval) in
            [(1, Duration::from_millis(5)), (8, Duration::from_micros(400)), (8, Duration::from_millis(4))]
        {
            let mut late = lateness(workers, interval, Duration::from_millis(500));
            late.sort();
            let q = |p: f64| late[((late.len() - 1) as f64 * p) as usize];
            eprintln!("{workers} workers every {interval:?}: p50 {:?} p99 {:?}", q(0.5), q(0.99));
        }
    }
}
