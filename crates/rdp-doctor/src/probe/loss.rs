//! Counting loss from the client's own transmissions (see [`LossFact`]): the SYNs of the
//! connects that measure the path and the data segments of every established connection,
//! each either answered or sent again. Pure: the counts come from the kernel's counters read
//! by the caller.

use super::ConnectSample;
use crate::facts::{LossFact, LossMethod, Tally};
use rdp_doctor_sys::TcpStats;
use std::time::Duration;

/// The loss counts of one check, added up connection by connection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counter {
    syns: Tally,
    segments: Tally,
    connections: u32,
    /// Whether any count came from the kernel rather than from connect times.
    kernel: bool,
}

impl Counter {
    /// A connect that was answered: its SYN was sent `1 + retransmissions` times and the last
    /// one was answered. Without the kernel's count, a connect of 1 s or more lost one SYN per
    /// retransmission time-out it waited.
    pub fn connect(&mut self, c: &ConnectSample) {
        let lost = match c.syn_retransmits {
            Some(n) => {
                self.kernel = true;
                n
            }
            None => syns_sent_within(Duration::from_secs_f64(c.ms.max(0.0) / 1000.0)) - 1,
        };
        self.syns.add(Tally {
            sent: lost.saturating_add(1),
            lost,
        });
    }

    /// A connect that got no answer within `waited` while other connects to the same port
    /// were answered: every SYN it sent was lost.
    pub fn unanswered(&mut self, waited: Duration) {
        let n = syns_sent_within(waited);
        self.syns.add(Tally { sent: n, lost: n });
    }

    /// The data segments of an established connection, from the kernel's counters read when
    /// the connection was done; `syn_retransmits` is what its connect counted, so the rest
    /// of the retransmissions were data. Retransmissions the server reported as duplicates
    /// (D-SACK) were a late ACK, not a loss.
    pub fn connection(&mut self, stats: Option<&TcpStats>, syn_retransmits: Option<u32>) {
        let Some(st) = stats else { return };
        let Some(sent) = st.data_segments_sent else {
            return;
        };
        let data_retrans = st
            .total_retransmits
            .saturating_sub(syn_retransmits.unwrap_or(0));
        let lost = data_retrans
            .saturating_sub(st.spurious_retransmits)
            .min(sent);
        self.kernel = true;
        self.connections += 1;
        self.segments.add(Tally { sent, lost });
    }

    /// Adds another counter's counts (a sub-step that counted its own connections).
    pub fn merge(&mut self, other: &Counter) {
        self.syns.add(other.syns);
        self.segments.add(other.segments);
        self.connections += other.connections;
        self.kernel |= other.kernel;
    }

    /// The retransmissions counted as loss, where the OS counts them.
    pub fn lost(&self) -> Option<u32> {
        self.kernel
            .then(|| self.syns.lost.saturating_add(self.segments.lost))
    }

    /// The fact: `None` when nothing was sent that could be counted.
    pub fn fact(&self) -> Option<LossFact> {
        let mut total = self.syns;
        total.add(self.segments);
        if total.sent == 0 {
            return None;
        }
        let (low, high) = wilson(total.lost, total.sent);
        Some(LossFact {
            syns: self.syns,
            segments: self.segments,
            connections: self.connections,
            rate: round4(f64::from(total.lost) / f64::from(total.sent)),
            rate_low: round4(low),
            rate_high: round4(high),
            method: if self.kernel {
                LossMethod::KernelCounters
            } else {
                LossMethod::ConnectTimes
            },
        })
    }
}

/// How many SYNs a connect has sent after `waited`: the first at once, then one after each
/// retransmission time-out, 1 s doubling (RFC 6298 2.1 and 5.5; Linux and Windows both start
/// at 1 s): at 0, 1, 3, 7, 15, 31 ... s.
pub fn syns_sent_within(waited: Duration) -> u32 {
    let ms = waited.as_millis();
    let mut n = 1u32;
    let mut next = 1000u128;
    while ms >= next && n < 16 {
        n += 1;
        next = next * 2 + 1000;
    }
    n
}

/// The 95 % Wilson score interval of a proportion `lost / sent` (Wilson 1927; Brown, Cai and
/// DasGupta 2001 recommend it for small samples and proportions near 0, which is where loss
/// lives: with no loss in `n` it gives `[0, ~3.8/n]`, not the normal approximation's `[0, 0]`).
pub fn wilson(lost: u32, sent: u32) -> (f64, f64) {
    if sent == 0 {
        return (0.0, 1.0);
    }
    const Z: f64 = 1.959_963_984_540_054;
    let n = f64::from(sent);
    let p = f64::from(lost.min(sent)) / n;
    let z2 = Z * Z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    (
        (centre - half).clamp(0.0, 1.0),
        (centre + half).clamp(0.0, 1.0),
    )
}

fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(total: u32, dsack: u32, data: Option<u32>) -> TcpStats {
        TcpStats {
            total_retransmits: total,
            spurious_retransmits: dsack,
            data_segments_sent: data,
            ..TcpStats::default()
        }
    }

    #[test]
    fn the_wilson_interval_matches_published_values() {
        // Brown, Cai, DasGupta (2001) / any statistics package: 0 of 10 -> [0, 0.2775],
        // 1 of 10 -> [0.0179, 0.4042], 30 of 100 -> [0.2189, 0.3958].
        let (l, h) = wilson(0, 10);
        assert!(l.abs() < 1e-9 && (h - 0.2775).abs() < 1e-3, "{l} {h}");
        let (l, h) = wilson(1, 10);
        assert!(
            (l - 0.0179).abs() < 1e-3 && (h - 0.4042).abs() < 1e-3,
            "{l} {h}"
        );
        let (l, h) = wilson(30, 100);
        assert!(
            (l - 0.2189).abs() < 1e-3 && (h - 0.3958).abs() < 1e-3,
            "{l} {h}"
        );
        // More transmissions, a narrower interval.
        let (l2, h2) = wilson(300, 1000);
        assert!(h2 - l2 < h - l);
        assert_eq!(wilson(0, 0), (0.0, 1.0));
        assert_eq!(wilson(5, 5).1, 1.0);
    }

    #[test]
    fn syns_follow_the_doubling_time_out() {
        let s = |ms| syns_sent_within(Duration::from_millis(ms));
        assert_eq!(
            [s(0), s(999), s(1000), s(2999), s(3000), s(5000), s(7000)],
            [1, 1, 2, 2, 3, 3, 4]
        );
        assert!(syns_sent_within(Duration::from_secs(u64::MAX / 4)) <= 16);
    }

    #[test]
    fn connects_count_their_syns() {
        let mut c = Counter::default();
        c.connect(&ConnectSample {
            ms: 0.2,
            syn_retransmits: Some(0),
        });
        c.connect(&ConnectSample {
            ms: 1003.0,
            syn_retransmits: Some(1),
        });
        c.unanswered(Duration::from_millis(5000));
        let f = c.fact().unwrap();
        assert_eq!(f.syns, Tally { sent: 6, lost: 4 });
        assert_eq!(f.method, LossMethod::KernelCounters);
        assert_eq!(f.rate, 0.6667);
        assert!(f.rate_low < f.rate && f.rate < f.rate_high);
    }

    #[test]
    fn without_kernel_counts_a_slow_connect_is_a_lost_syn() {
        let mut c = Counter::default();
        c.connect(&ConnectSample {
            ms: 1500.0,
            syn_retransmits: None,
        });
        c.connect(&ConnectSample {
            ms: 3.0,
            syn_retransmits: None,
        });
        let f = c.fact().unwrap();
        assert_eq!(f.syns, Tally { sent: 3, lost: 1 });
        assert_eq!(f.method, LossMethod::ConnectTimes);
        assert_eq!(c.lost(), None);
    }

    #[test]
    fn data_segments_exclude_syns_and_duplicates() {
        let mut c = Counter::default();
        // 12 data segments, 4 retransmissions of which 1 was a SYN and 1 a duplicate.
        c.connection(Some(&stats(4, 1, Some(12))), Some(1));
        // No segment count (Windows): nothing counted.
        c.connection(Some(&stats(3, 0, None)), Some(0));
        c.connection(None, Some(0));
        let f = c.fact().unwrap();
        assert_eq!(f.segments, Tally { sent: 12, lost: 2 });
        assert_eq!(f.connections, 1);
        assert_eq!(c.lost(), Some(2));
        // Counters that disagree (more retransmissions than segments) stay a proportion.
        let mut odd = Counter::default();
        odd.connection(Some(&stats(50, 0, Some(3))), Some(0));
        assert_eq!(odd.fact().unwrap().rate, 1.0);
    }

    #[test]
    fn nothing_counted_is_no_fact() {
        assert_eq!(Counter::default().fact(), None);
        let mut c = Counter::default();
        let mut d = Counter::default();
        d.connect(&ConnectSample {
            ms: 0.1,
            syn_retransmits: Some(0),
        });
        c.merge(&d);
        assert_eq!(c.fact().unwrap().total(), Tally { sent: 1, lost: 0 });
    }
}
