//! The store node's side of the split deployment's read path: the internal
//! API query nodes fan out to, over this node's store and the partitions it
//! owns and has held.
//!
//! In: the node's store and its Kafka partition state. Out: the routes
//! under `/internal/v1/` merged onto the node's query port.

use std::sync::Arc;

use spoor_kafka::NodeState;
use spoor_query::{PartitionLag, PartitionReport};
use spoor_storage::source::TraceSource;

/// The internal API of a store node.
pub fn internal_api(store: Arc<dyn TraceSource>, state: Arc<NodeState>) -> axum::Router {
    spoor_query::internal_router(store, Arc::new(move || report(&state)))
}

/// The node's partitions in the query side's terms.
fn report(state: &NodeState) -> PartitionReport {
    let report = state.report();
    PartitionReport {
        node: report.node,
        partition_count: report.partition_count,
        assigned: report.assigned,
        held: report.held,
        lagging: report
            .lagging
            .into_iter()
            .map(|(partition, records_behind)| PartitionLag {
                partition,
                records_behind,
            })
            .collect(),
    }
}
