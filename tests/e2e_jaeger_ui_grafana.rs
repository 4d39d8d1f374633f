//! End to end: the HTTP call sequences of the current Jaeger UI (api_v3
//! services → operations → trace-summaries, then the v1 trace page, archive
//! and OTLP upload) and of Grafana's Jaeger data source (v1 frontend mode,
//! and api_v3 with snake_case parameters and unescaped RFC 3339 times in
//! backend mode), against the real binary, checking the fields each reads.

mod support;

use serde_json::{json, Value};
use support::*;

async fn get(client: &reqwest::Client, url: String) -> (u16, String, Value) {
    let resp = client.get(url).send().await.unwrap();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (status, content_type, body)
}

fn rfc3339(ns: u64) -> String {
    // Seconds precision is enough here; the date arithmetic is the civil-from-days algorithm.
    let secs = (ns / 1_000_000_000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[tokio::test]
async fn current_jaeger_ui_sequence_v3_catalogue_summaries_then_v1_trace_page() {
    let spoor = Spoor::start();
    let http = reqwest::Client::new();
    let trace = random_trace();
    send_otlp(&http, &spoor, sample_trace(trace, "checkout")).await;
    let base = spoor.query_url();

    // 1. Services.
    let (status, content_type, body) = get(&http, format!("{base}/api/v3/services")).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    assert_eq!(body, json!({"services": ["checkout"]}));

    // 2. Operations: both fields strings, internal for an unknown kind.
    let (_, _, body) = get(&http, format!("{base}/api/v3/operations?service=checkout")).await;
    let ops = body["operations"].as_array().unwrap();
    assert_eq!(ops.len(), 2);
    assert!(ops.contains(&json!({"name": "GET /checkout", "spanKind": "server"})));
    assert!(ops.contains(&json!({"name": "SELECT orders", "spanKind": "client"})));
    let (_, _, body) = get(&http, format!("{base}/api/v3/operations?service=nobody")).await;
    assert_eq!(body, json!({"operations": []}));

    // 3. Search through trace summaries (camelCase, as the UI sends).
    let now = now_ns();
    let url = format!(
        "{base}/api/v3/trace-summaries?query.serviceName=checkout&query.startTimeMin={}&query.startTimeMax={}&query.searchDepth=20",
        rfc3339(now - 3_600_000_000_000),
        rfc3339(now + 60_000_000_000)
    );
    let (status, _, body) = get(&http, url).await;
    assert_eq!(status, 200);
    let summary = &body["summaries"][0];
    let id = summary["traceId"].as_str().unwrap();
    assert_eq!(id, trace.to_hex32());
    assert!(
        id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(summary["rootServiceName"], "checkout");
    assert_eq!(summary["rootOperationName"], "GET /checkout");
    assert_eq!(summary["spanCount"], 2);
    assert_eq!(summary["errorSpanCount"], 1);
    assert_eq!(summary["orphanSpanCount"], 0);
    let start: u64 = summary["minStartTimeUnixNano"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let end: u64 = summary["maxEndTimeUnixNano"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(end - start, 25_000_000);
    assert_eq!(
        summary["services"],
        json!([{"name": "checkout", "spanCount": 2, "errorSpanCount": 1}])
    );
    // No match is 200 with an empty list; search without a service works.
    let (status, _, body) = get(
        &http,
        format!("{base}/api/v3/trace-summaries?query.serviceName=nobody"),
    )
    .await;
    assert_eq!((status, body), (200, json!({"summaries": []})));
    let (_, _, body) = get(&http, format!("{base}/api/v3/trace-summaries?query.attributes=%7B%22db.system%22%3A%22postgresql%22%7D")).await;
    assert_eq!(body["summaries"][0]["traceId"], trace.to_hex32());

    // 4. The trace page still reads the v1 model.
    let (status, _, body) = get(&http, format!("{base}/api/traces/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"][0]["spans"].as_array().unwrap().len(), 2);

    // Archive button, then the archived copy is served.
    let resp = http
        .post(format!("{base}/api/archive/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"data": [], "total": 0, "limit": 0, "offset": 0, "errors": []})
    );
    let resp = http
        .post(format!("{base}/api/archive/{}", random_trace().to_hex32()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["errors"][0]["msg"],
        "trace not found"
    );

    // Upload of an OTLP/JSON file.
    let otlp = json!({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "upload"}}]},
        "scopeSpans": [{"spans": [
            {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "a", "kind": 2,
             "startTimeUnixNano": "1718000000000000000", "endTimeUnixNano": "1718000000020000000"},
            {"traceId": "00000000000000000000000000000abc", "spanId": "eee19b7ec3c1b175", "name": "b",
             "startTimeUnixNano": "1718000000000000000", "endTimeUnixNano": "1718000000020000000"}]}]}]});
    let resp = http
        .post(format!("{base}/api/transform"))
        .json(&otlp)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["traceID"], "5b8efff798038103d269b633813fc60c");
    assert_eq!(data[1]["traceID"], "0000000000000abc");
    assert_eq!(data[0]["processes"]["p1"]["serviceName"], "upload");
    assert_eq!(data[0]["spans"][0]["duration"], 20_000);
    let resp = http
        .post(format!("{base}/api/transform"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn grafana_v1_frontend_sequence() {
    let spoor = Spoor::start();
    let http = reqwest::Client::new();
    let trace = random_trace();
    send_otlp(&http, &spoor, sample_trace(trace, "cart/api v2")).await;
    let base = spoor.query_url();

    // Save & test: a non-empty data array.
    let (_, _, body) = get(&http, format!("{base}/api/services")).await;
    assert_eq!(body["data"], json!(["cart/api v2"]));
    // Operation picker with an encodeURIComponent'ed service name.
    let (status, _, body) = get(
        &http,
        format!("{base}/api/services/cart%2Fapi%20v2/operations"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"], json!(["GET /checkout", "SELECT orders"]));
    // Search: logfmt turned into JSON tags, µs range, lookback=custom.
    let now_us = now_ns() / 1000;
    let url = format!(
        "{base}/api/traces?service=cart%2Fapi%20v2&operation=SELECT%20orders&tags=%7B%22error%22%3A%22true%22%7D&minDuration=5ms&limit=20&start={}&end={}&lookback=custom",
        now_us - 3_600_000_000,
        now_us + 60_000_000
    );
    let (status, _, body) = get(&http, url).await;
    assert_eq!(status, 200);
    let t = &body["data"][0];
    assert_eq!(t["traceID"], trace.to_jaeger_hex());
    let root = t["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["references"] == json!([]))
        .unwrap();
    assert_eq!(root["operationName"], "GET /checkout");
    assert_eq!(root["duration"], 25_000);
    // No match: 200 and an empty array.
    let (status, _, body) = get(&http, format!("{base}/api/traces?service=cart%2Fapi%20v2&tags=%7B%22error%22%3A%22false%22%7D&minDuration=1h")).await;
    assert_eq!((status, body["data"].clone()), (200, json!([])));
    // Trace by id with backend mode's millisecond hints: never a 404.
    let now_ms = now_ns() / 1_000_000;
    let (status, _, body) = get(
        &http,
        format!(
            "{base}/api/traces/{}?start={}&end={}",
            trace.to_hex32(),
            now_ms - 3_600_000,
            now_ms
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"][0]["spans"].as_array().unwrap().len(), 2);
    // Dependency graph: an array of {parent, child, callCount}.
    let (status, _, body) = get(
        &http,
        format!("{base}/api/dependencies?endTs={now_ms}&lookback=604800000"),
    )
    .await;
    assert_eq!(status, 200);
    for link in body["data"].as_array().expect("data is an array") {
        assert!(
            link["parent"].is_string() && link["child"].is_string() && link["callCount"].is_u64(),
            "{link}"
        );
    }
    let (status, _, _) = get(&http, format!("{base}/api/dependencies?endTs=soon")).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn grafana_api_v3_backend_sequence_with_snake_case_and_unescaped_times() {
    let spoor = Spoor::start();
    let http = reqwest::Client::new();
    let trace = random_trace();
    send_otlp(&http, &spoor, sample_trace(trace, "checkout")).await;
    let base = spoor.query_url();

    let (_, _, body) = get(&http, format!("{base}/api/v3/services")).await;
    assert_eq!(body["services"], json!(["checkout"]));
    // Times appended unescaped, with a `+00:00` offset that arrives as a space.
    let now = now_ns();
    let offset = |ns: u64| rfc3339(ns).replace('Z', "+00:00");
    let url = format!(
        "{base}/api/v3/traces?query.service_name=checkout&query.operation_name=GET%20/checkout&query.attributes=%7B%22http.status_code%22%3A%22200%22%7D&query.duration_min=1ms&query.duration_max=1s&query.start_time_min={}&query.start_time_max={}",
        offset(now - 3_600_000_000_000),
        offset(now + 60_000_000_000)
    );
    let (status, content_type, body) = get(&http, url).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let resource_spans = body["result"]["resourceSpans"].as_array().unwrap();
    assert_eq!(
        resource_spans[0]["resource"]["attributes"][0]["value"]["stringValue"],
        "checkout"
    );
    let spans = resource_spans[0]["scopeSpans"][0]["spans"]
        .as_array()
        .unwrap();
    assert_eq!(spans.len(), 2);
    let parent = spans.iter().find(|s| s["name"] == "GET /checkout").unwrap();
    assert_eq!(parent["traceId"], trace.to_hex32());
    assert_eq!(parent["spanId"], "0102030405060708");
    assert_eq!(parent["kind"], 2, "enums are integers");
    assert!(parent["startTimeUnixNano"].is_string());
    let child = spans.iter().find(|s| s["name"] == "SELECT orders").unwrap();
    assert_eq!(child["parentSpanId"], "0102030405060708");
    assert_eq!(child["status"]["code"], 2);

    // Trace by id with snake_case time hints.
    let (status, _, body) = get(
        &http,
        format!(
            "{base}/api/v3/traces/{}?start_time={}&end_time={}",
            trace.to_hex32(),
            rfc3339(now - 1),
            rfc3339(now)
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Errors Grafana reads through error.httpCode.
    let (status, content_type, body) = get(
        &http,
        format!("{base}/api/v3/traces?query.service_name=nobody"),
    )
    .await;
    assert_eq!(
        (status, content_type.as_str()),
        (404, "text/plain; charset=utf-8")
    );
    assert_eq!(
        body,
        json!({"error": {"httpCode": 404, "message": "No traces found"}})
    );
    let (status, _, body) = get(
        &http,
        format!("{base}/api/v3/traces/{}", random_trace().to_hex32()),
    )
    .await;
    assert_eq!(
        (status, body["error"]["httpCode"].clone()),
        (404, json!(404))
    );
    let (status, _, body) = get(
        &http,
        format!("{base}/api/v3/traces?query.start_time_min=yesterday"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("malformed parameter query.startTimeMin"));
    let (status, _, body) = get(&http, format!("{base}/api/v3/nothing")).await;
    assert_eq!(status, 404);
    assert!(
        body.is_object(),
        "unknown /api paths answer JSON, never HTML"
    );
}
