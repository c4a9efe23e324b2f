//! # wirebench-engine: the clients and the load engine
//!
//! Owns what measures one cell: the logical operations and their outcomes ([`catalog`]),
//! one client per protocol behind one trait with the registry list ([`clients`]), the load
//! engine that times a cell, closed or open loop ([`load`]), the check that every protocol
//! tells the same truth before it is timed ([`equivalence`]), calls that fail and clients
//! that retry them ([`faults`]), and the control channel
//! through which the harness asks its server child what only the server knows
//! ([`control`]).
//!
//! It may not touch: the report, the run's plan, the command line. Below it:
//! `wirebench-wire` (every connection opens through its `Dial` and is counted there),
//! `wirebench-results` (the words cells are named in), the domain and the servers' shared
//! codecs. Above it, the `wirebench` binary plans runs and writes results.
//!
//! Only [`clients`] names a protocol: the engine and the checks reach protocols through
//! what each declares (see ARCHITECTURE.md).

pub mod catalog;
pub mod clients;
pub mod control;
pub mod equivalence;
pub mod faults;
pub mod load;
