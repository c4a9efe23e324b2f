//! What the kernel itself counted for a TCP socket (`getsockopt(TCP_INFO)`), to check the
//! harness's own byte counts against and to estimate TCP/IP header bytes.
//!
//! The only `unsafe` in the workspace lives here: one `getsockopt` call into a zeroed,
//! correctly sized `libc::tcp_info`, the CPU clock calls, a timerfd's registration and
//! glibc's `malloc_trim`.
#![allow(unsafe_code)]

use std::os::fd::RawFd;

use serde::{Deserialize, Serialize};

/// Per-segment TCP/IP header bytes on Linux loopback: IPv4 (20) + TCP (20) + the timestamp
/// option Linux enables by default (12). An estimate: options vary per segment.
pub const HEADER_BYTES_PER_SEGMENT: u64 = 52;

/// The kernel's counts for one socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelCounts {
    /// Payload bytes sent and acknowledged by the peer: `tcpi_bytes_acked` less the one
    /// sequence number of the SYN, which Linux counts too (it advances from the initial
    /// sequence number, and the SYN occupies one).
    pub bytes_acked: u64,
    /// Payload bytes received (`tcpi_bytes_received`).
    pub bytes_received: u64,
    /// Segments sent, SYN and pure ACKs included (`tcpi_segs_out`).
    pub segs_out: u32,
    /// Segments received (`tcpi_segs_in`).
    pub segs_in: u32,
}

impl KernelCounts {
    /// Estimated TCP/IP header bytes of every segment in both directions.
    pub fn header_bytes_estimate(&self) -> u64 {
        (u64::from(self.segs_out) + u64::from(self.segs_in)) * HEADER_BYTES_PER_SEGMENT
    }
}

/// Reads `TCP_INFO` of the socket `fd`. `None` if the call fails (not a TCP socket, closed).
pub fn tcp_info(fd: RawFd) -> Option<KernelCounts> {
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is a valid, writable tcp_info of `len` bytes; the kernel writes at most
    // `len` bytes and updates `len`. A bad fd makes the call fail, which we check.
    let rc = unsafe {
        libc::getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_INFO, (&raw mut info).cast(), &raw mut len)
    };
    if rc != 0 {
        return None;
    }
    Some(KernelCounts {
        bytes_acked: info.tcpi_bytes_acked.saturating_sub(1),
        bytes_received: info.tcpi_bytes_received,
        segs_out: info.tcpi_segs_out,
        segs_in: info.tcpi_segs_in,
    })
}

/// CPU time (user + system) this process has used so far, every thread included: its
/// process CPU clock, at nanosecond resolution (see [`process_cpu`]).
pub fn self_cpu() -> std::io::Result<std::time::Duration> {
    process_cpu(std::process::id())
}

