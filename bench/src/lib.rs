//! The wirebench harness and command line.
//!
//! - [`serve`]: `wirebench serve`, every protocol over one shared store.
//! - [`contracts`]: the generated contracts in `schema/`.
//!
//! The measuring harness (`wirebench run`) is not built yet; see the README.

pub mod contracts;
pub mod serve;
