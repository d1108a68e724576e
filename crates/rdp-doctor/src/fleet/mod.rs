//! Fleets: `scan` many endpoints (targets from arguments, files, ranges and CIDR blocks; a
//! bounded number in flight, a connection rate, a deadline per target) and `serve` a
//! Prometheus exporter in the blackbox_exporter shape. Both run the same `check` as the
//! single-host command; see `docs/fleet.md`.

pub mod exporter;
pub mod html;
pub mod output;
pub mod ratelimit;
pub mod scan;
pub mod targets;

use crate::cert::TrustStore;
use crate::facts::ClientProfile;
use crate::model::Exit;
use crate::render::Style;
use scan::{Depth, Event, ScanConfig};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The client whose connection a scan or a module models (`--sec` of `check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Client {
    /// What mstsc requests by default: TLS, CredSSP, CredSSP with early user authorization.
    Mstsc,
    /// CredSSP turned off: TLS only.
    Tls,
    /// Standard RDP Security only.
    Rdp,
    /// CredSSP only.
    Nla,
    /// CredSSP with early user authorization only.
    Ext,
}

impl Client {
    pub fn profile(self) -> ClientProfile {
        match self {
            Client::Mstsc => ClientProfile::mstsc(),
            Client::Tls => ClientProfile::with("tls", 0x01),
            Client::Rdp => ClientProfile::with("rdp", 0x00),
            Client::Nla => ClientProfile::with("nla", 0x02),
            Client::Ext => ClientProfile::with("ext", 0x08),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScanFormat {
    /// One row per target, then the summary.
    Table,
    /// One `check` JSON document per line, as each target finishes (summary on stderr).
    Jsonl,
    /// One row per target (summary on stderr).
    Csv,
}

#[derive(clap::Args, Debug)]
pub struct ScanArgs {
    /// Targets: HOST, HOST:PORTS, [IPv6]:PORTS, A.B.C.D-E.F.G.H, A.B.C.D-N, CIDR[:PORTS]
    /// (PORTS: 3389,3390 or 3389-3399).
    pub targets: Vec<String>,
    /// Read more targets from FILE (one per line, `#` comments; `-` for standard input).
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    pub input: Vec<PathBuf>,
    /// Ports for targets that name none (a list: 3389,3390 or 3389-3399).
    #[arg(short, long, default_value = "3389")]
    pub port: String,
    /// Depth: quick (TCP, X.224, TLS + certificate), standard (+ protocol enumeration: NLA
    /// and Standard RDP Security), full (everything `check` does).
    #[arg(long, value_enum, default_value_t = Depth::Standard)]
    pub depth: Depth,
    /// Same as --depth quick.
    #[arg(long, conflicts_with = "depth")]
    pub quick: bool,
    /// Targets checked at once (default: what the open-file limit allows, at most 128 per
    /// core).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: Option<u32>,
    /// New TCP connections per second (a target costs 1 at quick depth, 7 deeper).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Longest wait for one network step, in seconds.
    #[arg(long, default_value_t = 3.0)]
    pub timeout: f64,
    /// Deadline for each target's whole check, in seconds (default: the depth's steps times
    /// --timeout, plus 1).
    #[arg(long)]
    pub deadline: Option<f64>,
    /// How long to wait for an RDP-UDP answer at full depth, in seconds.
    #[arg(long, default_value_t = crate::probe::defaults::UDP_WAIT_S)]
    pub udp_timeout: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ScanFormat::Table)]
    pub format: ScanFormat,
    /// Also write a fleet page to FILE: one self-contained HTML file, the targets grouped by
    /// their first finding, worst first.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Trust the CA certificates in this PEM file instead of the system's roots.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// The client to model.
    #[arg(long = "sec", value_enum, default_value_t = Client::Mstsc)]
    pub sec: Client,
    /// Report certificates that expire within this many days.
    #[arg(long, default_value_t = crate::diagnose::defaults::EXPIRY_WARNING_DAYS)]
    pub expiry_warning_days: i64,
    /// Refuse to scan more endpoints than this (after expanding ranges and ports).
    #[arg(long, default_value_t = targets::DEFAULT_MAX_TARGETS)]
    pub max_targets: usize,
    /// Do not print the summary.
    #[arg(long)]
    pub no_summary: bool,
    /// No progress bar even when stderr is a terminal.
    #[arg(long)]
    pub no_progress: bool,
    /// Reach every target through this RD Gateway: its phases first, then the target's inside
    /// its tunnel, as `check --gateway` (port 443 when none is given).
    #[arg(long, value_name = "GW[:PORT]")]
    pub gateway: Option<String>,
    /// The gateway user; the password comes from RDP_DOCTOR_GATEWAY_PASSWORD or a prompt,
    /// never from the command line. Without it the scan stops at the gateway's 401.
    #[arg(long, value_name = "USER", requires = "gateway")]
    pub gateway_user: Option<String>,
}

