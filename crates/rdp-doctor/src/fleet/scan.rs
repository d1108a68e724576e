//! The scan runner: many targets, each a full `check` at the chosen depth, with a bounded
//! number in flight (a semaphore), a rate of new connections (a token bucket), and a deadline
//! around each whole check. Results go to a sink in completion order; the sink turns each into
//! a compact row and drops the report, so memory grows with the in-flight targets, not with
//! the scan. One failing target never stops the scan.

use super::ratelimit::RateLimiter;
use crate::cert::TrustStore;
use crate::diagnose::Context;
use crate::facts::{ClientProfile, Facts, TcpOutcome, UdpOutcome, X224Outcome};
use crate::model::Target;
use crate::probe::CheckOptions;
use crate::report::Report;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How much of `check` runs per target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Depth {
    /// TCP, X.224 with the client's request, TLS and the certificate: one connection.
    Quick,
    /// Quick, plus the one-connection-per-protocol enumeration (NLA required? Standard RDP
    /// Security allowed?) and what follows TLS on the main connection.
    Standard,
    /// Everything `check` does: standard plus RDP-UDP and the path-MTU retry.
    Full,
}

impl Depth {
    pub fn as_str(self) -> &'static str {
        match self {
            Depth::Quick => "quick",
            Depth::Standard => "standard",
            Depth::Full => "full",
        }
    }

    /// What runs at this depth: quick stops the main connection after TLS and skips the
    /// enumeration; UDP and the path-MTU retry run only at full depth.
    pub fn apply(self, opts: CheckOptions) -> CheckOptions {
        CheckOptions {
            enumerate_protocols: self != Depth::Quick,
            stop_after_tls: self == Depth::Quick,
            udp: self == Depth::Full,
            mss_retry: self == Depth::Full,
            // One AS-REQ per server would fill the domain controllers' audit log.
            kdc_probe: false,
            // Quick is one connection a target (its file descriptors and --rate charge).
            identify: self != Depth::Quick,
            ..opts
        }
    }

    /// The worst case of a check's time-outs in sequence at this depth (resolve, connect,
    /// X.224, TLS, and for deeper checks the enumeration and what follows TLS).
    pub fn steps(self) -> u32 {
        match self {
            Depth::Quick => 4,
            Depth::Standard => 6,
            Depth::Full => 8,
        }
    }
}

/// What to scan with.
#[derive(Clone)]
pub struct ScanConfig {
    pub depth: Depth,
    pub concurrency: usize,
    /// New connections per second (None: unlimited).
    pub rate: Option<f64>,
    /// Deadline for each whole check.
    pub deadline: Duration,
    /// Longest wait for one network step.
    pub step_timeout: Duration,
    pub udp_wait: Duration,
    pub client: ClientProfile,
    pub trust: Arc<TrustStore>,
    pub expiry_warning_days: i64,
    pub now_unix: i64,
    /// `--gateway`: every target through this RD Gateway.
    pub gateway: Option<crate::probe::gateway::client::GatewayOptions>,
}

impl ScanConfig {
    pub fn check_options(&self, target: &Target) -> CheckOptions {
        self.depth.apply(CheckOptions {
            client: self.client.clone(),
            timeout: self.step_timeout,
            udp_wait: self.udp_wait,
            now_unix: self.now_unix,
            gateway: self.gateway.clone(),
            ..CheckOptions::new(target.clone(), self.trust.clone())
        })
    }

    /// What one target's check uses at most at this configuration (the target itself does
    /// not change it).
    pub fn budget(&self) -> crate::probe::Budget {
        let any = Target {
            input: String::new(),
            host: String::new(),
            port: 3389,
            host_kind: "dns".into(),
        };
        self.check_options(&any).budget()
    }

    pub fn context(&self, target: &Target) -> Context {
        let mut ctx = Context::new(target.clone());
        ctx.expiry_warning_days = self.expiry_warning_days;
        ctx
    }
}

/// How one target ended.
#[derive(Debug)]
pub enum Outcome {
    Report(Box<Report>),
    /// The whole check did not finish within the deadline.
    Deadline(Duration),
    /// This machine could not run the check (out of file descriptors after retries).
    LocalError(String),
}

#[derive(Debug)]
pub struct TargetResult {
    /// Position in the expanded target list.
    pub index: usize,
    pub target: Target,
    pub outcome: Outcome,
    pub duration_ms: f64,
    /// Attempts that failed for lack of file descriptors before this result.
    pub fd_retries: u32,
}

