//! TCP ports and X display numbers for test servers.
//!
//! Tests run in parallel threads of one process, so allocation is an atomic counter over a
//! fixed range: within one test process no value is handed out twice (until the range wraps,
//! which takes 1000 servers). Each candidate is also checked against the machine (a port must
//! be bindable on 127.0.0.1 and ::1; a display must have no lock file) to step around other
//! programs. The counter starts at an offset derived from the pid so that two test processes
//! (e.g. under `cargo nextest`) do not walk the range in lock step.
//!
//! Ranges: `RDP_DOCTOR_TEST_PORTS` (default `43000-43999`) and `RDP_DOCTOR_TEST_DISPLAYS`
//! (default `430-439`), both `LOW-HIGH` inclusive.

use std::net::{Ipv4Addr, Ipv6Addr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

pub const DEFAULT_PORTS: (u32, u32) = (43000, 43999);
pub const DEFAULT_DISPLAYS: (u32, u32) = (430, 439);

fn range_from_env(var: &str, default: (u32, u32)) -> (u32, u32) {
    let Ok(v) = std::env::var(var) else {
        return default;
    };
    let parsed = v
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
    match parsed {
        Some((lo, hi)) if lo <= hi => (lo, hi),
        _ => default,
    }
}

/// The configured port range (inclusive).
pub fn port_range() -> (u16, u16) {
    let (lo, hi) = range_from_env("RDP_DOCTOR_TEST_PORTS", DEFAULT_PORTS);
    (
        u16::try_from(lo.max(1)).unwrap_or(43000),
        u16::try_from(hi).unwrap_or(u16::MAX),
    )
}

/// The configured display range (inclusive).
pub fn display_range() -> (u32, u32) {
    range_from_env("RDP_DOCTOR_TEST_DISPLAYS", DEFAULT_DISPLAYS)
}

static PORT_COUNTER: AtomicU32 = AtomicU32::new(0);
static DISPLAY_COUNTER: AtomicU32 = AtomicU32::new(0);

/// The next value of a range, per counter; `pid` spreads processes over the range.
fn next_in(counter: &AtomicU32, lo: u32, hi: u32) -> u32 {
    let span = hi - lo + 1;
    let n = counter.fetch_add(1, Ordering::Relaxed);
    lo + (n + std::process::id().wrapping_mul(7919)) % span
}

fn port_is_free(port: u16) -> bool {
    // std sets SO_REUSEADDR, as xrdp and FreeRDP do, so TIME_WAIT does not count as taken.
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
        && (TcpListener::bind((Ipv6Addr::LOCALHOST, port)).is_ok()
            || !Path::new("/proc/net/tcp6").exists())
}

/// A port from the range that no other caller in this process has received and that is free
/// on loopback right now. Ports are not held: the server binds them a moment later.
pub fn free_port() -> Result<u16, String> {
    let (lo, hi) = port_range();
    let span = u32::from(hi) - u32::from(lo) + 1;
    for _ in 0..span {
        let candidate = next_in(&PORT_COUNTER, u32::from(lo), u32::from(hi));
        let Ok(port) = u16::try_from(candidate) else {
            continue;
        };
        if port_is_free(port) {
            return Ok(port);
        }
    }
    Err(format!("no free TCP port in {lo}-{hi} on loopback"))
}

/// Whether display `d` has no live X server. A lock whose pid is gone or a zombie (an Xvfb
/// killed by SIGKILL cannot remove it, and PID 1 here does not reap orphans) is stale: it is
/// removed with its socket, because Xvfb refuses a lock whose pid still exists, even as a zombie.
/// Only displays of our own range get here.
fn display_is_free(d: u32) -> bool {
    let lock = format!("/tmp/.X{d}-lock");
    let Ok(text) = std::fs::read_to_string(&lock) else {
        return !Path::new(&lock).exists();
    };
    let stale = match text.trim().parse::<u32>() {
        Ok(pid) => super::process::proc_stat(pid).is_none_or(|s| s.state == 'Z'),
        Err(_) => false,
    };
    if stale {
        let _ = std::fs::remove_file(format!("/tmp/.X11-unix/X{d}"));
        let _ = std::fs::remove_file(&lock);
    }
    stale
}

/// A display number from the range without a live X server. The caller still has to cope with
/// a server that fails to start on it (another X server may appear in between).
pub fn next_display() -> Result<u32, String> {
    let (lo, hi) = display_range();
    for _ in 0..=(hi - lo) {
        let d = next_in(&DISPLAY_COUNTER, lo, hi);
        if display_is_free(d) {
            return Ok(d);
        }
    }
    Err(format!(
        "no free X display in :{lo}-:{hi} (all have /tmp/.XN-lock)"
    ))
}