/// The gateway password's environment variable (the same as `check --gateway-user`'s).
pub const GATEWAY_PASSWORD_ENV: &str = "RDP_DOCTOR_GATEWAY_PASSWORD";

/// `--gateway` / `--gateway-user` as the probe's options: one gateway for every target of the
/// scan, its credentials asked for once.
fn gateway_options(
    a: &ScanArgs,
) -> Result<Option<crate::probe::gateway::client::GatewayOptions>, String> {
    use crate::credentials::{self, Credentials};
    let Some(typed) = &a.gateway else {
        return Ok(None);
    };
    let target = crate::target::parse_target(typed, 443).map_err(|e| format!("--gateway: {e}"))?;
    let credentials = match &a.gateway_user {
        Some(u) => {
            let (domain, user) = credentials::parse_user(u)?;
            let shown = crate::sanitize::escape(u);
            let (password, _) = credentials::obtain_password(
                None,
                std::env::var(GATEWAY_PASSWORD_ENV).ok(),
                std::io::stdin().is_terminal(),
                || rpassword::prompt_password(format!("Gateway password for {shown}: ")),
            )?;
            Some(Arc::new(Credentials {
                domain,
                user,
                password,
            }))
        }
        None => None,
    };
    Ok(Some(crate::probe::gateway::client::GatewayOptions {
        target,
        credentials,
        token: None,
        pinned_sha256: None,
        insecure: false,
    }))
}

use crate::cli::{fail, runtime, seconds};

/// Validated scan settings and the expanded targets.
pub fn prepare(a: &ScanArgs) -> Result<(Vec<crate::model::Target>, ScanConfig), String> {
    let depth = if a.quick { Depth::Quick } else { a.depth };
    if a.max_targets == 0 || a.max_targets > targets::HARD_MAX_TARGETS {
        return Err(format!(
            "--max-targets must be between 1 and {}",
            targets::HARD_MAX_TARGETS
        ));
    }
    let ports = targets::parse_ports(&a.port).map_err(|e| format!("--port: {e}"))?;
    let mut specs: Vec<targets::Located> = a
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| targets::Located {
            origin: format!("argument {}", i + 1),
            text: t.clone(),
        })
        .collect();
    for f in &a.input {
        specs.extend(targets::read_file(f)?);
    }
    let list = targets::expand(&specs, &ports, a.max_targets)?;
    let gateway = gateway_options(a)?;
    let step_timeout = seconds(a.timeout, "--timeout")?;
    let udp_wait = seconds(a.udp_timeout, "--udp-timeout")?;
    let deadline = match a.deadline {
        Some(d) => seconds(d, "--deadline")?,
        // Through a gateway its own steps come first (TCP, TLS, HTTP, authentication, the
        // tunnel's three requests).
        None => {
            let gw_steps = if a.gateway.is_some() { 7 } else { 0 };
            step_timeout * (depth.steps() + gw_steps) + Duration::from_secs(1)
        }
    };
    let rate = match a.rate {
        Some(r) if !(r.is_finite() && r > 0.0 && r <= 1_000_000.0) => {
            return Err("--rate must be between 0 and 1000000 connections per second".into())
        }
        r => r,
    };
    let trust = match &a.ca {
        Some(p) => TrustStore::from_pem_file(p)?,
        None => TrustStore::system(),
    };
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut cfg = ScanConfig {
        depth,
        concurrency: 1,
        rate,
        deadline,
        step_timeout,
        udp_wait,
        client: a.sec.profile(),
        trust: Arc::new(trust),
        expiry_warning_days: a.expiry_warning_days,
        now_unix: crate::clock::now_unix(),
        gateway,
    };
    cfg.concurrency = match a.concurrency {
        Some(c) => c as usize,
        None => scan::default_concurrency(cfg.budget().sockets, scan::open_file_limit(), cores),
    };
    Ok((list, cfg))
}

