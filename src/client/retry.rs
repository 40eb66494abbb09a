//! When to retry a request and how long to wait: pure functions, so the
//! rules are tested without a network.
//!
//! Retrying is safe because a series resubmitted replaces itself (SPEC §1).
//! Only transient failures are retried: connection failures and timeouts,
//! 408 Request Timeout, 429 Too Many Requests and 5xx (RFC 9110 §15.5.9,
//! RFC 6585 §4, RFC 9110 §15.6). Any other 4xx means the request itself is
//! wrong and is never retried. Waits use exponential backoff with "full
//! jitter" (a uniform random wait between zero and the exponential
//! ceiling), so that many clients retrying after an outage spread out.

use std::time::Duration;

/// How a response status is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// 2xx: read the answer.
    Success,
    /// 408, 429 or 5xx: wait and try again.
    Transient,
    /// Any other status (4xx above all): report, never retry.
    Permanent,
}

/// Classifies an HTTP status code for retrying.
pub fn classify_status(status: u16) -> StatusClass {
    match status {
        200..=299 => StatusClass::Success,
        408 | 429 | 500..=599 => StatusClass::Transient,
        _ => StatusClass::Permanent,
    }
}

/// Bounds on retrying one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// Ceiling of the wait before the first retry; it doubles each retry.
    pub base_delay: Duration,
    /// The ceiling never grows past this.
    pub max_delay: Duration,
    /// A server's `Retry-After` is honoured up to this long.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 6 attempts, waits drawn from up to 0.5 s, 1 s, 2 s, 4 s, 8 s, capped
    /// at 30 s; `Retry-After` honoured up to 2 minutes.
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The exponential ceiling before retry number `retry` (0 for the first
    /// retry): `min(max_delay, base_delay × 2^retry)`, without overflow.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// The wait before retry number `retry`. With a server's `Retry-After`,
    /// that wait (capped by `max_retry_after`); otherwise a uniform draw in
    /// `[0, ceiling(retry)]` from `random` (full jitter).
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, random: u64) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max_retry_after);
        }
        let ceiling = self.ceiling(retry).as_nanos();
        // u128 arithmetic: the product of two u64 values cannot overflow.
        let nanos = (u128::from(random) * (ceiling + 1)) >> 64;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// Parses a `Retry-After` value (RFC 9110 §10.2.3): delay seconds, or an
/// HTTP date, counted from `now`. A date in the past means no wait.
pub fn parse_retry_after(value: &str, now: time::OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    // IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`, is RFC 5322 syntax
    // with the obsolete zone name GMT, which the RFC 2822 parser accepts.
    let at =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let wait = at - now;
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_statuses_retry() {
        for s in [408, 429, 500, 502, 503, 504, 599] {
            assert_eq!(classify_status(s), StatusClass::Transient, "{s}");
        }
        for s in [
            400, 401, 403, 404, 405, 409, 413, 415, 422, 431, 499, 301, 304,
        ] {
            assert_eq!(classify_status(s), StatusClass::Permanent, "{s}");
        }
        for s in [200, 201, 207] {
            assert_eq!(classify_status(s), StatusClass::Success, "{s}");
        }
    }

    #[test]
    fn ceiling_doubles_then_caps_without_overflow() {
        let p = RetryPolicy::default();
        assert_eq!(p.ceiling(0), Duration::from_millis(500));
        assert_eq!(p.ceiling(1), Duration::from_secs(1));
        assert_eq!(p.ceiling(4), Duration::from_secs(8));
        assert_eq!(p.ceiling(6), Duration::from_secs(30));
        assert_eq!(p.ceiling(40), Duration::from_secs(30));
        assert_eq!(p.ceiling(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn full_jitter_stays_within_zero_and_the_ceiling() {
        let p = RetryPolicy::default();
        for retry in 0..12 {
            assert_eq!(p.delay(retry, None, 0), Duration::ZERO);
            assert_eq!(p.delay(retry, None, u64::MAX), p.ceiling(retry));
            let mid = p.delay(retry, None, u64::MAX / 2);
            assert!(mid <= p.ceiling(retry) / 2 + Duration::from_nanos(1));
            assert!(mid + Duration::from_millis(1) >= p.ceiling(retry) / 2);
        }
        // Many draws from the OS generator: all within bounds.
        use rand_core::RngCore;
        for _ in 0..1000 {
            let d = p.delay(3, None, rand_core::OsRng.next_u64());
            assert!(d <= p.ceiling(3));
        }
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(7)), 0),
            Duration::from_secs(7)
        );
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(3600)), 0),
            p.max_retry_after
        );
    }

    #[test]
    fn retry_after_forms() {
        let now = time::macros::datetime!(1994-11-06 08:49:30 UTC);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
