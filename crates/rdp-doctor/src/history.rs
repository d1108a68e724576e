//! `watch`'s model: a series of cheap samples (TCP, X.224, TLS + certificate) and the last full
//! check, reduced to per-phase statistics and a timeline of state changes. Pure: the runner
//! stamps the samples (milliseconds since the watch started) and hands them in; nothing here
//! reads a clock or a socket. Every buffer is bounded, so memory is flat however long it runs.

use crate::facts::{Facts, TcpOutcome, TlsOutcome, X224Outcome};
use crate::model::{Exit, Verdict};
use serde::Serialize;
use std::collections::VecDeque;

/// The phases a cheap sample measures, in connection order.
pub const PHASES: [SamplePhase; 3] = [SamplePhase::Tcp, SamplePhase::X224, SamplePhase::Tls];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SamplePhase {
    Tcp,
    X224,
    Tls,
}

impl SamplePhase {
    pub fn as_str(self) -> &'static str {
        match self {
            SamplePhase::Tcp => "tcp",
            SamplePhase::X224 => "x224",
            SamplePhase::Tls => "tls",
        }
    }
}

/// How one phase of one sample ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Step {
    /// Completed in `ms`.
    Ok { ms: f64 },
    /// No answer before the time-out (a lost probe).
    Lost { ms: f64 },
    /// An answer that ends the phase: refused, reset, an alert (server text escaped).
    Failed { ms: f64, why: String },
    /// Not reached: an earlier phase failed.
    Skipped,
}

impl Step {
    pub fn ok_ms(&self) -> Option<f64> {
        match self {
            Step::Ok { ms } => Some(*ms),
            _ => None,
        }
    }
    fn attempted(&self) -> bool {
        !matches!(self, Step::Skipped)
    }
}

/// Whether something accepts TCP connections on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Listener {
    Up,
    /// RST: nothing listens (or a firewall rejects).
    Refused,
    /// No answer to the SYN before the time-out.
    NoAnswer,
    /// ICMP unreachable.
    Unreachable,
    /// The name did not resolve.
    NoAddress,
    Error,
}

impl Listener {
    pub fn describe(self) -> &'static str {
        match self {
            Listener::Up => "listener up",
            Listener::Refused => "listener down (refused)",
            Listener::NoAnswer => "listener down (no answer)",
            Listener::Unreachable => "listener down (unreachable)",
            Listener::NoAddress => "name not resolved",
            Listener::Error => "listener down (error)",
        }
    }
}

/// The certificate a sample saw (the leaf), reduced to what changes matter for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertSeen {
    /// SHA-256 thumbprint, uppercase hex.
    pub sha256: String,
    pub days_left: i64,
    pub expired: bool,
    pub not_yet_valid: bool,
    /// Escaped.
    pub subject: String,
}

impl CertSeen {
    fn expiry(&self, warn_days: i64) -> Expiry {
        if self.not_yet_valid {
            Expiry::NotYetValid
        } else if self.expired {
            Expiry::Expired(-self.days_left)
        } else if self.days_left <= warn_days {
            Expiry::Soon(self.days_left)
        } else {
            Expiry::Valid
        }
    }

    /// The thumbprint's first 16 hex digits, enough to tell certificates apart on screen.
    pub fn short(&self) -> &str {
        self.sha256.get(..16).unwrap_or(&self.sha256)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    Valid,
    Soon(i64),
    Expired(i64),
    NotYetValid,
}

/// A sample for tests: TCP in `tcp_ms`, X.224 1 ms, TLS 4 ms, HYBRID_EX with NLA and no
/// certificate when `up`; refused when not.
#[cfg(test)]
pub(crate) fn test_sample(at_ms: u64, up: bool, tcp_ms: f64) -> Sample {
    let step = |ms: f64| if up { Step::Ok { ms } } else { Step::Skipped };
    Sample {
        at_ms,
        listener: if up { Listener::Up } else { Listener::Refused },
        tcp: if up {
            Step::Ok { ms: tcp_ms }
        } else {
            Step::Failed {
                ms: 0.1,
                why: "refused".into(),
            }
        },
        x224: step(1.0),
        tls: step(4.0),
        protocol: up.then(|| "HYBRID_EX".to_string()),
        nla: up.then_some(true),
        cert: None,
    }
}

/// One cheap sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// Milliseconds since the watch started.
    pub at_ms: u64,
    pub listener: Listener,
    pub tcp: Step,
    pub x224: Step,
    pub tls: Step,
    /// The protocol the server selected (`HYBRID_EX`), or its refusal (`failure
    /// SSL_NOT_ALLOWED_BY_SERVER`); `None` when it did not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Whether the selected protocol needs NLA (CredSSP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nla: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<CertSeen>,
}

