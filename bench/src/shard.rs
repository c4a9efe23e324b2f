//! Sharded runs: `wirebench run --target HOST:PORT --shard I/N` runs its share of every
//! cell's connections and open-loop rate, on a schedule that all N shards share, so that
//! `wirebench merge` can add their histograms into the result of one run at the total load.
//!
//! - **Shares**: a cell of C connections gives shard I `C / N` of them, plus one for the
//!   first `C % N` shards; a shard whose share is 0 skips the cell. An open-loop rate is
//!   split evenly.
//! - **Schedule**: every shard computes the same plan (the cells' order seed defaults to the
//!   shared start time), then starts cell k at `start + Σ (warm-up + duration + margin)` of
//!   the cells before it, whether or not it runs them. How late each cell started is
//!   recorded (`start_lag_ns`).
//! - **Clock**: before the first cell each shard estimates its clock's offset from the
//!   target server's clock, from the moment the server's HTTP `Date` header turns to the next
//!   second; merge reports the offsets, whose differences are the shards' offsets from each
//!   other.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

pub use wirebench_results::shard::{LATE, ShardRun};

/// Time between the scheduled end of one cell's recording and the next cell's start: for
/// connecting, closing, reading CPU clocks and checking answers.
pub const SLOT_MARGIN: Duration = Duration::from_secs(1);

/// Which share of the load this process generates: `I/N`, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (i, n) = s.split_once('/').ok_or_else(|| format!("{s:?}: a shard is I/N, e.g. 1/4"))?;
        let parse = |v: &str| v.trim().parse::<u32>().map_err(|e| format!("{s:?}: {e}"));
        let (index, count) = (parse(i)?, parse(n)?);
        if count == 0 || index == 0 || index > count {
            return Err(format!("{s:?}: I must be between 1 and N, and N at least 1"));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// This shard's connections of a cell with `total`.
    pub fn share(self, total: u32) -> u32 {
        total / self.count + u32::from(self.index - 1 < total % self.count)
    }

    /// This shard's part of an open-loop rate.
    pub fn rate(self, total: f64) -> f64 {
        total / f64::from(self.count)
    }
}

/// A shared start time: Unix seconds (`1764028800`, `1764028800.5`) or RFC 3339.
pub fn parse_start(s: &str) -> Result<SystemTime, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if !(0.0..1e11).contains(&secs) {
            return Err(format!("{s:?}: Unix seconds out of range"));
        }
        return Ok(UNIX_EPOCH + Duration::from_secs_f64(secs));
    }
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .map_err(|e| format!("{s:?}: neither Unix seconds nor RFC 3339 ({e})"))?;
    let nanos = t.timestamp_nanos_opt().ok_or_else(|| format!("{s:?}: out of range"))?;
    Ok(UNIX_EPOCH + Duration::from_nanos(u64::try_from(nanos).map_err(|_| format!("{s:?}: before 1970"))?))
}

/// Seconds since the Unix epoch.
pub fn unix_s(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// A shard about to start, with its clock's offset from the server when known.
pub fn started(shard: Shard, start: SystemTime, offset: Option<(i64, u64)>) -> ShardRun {
    ShardRun {
        index: shard.index,
        count: shard.count,
        host: hostname(),
        start_unix_s: unix_s(start),
        clock_offset_ns: offset.map(|o| o.0),
        clock_uncertainty_ns: offset.map(|o| o.1),
        cells_late: 0,
        max_start_lag_ns: 0,
        max_send_lag_p99_ns: None,
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map_or_else(|_| "unknown".to_owned(), |h| h.trim().to_owned())
}

/// Estimates the offset of the server's clock from ours (server minus local, ns) and its
/// uncertainty, from the HTTP `Date` header of the server at `addr`: GETs of `path` on one
/// connection until the header turns to the next second. The turn happened between the
/// send of the last request that showed the old second and the answer of the first that
/// showed the new one; its midpoint is taken. At most 2.5 s of back-to-back requests (a
/// turn comes within 1 s); `None` when the server gives no `Date` or does not answer.
pub async fn clock_offset(addr: SocketAddr, path: &str) -> Option<(i64, u64)> {
    let work = async {
        let mut conn = tokio::net::TcpStream::connect(addr).await.ok()?;
        conn.set_nodelay(true).ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n\r\n");
        let mut buf = vec![0u8; 64 * 1024];
        let mut last: Option<(i64, SystemTime)> = None;
        loop {
            let sent = SystemTime::now();
            conn.write_all(request.as_bytes()).await.ok()?;
            let second = read_date(&mut conn, &mut buf).await?;
            let answered = SystemTime::now();
            match last {
                Some((before, sent_before)) if second == before + 1 => {
                    let from = unix_ns(sent_before);
                    let to = unix_ns(answered);
                    let turn = from + (to - from) / 2;
                    let offset = i64::try_from(i128::from(second) * 1_000_000_000 - turn).ok()?;
                    return Some((offset, u64::try_from((to - from) / 2).ok()?));
                }
                _ => last = Some((second, sent)),
            }
        }
    };
    tokio::time::timeout(Duration::from_millis(2500), work).await.ok().flatten()
}

fn unix_ns(t: SystemTime) -> i128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128)
}

/// Reads one HTTP/1.1 response with a `content-length` body; returns its `Date` in Unix
/// seconds.
async fn read_date(conn: &mut tokio::net::TcpStream, buf: &mut [u8]) -> Option<i64> {
    let mut len = 0;
    let head_end = loop {
        let n = conn.read(&mut buf[len..]).await.ok()?;
        if n == 0 {
            return None;
        }
        len += n;
        if let Some(i) = buf[..len].windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if len == buf.len() {
            return None;
        }
    };
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let header = |name: &str| {
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
    };
    let date = chrono::DateTime::parse_from_rfc2822(&header("date")?).ok()?.timestamp();
    let body: usize = header("content-length")?.parse().ok()?;
    let mut have = len - head_end;
    while have < body {
        let room = (body - have).min(buf.len());
        let n = conn.read(&mut buf[..room]).await.ok()?;
        if n == 0 {
            return None;
        }
        have += n;
    }
    Some(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_total() {
        for count in 1..=5 {
            for total in [1, 2, 3, 7, 16, 64] {
                let shards = (1..=count).map(|index| Shard { index, count });
                assert_eq!(shards.map(|s| s.share(total)).sum::<u32>(), total, "{total} over {count}");
            }
        }
        assert_eq!(Shard { index: 2, count: 2 }.share(1), 0);
        assert_eq!("2/3".parse::<Shard>().unwrap(), Shard { index: 2, count: 3 });
        for bad in ["0/2", "3/2", "2", "a/b", "1/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn start_times_parse_as_unix_seconds_or_rfc3339() {
        let t = parse_start("1764028800.5").unwrap();
        assert_eq!(unix_s(t), 1_764_028_800.5);
        assert_eq!(
            parse_start("2025-11-25T00:00:00Z").unwrap(),
            UNIX_EPOCH + Duration::from_secs(1_764_028_800)
        );
        assert!(parse_start("tomorrow").is_err());
    }
}
