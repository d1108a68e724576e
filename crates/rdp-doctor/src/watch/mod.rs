//! `rdp-doctor watch HOST`: cheap samples (TCP, X.224, TLS + certificate, `probe::sample`)
//! every `--interval`, a full check (`check::check_with`) every `--full-every`, reduced by the
//! pure model (`history`) to statistics and a timeline of state changes. Shown live in a
//! terminal UI (`tui`), or, off a terminal or with `--report`, summarised at the end
//! (`summary`) or streamed as JSON Lines (`--format jsonl`).
//!
//! Exit status: the worst state seen during the run (0 OK, 1 WARNING: lost probes, a
//! certificate about to expire, a degraded full check; 2 CRITICAL: the listener down, a phase
//! failed, an expired certificate, a failing full check; 3 nothing was measured).

pub mod summary;
pub mod tui;

use crate::cert::TrustStore;
use crate::diagnose::Context;
use crate::history::{Config, FullSummary, History, Sample};
use crate::model::Exit;
use crate::probe::CheckOptions;
use crate::render::Style;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(clap::Args, Debug)]
pub struct WatchArgs {
    /// The server: HOST, HOST:PORT or [IPv6]:PORT.
    pub target: String,
    /// Port, when not given in TARGET.
    #[arg(short, long, default_value_t = 3389)]
    pub port: u16,
    /// Seconds between cheap samples (TCP, X.224, TLS + certificate).
    #[arg(long, default_value_t = 1.0)]
    pub interval: f64,
    /// Seconds between full checks (every phase, the findings); 0: only one, at the start.
    #[arg(long, default_value_t = 30.0)]
    pub full_every: f64,
    /// Stop after N samples (default: run until q or Ctrl-C).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub cycles: Option<u64>,
    /// No live view: print an mtr-style summary at the end (the default off a terminal).
    #[arg(long)]
    pub report: bool,
    /// Output off the live view: text (the summary) or jsonl (one JSON line per sample,
    /// state change and full check, as they happen).
    #[arg(long, value_enum, default_value_t = WatchFormat::Text)]
    pub format: WatchFormat,
    /// Longest wait for one network step, in seconds.
    #[arg(long, default_value_t = crate::probe::defaults::STEP_TIMEOUT_S)]
    pub timeout: f64,
    /// Trust the CA certificates in this PEM file instead of the system's roots.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// A certificate that expires within this many days is "about to expire".
    #[arg(long, default_value_t = crate::diagnose::defaults::EXPIRY_WARNING_DAYS)]
    pub expiry_warning_days: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum WatchFormat {
    Text,
    Jsonl,
}

/// What the loop hears about.
pub(crate) enum Msg {
    Sample(u64, Box<crate::probe::ProbeRun>),
    Full(u64, Box<crate::report::Report>),
    Key(tui::Key),
    Redraw,
    Interrupt,
}

/// The settings of one watch, validated.
pub struct Plan {
    pub label: String,
    pub interval: Duration,
    pub full_every: Option<Duration>,
    pub cycles: Option<u64>,
    pub opts: CheckOptions,
    pub ctx: Context,
    pub cfg: Config,
}

fn plan(a: &WatchArgs) -> Result<Plan, String> {
    let target = crate::target::parse_target(&a.target, a.port)?;
    let interval = crate::cli::seconds(a.interval, "--interval")?;
    if interval < Duration::from_millis(100) {
        return Err("--interval must be at least 0.1 seconds".into());
    }
    let full_every = if a.full_every == 0.0 {
        None
    } else {
        Some(crate::cli::seconds(a.full_every, "--full-every")?)
    };
    let timeout = crate::cli::seconds(a.timeout, "--timeout")?;
    let trust = match &a.ca {
        Some(p) => TrustStore::from_pem_file(p)?,
        None => TrustStore::system(),
    };
    let opts = CheckOptions {
        timeout,
        ..CheckOptions::new(target.clone(), Arc::new(trust))
    };
    let label = crate::sanitize::escape(&format!("{}:{}", target.host, target.port));
    let mut ctx = Context::new(target);
    ctx.expiry_warning_days = a.expiry_warning_days;
    let cfg = Config {
        expiry_warning_days: a.expiry_warning_days,
        ..Config::default()
    };
    Ok(Plan {
        label,
        interval,
        full_every,
        cycles: a.cycles,
        opts,
        ctx,
        cfg,
    })
}

/// Runs `watch`; the exit status is the worst state seen.
pub fn run(a: WatchArgs, style: Style) -> Exit {
    let p = match plan(&a) {
        Ok(p) => p,
        Err(e) => return crate::cli::fail(&e),
    };
    let live = !a.report && a.format == WatchFormat::Text && std::io::stdout().is_terminal();
    // One thread: a sample is a few sockets a second, and the UI waits on the same loop.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return crate::cli::fail(&format!("cannot start the async runtime: {e}")),
    };
    if live {
        match tui::run(&rt, p, style) {
            Ok(exit) => exit,
            Err(e) => crate::cli::fail(&format!("terminal: {e}")),
        }
    } else {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let (exit, written) = rt.block_on(report(p, a.format, &mut out));
        match written.and_then(|_| out.flush()) {
            Ok(()) => exit,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit,
            Err(e) => crate::cli::fail(&format!("cannot write the output: {e}")),
        }
    }
}

