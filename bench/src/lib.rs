//! # wirebench: the commands
//!
//! The top floor of the harness: `wirebench run` ([`run`]: a plan from the command line,
//! the servers, the gate, the sweep, results and report), `serve` ([`serve`]), sharded runs
//! ([`shard`]) and `merge` ([`merge`]), and the contracts in `schema/` ([`contracts`]).
//!
//! Below it, and never importing it:
//! - `wirebench-engine`: the clients, the load engine, the equivalence check;
//! - `wirebench-wire`: byte counting and dissection, TLS, the emulated link, the kernel's
//!   counts;
//! - `wirebench-report`: the report, the terminal summary and `compare`, over results alone;
//! - `wirebench-results`: results as plain data, statistics and the words cells are named in.
//!
//! It names no protocol: what a run needs of one, it asks the registry.

pub mod contracts;
pub mod faults;
pub mod gateway;
pub mod merge;
pub mod run;
pub mod serve;
pub mod shard;