impl Sample {
    pub fn step(&self, p: SamplePhase) -> &Step {
        match p {
            SamplePhase::Tcp => &self.tcp,
            SamplePhase::X224 => &self.x224,
            SamplePhase::Tls => &self.tls,
        }
    }

    /// The sample from the facts of a cheap probe run (`probe::sample`).
    pub fn from_facts(at_ms: u64, f: &Facts) -> Sample {
        use crate::sanitize::escape;
        let used = f
            .address_used
            .as_ref()
            .and_then(|a| f.addresses.iter().find(|x| &x.address == a))
            .or_else(|| f.addresses.first());
        let (listener, tcp) = match used.map(|a| &a.tcp) {
            None => (
                Listener::NoAddress,
                Step::Failed {
                    ms: f.resolve.as_ref().map(|r| r.duration_ms).unwrap_or(0.0),
                    why: "name not resolved".into(),
                },
            ),
            Some(TcpOutcome::Connected { duration_ms, .. }) => {
                (Listener::Up, Step::Ok { ms: *duration_ms })
            }
            Some(TcpOutcome::Refused { duration_ms }) => (
                Listener::Refused,
                Step::Failed {
                    ms: *duration_ms,
                    why: "refused".into(),
                },
            ),
            // Accepted, then reset at once: the listener refuses the session (an IPS, a
            // connection limit), which a user sees as a refusal.
            Some(TcpOutcome::Reset { duration_ms }) => (
                Listener::Refused,
                Step::Failed {
                    ms: *duration_ms,
                    why: "reset right after the handshake".into(),
                },
            ),
            Some(TcpOutcome::Filtered { timeout_ms }) => {
                (Listener::NoAnswer, Step::Lost { ms: *timeout_ms })
            }
            Some(TcpOutcome::Unreachable { duration_ms, .. }) => (
                Listener::Unreachable,
                Step::Failed {
                    ms: *duration_ms,
                    why: "unreachable".into(),
                },
            ),
            Some(TcpOutcome::Error { duration_ms, error }) => (
                Listener::Error,
                Step::Failed {
                    ms: *duration_ms,
                    why: escape(error),
                },
            ),
            Some(TcpOutcome::NotTried) => (Listener::Error, Step::Skipped),
        };
        let (x224, protocol, nla) = match &f.negotiation {
            None => (Step::Skipped, None, None),
            Some(n) => {
                let ms = n.duration_ms;
                match &n.response {
                    X224Outcome::Selected {
                        protocol,
                        protocol_name,
                        ..
                    } => (
                        Step::Ok { ms },
                        Some(escape(protocol_name)),
                        Some(protocol.needs_credssp()),
                    ),
                    X224Outcome::Legacy => (Step::Ok { ms }, Some("RDP (legacy)".into()), None),
                    X224Outcome::Failure { code, name } => (
                        Step::Ok { ms },
                        Some(format!(
                            "failure {}",
                            name.as_deref()
                                .map(escape)
                                .unwrap_or_else(|| format!("0x{code:x}"))
                        )),
                        None,
                    ),
                    X224Outcome::NoResponse { .. } | X224Outcome::Partial { .. } => {
                        (Step::Lost { ms }, None, None)
                    }
                    other => (
                        Step::Failed {
                            ms,
                            why: other.describe(),
                        },
                        None,
                        None,
                    ),
                }
            }
        };
        let tls = match &f.tls {
            None => Step::Skipped,
            Some(t) => match &t.outcome {
                TlsOutcome::Ok => Step::Ok { ms: t.duration_ms },
                TlsOutcome::Stalled => Step::Lost { ms: t.duration_ms },
                other => Step::Failed {
                    ms: t.duration_ms,
                    why: format!("{other:?}").to_lowercase(),
                },
            },
        };
        let cert = f.certificate.as_ref().map(|c| CertSeen {
            sha256: c.sha256.clone(),
            days_left: c.days_left,
            expired: c.expired,
            not_yet_valid: c.not_yet_valid,
            subject: escape(&c.subject),
        });
        Sample {
            at_ms,
            listener,
            tcp,
            x224,
            tls,
            protocol,
            nla,
            cert,
        }
    }
}

