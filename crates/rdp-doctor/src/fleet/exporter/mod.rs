//! `rdp-doctor serve`: a Prometheus exporter in the blackbox_exporter shape.
//! `GET /probe?target=HOST:PORT&module=NAME` runs a check and answers Prometheus text (HTTP
//! 200 with `probe_success 0` when the probe fails; 400 for a bad request; 403 for a target
//! outside the allowlist); `GET /metrics` describes the exporter itself.
//!
//! Security: it binds to loopback unless the configuration or `--listen` says otherwise;
//! every address a target resolves to must be inside the allowlist (CIDR blocks and ports),
//! and the check then connects to exactly those addresses (no second lookup); modules come
//! only from the configuration; the query string takes `target` and `module` and nothing
//! else (no credentials); probes and connections are bounded.

pub mod config;
pub mod http;
pub mod metrics;

use crate::model::Target;
use crate::probe::CheckOptions;
use config::{Config, Module};
use http::{Request, Response};
use metrics::Exposition;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The exporter configuration (TOML): allowlist, modules, limits.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Listen here instead of the configuration's address (default 127.0.0.1:9489).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// Check the configuration and exit.
    #[arg(long)]
    pub check_config: bool,
}

/// Subtracted from Prometheus's scrape time-out, so the answer arrives before it gives up
/// (blackbox_exporter's `timeout_offset`).
pub const TIMEOUT_OFFSET: Duration = Duration::from_millis(500);
/// The shortest probe deadline, whatever the header says.
const MIN_DEADLINE: Duration = Duration::from_millis(200);

#[derive(Default)]
struct Counters {
    /// module -> [success, failure]
    probes: BTreeMap<String, [AtomicU64; 2]>,
    refused_bad_request: AtomicU64,
    refused_not_allowed: AtomicU64,
    refused_busy: AtomicU64,
    http_probe: AtomicU64,
    http_metrics: AtomicU64,
    http_other: AtomicU64,
    in_flight: AtomicU64,
}

pub struct State {
    pub config: Config,
    probe_gate: Arc<tokio::sync::Semaphore>,
    counters: Counters,
    started_unix: i64,
}

impl State {
    pub fn new(config: Config) -> State {
        let counters = Counters {
            probes: config
                .modules
                .keys()
                .map(|k| (k.clone(), [AtomicU64::new(0), AtomicU64::new(0)]))
                .collect(),
            ..Counters::default()
        };
        State {
            probe_gate: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_probes)),
            config,
            counters,
            started_unix: crate::clock::now_unix(),
        }
    }
}

/// A running exporter (in-process; the tests and `run_serve` use it). Dropping it stops it.
pub struct Running {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds and starts serving.
pub async fn start(config: Config) -> Result<Running, String> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let max_conns = config.max_connections;
    let state = Arc::new(State::new(config));
    let task = tokio::spawn(http::serve(listener, max_conns, move |req, peer| {
        let state = state.clone();
        async move { handle(&state, req, peer).await }
    }));
    Ok(Running { addr, task })
}

async fn handle(state: &State, req: Request, _peer: SocketAddr) -> Response {
    match req.path.as_str() {
        "/probe" => {
            state.counters.http_probe.fetch_add(1, Ordering::Relaxed);
            probe(state, &req).await
        }
        "/metrics" => {
            state.counters.http_metrics.fetch_add(1, Ordering::Relaxed);
            Response::metrics(self_metrics(state))
        }
        "/" => {
            state.counters.http_other.fetch_add(1, Ordering::Relaxed);
            let mods: Vec<&str> = state.config.modules.keys().map(String::as_str).collect();
            Response::text(
                200,
                format!(
                    "rdp-doctor exporter {}\n\n/probe?target=HOST:PORT&module=NAME   modules: {}\n/metrics                               the exporter's own metrics\n",
                    env!("CARGO_PKG_VERSION"),
                    mods.join(", ")
                ),
            )
        }
        "/-/healthy" | "/-/ready" => {
            state.counters.http_other.fetch_add(1, Ordering::Relaxed);
            Response::text(200, "OK")
        }
        _ => {
            state.counters.http_other.fetch_add(1, Ordering::Relaxed);
            Response::text(404, "not found; see /")
        }
    }
}

fn bad(state: &State, msg: String) -> Response {
    state
        .counters
        .refused_bad_request
        .fetch_add(1, Ordering::Relaxed);
    Response::text(400, msg)
}

/// What a probe request asks for, validated.
pub struct ProbeRequest<'a> {
    pub target: Target,
    pub module: &'a Module,
    pub deadline: Duration,
}

