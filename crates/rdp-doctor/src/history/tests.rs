#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::*;

fn up(at_ms: u64, tcp: f64) -> Sample {
    Sample {
        at_ms,
        listener: Listener::Up,
        tcp: Step::Ok { ms: tcp },
        x224: Step::Ok { ms: 1.0 },
        tls: Step::Ok { ms: 3.0 },
        protocol: Some("HYBRID_EX".into()),
        nla: Some(true),
        cert: Some(cert("AA", 300)),
    }
}

fn cert(prefix: &str, days_left: i64) -> CertSeen {
    CertSeen {
        sha256: format!("{prefix}{}", "0".repeat(62)),
        days_left,
        expired: days_left < 0,
        not_yet_valid: false,
        subject: "CN=lab".into(),
    }
}

fn refused(at_ms: u64) -> Sample {
    Sample {
        at_ms,
        listener: Listener::Refused,
        tcp: Step::Failed {
            ms: 0.1,
            why: "refused".into(),
        },
        x224: Step::Skipped,
        tls: Step::Skipped,
        protocol: None,
        nla: None,
        cert: None,
    }
}

fn lost(at_ms: u64) -> Sample {
    Sample {
        listener: Listener::NoAnswer,
        tcp: Step::Lost { ms: 1000.0 },
        x224: Step::Skipped,
        tls: Step::Skipped,
        protocol: None,
        nla: None,
        cert: None,
        ..up(at_ms, 0.0)
    }
}

fn texts(h: &History) -> Vec<(u64, String, Option<u64>)> {
    h.timeline()
        .map(|c| (c.at_ms, c.text.clone(), c.ended_ms))
        .collect()
}

#[test]
fn first_sample_records_the_initial_states() {
    let mut h = History::new(Config::default());
    let new = h.record(up(0, 1.0));
    let kinds: Vec<Kind> = new.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        vec![
            Kind::Listener,
            Kind::Protocol,
            Kind::Nla,
            Kind::Certificate,
            Kind::Expiry
        ]
    );
    // The same states again: nothing new.
    assert!(h.record(up(1000, 1.0)).is_empty());
    assert_eq!(h.exit_worst(), Exit::Ok);
}

#[test]
fn listener_down_and_up_with_durations() {
    let mut h = History::new(Config::default());
    for t in 0..5 {
        h.record(up(t * 1000, 1.0));
    }
    for t in 5..8 {
        h.record(refused(t * 1000));
    }
    h.record(up(8000, 1.0));
    let listener: Vec<_> = h
        .timeline()
        .filter(|c| c.kind == Kind::Listener)
        .cloned()
        .collect();
    assert_eq!(listener.len(), 3);
    assert_eq!(listener[0].text, "listener up");
    assert_eq!(listener[0].duration_ms(8000), 5000);
    assert_eq!(listener[1].text, "listener down (refused)");
    assert_eq!(listener[1].level, Level::Critical);
    assert_eq!(
        listener[1].duration_ms(99_999),
        3000,
        "ended when it came back"
    );
    assert_eq!(listener[2].ended_ms, None, "still up");
    assert_eq!(listener[2].duration_ms(12_000), 4000);
    // The protocol and certificate did not change while it was down: no entries.
    assert_eq!(h.timeline().filter(|c| c.kind == Kind::Protocol).count(), 1);
    assert_eq!(h.exit_worst(), Exit::Critical, "worst seen");
    assert_eq!(h.current, Some(Level::Ok), "last state");
}

#[test]
fn certificate_change_and_expiry() {
    let mut h = History::new(Config::default());
    h.record(up(0, 1.0));
    let mut s = up(1000, 1.0);
    s.cert = Some(cert("BB", -35));
    let new = h.record(s);
    let t: Vec<&str> = new.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(
        t,
        vec![
            "certificate changed AA00000000000000 -> BB00000000000000",
            "certificate expired (35 days ago)"
        ]
    );
    let mut s = up(2000, 1.0);
    s.cert = Some(cert("CC", 10));
    let new = h.record(s);
    assert_eq!(new[1].text, "certificate about to expire (10 days left)");
    assert_eq!(new[1].level, Level::Warning);
    assert_eq!(h.current, Some(Level::Warning));
    assert_eq!(h.exit_worst(), Exit::Critical);
    let expiry: Vec<_> = texts(&h)
        .into_iter()
        .filter(|(_, t, _)| t.starts_with("certificate expired"))
        .collect();
    assert_eq!(
        expiry,
        vec![(1000, "certificate expired (35 days ago)".into(), Some(2000))]
    );
}

#[test]
fn protocol_set_and_nla_switch() {
    let mut h = History::new(Config::default());
    h.record(up(0, 1.0));
    let mut s = up(1000, 1.0);
    s.protocol = Some("SSL".into());
    s.nla = Some(false);
    let new = h.record(s);
    let t: Vec<&str> = new.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(t, vec!["protocol HYBRID_EX -> SSL", "NLA switched off"]);
}

