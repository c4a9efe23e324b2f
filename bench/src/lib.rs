//! # wirebench: the engine, the clients and the commands
//!
//! The top floor of the harness. It owns what measures: the logical operations and their
//! outcomes ([`catalog`]), one client per protocol behind one trait with the registry list
//! ([`clients`]), the load engine that times one cell ([`load`]), the check that every
//! protocol tells the same truth before it is timed ([`equivalence`]), and the commands:
//! `wirebench run` ([`run`]), `serve` ([`serve`], with [`control`], the channel through
//! which `run` asks its server child what only the server knows), sharded runs ([`shard`])
//! and `merge` ([`merge`]), and the contracts in `schema/` ([`contracts`]).
//!
//! Below it, and never importing it:
//! - `wirebench-results`: results as plain data, statistics and the words cells are named in;
//! - `wirebench-wire`: byte counting and dissection, TLS, the emulated link, the kernel's
//!   counts;
//! - `wirebench-report`: the report, the terminal summary and `compare`, over results alone.
//!
//! Within this crate, only [`clients`] names a protocol; the engine, the run and the checks
//! reach protocols through what each declares (see ARCHITECTURE.md).

pub mod catalog;
pub mod clients;
pub mod contracts;
pub mod control;
pub mod equivalence;
pub mod load;
pub mod merge;
pub mod run;
pub mod serve;
pub mod shard;
