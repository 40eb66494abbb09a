//! Deciding when a series is complete. DICOM has no "end of series" signal
//! on C-STORE, so a series counts as complete once no instance of it has
//! arrived for a quiet period (`--quiet-period`, 5 s by default).
//!
//! [`SeriesTracker`] groups items by SeriesInstanceUID and, within a series,
//! by SOPInstanceUID (a resent instance replaces itself). A series is emitted
//! once it has been quiet; when a later instance of an emitted series
//! arrives, it collects again and is emitted anew with every instance seen
//! for it, the earlier ones included, so that the record it becomes replaces
//! the previous one with the larger count. An emitted series is remembered
//! for [`TrackerConfig::forget_after`] after its last instance, then
//! dropped to bound memory.
//!
//! Time is passed in (`now` arguments), so the logic is tested without
//! sleeping; [`SeriesTicker`] drives it with the real clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dicom_dictionary_std::tags;

use super::instance::{InstanceRefused, InstanceSink, ReceivedInstance};

/// Tracker settings.
#[derive(Debug, Clone, Copy)]
pub struct TrackerConfig {
    /// A series is complete after this long without a new instance.
    pub quiet_period: Duration,
    /// An emitted series is forgotten this long after its last instance; an
    /// instance arriving later starts a new collection holding only the new
    /// instances.
    pub forget_after: Duration,
    /// Instances held at most (emitted series count too, and are forgotten
    /// first, oldest first, to make room); beyond it new instances are
    /// refused (the sender retries later).
    pub max_instances: usize,
}

impl TrackerConfig {
    /// The given quiet period, series remembered for an hour, at most
    /// 200 000 instances.
    pub fn new(quiet_period: Duration) -> Self {
        Self {
            quiet_period,
            forget_after: Duration::from_secs(3600),
            max_instances: 200_000,
        }
    }
}

/// A series that has been quiet: every distinct instance seen for it.
/// `Debug` shows counts only (the UID and the items are PHI).
pub struct CompletedSeries<T> {
    /// SeriesInstanceUID (PHI: never log it).
    pub series_instance_uid: String,
    /// One item per distinct SOPInstanceUID, in order of first arrival.
    pub items: Vec<Arc<T>>,
    /// 1 the first time the series is emitted, 2 for its first update, …
    pub emission: u32,
}

impl<T> std::fmt::Debug for CompletedSeries<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompletedSeries")
            .field("items", &self.items.len())
            .field("emission", &self.emission)
            .finish_non_exhaustive()
    }
}

struct SeriesState<T> {
    /// Position of each SOPInstanceUID in `items`.
    index: HashMap<String, usize>,
    items: Vec<Arc<T>>,
    last_instance_at: Instant,
    /// Instances arrived since the last emission.
    pending: bool,
    emissions: u32,
}

/// Collects items per series and emits each series once it is quiet.
/// Safe to share between the association threads and a ticker.
pub struct SeriesTracker<T> {
    config: TrackerConfig,
    state: Mutex<Held<T>>,
}

/// The series, and how many items they hold in all (kept in step, so that
/// `add` need not count).
struct Held<T> {
    series: HashMap<String, SeriesState<T>>,
    items: usize,
}

