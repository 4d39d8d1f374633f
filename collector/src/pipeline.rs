//! The bounded ingest pipeline: a queue in front of one storage writer thread.
//!
//! In: [`PreparedBatch`]es from receivers through [`Pipeline::submit`]. Out:
//! group-committed calls of [`Store::write_batches`] on a dedicated thread,
//! and for each submitter the result of the write that held its batch.
//!
//! Bounds: the queue holds at most `pipeline.queue_capacity` batches; a
//! submit that finds it full fails with [`SubmitError::Overloaded`] at once
//! and never waits. The writer takes up to `pipeline.max_batches_per_write`
//! queued batches per storage write, so under load one write (one WAL sync)
//! serves many requests. Shutdown stops accepting, lets the writer drain what
//! is queued, and joins it.
//!
//! The CPU stage in front of the queue (decoding a body, validation,
//! analytics, the storage encoding) runs on the blocking pool, at most
//! `pipeline.prepare_concurrency` batches at once ([`Pipeline::cpu_turn`]):
//! more would only take CPU time from the flusher, which then falls behind
//! and has requests refused. While the store's buffer is over its soft bound
//! (the flusher behind), at most `pipeline.behind_prepare_concurrency`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use spoor_storage::{PreparedBatch, StorageError, Store};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use crate::analytics::Analytics;
use crate::config::CollectorConfig;
use crate::forward::Forwarder;
use crate::metrics;
use crate::receiver::Receiver;

#[cfg(test)]
mod tests;

/// How often a request waiting for room in the store looks again (an
/// atomic load; the flusher frees room a block at a time).
const ROOM_POLL: Duration = Duration::from_millis(5);

/// Why a batch was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The queue is full; the client should retry later.
    #[error("ingest queue is full, retry later")]
    Overloaded,
    /// The storage write that held the batch failed.
    #[error("storage write failed: {0}")]
    Storage(String),
    /// The pipeline no longer accepts batches.
    #[error("collector is shutting down")]
    ShuttingDown,
}

impl From<StorageError> for SubmitError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::ShuttingDown => SubmitError::ShuttingDown,
            StorageError::Overloaded { .. } => SubmitError::Overloaded,
            other => SubmitError::Storage(other.to_string()),
        }
    }
}

/// One queued batch and the way back to its submitter.
struct Job {
    batch: PreparedBatch,
    reply: oneshot::Sender<Result<(), SubmitError>>,
}

/// Handle to the pipeline; cheap to clone, all clones share one queue.
#[derive(Clone)]
pub struct Pipeline {
    shared: Arc<Shared>,
}

struct Shared {
    /// `None` once shutdown has begun.
    sender: RwLock<Option<SyncSender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    counts: Arc<Counts>,
    capacity: usize,
    /// Probabilistic sampling at ingest (`crate::sampling::head`), if any.
    head_sampler: std::sync::OnceLock<Arc<crate::sampling::HeadSampler>>,
    /// Sees every accepted batch on the receiving side (set once).
    analytics: OnceLock<Analytics>,
    /// Where batches go instead of the writer, on a forwarding pipeline.
    forwarder: Option<Arc<dyn Forwarder>>,
    /// Batches in the CPU stage at once.
    prepare_permits: Arc<Semaphore>,
    /// Batches in the CPU stage at once while the store's buffer is over
    /// its soft bound (the flusher behind); none: no lower limit.
    behind_permits: Option<Arc<Semaphore>>,
    /// The store the writer writes to (none on a forwarding pipeline).
    store: Option<Arc<Store>>,
    /// How long a request waits for room in the store before it is refused.
    overload_wait: Duration,
}

