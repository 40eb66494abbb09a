//! Keys, envelope encryption, field sealing, pseudonyms and signing.
//!
//! Invariant: only this module touches key bytes; every key lives in a type
//! that zeroizes on drop and whose `Debug` hides it.

mod sealed;

pub use sealed::{DekId, SealedField};
