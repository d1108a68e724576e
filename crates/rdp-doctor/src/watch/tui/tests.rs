#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::*;
use crate::history::{CertSeen, Config, FullSummary, Sample};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn sample(at_ms: u64, up: bool, cert: &str, days: i64) -> Sample {
    Sample {
        cert: up.then(|| CertSeen {
            sha256: format!("{cert}{}", "0".repeat(62)),
            days_left: days,
            expired: days < 0,
            not_yet_valid: false,
            subject: "CN=lab".into(),
        }),
        ..crate::history::test_sample(at_ms, up, 0.2 + (at_ms % 7) as f64 / 10.0)
    }
}

fn flapping() -> History {
    let mut h = History::new(Config::default());
    for t in 0..40u64 {
        let s = match t % 12 {
            0..=4 => sample(t * 1000, true, "AA", 300),
            5..=7 => sample(t * 1000, false, "", 0),
            _ => sample(t * 1000, true, "BB", -35),
        };
        h.record(s);
    }
    h.record_full(FullSummary {
        at_ms: 39_000,
        verdict: crate::model::Verdict::Failing,
        first: Some((
            "cert-expired".into(),
            "The server's certificate has expired".into(),
        )),
        findings: 1,
    });
    h
}

fn screen(h: &History, view: &View, w: u16, rows: u16, details: &[String]) -> String {
    let mut t = Terminal::new(TestBackend::new(w, rows)).unwrap();
    let s = Screen {
        label: "127.0.0.1:33389",
        started_unix_ms: 0,
        details,
    };
    t.draw(|f| draw(f, h, view, &s)).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn view() -> View {
    View {
        interval_s: 1.0,
        ..View::default()
    }
}

#[test]
fn layout_80x24_shows_every_part() {
    let h = flapping();
    let s = screen(&h, &view(), 80, 24, &[]);
    for want in [
        "rdp-doctor watch 127.0.0.1:33389",
        "verdict: FAILING  cert-expired",
        "now: listener up | HYBRID_EX | NLA | cert AA00000000000000 (300 d)",
        "tcp ",
        "x224",
        "tls ",
        "timeline (UTC)",
        "listener down (refused)",
        "certificate changed",
        "certificate expired (35 days ago)",
        "q quit  p pause",
    ] {
        assert!(s.contains(want), "missing {want:?} in\n{s}");
    }
    // Lost samples show in the TCP sparkline as x.
    let tcp = s.lines().find(|l| l.starts_with("│tcp")).unwrap();
    assert!(tcp.contains('x'), "{tcp}");
    assert!(s.lines().all(|l| l.chars().count() == 80));
}

#[test]
fn layout_120x40_shows_more_timeline() {
    let h = flapping();
    let small = screen(&h, &view(), 80, 24, &[]);
    let big = screen(&h, &view(), 120, 40, &[]);
    let count = |s: &str| s.matches("listener ").count();
    assert!(count(&big) > count(&small), "{big}");
    assert!(big.contains("full check: failing (cert-expired)"));
}

#[test]
fn tiny_sizes_do_not_panic() {
    let h = flapping();
    let mut v = view();
    for (w, r) in [(1, 1), (10, 3), (20, 5), (40, 8), (0, 0)] {
        let _ = screen(&h, &v, w.max(1), r.max(1), &[]);
        v.details = true;
        let _ = screen(&h, &v, w.max(1), r.max(1), &["x".repeat(300)]);
        v.details = false;
    }
    let empty = History::new(Config::default());
    let s = screen(&empty, &v, 80, 24, &[]);
    assert!(s.contains("first sample running"));
}

#[test]
fn keys_pause_scroll_details_reset_quit() {
    let mut h = flapping();
    let mut v = view();
    assert!(v.key(Key::Pause, &mut h));
    assert!(screen(&h, &v, 80, 24, &[]).contains("PAUSED"));
    v.key(Key::Pause, &mut h);
    // Scrolling back shows older entries and says how far.
    let newest = screen(&h, &v, 80, 24, &[]);
    for _ in 0..5 {
        v.key(Key::Up, &mut h);
    }
    let back = screen(&h, &v, 80, 24, &[]);
    assert!(back.contains("timeline (UTC), 5 back"));
    assert_ne!(newest, back);
    for _ in 0..1000 {
        v.key(Key::Up, &mut h);
    }
    assert!(v.scroll < h.timeline().len());
    v.key(Key::PageDown, &mut h);
    // Details.
    v.key(Key::Details, &mut h);
    let d = screen(
        &h,
        &v,
        80,
        24,
        &["DETAIL-LINE-1".into(), "DETAIL-LINE-2".into()],
    );
    assert!(
        d.contains("last full check") && d.contains("DETAIL-LINE-1"),
        "{d}"
    );
    v.key(Key::Down, &mut h);
    let d = screen(
        &h,
        &v,
        80,
        24,
        &["DETAIL-LINE-1".into(), "DETAIL-LINE-2".into()],
    );
    assert!(!d.contains("DETAIL-LINE-1") && d.contains("DETAIL-LINE-2"));
    v.key(Key::Details, &mut h);
    // Reset.
    v.key(Key::Reset, &mut h);
    assert_eq!(h.stats(SamplePhase::Tcp).sent, 0);
    assert!(!v.key(Key::Quit, &mut h));
}

#[test]
fn no_color_means_no_colour() {
    let h = flapping();
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let s = Screen {
        label: "x",
        started_unix_ms: 0,
        details: &[],
    };
    t.draw(|f| draw(f, &h, &view(), &s)).unwrap();
    let buf = t.backend().buffer().clone();
    assert!(buf.content.iter().all(|c| c.fg == Color::Reset));
    let coloured = View {
        color: true,
        ..view()
    };
    t.draw(|f| draw(f, &h, &coloured, &s)).unwrap();
    let buf = t.backend().buffer().clone();
    assert!(buf.content.iter().any(|c| c.fg == Color::Red));
}

#[test]
fn crossterm_keys_map() {
    use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
    let k = |c| KeyEvent::new(c, KeyModifiers::NONE);
    assert_eq!(key_of(&k(KeyCode::Char('q'))), Some(Key::Quit));
    assert_eq!(key_of(&k(KeyCode::Char('p'))), Some(Key::Pause));
    assert_eq!(key_of(&k(KeyCode::Char('r'))), Some(Key::Reset));
    assert_eq!(key_of(&k(KeyCode::Char('d'))), Some(Key::Details));
    assert_eq!(key_of(&k(KeyCode::Up)), Some(Key::Up));
    assert_eq!(key_of(&k(KeyCode::Down)), Some(Key::Down));
    assert_eq!(key_of(&k(KeyCode::Char('z'))), None);
    assert_eq!(
        key_of(&KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Some(Key::Quit)
    );
    let mut rel = k(KeyCode::Char('q'));
    rel.kind = KeyEventKind::Release;
    assert_eq!(key_of(&rel), None);
}
