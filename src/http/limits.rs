//! Request-rate limits: per client IP (tower_governor, before
//! authentication, so a flood of bad tokens is bounded too) and per
//! principal (the token's `sub`, after authentication). Both answer 429 with
//! `Retry-After` (RFC 6585 §4) as a problem document.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tower_governor::GovernorError;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::PeerIpKeyExtractor;

use super::error::ApiError;
use crate::config::RateLimit;

/// The per-IP limiter's configuration, shared by every route's layer.
pub type IpLimitConfig =
    Arc<GovernorConfig<PeerIpKeyExtractor, NoOpMiddleware<governor::clock::QuantaInstant>>>;

/// The per-IP limiter for `limit`. Keys are peer addresses, so the service
/// must run with `into_make_service_with_connect_info::<SocketAddr>()`.
pub fn ip_limit_config(limit: RateLimit) -> IpLimitConfig {
    let period = Duration::from_nanos(1_000_000_000 / u64::from(limit.per_second.get()))
        .max(Duration::from_nanos(1));
    let config = GovernorConfigBuilder::default()
        .period(period)
        .burst_size(limit.burst.get())
        .key_extractor(PeerIpKeyExtractor)
        .finish();
    // `finish` refuses only a zero burst or period, which `RateLimit` and the
    // `max` above exclude; fall back to the strictest limit rather than panic.
    Arc::new(config.unwrap_or_else(GovernorConfig::secure))
}

/// The per-IP layer: tower_governor with its refusals turned into problem
/// documents.
pub fn ip_limit_layer(
    config: IpLimitConfig,
) -> tower_governor::GovernorLayer<
    PeerIpKeyExtractor,
    NoOpMiddleware<governor::clock::QuantaInstant>,
    Body,
> {
    tower_governor::GovernorLayer::new(config).error_handler(governor_refusal)
}

fn governor_refusal(error: GovernorError) -> Response<Body> {
    match error {
        GovernorError::TooManyRequests { wait_time, .. } => {
            ApiError::TooManyRequests(wait_time.max(1)).into_response()
        }
        // No peer address: the service was started without connect info.
        GovernorError::UnableToExtractKey => {
            ApiError::internal("per-IP rate limit: no peer address (connect info missing)")
                .into_response()
        }
        GovernorError::Other { code, .. } => code.into_response(),
    }
}

/// Forgets idle keys of the per-IP limiter so its memory stays bounded.
pub fn forget_idle_ips(config: &IpLimitConfig) {
    config.limiter().retain_recent();
    config.limiter().shrink_to_fit();
}

/// The per-principal limiter, keyed by the token's `sub`.
pub struct PrincipalLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl std::fmt::Debug for PrincipalLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrincipalLimiter").finish_non_exhaustive()
    }
}

impl PrincipalLimiter {
    /// A limiter allowing each principal `limit`.
    pub fn new(limit: RateLimit) -> Self {
        let quota = Quota::per_second(limit.per_second).allow_burst(limit.burst);
        Self {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one request by `sub`; `Err` with the whole seconds to wait
    /// (at least 1) when over the limit.
    pub fn check(&self, sub: &str) -> Result<(), u64> {
        self.limiter
            .check_key(&sub.to_owned())
            .map_err(|not_until| {
                // Round up: Retry-After is in whole seconds (RFC 9110 §10.2.3).
                let wait = not_until.wait_time_from(self.clock.now());
                (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
            })
    }

    /// Forgets principals idle long enough to have a full bucket again.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    #[test]
    fn principal_limiter_refuses_after_the_burst_per_principal() {
        let one = NonZeroU32::MIN;
        let limiter = PrincipalLimiter::new(RateLimit {
            per_second: one,
            burst: NonZeroU32::new(2).unwrap(),
        });
        assert!(limiter.check("alice").is_ok());
        assert!(limiter.check("alice").is_ok());
        // A 1/s bucket cannot refill two tokens between these calls.
        let wait = limiter.check("alice").and_then(|()| limiter.check("alice"));
        assert!(matches!(wait, Err(s) if s >= 1));
        assert!(limiter.check("bob").is_ok(), "keys are independent");
    }
}
