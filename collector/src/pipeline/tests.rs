//! Pipeline tests against a real store on a temporary directory.
//!
//! In: prepared batches submitted concurrently. Out: checks that what is
//! acknowledged is stored, that a full queue refuses at once, that queued
//! batches share storage writes, and that shutdown drains then refuses.

use futures::future::join_all;
use spoor_storage::prepare_batch;

use super::*;
use crate::ingest::ingest_batch;
use crate::testing::{
    held_pipeline_with, pipeline_with, run_counted, span, traces, with_queue_full, TestStore,
};

fn config(queue_capacity: usize, max_batches_per_write: usize) -> CollectorConfig {
    let mut config = CollectorConfig::default();
    config.pipeline.queue_capacity = queue_capacity;
    config.pipeline.max_batches_per_write = max_batches_per_write;
    config
}

/// A batch holding `spans` spans of trace `trace`.
fn batch(trace: u128, spans: u64) -> PreparedBatch {
    prepare_batch(traces(
        "svc",
        (1..=spans).map(|id| span(trace, id, "op")).collect(),
    ))
}

#[tokio::test]
async fn acknowledged_batch_is_stored() {
    let (store, pipeline) = pipeline_with(&config(4, 4));
    pipeline
        .submit(Receiver::OtlpHttp, batch(7, 3))
        .await
        .unwrap();
    assert_eq!(store.span_count(7), 3);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn full_queue_answers_overloaded_at_once_and_every_success_is_stored() {
    let (store, pipeline, hold) = held_pipeline_with(&config(1, 1));
    let submit = |trace| pipeline.submit(Receiver::ZipkinHttp, batch(trace, 1));
    let refused = join_all((2..=200u128).map(submit));
    let (accepted, refused) = with_queue_full(&pipeline, hold, submit(1), refused).await;
    assert_eq!(accepted, Ok(()));
    assert_eq!(store.span_count(1), 1, "acknowledged trace is missing");
    assert!(
        refused
            .iter()
            .all(|result| *result == Err(SubmitError::Overloaded)),
        "a full queue refuses at once: {refused:?}"
    );
    for trace in 2..=200u128 {
        assert_eq!(store.span_count(trace), 0, "refused trace {trace} stored");
    }
    assert_eq!(pipeline.queue_depth(), 0);
    pipeline.shutdown().await;
}
#[tokio::test]
async fn queued_batches_share_storage_writes() {
    let (store, pipeline, hold) = held_pipeline_with(&config(64, 16));
    let submits = join_all((1..=48u128).map(|trace| {
        let pipeline = pipeline.clone();
        async move { pipeline.submit(Receiver::OtlpGrpc, batch(trace, 2)).await }
    }));
    let release = async {
        while pipeline.queue_depth() < 48 {
            tokio::task::yield_now().await;
        }
        hold.release();
    };
    let (results, ()) = tokio::join!(submits, release);
    for result in results {
        result.unwrap();
    }
    assert_eq!(
        pipeline.storage_writes(),
        3,
        "48 queued batches at 16 per write"
    );
    assert_eq!(store.span_count(48), 2);
    pipeline.shutdown().await;
}
#[tokio::test]
async fn shutdown_drains_the_queue_then_refuses() {
    let (store, pipeline) = pipeline_with(&config(64, 4));
    let queued: Vec<_> = (1..=20u128)
        .map(|trace| {
            let pipeline = pipeline.clone();
            tokio::spawn(async move { pipeline.submit(Receiver::OtlpHttp, batch(trace, 1)).await })
        })
        .collect();
    // Let the submits reach the queue, then shut down while they wait.
    tokio::task::yield_now().await;
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    pipeline.shutdown().await;
    for (index, handle) in queued.into_iter().enumerate() {
        match handle.await.unwrap() {
            Ok(()) => assert_eq!(store.span_count(index as u128 + 1), 1),
            Err(error) => assert_eq!(error, SubmitError::ShuttingDown),
        }
    }
    assert_eq!(
        pipeline.submit(Receiver::OtlpHttp, batch(99, 1)).await,
        Err(SubmitError::ShuttingDown)
    );
    // A second shutdown is harmless.
    pipeline.shutdown_blocking();
}

#[tokio::test]
async fn storage_shutting_down_is_reported_as_shutting_down() {
    let (store, pipeline) = pipeline_with(&config(4, 4));
    store.store.shutdown().unwrap();
    assert_eq!(
        pipeline.submit(Receiver::OtlpHttp, batch(1, 1)).await,
        Err(SubmitError::ShuttingDown)
    );
    pipeline.shutdown().await;
}

#[tokio::test]
async fn the_cpu_stage_admits_its_configured_number_of_batches_at_once() {
    let mut two = config(4, 4);
    two.pipeline.prepare_concurrency = 2;
    let (_store, pipeline) = pipeline_with(&two);
    let first = pipeline.cpu_turn().await.unwrap();
    let _second = pipeline.cpu_turn().await.unwrap();
    let mut third = Box::pin(pipeline.cpu_turn());
    assert!(
        futures::poll!(&mut third).is_pending(),
        "a third batch waits while two hold the stage"
    );
    drop(first);
    let _third = third.await;
    pipeline.shutdown().await;
}

/// A pipeline of `turns` CPU turns (`behind` while behind) on a store
/// whose flusher is behind once it holds one span (the buffer more than
/// half way from its soft bound to its hard bound, not over the hard one;
/// never flushed).
async fn behind_pipeline(turns: usize, behind: usize) -> (TestStore, Pipeline) {
    let one_span = {
        let probe = TestStore::open();
        probe.store.write_batches(&[batch(1, 1)]).unwrap();
        probe.store.stats().live_bytes
    };
    let store = TestStore::open_held(spoor_storage::StorageConfig {
        live_max_bytes: 1,
        live_hard_max_bytes: one_span,
        flush_interval: std::time::Duration::from_secs(3600),
        trace_idle_timeout: std::time::Duration::from_secs(3600),
        trace_max_age: std::time::Duration::from_secs(3600),
        ..Default::default()
    });
    let mut config = config(4, 4);
    config.pipeline.prepare_concurrency = turns;
    config.pipeline.behind_prepare_concurrency = behind;
    let pipeline = Pipeline::start(Arc::clone(&store.store), &config);
    assert!(!store.store.flusher_behind());
    pipeline
        .submit(Receiver::OtlpGrpc, batch(1, 1))
        .await
        .unwrap();
    assert!(store.store.flusher_behind());
    assert!(pipeline.has_room());
    (store, pipeline)
}

#[tokio::test]
async fn one_batch_at_a_time_enters_the_cpu_stage_while_the_flusher_is_behind() {
    let (_store, pipeline) = behind_pipeline(2, 1).await;
    let first = pipeline.cpu_turn().await.unwrap();
    let mut second = Box::pin(pipeline.cpu_turn());
    assert!(
        futures::poll!(&mut second).is_pending(),
        "a second batch waits while the flusher is behind"
    );
    drop(first);
    let _second = second.await.unwrap();
    pipeline.shutdown().await;
}

#[tokio::test]
async fn without_a_behind_limit_the_stage_keeps_its_turns() {
    let (_store, pipeline) = behind_pipeline(2, 0).await;
    let _first = pipeline.cpu_turn().await.unwrap();
    let mut second = Box::pin(pipeline.cpu_turn());
    assert!(futures::poll!(&mut second).is_ready());
    pipeline.shutdown().await;
}

#[test]
fn zero_means_one_turn_per_core() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(prepare_permits(0).available_permits(), cores);
    assert_eq!(prepare_permits(3).available_permits(), 3);
}