/// Validates the query and the scrape time-out header. Errors are the 400 body.
pub fn parse_probe_request<'a>(
    config: &'a Config,
    req: &Request,
) -> Result<ProbeRequest<'a>, String> {
    let params = http::parse_query(&req.query)?;
    let mut target = None;
    let mut module = None;
    for (k, v) in &params {
        match k.as_str() {
            "target" => target = Some(v.as_str()),
            "module" => module = Some(v.as_str()),
            other => {
                return Err(format!(
                    "unknown parameter '{}': /probe takes target and module only (credentials belong in the module's credentials_file)",
                    crate::sanitize::escape(other)
                ))
            }
        }
    }
    let target = target.ok_or("the target parameter is missing (target=HOST:PORT)")?;
    let module_name = match module {
        Some(m) => m,
        None if config.modules.len() == 1 => config
            .modules
            .keys()
            .next()
            .map(String::as_str)
            .unwrap_or(""),
        None => return Err("the module parameter is missing".into()),
    };
    let module = config.modules.get(module_name).ok_or_else(|| {
        format!(
            "unknown module '{}' (configured: {})",
            crate::sanitize::escape(module_name),
            config
                .modules
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let target = crate::target::parse_target(target, crate::target::DEFAULT_PORT)?;
    let mut deadline = module.timeout;
    if let Some(h) = req.header("x-prometheus-scrape-timeout-seconds") {
        let s: f64 = h
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s > 0.0)
            .ok_or_else(|| {
                format!(
                    "X-Prometheus-Scrape-Timeout-Seconds '{}' is not a number of seconds",
                    crate::sanitize::escape(h)
                )
            })?;
        let from_header = Duration::from_secs_f64(s.min(3600.0)).saturating_sub(TIMEOUT_OFFSET);
        deadline = deadline.min(from_header);
    }
    Ok(ProbeRequest {
        target,
        module,
        deadline: deadline.max(MIN_DEADLINE),
    })
}

async fn probe(state: &State, req: &Request) -> Response {
    let t0 = Instant::now();
    let pr = match parse_probe_request(&state.config, req) {
        Ok(p) => p,
        Err(e) => return bad(state, e),
    };
    let allow = &state.config.allow;
    if !allow.port_allowed(pr.target.port) {
        return refuse(
            state,
            format!(
                "port {} is outside the exporter's allowlist",
                pr.target.port
            ),
        );
    }
    // Resolve here, judge every address, and hand exactly these to the check.
    let steps = pr.module.depth.steps().max(2) / 2 + 1;
    let step = (pr.deadline / steps).max(Duration::from_millis(100));
    let (rf, addrs) = crate::probe::resolve::resolve(&pr.target, step).await;
    if let Some(bad) = addrs.iter().find(|a| !allow.allows(**a)) {
        return refuse(
            state,
            format!(
                "target {} resolves to {}, which is outside the exporter's allowlist",
                crate::sanitize::escape(&pr.target.input),
                bad.ip()
            ),
        );
    }
    let remaining = pr.deadline.saturating_sub(t0.elapsed());
    let permit =
        match tokio::time::timeout(remaining, state.probe_gate.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => {
                state.counters.refused_busy.fetch_add(1, Ordering::Relaxed);
                return Response::text(
                    503,
                    format!(
                        "all {} probe slots stayed busy for the whole scrape time-out",
                        state.config.max_concurrent_probes
                    ),
                );
            }
        };
    state.counters.in_flight.fetch_add(1, Ordering::Relaxed);
    let m = pr.module;
    let opts = m.depth.apply(CheckOptions {
        client: m.client.clone(),
        timeout: step,
        udp_wait: m.udp_timeout.min(step),
        // Through a gateway the gateway resolves and connects to the target (CHANNEL_CREATE);
        // the allowlist above still judged the target's own addresses.
        resolved: if m.gateway.is_some() {
            None
        } else {
            Some((rf, addrs))
        },
        gateway: m.gateway.clone(),
        // A module with a credentials file runs the credentialed check; credentials go only to
        // servers whose certificate the module's trust store accepts (the same gate as check).
        auth: m
            .credentials
            .as_ref()
            .map(|c| crate::probe::auth::AuthOptions {
                credentials: c.clone(),
                password_source: "credentials_file",
                pinned_sha256: None,
                insecure: false,
                full: false,
                // The exporter's module has no realm or KDC settings: NTLM, as before.
                mode: crate::probe::kdc::AuthMode::Ntlm,
            }),
        ..CheckOptions::new(pr.target.clone(), m.trust.clone())
    });
    let mut ctx = crate::diagnose::Context::new(pr.target.clone());
    ctx.expiry_warning_days = m.expiry_warning_days;
    let remaining = pr.deadline.saturating_sub(t0.elapsed());
    let report = tokio::time::timeout(remaining, crate::check::check(&opts, &ctx))
        .await
        .ok();
    drop(permit);
    state.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
    let ok = metrics::success(report.as_ref());
    if let Some([s, f]) = state.counters.probes.get(&m.name) {
        if ok { s } else { f }.fetch_add(1, Ordering::Relaxed);
    }
    Response::metrics(metrics::probe(report.as_ref(), t0.elapsed().as_secs_f64()))
}

fn refuse(state: &State, msg: String) -> Response {
    state
        .counters
        .refused_not_allowed
        .fetch_add(1, Ordering::Relaxed);
    Response::text(403, msg)
}

/// The exporter's own metrics.
fn self_metrics(state: &State) -> String {
    let c = &state.counters;
    let mut e = Exposition::default();
    e.family(
        "rdp_doctor_exporter_probes_total",
        "counter",
        "Probes run, by module and result (success: probe_success was 1).",
    );
    for (module, [s, f]) in &c.probes {
        for (result, v) in [("success", s), ("failure", f)] {
            e.sample(
                "rdp_doctor_exporter_probes_total",
                &[("module", module), ("result", result)],
                v.load(Ordering::Relaxed) as f64,
            );
        }
    }
    e.family(
        "rdp_doctor_exporter_probe_refusals_total",
        "counter",
        "Probe requests refused: bad_request (400), not_allowed (403, outside the allowlist), busy (503).",
    );
    for (reason, v) in [
        ("bad_request", &c.refused_bad_request),
        ("not_allowed", &c.refused_not_allowed),
        ("busy", &c.refused_busy),
    ] {
        e.sample(
            "rdp_doctor_exporter_probe_refusals_total",
            &[("reason", reason)],
            v.load(Ordering::Relaxed) as f64,
        );
    }
    e.family(
        "rdp_doctor_exporter_http_requests_total",
        "counter",
        "HTTP requests answered, by path.",
    );
    for (path, v) in [
        ("/probe", &c.http_probe),
        ("/metrics", &c.http_metrics),
        ("other", &c.http_other),
    ] {
        e.sample(
            "rdp_doctor_exporter_http_requests_total",
            &[("path", path)],
            v.load(Ordering::Relaxed) as f64,
        );
    }
    e.gauge(
        "rdp_doctor_exporter_probes_in_flight",
        "Probes running now.",
        c.in_flight.load(Ordering::Relaxed) as f64,
    );
    e.gauge(
        "rdp_doctor_exporter_max_concurrent_probes",
        "The configured bound on concurrent probes.",
        state.config.max_concurrent_probes as f64,
    );
    e.family(
        "rdp_doctor_exporter_build_info",
        "gauge",
        "The rdp-doctor version, as a label; the value is 1.",
    );
    e.sample(
        "rdp_doctor_exporter_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    e.gauge(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        state.started_unix as f64,
    );
    if let Some(rss) = resident_bytes() {
        e.gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            rss as f64,
        );
    }
    if let Ok(d) = std::fs::read_dir("/proc/self/fd") {
        e.gauge(
            "process_open_fds",
            "Number of open file descriptors.",
            d.count() as f64,
        );
    }
    if let Some(n) = super::scan::open_file_limit() {
        e.gauge(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            n as f64,
        );
    }
    e.text
}