/// CPU time (user + system) process `pid` has used so far, every thread it ever ran
/// included: the kernel's process CPU clock (`clock_getcpuclockid` + `clock_gettime`), which
/// accumulates exited threads' time too, at nanosecond resolution (the scheduler's own
/// accounting, updated at every context switch and tick). Unlike summing
/// `/proc/PID/task/*/schedstat`, a thread that exits mid-cell cannot take its CPU with it.
pub fn process_cpu(pid: u32) -> std::io::Result<std::time::Duration> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| std::io::Error::other("pid out of range"))?;
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `clock` is a valid, writable clockid_t; the call only writes it.
    let rc = unsafe { libc::clock_getcpuclockid(pid, &raw mut clock) };
    if rc != 0 {
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `ts` is a valid, writable timespec; a bad clock makes the call fail, checked.
    if unsafe { libc::clock_gettime(clock, &raw mut ts) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// Peak resident set size of a process (`VmHWM`), in bytes. `pid` None = this process.
/// None when `/proc` cannot say (the process is gone, or no procfs): `results.json` then has
/// null and the report a dash, never a zero.
pub fn peak_rss(pid: Option<u32>) -> Option<u64> {
    status_kb(pid, "VmHWM:").map(|kb| kb * 1024)
}

/// Resident set size of a process now (`VmRSS`), in bytes; None as for [`peak_rss`].
pub fn rss(pid: Option<u32>) -> Option<u64> {
    status_kb(pid, "VmRSS:").map(|kb| kb * 1024)
}

/// Restarts a process's peak RSS (`VmHWM`) from its resident set now, so the next
/// [`peak_rss`] is the peak since this call (`/proc/PID/clear_refs`, value 5).
pub fn reset_peak_rss(pid: Option<u32>) -> std::io::Result<()> {
    let path = pid.map_or_else(|| "/proc/self/clear_refs".to_owned(), |p| format!("/proc/{p}/clear_refs"));
    std::fs::write(path, "5")
}

/// Hands the heap's free pages back to the kernel (glibc's `malloc_trim(0)`, over every
/// arena), so that memory freed by a store reset stops counting as resident. Returns whether
/// anything was released; false where the allocator is not glibc's.
pub fn release_free_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes no pointers and only walks the allocator's own lists.
        (unsafe { libc::malloc_trim(0) }) != 0
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

fn status_kb(pid: Option<u32>, field: &str) -> Option<u64> {
    let path = pid.map_or_else(|| "/proc/self/status".to_owned(), |p| format!("/proc/{p}/status"));
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Registers a descriptor this process owns with the current tokio runtime, for reading
/// (e.g. a `timerfd`). Must be called inside a runtime.
pub fn readable_fd(
    fd: std::os::fd::OwnedFd,
) -> std::io::Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    use tokio::io::{Interest, unix::AsyncFd};
    // SAFETY: an `OwnedFd` is an open descriptor that it alone closes, on drop; it returns the
    // same descriptor from every `as_raw_fd` for as long as the `AsyncFd` owns it.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(std::io::Error::from)
}

/// A `timerfd` on `CLOCK_MONOTONIC` (the clock `Instant` reads), registered with tokio, with
/// this thread's timer slack taken down to 1 ns so it fires when armed, not up to 50 µs later.
pub fn monotonic_timer() -> std::io::Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    use rustix::time::{TimerfdClockId, TimerfdFlags, timerfd_create};
    rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(1))?;
    let fd = timerfd_create(TimerfdClockId::Monotonic, TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC)?;
    readable_fd(fd)
}

/// Arms a [`monotonic_timer`] to fire once at `at` (as an absolute time: no drift between
/// reading the clock and arming).
pub fn arm_timer(fd: &std::os::fd::OwnedFd, at: std::time::Instant) -> std::io::Result<()> {
    use rustix::time::{ClockId, Itimerspec, TimerfdTimerFlags, Timespec, clock_gettime, timerfd_settime};
    let ahead =
        at.saturating_duration_since(std::time::Instant::now()).max(std::time::Duration::from_nanos(1));
    let value = add(clock_gettime(ClockId::Monotonic), ahead);
    let spec = Itimerspec { it_interval: Timespec { tv_sec: 0, tv_nsec: 0 }, it_value: value };
    timerfd_settime(fd, TimerfdTimerFlags::ABSTIME, &spec)?;
    Ok(())
}

fn add(t: rustix::time::Timespec, d: std::time::Duration) -> rustix::time::Timespec {
    let nanos = t.tv_nsec as u64 + u64::from(d.subsec_nanos());
    rustix::time::Timespec {
        tv_sec: t.tv_sec + d.as_secs() as i64 + (nanos / 1_000_000_000) as i64,
        tv_nsec: (nanos % 1_000_000_000) as _,
    }
}

/// While alive, asks the kernel to keep every CPU's wake-up latency at 0 µs (a PM QoS
/// request through `/dev/cpu_dma_latency`, as latency benchmarks such as cyclictest do):
/// idle CPUs poll instead of halting. On a virtual machine a halted vCPU takes tens of
/// microseconds to wake, which a low-rate cell would otherwise measure on every request.
/// Released when dropped (the kernel drops the request when the file closes).
#[derive(Debug)]
pub struct WakeupLatencyHold {
    _request: std::fs::File,
}

impl WakeupLatencyHold {
    /// Places the request; fails without permission (root) or without the device.
    pub fn acquire() -> std::io::Result<WakeupLatencyHold> {
        use std::io::Write as _;
        let mut request = std::fs::OpenOptions::new().write(true).open("/dev/cpu_dma_latency")?;
        request.write_all(&0i32.to_ne_bytes())?;
        Ok(WakeupLatencyHold { _request: request })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_durations_across_a_second() {
        let t = add(
            rustix::time::Timespec { tv_sec: 5, tv_nsec: 999_999_000 },
            std::time::Duration::from_micros(2),
        );
        assert_eq!((t.tv_sec, t.tv_nsec), (6, 1_000));
    }
}
