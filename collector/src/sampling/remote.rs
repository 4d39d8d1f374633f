//! The Jaeger remote-sampling endpoints SDKs poll.
//!
//! In: `GET /sampling?service=` and `GET /api/sampling?service=` over HTTP,
//! `jaeger.api_v2.SamplingManager/GetSamplingStrategy` over gRPC, and the
//! old agent's `GET /?service=`. Out: the service's strategy from the
//! [`StrategyProvider`], as proto-JSON (the legacy root path answers the
//! "Thrift 0.9.2" JSON with an integer `strategyType`) or protobuf. `service` must be given exactly once over HTTP (else 400
//! `'service' parameter must be provided once`); an unknown service gets the
//! default strategy, never 404. A gRPC request that does not decode is
//! `INVALID_ARGUMENT`, counted in `spoor_grpc_requests_refused_total`.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use spoor_proto::jaeger::api_v2::sampling_manager_server::{
    SamplingManager, SamplingManagerServer,
};
use spoor_proto::jaeger::api_v2::{SamplingStrategyParameters, SamplingStrategyResponse};

use crate::grpc_refusal::{ByService, RefusalCounting};
use crate::sampling::strategies::{legacy_response_json, response_json, StrategyProvider};

/// Strategy requests answered, per transport.
pub const SAMPLING_STRATEGY_REQUESTS_TOTAL: &str = "spoor_sampling_strategy_requests_total";

/// The HTTP endpoints (`/sampling`, `/api/sampling`), to serve on :5778 and
/// to merge into the Jaeger collector's :14268 router.
pub fn sampling_http_router(provider: StrategyProvider) -> Router {
    Router::new()
        .route("/sampling", get(http_strategy))
        .route("/api/sampling", get(http_strategy))
        .with_state(provider)
}

/// [`sampling_http_router`] plus the old agent's root path (`GET /?service=`,
/// integer `strategyType`), for the dedicated :5778 listener.
pub fn sampling_agent_router(provider: StrategyProvider) -> Router {
    sampling_http_router(provider.clone()).merge(
        Router::new()
            .route("/", get(legacy_http_strategy))
            .with_state(provider),
    )
}

async fn legacy_http_strategy(
    State(provider): State<StrategyProvider>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    answer(&provider, &params, legacy_response_json)
}

async fn http_strategy(
    State(provider): State<StrategyProvider>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    answer(&provider, &params, response_json)
}

fn answer(
    provider: &StrategyProvider,
    params: &[(String, String)],
    encode: fn(&SamplingStrategyResponse) -> serde_json::Value,
) -> Response {
    let mut services = params.iter().filter(|(k, _)| k == "service");
    let (Some((_, service)), None) = (services.next(), services.next()) else {
        return (
            StatusCode::BAD_REQUEST,
            "'service' parameter must be provided once\n",
        )
            .into_response();
    };
    metrics::counter!(SAMPLING_STRATEGY_REQUESTS_TOTAL, "transport" => "http").increment(1);
    let body = encode(&provider.strategy(service)).to_string();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The gRPC `SamplingManager`.
#[derive(Debug, Clone)]
pub struct SamplingGrpc {
    provider: StrategyProvider,
}

#[tonic::async_trait]
impl SamplingManager for SamplingGrpc {
    async fn get_sampling_strategy(
        &self,
        request: tonic::Request<SamplingStrategyParameters>,
    ) -> Result<tonic::Response<SamplingStrategyResponse>, tonic::Status> {
        metrics::counter!(SAMPLING_STRATEGY_REQUESTS_TOTAL, "transport" => "grpc").increment(1);
        let service = request.into_inner().service_name;
        Ok(tonic::Response::new(self.provider.strategy(&service)))
    }
}

/// The gRPC sampling service as served: undecodable requests are
/// `INVALID_ARGUMENT` and counted (`crate::grpc_refusal`).
pub type SamplingGrpcService = RefusalCounting<SamplingManagerServer<SamplingGrpc>, ByService>;

/// The gRPC service, to serve on :5779 (and beside the Jaeger collector on
/// :14250).
pub fn sampling_grpc_service(provider: StrategyProvider) -> SamplingGrpcService {
    RefusalCounting::new(
        SamplingManagerServer::new(SamplingGrpc { provider }),
        ByService,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::config::SamplingConfig;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get_body(router: &Router, uri: &str) -> (StatusCode, String) {
        let response = router
            .clone()
            .oneshot(axum::http::Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn service_must_be_given_exactly_once() {
        let provider = StrategyProvider::new(&SamplingConfig::default()).unwrap();
        let router = sampling_http_router(provider);
        for uri in [
            "/sampling",
            "/api/sampling?service=a&service=b",
            "/sampling?svc=a",
        ] {
            let (status, body) = get_body(&router, uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
            assert!(body.contains("'service' parameter must be provided once"));
        }
        let legacy =
            sampling_agent_router(StrategyProvider::new(&SamplingConfig::default()).unwrap());
        let (status, body) = get_body(&legacy, "/?service=anyone").await;
        assert_eq!(status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["strategyType"], 0);
        let (status, _) = get_body(&legacy, "/").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, body) = get_body(&router, "/api/sampling?service=anyone").await;
        assert_eq!(status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1}})
        );
    }

    #[tokio::test]
    async fn grpc_answers_the_services_strategy() {
        let provider = StrategyProvider::new(&SamplingConfig {
            default_sampling_probability: 0.5,
            ..SamplingConfig::default()
        })
        .unwrap();
        let grpc = SamplingGrpc { provider };
        let answer = grpc
            .get_sampling_strategy(tonic::Request::new(SamplingStrategyParameters {
                service_name: "x".into(),
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.probabilistic_sampling.unwrap().sampling_rate, 0.5);
    }
}
