//! The HTTP client of one store node's internal API
//! ([`crate::internal_api`]).
//!
//! In: a read, as a typed call. Out: the node's answer decoded (protobuf
//! traces, JSON for the rest), or a one-line reason it failed (connection
//! refused, timeout, an HTTP error status with the node's message, a body
//! that does not decode).

use bytes::Bytes;
use prost::Message;
use reqwest::{Client, RequestBuilder, StatusCode};
use spoor_proto::ids::TraceId;
use spoor_proto::model::{SpanKind, TracesData};
use spoor_storage::aggregates::BucketAggregates;
use spoor_storage::{
    DependencyLink, FoundTrace, Operation, SearchCursor, SeriesFilter, TraceQuery,
};

use crate::internal_api::wire::{self, BucketsRequest, PageRequest, PartitionReport};

/// One store node.
#[derive(Clone)]
pub struct StoreClient {
    base: String,
    http: Client,
}

/// Why a call failed, for the partial-answer note.
pub type CallError = String;

impl StoreClient {
    /// A client of the node at `base` (`http://host:port`).
    pub fn new(base: &str, http: Client) -> Self {
        StoreClient {
            base: base.trim_end_matches('/').to_string(),
            http,
        }
    }

    /// The node's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}/internal/v1/{path}", self.base)
    }

    /// Sends; `None` for 404, the body for success, else why not.
    async fn send(&self, request: RequestBuilder) -> Result<Option<Bytes>, CallError> {
        let response = request.send().await.map_err(describe)?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body = response.bytes().await.map_err(describe)?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(format!("HTTP {status}: {}", text.trim()));
        }
        Ok(Some(body))
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> Result<T, CallError> {
        let body = self
            .send(request)
            .await?
            .ok_or_else(|| "HTTP 404 Not Found".to_string())?;
        serde_json::from_slice(&body).map_err(|e| format!("bad JSON answer: {e}"))
    }

    async fn trace(&self, request: RequestBuilder) -> Result<Option<TracesData>, CallError> {
        match self.send(request).await? {
            None => Ok(None),
            Some(body) => TracesData::decode(body)
                .map(Some)
                .map_err(|e| format!("bad protobuf answer: {e}")),
        }
    }

    async fn found(&self, request: RequestBuilder) -> Result<Vec<FoundTrace>, CallError> {
        match self.send(request).await? {
            None => Err("HTTP 404 Not Found".into()),
            Some(body) => wire::decode_found(body),
        }
    }

    /// The node's partition report.
    pub async fn report(&self) -> Result<PartitionReport, CallError> {
        self.json(self.http.get(self.url("partitions"))).await
    }

    /// Its fragment of a trace.
    pub async fn get_trace(&self, id: TraceId) -> Result<Option<TracesData>, CallError> {
        let url = self.url(&format!("traces/{}", id.to_hex32()));
        self.trace(self.http.get(url)).await
    }

    /// Its spans of the traces with these low 64 bits.
    pub async fn get_trace_by_low64(&self, low: u64) -> Result<Option<TracesData>, CallError> {
        let url = self.url(&format!("traces-by-low64/{low:016x}"));
        self.trace(self.http.get(url)).await
    }

    /// Its hits of a search page.
    pub async fn find_page(
        &self,
        query: &TraceQuery,
        after: Option<SearchCursor>,
    ) -> Result<Vec<FoundTrace>, CallError> {
        let request = match after {
            None => self.http.post(self.url("search")).json(query),
            Some(c) => self.http.post(self.url("find-page")).json(&PageRequest {
                query: query.clone(),
                after: Some(c.into()),
            }),
        };
        self.found(request).await
    }

    /// Its service names.
    pub async fn services(&self) -> Result<Vec<String>, CallError> {
        self.json(self.http.get(self.url("services"))).await
    }

    /// Its operations of a service.
    pub async fn operations(
        &self,
        service: &str,
        kind: Option<SpanKind>,
    ) -> Result<Vec<Operation>, CallError> {
        let mut query = vec![("service", service.to_string())];
        if let Some(kind) = kind {
            query.push(("kind", (kind as i32).to_string()));
        }
        self.json(self.http.get(self.url("operations")).query(&query))
            .await
    }

    /// Its dependency links of a window.
    pub async fn dependencies(
        &self,
        start_ms: u64,
        end_ms: u64,
    ) -> Result<Vec<DependencyLink>, CallError> {
        let query = [("start_ms", start_ms), ("end_ms", end_ms)];
        self.json(self.http.get(self.url("dependencies")).query(&query))
            .await
    }

    /// Its aggregate buckets of a window.
    pub async fn aggregate_buckets(
        &self,
        start_ms: u64,
        end_ms: u64,
        filter: &SeriesFilter,
    ) -> Result<Vec<(u64, BucketAggregates)>, CallError> {
        let body = BucketsRequest {
            start_ms,
            end_ms,
            filter: filter.clone(),
        };
        self.json(self.http.post(self.url("aggregate-buckets")).json(&body))
            .await
    }

    /// Archives its fragment of a trace.
    pub async fn archive(&self, id: TraceId) -> Result<bool, CallError> {
        let url = self.url(&format!("archive/{}", id.to_hex32()));
        self.json(self.http.post(url)).await
    }

    /// Its archived copy of a trace.
    pub async fn archived(&self, id: TraceId) -> Result<Option<TracesData>, CallError> {
        let url = self.url(&format!("archive/{}", id.to_hex32()));
        self.trace(self.http.get(url)).await
    }
}

/// A reqwest error in one line, with its cause (connection refused, ...).
fn describe(error: reqwest::Error) -> CallError {
    let mut text = if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
