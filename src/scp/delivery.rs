//! Draining the outbox: each pending record goes to a [`Forwarder`] (the
//! HTTPS client, wired by the `listen` command), oldest first.
//!
//! - Success (2xx): the entry is removed.
//! - Permanent failure (4xx): the entry moves to `rejected/` with the
//!   server's problem document, and delivery goes on with the next one.
//! - Transient failure (network, 5xx, 429): the entry stays, and delivery
//!   pauses with exponential backoff and jitter, capped (a server outage
//!   then costs a few requests per minute, and nothing is lost). A
//!   `Retry-After` the server gave is honoured within the cap.
//!
//! Resending is safe: a series record replaces the stored record of the
//! same series (SPEC §1), so an entry sent twice (acknowledgement lost) is
//! stored once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand_core::{OsRng, RngCore};
use serde_json::Value;

use super::outbox::{Outbox, OutboxError};

/// The server's acceptance of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardOutcome {
    /// The HTTP status (2xx).
    pub status: u16,
}

/// Why a record was not accepted. Messages must carry no record value.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ForwardError {
    /// Worth retrying later: the server was unreachable, timed out, or
    /// answered 5xx or 429.
    #[error("transient failure: {reason}")]
    Transient {
        /// What happened, without PHI (e.g. "connection refused", "503").
        reason: String,
        /// The server's `Retry-After`, if it gave one.
        retry_after: Option<Duration>,
    },
    /// Never worth retrying as is: the server refused the record (4xx).
    #[error("refused by the server with status {status}")]
    Permanent {
        /// The HTTP status.
        status: u16,
        /// The server's problem document (RFC 9457), or `null`.
        problem: Value,
    },
}

/// Sends one record to the server.
pub trait Forwarder: Send + Sync {
    /// Sends `record`; `Ok` only once the server acknowledged it (2xx), which
    /// means it is durably stored there (SPEC §4).
    fn forward(
        &self,
        record: &Value,
    ) -> impl Future<Output = Result<ForwardOutcome, ForwardError>> + Send;
}

/// A shared forwarder forwards like the one it shares.
impl<F: Forwarder> Forwarder for Arc<F> {
    fn forward(
        &self,
        record: &Value,
    ) -> impl Future<Output = Result<ForwardOutcome, ForwardError>> + Send {
        F::forward(self, record)
    }
}

/// Backoff between retries after a transient failure: the n-th consecutive
/// failure waits a random time in [d/2, d], d = min(initial × 2^(n-1), max)
/// ("equal jitter", so that many listeners do not retry in step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first failure (before jitter).
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
}

impl Default for RetryPolicy {
    /// 1 s doubling up to 5 min.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The wait after `failures` consecutive failures (≥ 1), with `random`
    /// (any u64) choosing the jitter.
    pub fn delay(&self, failures: u32, random: u64) -> Duration {
        let exponent = failures.saturating_sub(1).min(30);
        let ceiling = self.initial.saturating_mul(1_u32 << exponent).min(self.max);
        let half = ceiling / 2;
        let span = u64::try_from((ceiling - half).as_nanos()).unwrap_or(u64::MAX);
        let jitter = if span == 0 { 0 } else { random % (span + 1) };
        half + Duration::from_nanos(jitter)
    }
}

/// What one pass over the outbox did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Records the server accepted.
    pub sent: usize,
    /// Entries dropped unsent because a newer one for the same series waits.
    pub superseded: usize,
    /// Records moved to `rejected/`.
    pub rejected: usize,
    /// The transient failure that ended the pass early, if any.
    pub paused: Option<PauseReason>,
}

/// Why a pass stopped before the outbox was empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseReason {
    /// The forwarder's reason (no PHI).
    pub reason: String,
    /// The server's `Retry-After`, if any.
    pub retry_after: Option<Duration>,
}

/// Delivers pending entries, oldest first, until the outbox is empty or a
/// transient failure pauses delivery.
pub async fn deliver_pending<F: Forwarder>(
    outbox: &Outbox,
    forwarder: &F,
) -> Result<PassReport, OutboxError> {
    let mut report = PassReport::default();
    while let Some(entry) = outbox.oldest()? {
        if entry.superseded {
            outbox.acknowledge(entry.id)?;
            report.superseded += 1;
            continue;
        }
        match forwarder.forward(&entry.record).await {
            Ok(_) => {
                outbox.acknowledge(entry.id)?;
                report.sent += 1;
            }
            Err(ForwardError::Permanent { status, problem }) => {
                tracing::warn!(status, entry = ?entry.id, "record refused by the server; kept in rejected/");
                outbox.reject(entry.id, status, &problem)?;
                report.rejected += 1;
            }
            Err(ForwardError::Transient {
                reason,
                retry_after,
            }) => {
                report.paused = Some(PauseReason {
                    reason,
                    retry_after,
                });
                break;
            }
        }
    }
    Ok(report)
}

/// Runs delivery until `shutdown` completes: a pass whenever work arrives,
/// and after a transient failure, another pass after the backoff. Pending
/// entries survive shutdown and are delivered after the next start.
pub async fn run_delivery<F, S>(outbox: Arc<Outbox>, forwarder: F, policy: RetryPolicy, shutdown: S)
where
    F: Forwarder,
    S: Future<Output = ()>,
{
    let run = async {
        let mut failures: u32 = 0;
        loop {
            let wait = match deliver_pending(&outbox, &forwarder).await {
                Ok(report) => {
                    if report.sent + report.rejected + report.superseded > 0 {
                        tracing::info!(
                            sent = report.sent,
                            rejected = report.rejected,
                            superseded = report.superseded,
                            pending = outbox.pending_count(),
                            "outbox delivery"
                        );
                    }
                    match report.paused {
                        None => {
                            failures = 0;
                            None
                        }
                        Some(pause) => {
                            failures = failures.saturating_add(1);
                            let backoff = policy.delay(failures, OsRng.next_u64());
                            let wait = pause
                                .retry_after
                                .map_or(backoff, |r| r.min(policy.max).max(backoff));
                            tracing::warn!(
                                reason = %pause.reason,
                                failures,
                                retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                                pending = outbox.pending_count(),
                                "forwarding paused"
                            );
                            Some(wait)
                        }
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::error!(error = %e, "outbox storage failed");
                    Some(policy.delay(failures, OsRng.next_u64()))
                }
            };
            match wait {
                None => outbox.work_available().await,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
    };
    tokio::select! {
        () = run => {}
        () = shutdown => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered_within_bounds() {
        let p = RetryPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        assert_eq!(p.delay(1, 0), Duration::from_millis(50));
        assert_eq!(
            p.delay(1, u64::MAX),
            Duration::from_millis(50) + Duration::from_nanos(u64::MAX % 50_000_001)
        );
        for failures in 1..40 {
            for random in [0, 1, 12_345_678, u64::MAX] {
                let d = p.delay(failures, random);
                let ceiling =
                    (Duration::from_millis(100) * 2_u32.pow(failures.min(20) - 1)).min(p.max);
                assert!(
                    d >= ceiling / 2 && d <= ceiling,
                    "{failures} {random} {d:?}"
                );
            }
        }
        assert_eq!(p.delay(3, 0), Duration::from_millis(200));
        assert!(p.delay(30, u64::MAX) <= Duration::from_secs(1));
    }
}
