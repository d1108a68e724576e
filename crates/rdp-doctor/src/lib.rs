//! rdp-doctor: measures an RDP endpoint phase by phase, reads the evidence, names the cause of a
//! failing connection and the fix.
//!
//! Data flow (see ARCHITECTURE.md):
//! `probe` / `evidence` sources -> [`facts`] -> [`diagnose`] rules -> [`model::Finding`]s ->
//! [`render`]ers. Only `probe` and `lab` touch sockets and the clock.
#![forbid(unsafe_code)]

pub mod evidence;
pub mod facts;
pub mod kb;
pub mod model;
pub mod rdpfile;
pub mod sanitize;