/// What the last full check concluded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FullSummary {
    pub at_ms: u64,
    pub verdict: Verdict,
    /// The first finding: id and title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<(String, String)>,
    pub findings: usize,
}

/// A ring buffer of fixed capacity: the oldest value goes when a new one comes.
#[derive(Debug, Clone)]
pub struct Ring<T> {
    cap: usize,
    items: VecDeque<T>,
}

impl<T> Ring<T> {
    pub fn new(cap: usize) -> Ring<T> {
        Ring {
            cap: cap.max(1),
            items: VecDeque::with_capacity(cap.max(1)),
        }
    }
    /// Adds `v`; returns whether an old value was dropped.
    pub fn push(&mut self, v: T) -> bool {
        let dropped = self.items.len() >= self.cap;
        if dropped {
            self.items.pop_front();
        }
        self.items.push_back(v);
        dropped
    }
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.items.iter()
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn capacity(&self) -> usize {
        self.cap
    }
    pub fn clear(&mut self) {
        self.items.clear();
    }
    pub fn last(&self) -> Option<&T> {
        self.items.back()
    }
}

/// Running statistics of one phase (since the start or the last reset) and its recent
/// latencies (`None` for a sample that did not complete the phase).
#[derive(Debug, Clone)]
pub struct PhaseStats {
    pub sent: u64,
    pub ok: u64,
    /// Time-outs among the attempts that did not complete.
    pub lost: u64,
    pub last: Option<f64>,
    pub best: Option<f64>,
    pub worst: Option<f64>,
    mean: f64,
    m2: f64,
    jitter_sum: f64,
    jitter_n: u64,
    prev: Option<f64>,
    pub recent: Ring<Option<f64>>,
}

impl PhaseStats {
    fn new(window: usize) -> PhaseStats {
        PhaseStats {
            sent: 0,
            ok: 0,
            lost: 0,
            last: None,
            best: None,
            worst: None,
            mean: 0.0,
            m2: 0.0,
            jitter_sum: 0.0,
            jitter_n: 0,
            prev: None,
            recent: Ring::new(window),
        }
    }

    fn record(&mut self, step: &Step) {
        if !step.attempted() {
            return;
        }
        self.sent += 1;
        let v = step.ok_ms();
        self.recent.push(v);
        if matches!(step, Step::Lost { .. }) {
            self.lost += 1;
        }
        let Some(x) = v else {
            return;
        };
        self.ok += 1;
        self.last = Some(x);
        self.best = Some(self.best.map_or(x, |b| b.min(x)));
        self.worst = Some(self.worst.map_or(x, |w| w.max(x)));
        // Welford's running mean and variance.
        let d = x - self.mean;
        self.mean += d / self.ok as f64;
        self.m2 += d * (x - self.mean);
        // Jitter: the mean absolute difference of consecutive completed samples.
        if let Some(p) = self.prev {
            self.jitter_sum += (x - p).abs();
            self.jitter_n += 1;
        }
        self.prev = Some(x);
    }

    /// Attempts that did not complete, in percent of the attempts.
    pub fn loss_pct(&self) -> f64 {
        if self.sent == 0 {
            0.0
        } else {
            (self.sent - self.ok) as f64 * 100.0 / self.sent as f64
        }
    }
    pub fn avg(&self) -> Option<f64> {
        (self.ok > 0).then_some(self.mean)
    }
    /// Population standard deviation of the completed samples.
    pub fn stdev(&self) -> Option<f64> {
        (self.ok > 0).then(|| (self.m2 / self.ok as f64).sqrt())
    }
    pub fn jitter(&self) -> Option<f64> {
        (self.jitter_n > 0).then(|| self.jitter_sum / self.jitter_n as f64)
    }
    /// The median of the recent completed samples.
    pub fn median(&self) -> Option<f64> {
        let mut v: Vec<f64> = self.recent.iter().flatten().copied().collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    }
}

/// Which state a timeline entry is about. One entry per state period: a new state of the same
/// kind ends the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Listener,
    Protocol,
    Nla,
    Certificate,
    Expiry,
    Loss,
    Latency,
    Verdict,
}

/// How bad a state is (Nagios-like).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warning,
    Critical,
}