/// `rdp-doctor scan`: returns the merged exit code (the highest of the targets': 0 healthy,
/// 1 warnings, 2 errors, 3 a target got no verdict or the scan could not run).
pub fn run_scan(a: ScanArgs, style: Style) -> Exit {
    let (list, cfg) = match prepare(&a) {
        Ok(v) => v,
        Err(e) => return fail(&e),
    };
    if let Some(p) = &a.html {
        if let Err(e) = crate::bundle::check_writable(p, "--html") {
            return fail(&e);
        }
    }
    let keep_rows = a.html.is_some() || a.format != ScanFormat::Jsonl;
    let rt = match runtime() {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let total = list.len();
    let stderr_tty = std::io::stderr().is_terminal();
    let stdout_tty = std::io::stdout().is_terminal();
    crate::render::fit::set_width(crate::render::fit::output_width(stdout_tty));
    let bar = if stderr_tty && !a.no_progress {
        let pb = indicatif::ProgressBar::with_draw_target(
            Some(total as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(st) = indicatif::ProgressStyle::with_template(
            "{spinner} {pos}/{len} [{bar:30}] {rate}/s eta {eta} {msg}",
        ) {
            pb.set_style(st.progress_chars("=> ").with_key(
                "rate",
                |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0}", s.per_sec());
                },
            ));
        }
        pb
    } else {
        indicatif::ProgressBar::hidden()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut rows: Vec<output::Row> = Vec::new();
    let mut sum = output::Summary::default();
    let mut write_err: Option<std::io::Error> = None;
    let (mut healthy, mut degraded, mut failing) = (0usize, 0usize, 0usize);
    let mut lowered_to: Option<usize> = None;
    let format = a.format;
    let stats = rt.block_on(async {
        let stop2 = stop.clone();
        let ctrl_c = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop2.store(true, Ordering::Relaxed);
            }
        });
        let stats = scan::run(list, &cfg, stop.clone(), |ev| match ev {
            Event::ConcurrencyLowered(n) => {
                if lowered_to.is_none() {
                    bar.suspend(|| {
                        eprintln!(
                            "rdp-doctor: warning: out of file descriptors (ulimit -n is {}): lowering the concurrency and retrying the affected targets",
                            scan::open_file_limit().map(|l| l.to_string()).unwrap_or_else(|| "?".into())
                        )
                    });
                }
                lowered_to = Some(n);
            }
            Event::Done(r) => {
                sum.add(&r);
                if let scan::Outcome::Report(rep) = &r.outcome {
                    match rep.verdict {
                        crate::model::Verdict::Healthy => healthy += 1,
                        crate::model::Verdict::Degraded => degraded += 1,
                        crate::model::Verdict::Failing => failing += 1,
                    }
                }
                bar.inc(1);
                if stderr_tty {
                    bar.set_message(format!("{healthy} ok {degraded} warn {failing} fail"));
                }
                if keep_rows {
                    rows.push(output::Row::from_result(&r));
                }
                match format {
                    ScanFormat::Jsonl => {
                        if write_err.is_none() {
                            let res = if stdout_tty {
                                bar.suspend(|| output::jsonl(&r, &mut out).and_then(|_| out.flush()))
                            } else {
                                output::jsonl(&r, &mut out)
                            };
                            if let Err(e) = res {
                                stop.store(true, Ordering::Relaxed);
                                write_err = Some(e);
                            }
                        }
                    }
                    ScanFormat::Table | ScanFormat::Csv => {}
                }
            }
        })
        .await;
        ctrl_c.abort();
        stats
    });
    bar.finish_and_clear();
    if let Some(n) = lowered_to {
        eprintln!(
            "rdp-doctor: the scan ended with concurrency {n} (asked: {}); raise `ulimit -n` or pass --concurrency {n}",
            cfg.concurrency
        );
    }
    rows.sort_by_key(|r| r.index);
    let res = match format {
        ScanFormat::Table => output::table(&rows, style, crate::render::fit::width(), &mut out)
            .and_then(|_| {
                if a.no_summary {
                    Ok(())
                } else {
                    writeln!(out)?;
                    output::summary(&sum, &stats, style, &mut out)
                }
            }),
        ScanFormat::Csv => output::csv(&rows, &mut out),
        ScanFormat::Jsonl => Ok(()),
    }
    .and_then(|_| out.flush());
    let res = match write_err {
        Some(e) => Err(e),
        None => res,
    };
    if let Err(e) = res {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return fail(&format!("cannot write the results: {e}"));
        }
    }
    if format != ScanFormat::Table && !a.no_summary {
        let mut err = std::io::stderr().lock();
        let estyle = Style {
            color: style.color && stderr_tty,
        };
        let _ = output::summary(&sum, &stats, estyle, &mut err);
    }
    if let Some(p) = &a.html {
        let mut page = Vec::new();
        let now = crate::cert::rfc3339(crate::clock::now_unix());
        let written = html::render(&rows, &sum, &stats, &now, &mut page)
            .and_then(|_| crate::bundle::write_atomic(p, &page));
        match written {
            Ok(()) => eprintln!("fleet page written to {}", p.display()),
            Err(e) => {
                return fail(&format!(
                    "cannot write {}: {e}",
                    crate::sanitize::escape(&p.display().to_string())
                ))
            }
        }
    }
    let merged = match sum.exit_code {
        0 => Exit::Ok,
        1 => Exit::Warning,
        2 => Exit::Critical,
        _ => Exit::Unknown,
    };
    if stats.interrupted || sum.targets == 0 {
        return Exit::Unknown;
    }
    merged
}

pub use exporter::{run_serve, ServeArgs};
