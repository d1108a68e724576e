//! A token bucket for `--rate`: new connections per second, with a small burst. The bucket is
//! pure arithmetic over instants the caller passes in (tested without a clock); the async
//! wrapper sleeps until the tokens are there. Waiters are served in order (a fair mutex).

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Bucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// `rate` tokens per second; the bucket holds a tenth of a second's worth (at least one)
    /// and starts full.
    pub fn new(rate: f64, now: Instant) -> Bucket {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            1.0
        };
        let capacity = (rate / 10.0).max(1.0);
        Bucket {
            rate,
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate).min(self.capacity);
        self.last = self.last.max(now);
    }

    /// Takes `n` tokens if the bucket holds enough (or, for `n` above the capacity, is full:
    /// the balance then goes negative and later callers wait it off). Otherwise returns how
    /// long to wait before trying again.
    pub fn take(&mut self, n: u32, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        let need = f64::from(n).min(self.capacity);
        if self.tokens >= need {
            self.tokens -= f64::from(n);
            Ok(())
        } else {
            Err(Duration::from_secs_f64((need - self.tokens) / self.rate))
        }
    }
}

/// The async limiter shared by the scan's launcher.
pub struct RateLimiter {
    bucket: tokio::sync::Mutex<Bucket>,
}

impl RateLimiter {
    pub fn new(rate: f64) -> RateLimiter {
        RateLimiter {
            bucket: tokio::sync::Mutex::new(Bucket::new(rate, Instant::now())),
        }
    }

    /// Waits until `n` connections may start.
    pub async fn acquire(&self, n: u32) {
        let mut b = self.bucket.lock().await;
        loop {
            match b.take(n, Instant::now()) {
                Ok(()) => return,
                Err(wait) => tokio::time::sleep(wait.max(Duration::from_micros(100))).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_full_then_refills_at_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(100.0, t0); // capacity 10
        for _ in 0..10 {
            assert!(b.take(1, t0).is_ok());
        }
        let wait = b.take(1, t0).expect_err("empty");
        assert!(
            (wait.as_secs_f64() - 0.01).abs() < 1e-6,
            "one token takes 10 ms: {wait:?}"
        );
        assert!(b.take(1, t0 + Duration::from_millis(10)).is_ok());
        assert!(b.take(1, t0 + Duration::from_millis(10)).is_err());
        // a long pause refills only up to the capacity
        let later = t0 + Duration::from_secs(60);
        let mut n = 0;
        while b.take(1, later).is_ok() {
            n += 1;
        }
        assert_eq!(n, 10);
    }

    #[test]
    fn simulated_throughput_matches_the_rate() {
        // Take as fast as allowed for 10 simulated seconds at 50/s: 50*10 + the initial burst.
        let t0 = Instant::now();
        let mut b = Bucket::new(50.0, t0);
        let mut now = t0;
        let mut taken = 0u32;
        while now < t0 + Duration::from_secs(10) {
            match b.take(1, now) {
                Ok(()) => taken += 1,
                Err(w) => now += w,
            }
        }
        assert!((500..=506).contains(&taken), "{taken}");
    }

    #[test]
    fn a_charge_above_the_capacity_goes_into_debt() {
        let t0 = Instant::now();
        let mut b = Bucket::new(5.0, t0); // capacity 1
        assert!(
            b.take(7, t0).is_ok(),
            "a full bucket lets a 7-connection target start"
        );
        // -6 tokens: the next start waits 7 / 5 s
        let w = b.take(1, t0).expect_err("in debt");
        assert!((w.as_secs_f64() - 1.4).abs() < 1e-6, "{w:?}");
    }

    #[test]
    fn bad_rates_do_not_divide_by_zero() {
        let t0 = Instant::now();
        for r in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let mut b = Bucket::new(r, t0);
            assert!(b.take(1, t0).is_ok());
            assert!(b.take(1, t0).is_err());
        }
    }

    #[tokio::test]
    async fn the_async_limiter_paces_real_time() {
        let l = RateLimiter::new(200.0); // capacity 20
        let start = Instant::now();
        for _ in 0..60 {
            l.acquire(1).await;
        }
        // 20 from the burst, 40 at 200/s = 0.2 s
        let el = start.elapsed().as_secs_f64();
        assert!((0.18..0.6).contains(&el), "{el}");
    }
}