impl Level {
    pub fn exit(self) -> Exit {
        match self {
            Level::Ok => Exit::Ok,
            Level::Warning => Exit::Warning,
            Level::Critical => Exit::Critical,
        }
    }
}

/// One state change: the state that began at `at_ms` and, once something replaced it, when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub at_ms: u64,
    pub kind: Kind,
    pub level: Level,
    /// One line (server text escaped).
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_ms: Option<u64>,
}

impl Change {
    /// How long the state lasted, or has lasted by `now_ms` while it goes on.
    pub fn duration_ms(&self, now_ms: u64) -> u64 {
        self.ended_ms.unwrap_or(now_ms).saturating_sub(self.at_ms)
    }
}

/// Limits and thresholds.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Recent latencies kept per phase (the sparklines).
    pub window: usize,
    /// Timeline entries kept (the oldest go first).
    pub timeline: usize,
    /// A certificate that expires within this many days is "about to expire".
    pub expiry_warning_days: i64,
    /// Consecutive lost samples that make a loss burst.
    pub loss_burst: u32,
    /// A latency this many times the recent median ...
    pub spike_factor: f64,
    /// ... and at least this many ms above it is a spike.
    pub spike_min_ms: f64,
    /// Completed samples of a phase before spikes are judged.
    pub spike_min_samples: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            window: 240,
            timeline: 200,
            expiry_warning_days: crate::cert::EXPIRY_WARNING_DAYS,
            loss_burst: 2,
            spike_factor: 3.0,
            spike_min_ms: 20.0,
            spike_min_samples: 5,
        }
    }
}

/// The whole watch state.
#[derive(Debug, Clone)]
pub struct History {
    pub cfg: Config,
    pub samples: u64,
    stats: [PhaseStats; 3],
    timeline: Ring<Change>,
    /// Timeline entries dropped to keep the buffer bounded.
    pub dropped: u64,
    pub last: Option<Sample>,
    pub full: Option<FullSummary>,
    pub fulls: u64,
    /// The worst level seen, and the level of the last sample (with the last full check).
    pub worst: Option<Level>,
    pub current: Option<Level>,
    listener: Option<Listener>,
    protocol: Option<String>,
    nla: Option<bool>,
    cert: Option<String>,
    expiry: Option<Expiry>,
    lost_run: u32,
    in_burst: bool,
    spike: Option<SamplePhase>,
    verdict: Option<(Verdict, Option<String>)>,
}

impl History {
    pub fn new(cfg: Config) -> History {
        History {
            cfg,
            samples: 0,
            stats: [
                PhaseStats::new(cfg.window),
                PhaseStats::new(cfg.window),
                PhaseStats::new(cfg.window),
            ],
            timeline: Ring::new(cfg.timeline),
            dropped: 0,
            last: None,
            full: None,
            fulls: 0,
            worst: None,
            current: None,
            listener: None,
            protocol: None,
            nla: None,
            cert: None,
            expiry: None,
            lost_run: 0,
            in_burst: false,
            spike: None,
            verdict: None,
        }
    }

    pub fn stats(&self, p: SamplePhase) -> &PhaseStats {
        match p {
            SamplePhase::Tcp => &self.stats[0],
            SamplePhase::X224 => &self.stats[1],
            SamplePhase::Tls => &self.stats[2],
        }
    }

    /// The timeline, oldest first.
    pub fn timeline(&self) -> impl DoubleEndedIterator<Item = &Change> + ExactSizeIterator {
        self.timeline.iter()
    }

    /// The time of the newest sample or full check.
    pub fn now_ms(&self) -> u64 {
        let s = self.last.as_ref().map_or(0, |s| s.at_ms);
        let f = self.full.as_ref().map_or(0, |f| f.at_ms);
        s.max(f)
    }

    /// Forgets the statistics (sent, loss, latencies, jitter, worst level); the timeline and
    /// the current states stay.
    pub fn reset_stats(&mut self) {
        let w = self.cfg.window;
        self.stats = [PhaseStats::new(w), PhaseStats::new(w), PhaseStats::new(w)];
        self.samples = 0;
        self.worst = self.current;
    }