impl<T> SeriesTracker<T> {
    /// An empty tracker.
    pub fn new(config: TrackerConfig) -> Self {
        Self {
            config,
            state: Mutex::new(Held {
                series: HashMap::new(),
                items: 0,
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> TrackerConfig {
        self.config
    }

    fn lock(&self) -> MutexGuard<'_, Held<T>> {
        // Every update below leaves the map consistent before it can panic,
        // so a poisoned lock still guards usable state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records one instance received at `now`. A second instance with the
    /// same SOPInstanceUID replaces the first. Refused only when the
    /// tracker is full of series still collecting.
    pub fn add(
        &self,
        series_uid: &str,
        instance_uid: &str,
        item: T,
        now: Instant,
    ) -> Result<(), InstanceRefused> {
        let mut held = self.lock();
        let is_new_instance = held
            .series
            .get(series_uid)
            .is_none_or(|s| !s.index.contains_key(instance_uid));
        if is_new_instance && held.items >= self.config.max_instances {
            let needed = held.items + 1 - self.config.max_instances;
            held.items -= make_room(&mut held.series, needed);
            if held.items >= self.config.max_instances {
                return Err(InstanceRefused::OutOfResources);
            }
        }
        let state = held
            .series
            .entry(series_uid.to_owned())
            .or_insert_with(|| SeriesState {
                index: HashMap::new(),
                items: Vec::new(),
                last_instance_at: now,
                pending: true,
                emissions: 0,
            });
        let item = Arc::new(item);
        match state.index.get(instance_uid) {
            Some(&at) => state.items[at] = item,
            None => {
                state
                    .index
                    .insert(instance_uid.to_owned(), state.items.len());
                state.items.push(item);
            }
        }
        state.last_instance_at = state.last_instance_at.max(now);
        state.pending = true;
        if is_new_instance {
            held.items += 1;
        }
        Ok(())
    }

    /// Takes every series that has been quiet for the quiet period at
    /// `now`, and forgets emitted series past `forget_after`.
    pub fn due(&self, now: Instant) -> Vec<CompletedSeries<T>> {
        let quiet = self.config.quiet_period;
        let forget = self.config.forget_after;
        let mut held = self.lock();
        let mut forgotten = 0;
        held.series.retain(|_, s| {
            let keep = s.pending || now.saturating_duration_since(s.last_instance_at) < forget;
            if !keep {
                forgotten += s.items.len();
            }
            keep
        });
        held.items -= forgotten;
        held.series
            .iter_mut()
            .filter(|(_, s)| {
                s.pending && now.saturating_duration_since(s.last_instance_at) >= quiet
            })
            .map(|(uid, s)| emit(uid, s))
            .collect()
    }

    /// Takes every series still collecting, quiet or not (on shutdown, so
    /// that nothing acknowledged to a sender is left behind).
    pub fn drain(&self) -> Vec<CompletedSeries<T>> {
        self.lock()
            .series
            .iter_mut()
            .filter(|(_, s)| s.pending)
            .map(|(uid, s)| emit(uid, s))
            .collect()
    }

    /// Series with instances not yet emitted.
    pub fn collecting(&self) -> usize {
        self.lock().series.values().filter(|s| s.pending).count()
    }

    /// Series held (collecting or remembered).
    pub fn tracked(&self) -> usize {
        self.lock().series.len()
    }

    /// Instances held in all (collecting or remembered).
    pub fn instances(&self) -> usize {
        self.lock().items
    }
}

fn emit<T>(uid: &str, state: &mut SeriesState<T>) -> CompletedSeries<T> {
    state.pending = false;
    state.emissions += 1;
    CompletedSeries {
        series_instance_uid: uid.to_owned(),
        items: state.items.clone(),
        emission: state.emissions,
    }
}

/// Forgets emitted series, oldest first, until `needed` instances are freed
/// or none is left to forget; returns how many were freed.
fn make_room<T>(series: &mut HashMap<String, SeriesState<T>>, needed: usize) -> usize {
    let mut emitted: Vec<(Instant, String, usize)> = series
        .iter()
        .filter(|(_, s)| !s.pending)
        .map(|(uid, s)| (s.last_instance_at, uid.clone(), s.items.len()))
        .collect();
    emitted.sort_unstable_by_key(|(at, _, _)| *at);
    let mut freed = 0;
    for (_, uid, count) in emitted {
        if freed >= needed {
            break;
        }
        series.remove(&uid);
        freed += count;
    }
    freed
}

/// An [`InstanceSink`] that feeds a [`SeriesTracker`]: it keys each
/// instance by its SeriesInstanceUID (refusing one without it, status A900)
/// and keeps what `keep` makes of it.
pub struct TrackingSink<T, F> {
    tracker: Arc<SeriesTracker<T>>,
    keep: F,
}

impl<T, F> TrackingSink<T, F>
where
    F: Fn(ReceivedInstance) -> T,
{
    /// A sink adding to `tracker` what `keep` makes of each instance.
    pub fn new(tracker: Arc<SeriesTracker<T>>, keep: F) -> Self {
        Self { tracker, keep }
    }
}

impl<T, F> InstanceSink for TrackingSink<T, F>
where
    T: Send + Sync,
    F: Fn(ReceivedInstance) -> T + Send + Sync,
{
    fn instance_received(&self, instance: ReceivedInstance) -> Result<(), InstanceRefused> {
        // PS3.3 C.7.3.1: SeriesInstanceUID is Type 1 in every image IOD.
        let series_uid = instance
            .header
            .element_opt(tags::SERIES_INSTANCE_UID)
            .ok()
            .flatten()
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).to_owned())
            .filter(|s| !s.is_empty())
            .ok_or(InstanceRefused::MissingAttribute("SeriesInstanceUID"))?;
        let instance_uid = instance.sop_instance_uid.clone();
        let item = (self.keep)(instance);
        self.tracker
            .add(&series_uid, &instance_uid, item, Instant::now())
    }
}

/// A thread that polls a tracker with the real clock and hands each
/// completed series to a callback; on [`SeriesTicker::stop`] it hands over
/// every series still collecting.
pub struct SeriesTicker {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl SeriesTicker {
    /// Starts polling every `interval` (a fraction of the quiet period is
    /// right: a series is emitted at most `interval` late).
    pub fn start<T, E>(
        tracker: Arc<SeriesTracker<T>>,
        interval: Duration,
        mut on_complete: E,
    ) -> std::io::Result<Self>
    where
        T: Send + Sync + 'static,
        E: FnMut(CompletedSeries<T>) + Send + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("series-ticker".into())
            .spawn(move || {
                while !thread_stop.load(Ordering::SeqCst) {
                    std::thread::park_timeout(interval);
                    for series in tracker.due(Instant::now()) {
                        on_complete(series);
                    }
                }
                for series in tracker.drain() {
                    on_complete(series);
                }
            })?;
        Ok(Self { stop, thread })
    }

    /// Stops polling after handing over every series still collecting.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.thread().unpark();
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Duration = Duration::from_secs(5);

    fn tracker() -> SeriesTracker<&'static str> {
        SeriesTracker::new(TrackerConfig::new(QUIET))
    }

    #[test]
    fn a_series_is_emitted_once_after_the_quiet_period() {
        let t = tracker();
        let t0 = Instant::now();
        t.add("S1", "I1", "a", t0).unwrap();
        t.add("S1", "I2", "b", t0 + Duration::from_secs(3)).unwrap();
        // 4 s after the last instance: not yet.
        assert!(t.due(t0 + Duration::from_secs(7)).is_empty());
        let done = t.due(t0 + Duration::from_secs(8));
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].items.len(), 2);
        assert_eq!(done[0].emission, 1);
        assert!(t.due(t0 + Duration::from_secs(60)).is_empty());
    }

    #[test]
    fn a_resent_instance_replaces_itself() {
        let t = tracker();
        let t0 = Instant::now();
        t.add("S1", "I1", "old", t0).unwrap();
        t.add("S1", "I1", "new", t0).unwrap();
        let done = t.due(t0 + QUIET);
        assert_eq!(done[0].items.len(), 1);
        assert_eq!(*done[0].items[0], "new");
    }

    #[test]
    fn drain_takes_everything_collecting() {
        let t = tracker();
        let t0 = Instant::now();
        t.add("S1", "I1", "a", t0).unwrap();
        t.add("S2", "I1", "b", t0).unwrap();
        assert_eq!(t.collecting(), 2);
        assert_eq!(t.drain().len(), 2);
        assert_eq!(t.collecting(), 0);
        assert!(t.drain().is_empty());
    }

    #[test]
    fn emitted_series_are_forgotten_and_make_room() {
        let mut config = TrackerConfig::new(QUIET);
        config.max_instances = 2;
        config.forget_after = Duration::from_secs(100);
        let t = SeriesTracker::new(config);
        let t0 = Instant::now();
        t.add("S1", "I1", "a", t0).unwrap();
        t.add("S2", "I1", "b", t0).unwrap();
        // Full of collecting series: refused.
        assert_eq!(
            t.add("S3", "I1", "c", t0),
            Err(InstanceRefused::OutOfResources)
        );
        // A resent instance needs no room.
        t.add("S2", "I1", "b2", t0).unwrap();
        assert_eq!(t.due(t0 + QUIET).len(), 2);
        // Emitted series give way to new ones.
        t.add("S3", "I1", "c", t0 + QUIET).unwrap();
        assert_eq!(t.tracked(), 2);
        assert_eq!(t.instances(), 2);
        // And are forgotten after forget_after.
        t.due(t0 + Duration::from_secs(200));
        assert_eq!(t.tracked(), 1);
        assert_eq!(t.instances(), 1);
    }
}