#[test]
fn a_request_is_refused_before_the_cpu_stage_while_the_buffer_is_over_its_hard_bound() {
    let ((first, refused), counters) = run_counted(Receiver::OtlpHttp, || async {
        // A buffer whose hard bound any held span exceeds.
        let store = TestStore::open_full();
        let mut at_once = config(4, 4);
        at_once.pipeline.overload_wait_ms = 0;
        let pipeline = Pipeline::start(Arc::clone(&store.store), &at_once);
        let batch = |trace| traces("svc", vec![span(trace, 1, "op")]);
        let first = ingest_batch(&pipeline, Receiver::OtlpHttp, batch(1)).await;
        let refused = ingest_batch(&pipeline, Receiver::OtlpHttp, batch(2)).await;
        pipeline.shutdown().await;
        (first, refused)
    });
    assert!(matches!(first, Ok(1)), "{first:?}");
    assert!(
        matches!(refused, Err(SubmitError::Overloaded)),
        "{refused:?}"
    );
    // Refused before validation, analytics and encoding: the refused
    // batch's spans were never counted as received (nor rejected).
    assert_eq!(counters.received(Receiver::OtlpHttp), 1, "{counters:?}");
    assert_eq!(counters.rejected(Receiver::OtlpHttp, "overloaded"), 0);
}

