//! `check --local`: what the Windows server itself knows about its RDP listener — registry
//! and policy values, the certificate the listener uses and its private key, the firewall
//! rules, TermService — turned into findings with the same ids as the network probe where the
//! meaning is the same (an expired listener certificate is `cert-expired` either way) and
//! `local-*` ids (kb/local.toml) where only the server can tell.
//!
//! Source -> facts -> rules, as everywhere: [`collect`] runs one read-only PowerShell script
//! (`collect.ps1`, Windows only) that prints one JSON document; [`parse::parse`] turns that
//! text into [`LocalFacts`] (pure, tested on every OS with recorded outputs in
//! `tests/fixtures/local/`); `crate::diagnose::local` turns them into hits.
//! Registry values and their meaning: rdp-knowledge.md B7; AllowEncryptionOracle: B5.

pub mod collect;
pub mod parse;

pub use crate::facts::local::*;
use std::time::Duration;

/// Whether `--local` can run on this OS.
pub const SUPPORTED: bool = cfg!(windows);

/// The error on other systems.
pub const UNSUPPORTED: &str = "--local reads the Remote Desktop configuration of the machine it runs on: it works only on the Windows server itself (run rdp-doctor.exe there, from an elevated prompt)";

/// Longest wait for the collector (PowerShell start-up, WMI and the firewall cmdlets take a
/// few seconds on a busy server).
pub const COLLECT_TIMEOUT: Duration = Duration::from_secs(90);

/// Reads the local facts: runs the collector and parses its output. Windows only.
pub fn read(timeout: Duration) -> Result<LocalFacts, String> {
    let text = collect::collect(timeout)?;
    parse::parse(&text)
}
