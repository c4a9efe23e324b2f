//! What the kernel itself counted for a TCP socket (`getsockopt(TCP_INFO)`), to check the
//! harness's own byte counts against and to estimate TCP/IP header bytes.
//!
//! The only `unsafe` in the workspace lives here: one `getsockopt` call into a zeroed,
//! correctly sized `libc::tcp_info`.
#![allow(unsafe_code)]

use std::os::fd::RawFd;

use serde::{Deserialize, Serialize};

/// Per-segment TCP/IP header bytes on Linux loopback: IPv4 (20) + TCP (20) + the timestamp
/// option Linux enables by default (12). An estimate: options vary per segment.
pub const HEADER_BYTES_PER_SEGMENT: u64 = 52;

/// The kernel's counts for one socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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

/// CPU time (user + system) this process has used so far, at the kernel's precise
/// accounting (`getrusage(RUSAGE_SELF)`).
pub fn self_cpu() -> std::time::Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage; RUSAGE_SELF is always a valid target.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut usage) };
    if rc != 0 {
        return std::time::Duration::ZERO;
    }
    let tv = |t: libc::timeval| std::time::Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU time another process's live threads have run, in nanoseconds, summed from
/// `/proc/PID/task/*/schedstat` (nanosecond precision, unlike `/proc/PID/stat`'s 10 ms
/// ticks). Threads that already exited are not counted; server threads live as long as
/// the server. `None` when the process cannot be read.
pub fn process_cpu(pid: u32) -> Option<std::time::Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(task) = task else { continue };
        if let Ok(text) = std::fs::read_to_string(task.path().join("schedstat"))
            && let Some(ns) = text.split_whitespace().next().and_then(|v| v.parse::<u64>().ok())
        {
            total += ns;
        }
    }
    Some(std::time::Duration::from_nanos(total))
}

/// Peak resident set size of a process (`VmHWM`), in bytes. `pid` None = this process.
pub fn peak_rss(pid: Option<u32>) -> Option<u64> {
    let path = pid.map_or_else(|| "/proc/self/status".to_owned(), |p| format!("/proc/{p}/status"));
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