/// A pipeline waiting `wait_ms` for room on a store whose buffer one held
/// span puts over its hard bound (flushed only when let go).
async fn full_pipeline(wait_ms: u64) -> (TestStore, Pipeline) {
    full_pipeline_with_turns(wait_ms, 0).await
}

/// [`full_pipeline`] with `turns` CPU turns (0: one per core).
async fn full_pipeline_with_turns(wait_ms: u64, turns: usize) -> (TestStore, Pipeline) {
    let store = TestStore::open_full();
    let mut config = config(4, 4);
    config.pipeline.overload_wait_ms = wait_ms;
    config.pipeline.prepare_concurrency = turns;
    let pipeline = Pipeline::start(Arc::clone(&store.store), &config);
    pipeline
        .submit(Receiver::OtlpGrpc, batch(1, 1))
        .await
        .unwrap();
    assert!(!pipeline.has_room());
    (store, pipeline)
}

#[tokio::test]
async fn a_request_waits_for_the_flusher_to_make_room_and_then_goes_on() {
    let (store, pipeline) = full_pipeline(60_000).await;
    let mut turn = Box::pin(pipeline.cpu_turn());
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(
        futures::poll!(&mut turn).is_pending(),
        "no room: the request waits instead of being refused"
    );
    store.release_flusher();
    store.store.flush(true).unwrap();
    let turn = tokio::time::timeout(std::time::Duration::from_secs(10), turn)
        .await
        .expect("room was made, so the wait ends");
    assert!(turn.is_ok());
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_request_still_without_room_after_the_wait_is_refused() {
    let (_store, pipeline) = full_pipeline(100).await;
    let started = std::time::Instant::now();
    let refused = pipeline.cpu_turn().await.err();
    assert_eq!(refused, Some(SubmitError::Overloaded));
    assert!(started.elapsed() >= std::time::Duration::from_millis(100));
    let (_store, at_once) = full_pipeline(0).await;
    assert_eq!(
        at_once.cpu_turn().await.err(),
        Some(SubmitError::Overloaded)
    );
    pipeline.shutdown().await;
    at_once.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn requests_wait_for_room_side_by_side_not_one_turn_at_a_time() {
    // One CPU turn, a full store that stays full, a 300 ms wait, tokio's
    // clock paused (it moves only when every task waits): three requests
    // waiting at once are all refused once one wait is over, not three.
    let (_store, pipeline) = full_pipeline_with_turns(300, 1).await;
    let started = tokio::time::Instant::now();
    let refused = futures::future::join_all((0..3).map(|_| pipeline.cpu_turn())).await;
    assert!(refused
        .iter()
        .all(|r| matches!(r, Err(SubmitError::Overloaded))));
    let waited = started.elapsed();
    assert!(
        waited < std::time::Duration::from_millis(600),
        "the waits ran one turn after another: {waited:?} on the paused clock"
    );
    pipeline.shutdown().await;
}
