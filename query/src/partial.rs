//! Partial answers: how a note from the trace source ("store … did not
//! answer, partitions 1,4 may be incomplete") reaches the client.
//!
//! In: the notes a [`TraceSource`](spoor_storage::TraceSource) records with
//! `spoor_storage::source::note_partial` on the blocking thread that runs
//! the request's work. Out: the notes handed to the request's task
//! ([`run_noted`] on the blocking thread, then [`hand_over`]), the
//! `X-Spoor-Partial: true` response header set by the [`mark_partial`]
//! middleware of every HTTP router, and, for the Jaeger v1 JSON API, one
//! `errors` entry per note ([`error_items`]) beside the data. The gRPC
//! query services get the same header as response metadata; every note is
//! also logged.

use std::cell::RefCell;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use spoor_storage::source::take_partial_notes;

use crate::jaeger_json::ErrorItem;

/// The response header set when an answer misses data.
pub const PARTIAL_HEADER: &str = "x-spoor-partial";

/// The `code` of a partial-answer entry in the v1 `errors` array: the data
/// of some store was unavailable.
pub const PARTIAL_CODE: u16 = 503;

tokio::task_local! {
    static NOTES: RefCell<Vec<String>>;
}

/// Runs `work` on this (blocking) thread and returns its result with the
/// partial-answer notes it recorded (leftovers of earlier work on a pooled
/// thread are dropped first).
pub(crate) fn run_noted<T>(work: impl FnOnce() -> T) -> (T, Vec<String>) {
    take_partial_notes();
    let out = work();
    (out, take_partial_notes())
}

/// Gives the notes to the request being answered (see [`mark_partial`]);
/// outside a request (tests calling handlers directly) they are logged.
pub(crate) fn hand_over(notes: Vec<String>) {
    if notes.is_empty() {
        return;
    }
    for note in &notes {
        tracing::warn!(note = %note, "partial answer");
    }
    let _ = NOTES.try_with(|all| {
        let mut all = all.borrow_mut();
        for note in notes {
            if !all.contains(&note) {
                all.push(note);
            }
        }
    });
}

/// The notes handed over so far by the request being answered.
pub(crate) fn current_notes() -> Vec<String> {
    NOTES
        .try_with(|all| all.borrow().clone())
        .unwrap_or_default()
}

/// The v1 `errors` entries of the notes; `None` without notes.
pub(crate) fn error_items(notes: &[String]) -> Option<Vec<ErrorItem>> {
    (!notes.is_empty()).then(|| {
        notes
            .iter()
            .map(|note| ErrorItem {
                code: Some(PARTIAL_CODE),
                msg: note.clone(),
                trace_id: None,
            })
            .collect()
    })
}

/// Middleware: collects the notes of the request and marks its response
/// with `X-Spoor-Partial: true` when there are any.
pub(crate) async fn mark_partial(request: Request, next: Next) -> Response {
    let (mut response, notes) = NOTES
        .scope(RefCell::new(Vec::new()), async {
            let response = next.run(request).await;
            (response, current_notes())
        })
        .await;
    if !notes.is_empty() {
        response
            .headers_mut()
            .insert(PARTIAL_HEADER, HeaderValue::from_static("true"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_storage::source::note_partial;

    #[test]
    fn notes_of_the_work_are_returned_and_leftovers_dropped() {
        note_partial("left over".into());
        let (value, notes) = run_noted(|| {
            note_partial("store a did not answer".into());
            7
        });
        assert_eq!(value, 7);
        assert_eq!(notes, ["store a did not answer"]);
        assert!(take_partial_notes().is_empty());
        let items = error_items(&notes).unwrap();
        assert_eq!(items[0].code, Some(PARTIAL_CODE));
        assert!(error_items(&[]).is_none());
    }

    #[tokio::test]
    async fn handed_over_notes_are_seen_inside_the_scope_only() {
        let seen = NOTES
            .scope(RefCell::new(Vec::new()), async {
                hand_over(vec!["x".into(), "x".into()]);
                current_notes()
            })
            .await;
        assert_eq!(seen, ["x"]);
        hand_over(vec!["y".into()]);
        assert!(current_notes().is_empty());
    }
}