/// VmRSS from /proc/self/status (Linux).
pub fn resident_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `rdp-doctor serve`: runs until Ctrl-C / SIGTERM. Exit 3 when it cannot start.
pub fn run_serve(a: ServeArgs) -> crate::model::Exit {
    let mut config = match config::load(&a.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rdp-doctor: {e}");
            return crate::model::Exit::Unknown;
        }
    };
    if let Some(l) = a.listen {
        config.listen = l;
    }
    let allow: Vec<String> = config
        .allow
        .cidrs
        .iter()
        .map(|(ip, l)| format!("{ip}/{l}"))
        .collect();
    let ports: Vec<String> = config
        .allow
        .ports
        .iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    let modules: Vec<String> = config.modules.keys().cloned().collect();
    if a.check_config {
        println!(
            "configuration OK: listen {}, modules {}, allow {} ports {}",
            config.listen,
            modules.join(", "),
            allow.join(", "),
            ports.join(",")
        );
        return crate::model::Exit::Ok;
    }
    if config.allow.cidrs.iter().any(|(_, l)| *l == 0) {
        eprintln!("rdp-doctor: warning: the allowlist contains a /0 block: the exporter will probe any address");
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rdp-doctor: cannot start the async runtime: {e}");
            return crate::model::Exit::Unknown;
        }
    };
    rt.block_on(async {
        let loopback = config.listen.ip().is_loopback();
        let running = match start(config).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("rdp-doctor: {e}");
                return crate::model::Exit::Unknown;
            }
        };
        eprintln!(
            "rdp-doctor exporter listening on http://{}/ ({}); modules: {}; allowlist: {} ports {}",
            running.addr,
            if loopback {
                "loopback only"
            } else {
                "REACHABLE FROM THE NETWORK"
            },
            modules.join(", "),
            allow.join(", "),
            ports.join(",")
        );
        wait_for_shutdown().await;
        eprintln!("rdp-doctor exporter stopping");
        drop(running);
        crate::model::Exit::Ok
    })
}

async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
