//! Group commit: concurrent writers waiting for durability share flushes.
//!
//! A flush costs ~150 µs here against ~5 µs for a write (STACK.md), so each
//! writer flushing on its own would cap throughput at a few thousand writes
//! a second. Instead, a writer asks for "a flush that starts after my
//! write". If none is running, one starts now; if one is running (it may
//! have started before the write), the writer waits for the next one, which
//! starts when the running one ends and serves every writer that arrived
//! meanwhile. A burst of N writers therefore costs at most two flushes.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use super::{BackendError, StoreError};

/// A boxed future, for object-safe async methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Makes every write issued before the call durable.
pub(crate) type FlushFn = dyn Fn() -> BoxFuture<'static, Result<(), BackendError>> + Send + Sync;

/// Generation bookkeeping, under one lock.
///
/// Invariants: `done <= started <= done + 1` (at most one flush runs);
/// `running` exactly when `started == done + 1`; `wanted >= done`.
#[derive(Debug, Default)]
struct State {
    /// Flushes started so far (the generation of the newest one).
    started: u64,
    /// Whether a flush is running.
    running: bool,
    /// The highest generation any waiter needs.
    wanted: u64,
    /// How many waits have registered (for tests and metrics).
    registrations: u64,
}

/// The outcome of the newest finished flush.
#[derive(Debug, Clone)]
struct Finished {
    generation: u64,
    result: Result<(), BackendError>,
}

/// Shares flushes among concurrent waiters.
pub(crate) struct GroupCommit {
    flush: Arc<FlushFn>,
    state: Mutex<State>,
    finished: watch::Sender<Finished>,
    flushes: AtomicU64,
}

impl GroupCommit {
    /// A group commit over `flush`.
    pub(crate) fn new(flush: Arc<FlushFn>) -> Arc<Self> {
        let (finished, _) = watch::channel(Finished {
            generation: 0,
            result: Ok(()),
        });
        Arc::new(Self {
            flush,
            state: Mutex::new(State::default()),
            finished,
            flushes: AtomicU64::new(0),
        })
    }

    /// How many flushes have completed.
    pub(crate) fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    /// How many waits have registered so far.
    #[cfg(test)]
    fn registrations(&self) -> u64 {
        self.lock().registrations
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a few integers updated together under the lock with no
        // code that can panic in between, so a poisoned lock still holds a
        // consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves once a flush that started after this call has finished:
    /// every write made before the call is then durable.
    ///
    /// The flush itself runs in a task of its own, so dropping this future
    /// (a client going away) never strands the other waiters.
    pub(crate) fn wait_durable(self: &Arc<Self>) -> BoxFuture<'static, Result<(), StoreError>> {
        let this = Arc::clone(self);
        Box::pin(async move {
            let runtime =
                tokio::runtime::Handle::try_current().map_err(|_| StoreError::NoRuntime)?;
            // Subscribe before registering, so the completion cannot be missed.
            let mut finished = this.finished.subscribe();
            let target = {
                let mut state = this.lock();
                // The next flush to start begins after this point, whether it
                // starts now (none running) or after the running one.
                let target = state.started + 1;
                state.wanted = state.wanted.max(target);
                state.registrations += 1;
                if !state.running {
                    state.running = true;
                    state.started = target;
                    runtime.spawn(Arc::clone(&this).run_flushes());
                }
                target
            };
            let outcome = finished
                .wait_for(|f| f.generation >= target)
                .await
                // The sender lives in `this`, which we hold: it cannot close.
                .map_err(|_| StoreError::NoRuntime)?
                .result
                .clone();
            outcome.map_err(StoreError::Backend)
        })
    }

    /// Runs flushes back to back while waiters need a newer one.
    async fn run_flushes(self: Arc<Self>) {
        loop {
            let result = (self.flush)().await;
            self.flushes.fetch_add(1, Ordering::Relaxed);
            let mut state = self.lock();
            let generation = state.started;
            // Publish under the lock, so generations are published in order.
            self.finished.send_replace(Finished { generation, result });
            if state.wanted > generation {
                state.started = generation + 1;
            } else {
                state.running = false;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A flush that counts its calls and, while `gate` is closed, waits for it.
    fn gated_flush(gate: Arc<tokio::sync::Semaphore>, calls: Arc<AtomicU64>) -> Arc<FlushFn> {
        Arc::new(move || {
            let gate = Arc::clone(&gate);
            let calls = Arc::clone(&calls);
            Box::pin(async move {
                calls.fetch_add(1, Ordering::SeqCst);
                // Each flush consumes one permit: it blocks until the test
                // lets it through.
                gate.acquire()
                    .await
                    .map_err(|_| unreachable_backend())?
                    .forget();
                Ok(())
            })
        })
    }

    fn unreachable_backend() -> BackendError {
        BackendError::from(sled::Error::Unsupported("test gate closed".into()))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_waiters_shares_two_flushes() {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let calls = Arc::new(AtomicU64::new(0));
        let gc = GroupCommit::new(gated_flush(Arc::clone(&gate), Arc::clone(&calls)));

        // The first waiter starts flush 1, which blocks on the gate.
        let first = tokio::spawn(gc.wait_durable());
        while calls.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // 63 more arrive while flush 1 runs: none may be served by flush 1
        // (it may have started before their writes); all share flush 2.
        let rest: Vec<_> = (0..63).map(|_| tokio::spawn(gc.wait_durable())).collect();
        while gc.registrations() < 64 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(!first.is_finished());
        gate.add_permits(2);
        first.await.unwrap().unwrap();
        for r in rest {
            r.await.unwrap().unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(gc.flushes(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiter_arriving_during_a_flush_waits_for_the_next() {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let calls = Arc::new(AtomicU64::new(0));
        let gc = GroupCommit::new(gated_flush(Arc::clone(&gate), Arc::clone(&calls)));
        let first = tokio::spawn(gc.wait_durable());
        while calls.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let second = tokio::spawn(gc.wait_durable());
        while gc.registrations() < 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Let exactly flush 1 finish: the first waiter is done, the second
        // is not (its write may postdate flush 1's start).
        gate.add_permits(1);
        first.await.unwrap().unwrap();
        while calls.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(!second.is_finished());
        gate.add_permits(1);
        second.await.unwrap().unwrap();
        assert_eq!(gc.flushes(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_flush_fails_its_waiters_and_the_next_one_runs() {
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let f = Arc::clone(&fail);
        let flush: Arc<FlushFn> = Arc::new(move || {
            let fail = f.load(Ordering::SeqCst);
            Box::pin(async move {
                if fail {
                    Err(unreachable_backend())
                } else {
                    Ok(())
                }
            })
        });
        let gc = GroupCommit::new(flush);
        assert!(matches!(
            gc.wait_durable().await,
            Err(StoreError::Backend(_))
        ));
        fail.store(false, Ordering::SeqCst);
        gc.wait_durable().await.unwrap();
        assert_eq!(gc.flushes(), 2);
    }

    #[test]
    fn outside_a_runtime_it_says_so() {
        let gc = GroupCommit::new(Arc::new(|| Box::pin(async { Ok(()) })));
        // Poll once with no runtime around: it must refuse, not panic.
        let mut fut = gc.wait_durable();
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(Err(StoreError::NoRuntime)) => {}
            other => panic!("expected NoRuntime, got {:?}", other.map(|r| r.is_ok())),
        }
    }
}
