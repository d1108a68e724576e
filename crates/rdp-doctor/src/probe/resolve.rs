//! The resolve step: every A/AAAA address of the name through the system resolver.

use super::net;
use crate::facts::{ResolveFact, ResolveOutcome};
use crate::model::Target;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub async fn resolve(target: &Target, timeout: Duration) -> (ResolveFact, Vec<SocketAddr>) {
    let start = Instant::now();
    if let Ok(ip) = target.host.parse::<IpAddr>() {
        let addr = SocketAddr::new(ip, target.port);
        return (
            ResolveFact {
                duration_ms: 0.0,
                outcome: ResolveOutcome::Literal,
                addresses: vec![ip.to_string()],
                error: None,
            },
            vec![addr],
        );
    }
    let lookup = tokio::net::lookup_host((target.host.clone(), target.port));
    let (outcome, addrs, error) = match tokio::time::timeout(timeout, lookup).await {
        Err(_) => (
            ResolveOutcome::Timeout,
            Vec::new(),
            Some(format!(
                "no answer from the resolver within {} s",
                timeout.as_secs_f64()
            )),
        ),
        Ok(Ok(it)) => {
            let mut v: Vec<SocketAddr> = Vec::new();
            for a in it {
                if !v.contains(&a) {
                    v.push(a);
                }
            }
            if v.is_empty() {
                (
                    ResolveOutcome::NotFound,
                    v,
                    Some("the resolver returned no address".into()),
                )
            } else {
                (ResolveOutcome::Ok, v, None)
            }
        }
        Ok(Err(e)) => (classify(&e), Vec::new(), Some(e.to_string())),
    };
    (
        ResolveFact {
            duration_ms: net::ms(start.elapsed()),
            outcome,
            addresses: addrs.iter().map(|a| a.ip().to_string()).collect(),
            error,
        },
        addrs,
    )
}

fn classify(e: &std::io::Error) -> ResolveOutcome {
    if let Some(code) = e.raw_os_error() {
        // Windows: WSAHOST_NOT_FOUND 11001, WSATRY_AGAIN 11002, WSANO_DATA 11004
        match code {
            11001 | 11004 => return ResolveOutcome::NotFound,
            11002 => return ResolveOutcome::TemporaryFailure,
            _ => {}
        }
    }
    let m = e.to_string().to_ascii_lowercase();
    if m.contains("not known")
        || m.contains("no address associated")
        || m.contains("nodename nor servname")
        || m.contains("no such host")
    {
        ResolveOutcome::NotFound
    } else if m.contains("temporary failure") || m.contains("try again") {
        ResolveOutcome::TemporaryFailure
    } else {
        ResolveOutcome::Error
    }
}
