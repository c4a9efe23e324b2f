//! Network conditions: a link emulated in user space between each client and its socket
//! (the kernel's `netem` is not on every machine, and needs root where it is).
//!
//! - [`profile`]: the named links of `bench/networks.toml`, a user's file, or an ad-hoc spec;
//! - [`shaper`]: one direction's arithmetic (delay, rate, slow start, jitter, loss);
//! - [`link`]: the tasks that carry a connection's bytes through two shapers.
//!
//! The load engine sets the network of its client threads ([`set_current`]); every client
//! connection opened on such a thread goes through that network's link
//! ([`crate::wire::connect`]). Byte counts are unchanged: the link carries the client's bytes
//! as they are, and the kernel's counts of the socket still match once the link is empty.

use std::cell::RefCell;

pub mod link;
pub mod profile;
pub mod shaper;

pub use self::link::{Wire, connect};
pub use self::profile::{LOOPBACK, Network, Networks, Way};

thread_local! {
    static CURRENT: RefCell<Option<Network>> = const { RefCell::new(None) };
}

/// Sets the network new connections of this thread go through (none: loopback).
pub fn set_current(network: Option<Network>) {
    CURRENT.with(|c| *c.borrow_mut() = network.filter(|n| !n.is_loopback()));
}

/// The network new connections of this thread go through, if it is not loopback.
pub fn current() -> Option<Network> {
    CURRENT.with(|c| c.borrow().clone())
}