    /// Ends the open period of `kind` and starts a new one; returns the new entry.
    fn change(&mut self, at_ms: u64, kind: Kind, level: Level, text: String) -> Change {
        for c in self.timeline.items.iter_mut().rev() {
            if c.kind == kind {
                if c.ended_ms.is_none() {
                    c.ended_ms = Some(at_ms);
                }
                break;
            }
        }
        let c = Change {
            at_ms,
            kind,
            level,
            text,
            ended_ms: None,
        };
        if self.timeline.push(c.clone()) {
            self.dropped += 1;
        }
        c
    }

    /// Ends the open period of `kind` without starting another (a burst or spike is over).
    fn end(&mut self, at_ms: u64, kind: Kind) {
        if let Some(c) = self
            .timeline
            .items
            .iter_mut()
            .rev()
            .find(|c| c.kind == kind)
        {
            if c.ended_ms.is_none() {
                c.ended_ms = Some(at_ms);
            }
        }
    }

    fn level_of(&self, s: &Sample) -> Level {
        let mut l = Level::Ok;
        if s.listener != Listener::Up {
            l = Level::Critical;
        }
        for st in [&s.tcp, &s.x224, &s.tls] {
            match st {
                Step::Failed { .. } => l = Level::Critical,
                Step::Lost { .. } => l = l.max(Level::Warning),
                _ => {}
            }
        }
        if let Some(c) = &s.cert {
            l = l.max(match c.expiry(self.cfg.expiry_warning_days) {
                Expiry::Valid => Level::Ok,
                Expiry::Soon(_) => Level::Warning,
                Expiry::Expired(_) | Expiry::NotYetValid => Level::Critical,
            });
        }
        l
    }

    fn note_level(&mut self, l: Level) {
        let l = match &self.full {
            Some(f) => l.max(verdict_level(f.verdict)),
            None => l,
        };
        self.current = Some(l);
        self.worst = Some(self.worst.map_or(l, |w| w.max(l)));
    }

    /// Adds a sample; returns the timeline entries it started.
    pub fn record(&mut self, s: Sample) -> Vec<Change> {
        let at = s.at_ms;
        let mut out = Vec::new();
        self.samples += 1;
        for (i, p) in PHASES.iter().enumerate() {
            if let Some(st) = self.stats.get_mut(i) {
                st.record(s.step(*p));
            }
        }
        if self.listener != Some(s.listener) {
            self.listener = Some(s.listener);
            let level = if s.listener == Listener::Up {
                Level::Ok
            } else {
                Level::Critical
            };
            out.push(self.change(at, Kind::Listener, level, s.listener.describe().into()));
        }
        if let Some(p) = &s.protocol {
            if self.protocol.as_ref() != Some(p) {
                let text = match &self.protocol {
                    Some(old) => format!("protocol {old} -> {p}"),
                    None => format!("protocol {p}"),
                };
                let level = if p.starts_with("failure") {
                    Level::Critical
                } else {
                    Level::Ok
                };
                self.protocol = Some(p.clone());
                out.push(self.change(at, Kind::Protocol, level, text));
            }
        }
        if let Some(n) = s.nla {
            if self.nla != Some(n) {
                let text = match (self.nla, n) {
                    (None, true) => "NLA required",
                    (None, false) => "NLA not required",
                    (Some(_), true) => "NLA switched on",
                    (Some(_), false) => "NLA switched off",
                };
                self.nla = Some(n);
                out.push(self.change(at, Kind::Nla, Level::Ok, text.into()));
            }
        }
        if let Some(c) = &s.cert {
            if self.cert.as_deref() != Some(c.sha256.as_str()) {
                let text = match &self.cert {
                    Some(old) => format!(
                        "certificate changed {} -> {}",
                        old.get(..16).unwrap_or(old),
                        c.short()
                    ),
                    None => format!("certificate {}", c.short()),
                };
                self.cert = Some(c.sha256.clone());
                out.push(self.change(at, Kind::Certificate, Level::Ok, text));
            }
            let e = c.expiry(self.cfg.expiry_warning_days);
            if self.expiry != Some(e) {
                let (level, text) = match e {
                    Expiry::Valid => (
                        Level::Ok,
                        format!("certificate valid ({} days left)", c.days_left),
                    ),
                    Expiry::Soon(d) => (
                        Level::Warning,
                        format!("certificate about to expire ({d} days left)"),
                    ),
                    Expiry::Expired(d) => (
                        Level::Critical,
                        format!("certificate expired ({d} days ago)"),
                    ),
                    Expiry::NotYetValid => {
                        (Level::Critical, "certificate not yet valid".to_string())
                    }
                };
                self.expiry = Some(e);
                out.push(self.change(at, Kind::Expiry, level, text));
            }
        }
        // Loss bursts: consecutive samples with a time-out in any phase.
        let lost = [&s.tcp, &s.x224, &s.tls]
            .iter()
            .any(|st| matches!(st, Step::Lost { .. }));
        if lost {
            self.lost_run += 1;
            if self.lost_run >= self.cfg.loss_burst {
                let text = format!("loss burst ({} probes lost)", self.lost_run);
                if self.in_burst {
                    // The open entry grows: same start, new count.
                    if let Some(c) = self
                        .timeline
                        .items
                        .iter_mut()
                        .rev()
                        .find(|c| c.kind == Kind::Loss)
                    {
                        c.text = text;
                    }
                } else {
                    self.in_burst = true;
                    // The burst began with its first lost sample; the runner's interval is
                    // not known here, so the start is this sample's.
                    out.push(self.change(at, Kind::Loss, Level::Warning, text));
                }
            }
        } else {
            self.lost_run = 0;
            if self.in_burst {
                self.in_burst = false;
                self.end(at, Kind::Loss);
            }
        }
        // Latency spikes: a completed phase far above its recent median.
        let mut spiking = None;
        for (i, p) in PHASES.iter().enumerate() {
            let Some(x) = s.step(*p).ok_ms() else {
                continue;
            };
            let Some(st) = self.stats.get(i) else {
                continue;
            };
            let n = st.recent.iter().flatten().count();
            if n < self.cfg.spike_min_samples {
                continue;
            }
            if let Some(m) = st.median() {
                if x > m * self.cfg.spike_factor && x > m + self.cfg.spike_min_ms {
                    spiking = Some((*p, x, m));
                    break;
                }
            }
        }
        match (spiking, self.spike) {
            (Some((p, x, m)), None) => {
                self.spike = Some(p);
                out.push(self.change(
                    at,
                    Kind::Latency,
                    Level::Warning,
                    format!("latency spike: {} {x:.1} ms (median {m:.1})", p.as_str()),
                ));
            }
            (None, Some(p)) if s.step(p).ok_ms().is_some() => {
                self.spike = None;
                self.end(at, Kind::Latency);
            }
            _ => {}
        }
        let level = self.level_of(&s);
        self.last = Some(s);
        self.note_level(level);
        out
    }

