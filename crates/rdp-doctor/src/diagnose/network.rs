//! Rules for name resolution, TCP reachability and the network path.

use super::{ms, Context};
use crate::facts::{Facts, LossMethod, ResolveOutcome, TcpOutcome, UnreachableKind};
use crate::kb::Hit;
use crate::sanitize::escape;

pub fn resolve(f: &Facts, ctx: &Context, hits: &mut Vec<Hit>) {
    let Some(r) = &f.resolve else { return };
    let what = match r.outcome {
        ResolveOutcome::Ok | ResolveOutcome::Literal => return,
        ResolveOutcome::NotFound => "the name does not exist (NXDOMAIN or no A/AAAA record)",
        ResolveOutcome::TemporaryFailure => {
            "the resolver could not be reached or did not answer (temporary failure)"
        }
        ResolveOutcome::Timeout => "the resolver did not answer in time",
        ResolveOutcome::Error => "the resolver failed",
    };
    let mut h = Hit::new("dns-unresolved").evidence(format!(
        "looking up '{}' failed after {}: {what}",
        escape(&ctx.target.host),
        ms(r.duration_ms)
    ));
    if let Some(e) = &r.error {
        h = h.evidence(format!("resolver said: {}", escape(e)));
    }
    hits.push(h);
}

fn describe(o: &TcpOutcome) -> String {
    match o {
        TcpOutcome::Connected {
            duration_ms,
            syn_retransmits,
        } => match syn_retransmits {
            Some(n) if *n > 0 => format!(
                "connected in {} after {n} SYN retransmission{}",
                ms(*duration_ms),
                if *n == 1 { "" } else { "s" }
            ),
            _ => format!("connected in {}", ms(*duration_ms)),
        },
        TcpOutcome::Refused { duration_ms } => {
            format!(
                "refused (RST or ICMP port unreachable) after {}",
                ms(*duration_ms)
            )
        }
        TcpOutcome::Filtered { timeout_ms } => format!("no answer within {}", ms(*timeout_ms)),
        TcpOutcome::Reset { duration_ms } => format!(
            "the server completed the handshake and reset the connection (RST) before any data was sent, {} after the SYN",
            ms(*duration_ms)
        ),
        TcpOutcome::Unreachable {
            duration_ms,
            kind: UnreachableKind::AdminProhibited,
            error,
        } => format!(
            "rejected as administratively prohibited (a firewall on the path) after {} ({})",
            ms(*duration_ms),
            escape(error)
        ),
        TcpOutcome::Unreachable {
            duration_ms,
            kind,
            error,
        } => format!(
            "{kind} unreachable after {} ({})",
            ms(*duration_ms),
            escape(error)
        ),
        TcpOutcome::Error { error, .. } => format!("error: {}", escape(error)),
        TcpOutcome::NotTried => "not tried".into(),
    }
}

pub fn tcp(f: &Facts, ctx: &Context, hits: &mut Vec<Hit>) {
    if f.addresses.is_empty() {
        return;
    }
    let port = ctx.target.port;
    let evidence: Vec<String> = f
        .addresses
        .iter()
        .map(|a| format!("TCP {}:{port}: {}", fmt_addr(&a.address), describe(&a.tcp)))
        .collect();
    let connected: Vec<&str> = f
        .addresses
        .iter()
        .filter(|a| a.tcp.is_connected())
        .map(|a| a.address.as_str())
        .collect();
    if !connected.is_empty() {
        let dead: Vec<&crate::facts::AddressFact> = f
            .addresses
            .iter()
            .filter(|a| !a.tcp.is_connected())
            .collect();
        if !dead.is_empty() {
            let mut h = Hit::new("address-unreachable");
            for e in &evidence {
                h = h.evidence(e.clone());
            }
            if let Some(first) = f.addresses.first().filter(|a| !a.tcp.is_connected()) {
                h = h.evidence(format!(
                    "the dead address {} comes first in the resolver's answer: clients that try the addresses in order wait for it to fail or time out before they try {}",
                    fmt_addr(&first.address),
                    connected.first().map(|a| fmt_addr(a)).unwrap_or_default()
                ));
            }
            h = h.evidence(format!(
                "working address: {} (connect to it directly until the dead one is fixed)",
                connected.join(", ")
            ));
            hits.push(h);
        }
        return;
    }
    // Nothing connected: the first address's outcome names the cause; all are evidence.
    let id = match f.addresses.first().map(|a| &a.tcp) {
        Some(TcpOutcome::Refused { .. }) => "tcp-refused",
        Some(TcpOutcome::Filtered { .. }) => "tcp-filtered",
        Some(TcpOutcome::Unreachable { .. }) => "tcp-unreachable",
        // The listener accepted and reset at once: the same refusal as a reset of the X.224
        // request, which it is whenever the RST arrives a moment after connect() returned.
        Some(TcpOutcome::Reset { .. }) => "x224-reset",
        // A local socket error: report as unreachable with the error as evidence.
        _ => "tcp-unreachable",
    };
    let mut h = Hit::new(id);
    for e in evidence {
        h = h.evidence(e);
    }
    hits.push(h);
}