#[test]
fn loss_burst_grows_and_ends() {
    let mut h = History::new(Config::default());
    h.record(up(0, 1.0));
    assert!(h.record(lost(1000)).is_empty() || h.timeline().all(|c| c.kind != Kind::Loss));
    h.record(lost(2000));
    h.record(lost(3000));
    h.record(up(4000, 1.0));
    let loss: Vec<_> = h
        .timeline()
        .filter(|c| c.kind == Kind::Loss)
        .cloned()
        .collect();
    assert_eq!(loss.len(), 1);
    assert_eq!(loss[0].text, "loss burst (3 probes lost)");
    assert_eq!(loss[0].at_ms, 2000);
    assert_eq!(loss[0].ended_ms, Some(4000));
    // One lost sample alone is no burst.
    h.record(lost(5000));
    h.record(up(6000, 1.0));
    assert_eq!(h.timeline().filter(|c| c.kind == Kind::Loss).count(), 1);
    let tcp = h.stats(SamplePhase::Tcp);
    assert_eq!((tcp.sent, tcp.ok, tcp.lost), (7, 3, 4));
    assert!((tcp.loss_pct() - 400.0 / 7.0).abs() < 1e-9);
}

#[test]
fn statistics_math() {
    let mut h = History::new(Config::default());
    for (i, v) in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0].iter().enumerate() {
        h.record(up(i as u64 * 1000, *v));
    }
    h.record(refused(9000));
    let s = h.stats(SamplePhase::Tcp);
    assert_eq!(s.sent, 9);
    assert_eq!(s.ok, 8);
    assert!((s.loss_pct() - 100.0 / 9.0).abs() < 1e-9);
    assert_eq!(s.avg(), Some(5.0));
    assert!((s.stdev().unwrap() - 2.0).abs() < 1e-9, "population stdev");
    assert_eq!((s.best, s.worst, s.last), (Some(2.0), Some(9.0), Some(9.0)));
    // |4-2| + 0 + 0 + |5-4| + 0 + |7-5| + |9-7| = 7 over 7 differences.
    assert!((s.jitter().unwrap() - 1.0).abs() < 1e-9);
    // X.224 was not attempted on the refused sample: not counted.
    assert_eq!(h.stats(SamplePhase::X224).sent, 8);
    h.reset_stats();
    assert_eq!(h.stats(SamplePhase::Tcp).sent, 0);
    assert_eq!(h.stats(SamplePhase::Tcp).avg(), None);
    assert!(h.timeline().count() > 0, "the timeline stays");
}

#[test]
fn latency_spike_starts_and_ends() {
    let mut h = History::new(Config::default());
    for t in 0..6 {
        h.record(up(t * 1000, 1.0));
    }
    let new = h.record(up(6000, 80.0));
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].text, "latency spike: tcp 80.0 ms (median 1.0)");
    assert!(h.record(up(7000, 90.0)).is_empty(), "one entry per spike");
    h.record(up(8000, 1.0));
    let spike = h.timeline().find(|c| c.kind == Kind::Latency).unwrap();
    assert_eq!(spike.duration_ms(0), 2000);
    // Small absolute changes on a fast path are not spikes.
    let n = h.timeline().count();
    h.record(up(9000, 5.0));
    assert_eq!(h.timeline().count(), n);
}

#[test]
fn full_check_verdict_changes() {
    let mut h = History::new(Config::default());
    h.record(up(0, 1.0));
    let f = |at_ms, verdict, id: Option<&str>| FullSummary {
        at_ms,
        verdict,
        first: id.map(|i| (i.to_string(), "title".to_string())),
        findings: usize::from(id.is_some()),
    };
    let c = h.record_full(f(10, Verdict::Healthy, None)).unwrap();
    assert_eq!(c.text, "full check: healthy");
    assert!(h.record_full(f(20, Verdict::Healthy, None)).is_none());
    let c = h
        .record_full(f(30, Verdict::Failing, Some("cert-expired")))
        .unwrap();
    assert_eq!(c.text, "full check: failing (cert-expired)");
    assert_eq!(h.current, Some(Level::Critical));
    assert_eq!(h.fulls, 3);
}

#[test]
fn memory_is_bounded() {
    let cfg = Config {
        window: 16,
        timeline: 8,
        ..Config::default()
    };
    let mut h = History::new(cfg);
    for t in 0..10_000u64 {
        let s = if t % 2 == 0 { up(t, 1.0) } else { refused(t) };
        h.record(s);
    }
    assert_eq!(h.stats(SamplePhase::Tcp).recent.len(), 16);
    assert_eq!(h.timeline().count(), 8);
    assert!(h.dropped > 9_000);
    assert_eq!(h.stats(SamplePhase::Tcp).sent, 10_000);
}

#[test]
fn nothing_measured_is_unknown() {
    assert_eq!(History::new(Config::default()).exit_worst(), Exit::Unknown);
}

#[test]
fn labels() {
    assert_eq!(duration_label(1500), "1.5s");
    assert_eq!(duration_label(125_000), "2m05s");
    assert_eq!(duration_label(3_720_000), "1h02m");
    assert_eq!(clock_label(86_400_000 + 3_600_000, 61_000), "01:01:01");
}
