//! Network conditions: a link emulated in user space between each client and its socket
//! (the kernel's `netem` is not on every machine, and needs root where it is).
//!
//! - the named links (`results/networks.toml`, a user's file, or an ad-hoc spec) are data in
//!   `wirebench_results::network`;
//! - [`shaper`]: one direction's arithmetic (delay, rate, slow start, jitter, loss);
//! - [`link`]: the tasks that carry a connection's bytes through two shapers.
//!
//! A cell's network is part of its dial (`crate::Dial`): every connection the cell opens
//! goes through that network's link ([`connect`]). Byte counts are unchanged: the link
//! carries the client's bytes as they are, and the kernel's counts of the socket still match
//! once the link is empty.

pub mod link;
pub mod shaper;

pub use self::link::{Wire, connect};
pub use wirebench_results::network::{LOOPBACK, Network, Networks, Way};