fn fmt_addr(a: &str) -> String {
    if a.contains(':') {
        format!("[{a}]")
    } else {
        a.to_string()
    }
}

pub fn path(f: &Facts, ctx: &Context, hits: &mut Vec<Hit>) {
    let Some(p) = &f.path else { return };
    if let Some(median) = p.rtt_median_ms {
        if median > ctx.latency_threshold_ms {
            let mut h = Hit::new("high-latency").evidence(format!(
                "median TCP connect (one round trip) {} over {} connects without retransmission (min {}, max {}{}); threshold {}",
                ms(median),
                p.rtt_samples_ms.len(),
                ms(p.rtt_min_ms.unwrap_or(median)),
                ms(p.rtt_max_ms.unwrap_or(median)),
                p.jitter_ms
                    .map(|j| format!(", jitter {}", ms(j)))
                    .unwrap_or_default(),
                ms(ctx.latency_threshold_ms)
            ));
            h = h.evidence(format!(
                "an RDP connection with NLA needs about 8 round trips before the logon screen: about {} at this latency, before any server time, which brings security negotiation close to client time-outs",
                ms(median * 8.0)
            ));
            hits.push(h);
        }
    }
    let lost = p.loss.as_ref().map_or(0, |l| l.total().lost);
    if p.lossy_connects() > 0 || lost > 0 {
        let total = p.connects().max(1);
        let mut h = Hit::new("packet-loss");
        if p.slow_connects > 0 {
            let times: Vec<String> = p.lossy_connects_ms.iter().take(8).map(|v| ms(*v)).collect();
            h = h.evidence(format!(
                "{} of {} TCP connects lost their SYN or SYN+ACK and waited for a retransmission ({}; the first retransmission time-out is 1 s)",
                p.slow_connects,
                total,
                times.join(", ")
            ));
        }
        if p.failed_connects > 0 {
            h = h.evidence(format!(
                "{} of {} TCP connects got no answer while other connects to the same port were answered: their SYN or SYN+ACK was lost (loss, not a firewall)",
                p.failed_connects, total
            ));
        }
        if let Some(l) = &p.loss {
            h = h.evidence(format!(
                "{}: SYNs {} of {}, data segments {} of {} on {} connection{} ({})",
                l.summary(),
                l.syns.lost,
                l.syns.sent,
                l.segments.lost,
                l.segments.sent,
                l.connections,
                if l.connections == 1 { "" } else { "s" },
                match l.method {
                    LossMethod::KernelCounters => "the kernel's TCP counters: each lost one was sent again after its retransmission time-out; duplicates the server reported not counted",
                    LossMethod::ConnectTimes => "from connect times: the OS gives no counters, so only SYNs are counted",
                }
            ));
            if l.segments.lost == 0 && l.syns.lost > 0 && l.segments.sent > 0 {
                h = h.evidence(format!(
                    "only SYNs were lost, none of the {} data segments: a listener whose accept queue is full (a busy server, many connections at once) drops SYNs too, which looks the same from here",
                    l.segments.sent
                ));
            }
            if l.total().sent < 100 {
                h = h.evidence(format!(
                    "how sure: the loss itself is certain (the kernel had to send again), its rate is known only within {} from {} transmissions; --samples 20 measures it more closely",
                    l.interval(),
                    l.total().sent
                ));
            }
        }
        // Half or more of the connects losing their SYN, or a loss rate surely above 10 %,
        // means connection attempts are likely to stall past client time-outs.
        let heavy = p.loss.as_ref().is_some_and(|l| l.rate_low >= 0.10);
        if heavy || p.lossy_connects() * 2 >= total && total >= 2 {
            h = h
                .severity(crate::model::Severity::Error)
                .evidence("loss this heavy makes connection attempts stall or fail".to_string());
        }
        hits.push(h);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::ids;
    use crate::facts::*;

    fn with_tcp(outcomes: Vec<(&str, TcpOutcome)>) -> Facts {
        Facts {
            resolve: Some(ResolveFact {
                duration_ms: 1.0,
                outcome: ResolveOutcome::Ok,
                addresses: outcomes.iter().map(|(a, _)| a.to_string()).collect(),
                error: None,
            }),
            addresses: outcomes
                .into_iter()
                .map(|(a, t)| AddressFact {
                    address: a.into(),
                    tcp: t,
                })
                .collect(),
            ..Facts::default()
        }
    }

    #[test]
    fn dns_failure() {
        let f = Facts {
            resolve: Some(ResolveFact {
                duration_ms: 3.0,
                outcome: ResolveOutcome::NotFound,
                addresses: vec![],
                error: Some("Name or service not known".into()),
            }),
            ..Facts::default()
        };
        assert_eq!(ids(&f, "nosuch.example"), ["dns-unresolved"]);
    }

    #[test]
    fn tcp_outcomes_are_distinct_findings() {
        let refused = with_tcp(vec![("10.0.0.1", TcpOutcome::Refused { duration_ms: 1.0 })]);
        assert_eq!(ids(&refused, "srv"), ["tcp-refused"]);
        let filtered = with_tcp(vec![(
            "10.0.0.1",
            TcpOutcome::Filtered { timeout_ms: 3000.0 },
        )]);
        assert_eq!(ids(&filtered, "srv"), ["tcp-filtered"]);
        let unreach = with_tcp(vec![(
            "10.0.0.1",
            TcpOutcome::Unreachable {
                duration_ms: 2.0,
                kind: UnreachableKind::Host,
                error: "No route to host".into(),
            },
        )]);
        assert_eq!(ids(&unreach, "srv"), ["tcp-unreachable"]);
        // Accepted, then reset before connect() returned: the listener refusing the session,
        // the same finding as a reset of the X.224 request (never an ICMP error).
        let reset = with_tcp(vec![("10.0.0.1", TcpOutcome::Reset { duration_ms: 0.2 })]);
        assert_eq!(ids(&reset, "srv"), ["x224-reset"]);
        let e = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(
            crate::probe::net::classify_connect_error(&e, std::time::Duration::from_millis(1)),
            TcpOutcome::Reset { duration_ms: 1.0 }
        );
    }

    #[test]
    fn a_dead_address_next_to_a_working_one() {
        let f = with_tcp(vec![
            ("2001:db8::5", TcpOutcome::Filtered { timeout_ms: 3000.0 }),
            (
                "10.0.0.5",
                TcpOutcome::Connected {
                    duration_ms: 1.0,
                    syn_retransmits: Some(0),
                },
            ),
        ]);
        let d = super::super::diagnose(&f, &super::super::testutil::ctx("srv"));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].id, "address-unreachable");
        assert!(d[0]
            .evidence
            .iter()
            .any(|e| e.contains("[2001:db8::5]:3389: no answer")));
        assert!(d[0]
            .evidence
            .iter()
            .any(|e| e.contains("working address: 10.0.0.5")));
        assert!(d[0]
            .evidence
            .iter()
            .any(|e| e.contains("[2001:db8::5] comes first")));
    }

    #[test]
    fn an_icmpv6_admin_prohibited_names_the_firewall() {
        // Linux reports ICMPv6 "administratively prohibited" on connect as EACCES.
        let e = std::io::Error::from_raw_os_error(13);
        let o = crate::probe::net::classify_connect_error(&e, std::time::Duration::from_millis(2));
        if cfg!(target_os = "linux") {
            assert!(
                matches!(
                    &o,
                    TcpOutcome::Unreachable {
                        kind: UnreachableKind::AdminProhibited,
                        ..
                    }
                ),
                "{o:?}"
            );
            let f = with_tcp(vec![("fd00::1", o)]);
            let d = super::super::diagnose(&f, &super::super::testutil::ctx("srv"));
            assert_eq!(d[0].id, "tcp-unreachable");
            assert!(
                d[0].evidence[0].contains("administratively prohibited"),
                "{:?}",
                d[0].evidence
            );
        }
    }

    #[test]
    fn latency_and_loss() {
        let mut f = Facts {
            path: Some(crate::probe::path_fact(&[210.0, 205.0, 1210.0, 207.0])),
            ..Facts::default()
        };
        let got = ids(&f, "srv");
        assert!(got.contains(&"high-latency".to_string()), "{got:?}");
        assert!(got.contains(&"packet-loss".to_string()), "{got:?}");
        f.path = Some(crate::probe::path_fact(&[1.0, 1.2, 0.9]));
        assert!(ids(&f, "srv").is_empty());
    }

    #[test]
    fn loss_alone_is_not_latency() {
        use crate::probe::{path_fact_from, ConnectSample};
        // Measured through a router dropping 30 % of packets (0.1 ms path): before the lossy
        // connects were set apart, the median connect was 1.02 s and `high-latency` fired.
        let c = |ms, n| ConnectSample {
            ms,
            syn_retransmits: Some(n),
        };
        let f = Facts {
            path: Some(path_fact_from(&[
                c(1031.8, 1),
                c(0.15, 0),
                c(1014.8, 1),
                c(2051.8, 2),
                c(0.07, 0),
                c(2031.9, 2),
            ])),
            ..Facts::default()
        };
        let d = super::super::diagnose(&f, &super::super::testutil::ctx("srv"));
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].id, "packet-loss");
        assert_eq!(d[0].severity, crate::model::Severity::Error);
        assert!(
            d[0].evidence[0].starts_with("4 of 6 TCP connects lost"),
            "{:?}",
            d[0].evidence
        );
    }

    fn with_loss(syns: (u32, u32), segments: (u32, u32)) -> Facts {
        use crate::probe::loss::Counter;
        use crate::probe::ConnectSample;
        let mut c = Counter::default();
        for i in 0..syns.0 {
            c.connect(&ConnectSample {
                ms: 0.2,
                syn_retransmits: Some(u32::from(i < syns.1)),
            });
        }
        let st = rdp_doctor_sys::TcpStats {
            total_retransmits: segments.1,
            data_segments_sent: Some(segments.0),
            ..Default::default()
        };
        c.connection(Some(&st), Some(0));
        Facts {
            path: Some(crate::facts::PathFact {
                loss: c.fact(),
                ..crate::probe::path_fact(&[0.2])
            }),
            ..Facts::default()
        }
    }

    #[test]
    fn the_loss_rate_is_evidence_with_its_interval() {
        let ctx = super::super::testutil::ctx("srv");
        // No loss in 40 transmissions: no finding.
        assert!(super::super::diagnose(&with_loss((10, 0), (30, 0)), &ctx).is_empty());
        // 3 of 40 lost: a warning that says how sure it is.
        let d = super::super::diagnose(&with_loss((10, 1), (30, 2)), &ctx);
        assert_eq!(d[0].id, "packet-loss");
        assert_eq!(d[0].severity, crate::model::Severity::Warning);
        let ev = d[0].evidence.join("\n");
        assert!(
            ev.contains("3 of 41 transmissions lost: 7.3 % (95 % confidence 2.5-19 %)"),
            "{ev}"
        );
        assert!(
            ev.contains("SYNs 1 of 11, data segments 2 of 30 on 1 connection ("),
            "{ev}"
        );
        assert!(ev.contains("known only within 2.5-19 % from 41"), "{ev}");
        assert!(ev.contains("how sure:"), "{ev}");
        assert!(!ev.contains("only SYNs"), "{ev}");
        // 12 of 40 lost: surely above 10 %, an error.
        let d = super::super::diagnose(&with_loss((10, 2), (30, 10)), &ctx);
        assert_eq!(d[0].severity, crate::model::Severity::Error);
        // Only SYNs lost: the finding says a full accept queue looks the same.
        let d = super::super::diagnose(&with_loss((10, 1), (30, 0)), &ctx);
        assert!(d[0].evidence.join(" ").contains("only SYNs were lost"));
        // Many transmissions: no "how sure" advice.
        let d = super::super::diagnose(&with_loss((100, 5), (400, 10)), &ctx);
        assert!(!d[0].evidence.join(" ").contains("how sure"));
    }
}
