//! Test harness that starts REAL RDP servers for rdp-doctor's integration tests.
//!
//! Include it from an integration test file with `mod support;`. Every server runs in its own
//! process group and is killed (TERM, then KILL) and reaped when its handle drops. A server that
//! cannot be started is an `Err` with the server's log: tests `expect()` it and fail loudly,
//! never skip.
//!
//! * [`certs`]: lab CA and leaf certificates made with `openssl`, once per process.
//! * [`xrdp`]: private xrdp 0.9.21 instances (`XrdpServer::start(XrdpConfig)`).
//! * [`shadow`]: FreeRDP 2.11 shadow server with real NLA (`ShadowServer::start(ShadowConfig)`).
//! * [`xvfb`]: the shared Xvfb both the shadow server and xfreerdp need.
//! * [`ports`]: collision-free ports (43000-43999) and displays (:430-:439) per process.
//! * [`tools`]: xfreerdp and nmap runs, captured and time-limited.
//! * [`rdp`]: raw X.224 CR/CC and a TLS peek, built on `rdp_doctor_wire`.
//! * [`netns`]: network namespaces (root).
//! * [`pathlab`]: client - router - server namespaces with faults on the router, a delay line
//!   and a private resolver; runs `rdp-doctor check` in the client namespace (root).
//!
//! Environment: `RDP_DOCTOR_TEST_PORTS=LOW-HIGH` (default 43000-43999),
//! `RDP_DOCTOR_TEST_DISPLAYS=LOW-HIGH` (default 430-439), `RDP_DOCTOR_TEST_TMP` (default
//! `$TMPDIR/rdp-doctor-tests`), `RDP_DOCTOR_KEEP_TMP=1` keeps server directories (ini, logs,
//! HOME) for debugging, `RDP_DOCTOR_PATHLAB_VERBOSE=1` prints every path-lab check's findings
//! and facts. Processes and directories left by a test process that was killed are
//! removed by the next one (see `process::reap_stale_once`, `tmp::process_dir`).
//!
//! Everything here is test code for a lab on loopback; the lab password appears in xfreerdp's
//! argv only (see `tools::xfreerdp_auth_only`).
// Each test file uses a different subset of the harness.
#![allow(dead_code)]

pub mod certs;
pub mod krb;
pub mod netns;
pub mod pathlab;
pub mod ports;
pub mod process;
pub mod rdp;
pub mod shadow;
pub mod tmp;
pub mod tools;
pub mod xrdp;
pub mod xvfb;

/// Whether this process runs with effective uid 0 (read from `/proc/self/status`).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Panics with a clear message unless running as root. Call it first in tests that create
/// network namespaces, veth pairs or iptables rules; CI (`.ci/run`) runs as root.
#[allow(clippy::panic)]
pub fn require_root() {
    if !is_root() {
        panic!(
            "this test needs root (it creates network namespaces / firewall rules); \
             run the test suite as root, as .ci/run does"
        );
    }
}