impl TargetResult {
    /// The target's exit code, as `check` would exit: 0/1/2 by verdict, 3 when no verdict.
    pub fn exit_code(&self) -> u8 {
        match &self.outcome {
            Outcome::Report(r) => r.exit_code() as u8,
            _ => 3,
        }
    }
}

/// What the runner tells the caller while it runs.
pub enum Event {
    Done(TargetResult),
    /// The open-file limit was hit; concurrency is now this.
    ConcurrencyLowered(usize),
}

#[derive(Debug, Clone, Default)]
pub struct ScanStats {
    pub started: usize,
    pub completed: usize,
    pub wall: Duration,
    /// Concurrency at the end (lower than asked when the open-file limit was hit).
    pub final_concurrency: usize,
    pub interrupted: bool,
}

/// How many attempts a target gets when the machine runs out of file descriptors.
const FD_ATTEMPTS: u32 = 6;

/// Runs the scan. `sink` sees every result (and events) on the calling task, in completion
/// order. `stop` ends the launching of new targets (Ctrl-C); in-flight targets finish.
pub async fn run(
    targets: Vec<Target>,
    cfg: &ScanConfig,
    stop: Arc<AtomicBool>,
    mut sink: impl FnMut(Event),
) -> ScanStats {
    let start = Instant::now();
    let concurrency = cfg.concurrency.max(1);
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let limit = Arc::new(AtomicUsize::new(concurrency));
    let limiter = cfg.rate.map(|r| Arc::new(RateLimiter::new(r)));
    let per_target = cfg.budget().connections;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Event>(concurrency.min(1024));
    let cfg2 = cfg.clone();
    let stop2 = stop.clone();
    let launcher = tokio::spawn(async move {
        let mut started = 0usize;
        for (index, target) in targets.into_iter().enumerate() {
            if stop2.load(Ordering::Relaxed) {
                break;
            }
            let Ok(permit) = sem.clone().acquire_owned().await else {
                break;
            };
            if let Some(l) = &limiter {
                l.acquire(per_target).await;
            }
            if stop2.load(Ordering::Relaxed) {
                break;
            }
            started += 1;
            let tx = tx.clone();
            let cfg = cfg2.clone();
            let limit = limit.clone();
            tokio::spawn(async move {
                let (result, lowered) = one(index, target, &cfg).await;
                let mut shrink = false;
                if lowered {
                    // Give the permit back to nobody: one fewer target in flight from now on,
                    // never fewer than one.
                    shrink = limit
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
                            (l > 1).then_some(l - 1)
                        })
                        .is_ok();
                }
                let _ = tx.send(Event::Done(result)).await;
                if shrink {
                    let now = limit.load(Ordering::SeqCst);
                    let _ = tx.send(Event::ConcurrencyLowered(now)).await;
                    permit.forget();
                } else {
                    drop(permit);
                }
            });
        }
        (started, limit)
    });
    let mut completed = 0usize;
    while let Some(ev) = rx.recv().await {
        if matches!(ev, Event::Done(_)) {
            completed += 1;
        }
        sink(ev);
    }
    let (started, limit) = match launcher.await {
        Ok((s, l)) => (s, l.load(Ordering::SeqCst)),
        Err(_) => (completed, 0),
    };
    ScanStats {
        started,
        completed,
        wall: start.elapsed(),
        final_concurrency: limit,
        interrupted: stop.load(Ordering::Relaxed),
    }
}

/// Checks one target within the deadline; retries while the machine is out of descriptors.
/// Returns the result and whether the open-file limit was hit.
async fn one(index: usize, target: Target, cfg: &ScanConfig) -> (TargetResult, bool) {
    let t0 = Instant::now();
    let opts = cfg.check_options(&target);
    let ctx = cfg.context(&target);
    let mut retries = 0u32;
    let attempt = async {
        loop {
            let report = crate::check::check(&opts, &ctx).await;
            if !out_of_descriptors(&report.facts) {
                return Outcome::Report(Box::new(report));
            }
            retries += 1;
            if retries >= FD_ATTEMPTS {
                return Outcome::LocalError(format!(
                    "this machine ran out of file descriptors {retries} times (raise `ulimit -n` or lower --concurrency)"
                ));
            }
            tokio::time::sleep(Duration::from_millis(50u64 << retries.min(5))).await;
        }
    };
    let outcome = match tokio::time::timeout(cfg.deadline, attempt).await {
        Ok(o) => o,
        Err(_) => Outcome::Deadline(cfg.deadline),
    };
    let hit = retries > 0;
    (
        TargetResult {
            index,
            target,
            outcome,
            duration_ms: crate::probe::net::ms(t0.elapsed()),
            fd_retries: retries,
        },
        hit,
    )
}