/// Permits of the CPU stage: `configured`, or one per core when 0.
fn prepare_permits(configured: usize) -> Arc<Semaphore> {
    let permits = match configured {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    Arc::new(Semaphore::new(permits))
}

/// A batch's place in the CPU stage, freed when dropped.
pub(crate) struct CpuTurn {
    _turn: OwnedSemaphorePermit,
    _behind: Option<OwnedSemaphorePermit>,
}

/// Counts shared by submitters and the writer.
#[derive(Default)]
struct Counts {
    /// Batches queued and not yet taken by the writer.
    depth: AtomicUsize,
    /// Storage writes done (one per group commit).
    writes: AtomicU64,
}

impl Pipeline {
    /// Starts the writer thread. `config` is expected to be validated.
    pub fn start(store: Arc<Store>, config: &CollectorConfig) -> Pipeline {
        Self::start_after(store, config, || ())
    }

    /// Like [`Pipeline::start`], but the writer takes nothing from the queue
    /// until `ready` has returned. Tests hold the writer this way to fill
    /// the queue without racing it.
    pub(crate) fn start_after(
        store: Arc<Store>,
        config: &CollectorConfig,
        ready: impl FnOnce() + Send + 'static,
    ) -> Pipeline {
        let capacity = config.pipeline.queue_capacity.max(1);
        let max_per_write = config.pipeline.max_batches_per_write.max(1);
        let (sender, jobs) = mpsc::sync_channel(capacity);
        let counts = Arc::new(Counts::default());
        let writer_counts = Arc::clone(&counts);
        let room = Arc::clone(&store);
        let writer = std::thread::Builder::new()
            .name("spoor-writer".to_string())
            .spawn(move || {
                ready();
                run_writer(&store, &jobs, &writer_counts, max_per_write)
            })
            .expect("spawning the storage writer thread");
        metrics::queue_capacity(capacity);
        metrics::queue_depth(0);
        Pipeline {
            shared: Arc::new(Shared {
                sender: RwLock::new(Some(sender)),
                writer: Mutex::new(Some(writer)),
                counts,
                capacity,
                head_sampler: std::sync::OnceLock::new(),
                analytics: OnceLock::new(),
                forwarder: None,
                prepare_permits: prepare_permits(config.pipeline.prepare_concurrency),
                behind_permits: match config.pipeline.behind_prepare_concurrency {
                    0 => None,
                    n => Some(prepare_permits(n)),
                },
                store: Some(room),
                overload_wait: config.overload_wait(),
            }),
        }
    }

    /// A pipeline with no store behind it: every accepted batch goes to
    /// `forwarder` (the collector role of a split deployment), and a
    /// request is answered once the forwarder says its batch is durable.
    /// The queue bound is the forwarder's own (a full one answers
    /// [`SubmitError::Overloaded`]).
    pub fn forwarding(forwarder: Arc<dyn Forwarder>) -> Pipeline {
        metrics::queue_capacity(0);
        metrics::queue_depth(0);
        Pipeline {
            shared: Arc::new(Shared {
                sender: RwLock::new(None),
                writer: Mutex::new(None),
                counts: Arc::new(Counts::default()),
                capacity: 0,
                head_sampler: std::sync::OnceLock::new(),
                analytics: OnceLock::new(),
                forwarder: Some(forwarder),
                prepare_permits: prepare_permits(0),
                behind_permits: None,
                store: None,
                overload_wait: Duration::ZERO,
            }),
        }
    }

    /// Waits for room in the store, then for a turn in the CPU stage (the
    /// turn ends when it is dropped; while the store's flusher is behind,
    /// also for one of the fewer turns of `behind_prepare_concurrency`),
    /// then for room again if it went meanwhile: both waits share one
    /// deadline, `pipeline.overload_wait_ms` ([`Pipeline::wait_for_room`]).
    /// Requests wait for room side by side, not one turn at a time, so a
    /// store without room for long refuses every waiting request once the
    /// wait is over. Every entry to the CPU stage goes through here, so a
    /// refused request is never validated, counted or encoded (nor decoded,
    /// for an HTTP or UDP body; a gRPC message has waited for room before
    /// tonic decoded it, `crate::grpc_room`).
    pub(crate) async fn cpu_turn(&self) -> Result<CpuTurn, SubmitError> {
        let deadline = tokio::time::Instant::now() + self.shared.overload_wait;
        self.wait_for_room_until(deadline).await?;
        let turn = Arc::clone(&self.shared.prepare_permits)
            .acquire_owned()
            .await
            .expect("the CPU stage's semaphore is never closed");
        let mut behind = None;
        if let Some(store) = &self.shared.store {
            if let Some(permits) = &self.shared.behind_permits {
                if store.flusher_behind() {
                    behind = Some(
                        Arc::clone(permits)
                            .acquire_owned()
                            .await
                            .expect("the CPU stage's semaphore is never closed"),
                    );
                }
            }
        }
        self.wait_for_room_until(deadline).await?;
        Ok(CpuTurn {
            _turn: turn,
            _behind: behind,
        })
    }

    /// True while the store would take a batch now (always, without a
    /// store); asking counts nothing.
    pub(crate) fn has_room(&self) -> bool {
        self.shared
            .store
            .as_ref()
            .is_none_or(|store| store.has_room())
    }

    /// Returns once the store would take a batch (its buffer under the hard
    /// bound), waiting up to `pipeline.overload_wait_ms` for the flusher to
    /// make room; fails with [`SubmitError::Overloaded`] if it has not by
    /// then. A pipeline without a store never waits.
    pub(crate) async fn wait_for_room(&self) -> Result<(), SubmitError> {
        self.wait_for_room_until(tokio::time::Instant::now() + self.shared.overload_wait)
            .await
    }

    /// [`Pipeline::wait_for_room`], up to `deadline`.
    async fn wait_for_room_until(&self, deadline: tokio::time::Instant) -> Result<(), SubmitError> {
        let Some(store) = &self.shared.store else {
            return Ok(());
        };
        if store.has_room() {
            return Ok(());
        }
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                // Counted as a refused write, with the store's reason.
                store.check_room()?;
                return Ok(());
            }
            tokio::time::sleep(ROOM_POLL.min(deadline - now)).await;
            if store.has_room() {
                return Ok(());
            }
        }
    }

    /// The forwarder of a forwarding pipeline.
    pub(crate) fn forwarder(&self) -> Option<&Arc<dyn Forwarder>> {
        self.shared.forwarder.as_ref()
    }

    /// Queues a batch and waits until it is durably stored.
    ///
    /// Fails at once with [`SubmitError::Overloaded`] when the queue is full
    /// and with [`SubmitError::ShuttingDown`] after [`Pipeline::shutdown`].
    /// If the caller stops waiting, a queued batch is still written.
    pub async fn submit(
        &self,
        receiver: Receiver,
        batch: PreparedBatch,
    ) -> Result<(), SubmitError> {
        let (reply, answer) = oneshot::channel();
        self.enqueue(Job { batch, reply }).inspect_err(|error| {
            tracing::debug!(receiver = receiver.label(), %error, "batch not queued");
        })?;
        // The writer drops the reply only when it dies mid-write.
        answer.await.unwrap_or_else(|_| {
            Err(SubmitError::Storage(
                "the storage writer stopped".to_string(),
            ))
        })
    }

    fn enqueue(&self, job: Job) -> Result<(), SubmitError> {
        let sender = self
            .shared
            .sender
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(sender) = sender.as_ref() else {
            return Err(SubmitError::ShuttingDown);
        };
        // Count before sending so the writer's decrement never underflows.
        let depth = self.shared.counts.depth.fetch_add(1, Ordering::SeqCst) + 1;
        match sender.try_send(job) {
            Ok(()) => {
                metrics::queue_depth(depth);
                Ok(())
            }
            Err(refused) => {
                let depth = self.shared.counts.depth.fetch_sub(1, Ordering::SeqCst) - 1;
                metrics::queue_depth(depth);
                match refused {
                    TrySendError::Full(_) => Err(SubmitError::Overloaded),
                    TrySendError::Disconnected(_) => Err(SubmitError::ShuttingDown),
                }
            }
        }
    }

    /// Lets `analytics` see every batch submitted from now on (once; a
    /// second call is ignored).
    pub fn set_analytics(&self, analytics: Analytics) {
        let _ = self.shared.analytics.set(analytics);
    }

    /// The analytics that see every batch, if any.
    pub fn analytics(&self) -> Option<Analytics> {
        self.shared.analytics.get().cloned()
    }

    /// Samples every batch submitted from now on at ingest, after the
    /// analytics saw it (once; a second call is ignored). A sampler that
    /// keeps everything is not installed.
    pub fn set_head_sampler(&self, sampler: crate::sampling::HeadSampler) {
        if !sampler.keeps_everything() {
            let _ = self.shared.head_sampler.set(Arc::new(sampler));
        }
    }

    /// The ingest sampler, if any.
    pub(crate) fn head_sampler(&self) -> Option<Arc<crate::sampling::HeadSampler>> {
        self.shared.head_sampler.get().cloned()
    }

    /// Batches waiting for the writer now.
    pub fn queue_depth(&self) -> usize {
        self.shared.counts.depth.load(Ordering::SeqCst)
    }

    /// Storage writes done so far (each one a group commit of queued batches).
    pub fn storage_writes(&self) -> u64 {
        self.shared.counts.writes.load(Ordering::SeqCst)
    }

    /// Batches the queue holds at most.
    pub fn queue_capacity(&self) -> usize {
        self.shared.capacity
    }

    /// Stops accepting batches, writes what is queued and joins the writer.
    /// Blocks the calling thread; idempotent, and any clone may call it.
    pub fn shutdown_blocking(&self) {
        let writer = self.close();
        if let Some(writer) = writer {
            if writer.join().is_err() {
                tracing::error!("the storage writer thread panicked");
            }
        }
    }

    /// [`Pipeline::shutdown_blocking`] for async callers: the join runs on the
    /// blocking pool.
    pub async fn shutdown(&self) {
        let writer = self.close();
        if let Some(writer) = writer {
            let joined = tokio::task::spawn_blocking(move || writer.join().is_ok()).await;
            if !matches!(joined, Ok(true)) {
                tracing::error!("the storage writer thread panicked");
            }
        }
    }

    /// Drops the queue's sender (the writer drains, then exits) and hands out
    /// the writer's handle once.
    fn close(&self) -> Option<JoinHandle<()>> {
        drop(
            self.shared
                .sender
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        self.shared
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// The writer thread: waits for a job, takes whatever else is queued up to
/// `max_per_write`, writes all of it in one call and answers each submitter.
/// Returns when every sender is gone and the queue is empty.
fn run_writer(store: &Store, jobs: &mpsc::Receiver<Job>, counts: &Counts, max_per_write: usize) {
    let mut taken: Vec<Job> = Vec::with_capacity(max_per_write);
    while let Ok(first) = jobs.recv() {
        taken.push(first);
        while taken.len() < max_per_write {
            match jobs.try_recv() {
                Ok(job) => taken.push(job),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let remaining = counts.depth.fetch_sub(taken.len(), Ordering::SeqCst) - taken.len();
        metrics::queue_depth(remaining);

        let (batches, replies): (Vec<PreparedBatch>, Vec<_>) =
            taken.drain(..).map(|job| (job.batch, job.reply)).unzip();
        let spans: usize = batches.iter().map(PreparedBatch::span_count).sum();
        let started = Instant::now();
        let result = store.write_batches(&batches).map_err(SubmitError::from);
        metrics::write_finished(started.elapsed(), spans);
        counts.writes.fetch_add(1, Ordering::SeqCst);
        if let Err(error) = &result {
            tracing::error!(%error, batches = batches.len(), spans, "storage write failed");
        }
        for reply in replies {
            // A submitter that stopped waiting is fine: its batch was handled.
            let _ = reply.send(result.clone());
        }
    }
}
