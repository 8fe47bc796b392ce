//! The retry schedule of `fetch`: capped exponential backoff with jitter.
//!
//! The cap is what makes the agent fast: once the token is there, the agent asks again
//! within one capped delay (200 ms), instead of the up-to-5-seconds a fixed `sleep 5` loop
//! waits. The jitter spreads several agents' retries apart; the exponential start keeps the
//! first seconds cheap when the server is down for long.

use std::hash::{BuildHasher as _, Hasher as _};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay before the second attempt, before jitter.
    pub base: Duration,
    /// No delay is longer than this.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(50),
            cap: Duration::from_millis(200),
        }
    }
}

impl Backoff {
    /// The delay after failed attempt number `attempt` (0-based): `min(cap, base·2^attempt)`,
    /// of which the upper half is jittered by `unit` (a number in `[0, 1)`). Keeping the lower
    /// half fixed bounds how often a server is asked, whatever the random numbers.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let grown = self
            .base
            .checked_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(self.cap);
        let ceiling = grown.min(self.cap);
        let half = ceiling / 2;
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        half + half.mul_f64(unit)
    }
}

/// Numbers in `[0, 1)` for the jitter, from the standard library's per-process random hash
/// keys: good enough to decorrelate retries, and no extra dependency.
#[derive(Debug, Default)]
pub struct Jitter {
    counter: u64,
}

impl Jitter {
    pub fn next_unit(&mut self) -> f64 {
        self.counter = self.counter.wrapping_add(1);
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(self.counter);
        // The top 53 bits make an evenly spread f64 in [0, 1).
        (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_stay_at_the_cap() {
        let b = Backoff::default();
        let lows: Vec<u128> = (0..8).map(|a| b.delay(a, 0.0).as_millis()).collect();
        assert_eq!(lows, [25, 50, 100, 100, 100, 100, 100, 100]);
        let highs: Vec<u128> = (0..8).map(|a| b.delay(a, 0.999_999).as_millis()).collect();
        assert_eq!(highs, [49, 99, 199, 199, 199, 199, 199, 199]);
    }

    #[test]
    fn no_delay_exceeds_the_cap_even_after_many_attempts() {
        let b = Backoff {
            base: Duration::from_millis(50),
            cap: Duration::from_millis(250),
        };
        for attempt in [0, 5, 31, 32, 1000, u32::MAX] {
            for unit in [0.0, 0.5, 1.0, 7.0, -3.0, f64::NAN] {
                let d = b.delay(attempt, unit);
                assert!(d <= b.cap, "attempt {attempt} unit {unit}: {d:?}");
                assert!(
                    d >= b.base.min(b.cap) / 2,
                    "attempt {attempt} unit {unit}: {d:?}"
                );
            }
        }
    }

    #[test]
    fn jitter_spreads_over_the_unit_interval() {
        let mut j = Jitter::default();
        let units: Vec<f64> = (0..1000).map(|_| j.next_unit()).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
        let below_half = units.iter().filter(|u| **u < 0.5).count();
        assert!(
            (350..650).contains(&below_half),
            "{below_half} of 1000 below 0.5"
        );
    }
}
