//! Deterministic toy detector used by the demo event loop, the tests and the model training.
//!
//! Every generator is a pure function of a seed, so the same seed gives the same events on any
//! machine. Each module holds one kind of event and its `.npz` export (see `README.md`).

pub mod calo;
pub mod flavour;
pub mod jetimage;
pub mod npz;
pub mod tracker;
