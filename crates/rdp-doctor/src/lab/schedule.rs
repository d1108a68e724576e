//! `lab --schedule 'healthy:5s,refused:3s,cert-expired:4s'`: one endpoint whose fault changes
//! while it runs, in a loop, so that `watch` (its tests and its demo) sees a server that flaps.
//!
//! A step is a fault of the table (`faults.rs`) or `refused`: the lab closes its listening
//! socket, so the kernel answers connection attempts with a RST, as when TermService stops,
//! and binds the same address again for the next step. Connections accepted during a step
//! finish with that step's fault. UDP keeps the first fault's behaviour.

use super::{certs, conn, udp, Fault, Shared};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// What the endpoint does during one step.
#[derive(Debug, Clone, Copy)]
pub enum StepKind {
    Fault(Fault),
    /// Nothing listens: connection attempts are refused (RST).
    Refused,
}

impl StepKind {
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Fault(f) => f.name(),
            StepKind::Refused => "refused",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub kind: StepKind,
    pub duration: Duration,
}

/// Most steps in one schedule.
pub const MAX_STEPS: usize = 64;
/// Shortest and longest step.
pub const MIN_STEP: Duration = Duration::from_millis(100);
pub const MAX_STEP: Duration = Duration::from_secs(24 * 3600);

/// Parses `NAME:DURATION[,NAME:DURATION...]`; a duration is `500ms`, `5s`, `2m` or `1h`.
pub fn parse(spec: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, dur) = part.rsplit_once(':').ok_or_else(|| {
            format!(
                "schedule step '{}': expected NAME:DURATION, e.g. healthy:5s",
                crate::sanitize::escape(part)
            )
        })?;
        let kind = if name == "refused" {
            StepKind::Refused
        } else {
            StepKind::Fault(Fault::parse(name).ok_or_else(|| {
                format!(
                    "schedule: unknown fault '{}' (a fault of lab --list, or refused)",
                    crate::sanitize::escape(name)
                )
            })?)
        };
        let duration = parse_duration(dur).ok_or_else(|| {
            format!(
                "schedule step '{}': a duration such as 500ms, 5s, 2m or 1h, from 100ms to 24h",
                crate::sanitize::escape(part)
            )
        })?;
        steps.push(Step { kind, duration });
        if steps.len() > MAX_STEPS {
            return Err(format!("schedule: at most {MAX_STEPS} steps"));
        }
    }
    if steps.is_empty() {
        return Err("schedule: no steps (e.g. healthy:5s,refused:3s)".into());
    }
    if steps.iter().all(|s| matches!(s.kind, StepKind::Refused)) {
        return Err("schedule: every step is refused; give at least one fault".into());
    }
    Ok(steps)
}

fn parse_duration(s: &str) -> Option<Duration> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))?;
    let v: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        _ => return None,
    };
    let d = Duration::try_from_secs_f64(secs).ok()?;
    (MIN_STEP..=MAX_STEP).contains(&d).then_some(d)
}

