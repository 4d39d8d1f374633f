//! The store node's side of the split deployment's read path: the internal
//! API query nodes fan out to, over this node's store and the partitions it
//! owns and has held.
//!
//! In: the node's store and its Kafka partition state. Out: the routes
//! under `/internal/v1/` merged onto the node's query port.

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use spoor_kafka::NodeState;
use spoor_storage::Store;

/// The internal API of a store node.
pub fn internal_api(_store: Arc<Store>, state: Arc<NodeState>) -> Router {
    Router::new().route(
        "/internal/v1/partitions",
        get(move || {
            let state = Arc::clone(&state);
            async move { Json(state.report()) }
        }),
    )
}
