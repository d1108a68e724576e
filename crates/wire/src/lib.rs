//! Pure codecs for the parts of the RDP wire that rdp-doctor reports on.
//!
//! Invariants (checked by review, by `cargo clippy` and by the fuzz targets in `fuzz/`):
//! * no I/O and no clock: every function takes bytes (and, where time matters, a time value) and
//!   returns values;
//! * no panic on any input: decoders return [`DecodeError`] for malformed bytes, never index out
//!   of bounds, and never allocate more than the input length justifies;
//! * wire codes are open newtypes: an unknown failure code or protocol bit survives decoding and is
//!   reported raw (see [`nego::FailureCode`]).
//!
//! Spec references are given per item as `[MS-RDPBCGR] 2.2.1.1` etc.
#![forbid(unsafe_code)]

pub mod activation;
pub mod asn1;
pub mod credssp;
pub mod cursor;
pub mod dns;
pub mod error;
pub mod gateway;
pub mod kerberos;
pub mod mcs;
pub mod nego;
pub mod ntlm;
pub mod oracles;
pub mod rdpeudp;
pub mod sniff;
pub mod tls;
pub mod tpkt;
pub mod x224;

pub use error::DecodeError;