/// The schedule as given, for logs: `healthy:5s,refused:3s`.
pub fn describe(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| format!("{}:{}s", s.kind.name(), s.duration.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(",")
}

/// A running scheduled endpoint; dropping it stops it.
pub struct Scheduled {
    pub addr: SocketAddr,
    pub ca_pem: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Scheduled {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Binds `addr` (port 0: the kernel's choice, kept for every later step) and runs the
/// schedule in a loop. `names`: the certificates' names (default localhost and the address).
pub async fn start(
    addr: SocketAddr,
    steps: Vec<Step>,
    names: Vec<String>,
    log: bool,
) -> Result<Scheduled, String> {
    let ca = certs::LabCa::generate()?;
    let mut names = names;
    if names.is_empty() {
        names.push("localhost".into());
    }
    let ip = addr.ip().to_string();
    if !names.contains(&ip) && !addr.ip().is_unspecified() {
        names.push(ip);
    }
    let (listener, udp_sock, addr) = super::bind_pair(addr).await?;
    // One endpoint state per distinct fault, made up front (certificates are generated once).
    let mut made: Vec<(&'static str, Arc<Shared>)> = Vec::new();
    let mut per_step = Vec::new();
    for s in &steps {
        let StepKind::Fault(fault) = s.kind else {
            per_step.push(None);
            continue;
        };
        if let Some((_, sh)) = made.iter().find(|(n, _)| *n == fault.name()) {
            per_step.push(Some(sh.clone()));
            continue;
        }
        let behaviour = fault.behaviour();
        let key = certs::leaf_for(&behaviour.cert, &ca, &names)?;
        let spki = key
            .cert
            .first()
            .and_then(|c| crate::probe::auth::subject_public_key(c.as_ref()))
            .unwrap_or_default();
        let sh = Arc::new(Shared {
            fault,
            behaviour,
            tls: Some(super::tls_config(key)?),
            log,
            addr,
            spki,
            users: vec![super::session::LabUser::new(
                super::DEFAULT_USER,
                "",
                super::DEFAULT_PASSWORD,
            )],
        });
        made.push((fault.name(), sh.clone()));
        per_step.push(Some(sh));
    }
    let mut tasks = Vec::new();
    if let Some((_, first)) = made.first() {
        let first = first.clone();
        tasks.push(tokio::spawn(
            async move { udp::serve(udp_sock, first).await },
        ));
    }
    let plan: Vec<(Step, Option<Arc<Shared>>)> = steps.into_iter().zip(per_step).collect();
    tasks.push(tokio::spawn(run(listener, addr, plan, log)));
    Ok(Scheduled {
        addr,
        ca_pem: ca.pem,
        tasks,
    })
}

async fn run(
    listener: TcpListener,
    addr: SocketAddr,
    plan: Vec<(Step, Option<Arc<Shared>>)>,
    log: bool,
) {
    let mut listener = Some(listener);
    loop {
        for (step, shared) in &plan {
            let deadline = tokio::time::Instant::now() + step.duration;
            if log {
                eprintln!(
                    "lab schedule: {addr} now {} for {:.1}s",
                    step.kind.name(),
                    step.duration.as_secs_f64()
                );
            }
            let Some(shared) = shared else {
                // Close the listening socket: the kernel refuses (RST) from now on.
                listener = None;
                tokio::time::sleep_until(deadline).await;
                continue;
            };
            while listener.is_none() && tokio::time::Instant::now() < deadline {
                match TcpListener::bind(addr).await {
                    Ok(l) => listener = Some(l),
                    Err(e) => {
                        if log {
                            eprintln!("lab schedule: cannot listen on {addr} again: {e}");
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            let Some(l) = &listener else {
                continue;
            };
            loop {
                tokio::select! {
                    r = l.accept() => {
                        if let Ok((stream, peer)) = r {
                            let s = shared.clone();
                            tokio::spawn(async move { conn::serve(stream, peer, s).await });
                        }
                    }
                    _ = tokio::time::sleep_until(deadline) => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn parses_schedules() {
        let s = parse("healthy:5s, refused:300ms,cert-expired:2m").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].kind.name(), "healthy");
        assert_eq!(s[1].kind.name(), "refused");
        assert_eq!(s[1].duration, Duration::from_millis(300));
        assert_eq!(s[2].duration, Duration::from_secs(120));
        assert_eq!(describe(&s), "healthy:5s,refused:0.3s,cert-expired:120s");
        for bad in [
            "",
            "healthy",
            "healthy:5",
            "healthy:5x",
            "nope:5s",
            "healthy:10ms",
            "healthy:25h",
            "refused:5s",
            "healthy:-1s",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let long = vec!["healthy:1s"; MAX_STEPS + 1].join(",");
        assert!(parse(&long).is_err());
    }

    #[test]
    fn refused_step_closes_the_listener_and_reopens_it() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let steps = parse("healthy:400ms,refused:400ms").unwrap();
            let lab = start("127.0.0.1:0".parse().unwrap(), steps, vec![], false)
                .await
                .unwrap();
            // Observe the listener over two cycles: it must accept at some point and refuse
            // at another, and accept again after a refusal.
            let mut seen = Vec::new();
            for _ in 0..32 {
                let ok = tokio::net::TcpStream::connect(lab.addr).await.is_ok();
                if seen.last() != Some(&ok) {
                    seen.push(ok);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(
                seen.windows(3).any(|w| w == [true, false, true]),
                "accepted, refused, accepted again: {seen:?}"
            );
        });
    }
}