/// The loop's state shared by the live view and the report: the model, the tasks in flight,
/// the schedule.
pub(crate) struct Engine {
    pub plan: Plan,
    pub history: History,
    pub started: tokio::time::Instant,
    pub started_unix_ms: i64,
    pub tx: mpsc::Sender<Msg>,
    sample_busy: bool,
    full_busy: bool,
    pub next_sample: tokio::time::Instant,
    next_full: Option<tokio::time::Instant>,
    pub sampled: u64,
    /// The last full check, rendered for humans (the live view's details).
    pub details: Vec<String>,
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Engine {
    pub fn new(plan: Plan, tx: mpsc::Sender<Msg>) -> Engine {
        let now = tokio::time::Instant::now();
        Engine {
            history: History::new(plan.cfg),
            next_full: Some(now),
            plan,
            started: now,
            started_unix_ms: unix_ms(),
            tx,
            sample_busy: false,
            full_busy: false,
            next_sample: now,
            sampled: 0,
            details: Vec::new(),
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether every requested sample was taken (and the full check in flight came back).
    pub fn done(&self) -> bool {
        self.plan
            .cycles
            .is_some_and(|n| self.sampled >= n && !self.sample_busy && !self.full_busy)
    }

    /// Starts what is due: a sample at its time (one at a time), a full check at its time.
    /// Returns the instant of the next thing due.
    pub fn start_due(&mut self, paused: bool) -> tokio::time::Instant {
        let now = tokio::time::Instant::now();
        let more = self.plan.cycles.is_none_or(|n| self.sampled < n);
        if !paused && more && !self.sample_busy && now >= self.next_sample {
            self.sample_busy = true;
            self.sampled += 1;
            let at = self.elapsed_ms();
            let opts = self.plan.opts.clone();
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let run = crate::probe::sample(&opts).await;
                let _ = tx.send(Msg::Sample(at, Box::new(run))).await;
            });
            // The next sample an interval after this one started; after a slow sample
            // (a time-out) the schedule slips instead of bunching up.
            self.next_sample = (self.next_sample + self.plan.interval).max(now);
        }
        if let Some(when) = self.next_full.filter(|w| !paused && more && now >= *w) {
            if !self.full_busy {
                self.full_busy = true;
                let at = self.elapsed_ms();
                let opts = CheckOptions {
                    now_unix: crate::clock::now_unix(),
                    ..self.plan.opts.clone()
                };
                let ctx = self.plan.ctx.clone();
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let r = crate::check::check(&opts, &ctx).await;
                    let _ = tx.send(Msg::Full(at, Box::new(r))).await;
                });
                self.next_full = self.plan.full_every.map(|e| (when + e).max(now));
            }
        }
        // Wake for what can start; a result in flight wakes the loop by its message.
        let mut next = now + Duration::from_secs(3600);
        if !paused && more {
            if !self.sample_busy {
                next = next.min(self.next_sample);
            }
            if let Some(f) = self.next_full.filter(|_| !self.full_busy) {
                next = next.min(f);
            }
        }
        next.max(now + Duration::from_millis(10))
    }

    /// Feeds a result to the model; returns the JSON lines it makes.
    pub fn absorb(&mut self, msg: Msg) -> Vec<serde_json::Value> {
        let mut lines = Vec::new();
        match msg {
            Msg::Sample(at, run) => {
                self.sample_busy = false;
                let s = Sample::from_facts(at, &run.facts);
                lines.push(summary::sample_json(self.started_unix_ms, &s));
                for c in self.history.record(s) {
                    lines.push(summary::change_json(self.started_unix_ms, &c));
                }
            }
            Msg::Full(at, report) => {
                self.full_busy = false;
                let f = FullSummary {
                    at_ms: at,
                    verdict: report.verdict,
                    first: report
                        .findings
                        .first()
                        .map(|f| (f.id.clone(), f.title.clone())),
                    findings: report.findings.len(),
                };
                lines.push(summary::full_json(self.started_unix_ms, &f));
                let mut text = Vec::new();
                let plain = Style { color: false };
                if crate::render::render(&report, crate::render::Format::Human, plain, &mut text)
                    .is_ok()
                {
                    self.details = String::from_utf8_lossy(&text)
                        .lines()
                        .take(MAX_DETAIL_LINES)
                        .map(str::to_string)
                        .collect();
                }
                if let Some(c) = self.history.record_full(f) {
                    lines.push(summary::change_json(self.started_unix_ms, &c));
                }
            }
            Msg::Key(_) | Msg::Redraw | Msg::Interrupt => {}
        }
        lines
    }
}

/// The details view keeps at most this many lines of the full check's report.
const MAX_DETAIL_LINES: usize = 400;

/// Off the live view: runs until `--cycles` or Ctrl-C, streaming JSON lines or printing the
/// summary at the end.
async fn report(p: Plan, format: WatchFormat, out: &mut dyn Write) -> (Exit, std::io::Result<()>) {
    let (tx, mut rx) = mpsc::channel(64);
    let itx = tx.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = itx.send(Msg::Interrupt).await;
        }
    });
    let mut e = Engine::new(p, tx);
    let mut written = Ok(());
    loop {
        if e.done() {
            break;
        }
        let next = e.start_due(false);
        let msg = tokio::select! {
            m = rx.recv() => m,
            _ = tokio::time::sleep_until(next) => continue,
        };
        let Some(msg) = msg else { break };
        if matches!(msg, Msg::Interrupt) {
            break;
        }
        let lines = e.absorb(msg);
        if format == WatchFormat::Jsonl && written.is_ok() {
            for l in lines {
                written = writeln!(out, "{l}").and_then(|_| out.flush());
                if written.is_err() {
                    break;
                }
            }
            // A closed pipe ends the watch.
            if written.is_err() {
                break;
            }
        }
    }
    if format == WatchFormat::Text {
        written = summary::write(&e.history, &e.plan.label, e.started_unix_ms, out);
    }
    (e.history.exit_worst(), written)
}