/// Whether a check failed because this process could not open a socket (EMFILE/ENFILE), not
/// because of the server.
pub fn out_of_descriptors(f: &Facts) -> bool {
    let hit = |s: &str| is_fd_error(s);
    f.addresses.iter().any(|a| match &a.tcp {
        TcpOutcome::Error { error, .. } => hit(error),
        _ => false,
    }) || f.protocols.as_ref().is_some_and(|p| {
        p.probes.iter().any(|x| match &x.response {
            X224Outcome::Error { error } => hit(error),
            _ => false,
        })
    }) || f
        .udp
        .as_ref()
        .is_some_and(|u| u.outcome == UdpOutcome::Error && u.error.as_deref().is_some_and(hit))
}

/// EMFILE (24) / ENFILE (23) as `io::Error` prints them.
pub fn is_fd_error(s: &str) -> bool {
    s.contains("os error 24")
        || s.contains("os error 23")
        || s.to_ascii_lowercase().contains("too many open files")
}

/// The process's soft limit on open files (Linux: /proc/self/limits), if known.
pub fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    if soft == "unlimited" {
        return Some(u64::MAX);
    }
    soft.parse().ok()
}

/// The default concurrency: what the open-file limit allows at this depth (keeping 64
/// descriptors for everything else), and at most 128 per core.
pub fn default_concurrency(
    sockets_per_target: usize,
    fd_limit: Option<u64>,
    cores: usize,
) -> usize {
    let fds = fd_limit.unwrap_or(1024).min(1 << 20) as usize;
    let by_fds = fds.saturating_sub(64) / sockets_per_target.max(1);
    by_fds.clamp(1, (cores.max(1) * 128).max(16))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::AddressFact;

    #[test]
    fn default_concurrency_follows_descriptors_and_cores() {
        assert_eq!(default_concurrency(4, Some(20_000), 2), 256);
        assert_eq!(default_concurrency(4, Some(1024), 2), 240);
        assert_eq!(default_concurrency(12, Some(1024), 2), 80);
        assert_eq!(default_concurrency(12, Some(100), 8), 3);
        assert_eq!(default_concurrency(12, Some(10), 8), 1);
        assert_eq!(default_concurrency(4, None, 1), 128);
    }

    #[test]
    fn the_budget_follows_what_the_depth_runs() {
        let cfg = |depth| ScanConfig {
            depth,
            concurrency: 1,
            rate: None,
            deadline: Duration::from_secs(1),
            step_timeout: Duration::from_secs(1),
            udp_wait: Duration::from_secs(1),
            client: crate::facts::ClientProfile::mstsc(),
            trust: Arc::new(crate::cert::TrustStore::system()),
            expiry_warning_days: 30,
            now_unix: 0,
            gateway: None,
        };
        let b = |d| {
            let x = cfg(d).budget();
            (x.connections, x.sockets)
        };
        // Quick: one connection (the main connect's witnesses only join a lost SYN).
        assert_eq!(b(Depth::Quick), (1, 4));
        // + six protocol probes at once (the TLS-only one carries the MCS phase), the request
        // for the rarely accepted ones together, and the samples that settle an unanswered
        // SYN of the burst.
        assert_eq!(b(Depth::Standard), (11, 8));
        // + the MSS retry and its control, the RDP-UDP socket.
        assert_eq!(b(Depth::Full), (13, 11));
    }

    #[test]
    fn descriptor_exhaustion_is_told_apart_from_server_failures() {
        let mut f = Facts::default();
        assert!(!out_of_descriptors(&f));
        f.addresses.push(AddressFact {
            address: "10.0.0.1".into(),
            tcp: TcpOutcome::Refused { duration_ms: 1.0 },
        });
        assert!(!out_of_descriptors(&f));
        f.addresses.push(AddressFact {
            address: "10.0.0.2".into(),
            tcp: TcpOutcome::Error {
                duration_ms: 0.0,
                error: "Too many open files (os error 24)".into(),
            },
        });
        assert!(out_of_descriptors(&f));
        assert!(!is_fd_error("Connection refused (os error 111)"));
        assert!(is_fd_error("Too many open files in system (os error 23)"));
    }

    #[test]
    fn the_open_file_limit_is_read() {
        if cfg!(target_os = "linux") {
            assert!(open_file_limit().is_some_and(|n| n > 0));
        }
    }
}