    /// Adds the result of a full check; returns the timeline entry when the verdict or the
    /// first finding changed.
    pub fn record_full(&mut self, f: FullSummary) -> Option<Change> {
        let key = (f.verdict, f.first.as_ref().map(|(id, _)| id.clone()));
        let at = f.at_ms;
        let text = match &f.first {
            Some((id, _)) => format!("full check: {} ({id})", f.verdict.as_str()),
            None => format!("full check: {}", f.verdict.as_str()),
        };
        let level = verdict_level(f.verdict);
        self.fulls += 1;
        self.full = Some(f);
        let changed = self.verdict.as_ref() != Some(&key);
        self.verdict = Some(key);
        let sample_level = self.last.as_ref().map_or(Level::Ok, |s| self.level_of(s));
        self.note_level(sample_level);
        changed.then(|| self.change(at, Kind::Verdict, level, text))
    }

    /// The exit status: the worst state seen (what `watch` returns), or UNKNOWN when nothing
    /// was measured.
    pub fn exit_worst(&self) -> Exit {
        self.worst.map_or(Exit::Unknown, Level::exit)
    }
}

fn verdict_level(v: Verdict) -> Level {
    match v {
        Verdict::Healthy => Level::Ok,
        Verdict::Degraded => Level::Warning,
        Verdict::Failing => Level::Critical,
    }
}

/// `1.5s`, `2m05s`, `1h02m`.
pub fn duration_label(ms: u64) -> String {
    let s = ms / 1000;
    if s < 60 {
        format!("{}.{}s", s, (ms % 1000) / 100)
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// `HH:MM:SS` (UTC) of `started_unix_ms + at_ms`.
pub fn clock_label(started_unix_ms: i64, at_ms: u64) -> String {
    let t = started_unix_ms.saturating_add(i64::try_from(at_ms).unwrap_or(i64::MAX)) / 1000;
    let day = t.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", day / 3600, (day % 3600) / 60, day % 60)
}

#[cfg(test)]
mod tests;
