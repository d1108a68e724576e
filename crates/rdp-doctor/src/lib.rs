//! rdp-doctor: measures an RDP endpoint phase by phase, reads the evidence, names the cause of a
//! failing connection and the fix.
//!
//! Data flow (see ARCHITECTURE.md):
//! `probe` / `evidence` sources -> [`facts`] -> [`diagnose`] rules -> [`model::Finding`]s ->
//! [`render`]ers. Only `probe` and `lab` touch sockets and the clock.
#![forbid(unsafe_code)]

pub mod bundle;
pub mod cert;
pub mod check;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod credentials;
pub mod demo;
pub mod diagnose;
pub mod evidence;
pub mod explain;
pub mod facts;
pub mod fleet;
pub mod history;
pub mod kb;
pub mod lab;
pub mod local;
pub mod model;
pub mod phases;
pub mod probe;
pub mod rdpfile;
pub mod render;
pub mod report;
pub mod sanitize;
pub mod sys;
pub mod target;
pub mod text;
pub mod watch;
