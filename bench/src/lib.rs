//! The wirebench harness and command line.
//!
//! - [`catalog`]: the logical operations, their parameters and decoded outcomes.
//! - [`clients`]: one client per protocol behind one trait, and the registry list.
//! - [`wire`]: byte and turn counting around each client socket.
//! - [`load`]: the load engine (closed and open loop) that measures one cell.
//! - [`kernel`]: what the kernel counted (TCP_INFO), CPU time, peak memory.
//! - [`equivalence`]: every protocol must agree with the reference before it is timed.
//! - [`run`]: `wirebench run`, the sweep; [`results`]: results.json and its schema.
//! - [`report`]: `index.html`, the self-contained report of a results file.
//! - [`serve`]: `wirebench serve`, every protocol over one shared store; [`control`]: the
//!   channel through which `run` asks its server child what only the server knows.
//! - [`contracts`]: the generated contracts in `schema/`.

pub mod catalog;
pub mod clients;
pub mod codecs;
pub mod compare;
pub mod contracts;
pub mod control;
pub mod equivalence;
pub mod export;
pub mod kernel;
pub mod load;
pub mod merge;
pub mod net;
pub mod repeats;
pub mod report;
pub mod results;
pub mod run;
pub mod sample;
pub mod serve;
pub mod shard;
pub mod stats;
pub mod summary;
pub mod wire;
