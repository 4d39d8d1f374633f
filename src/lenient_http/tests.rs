//! Tests of the request-line rewriter: what it changes, what it leaves, and
//! that how the bytes are split across reads changes nothing.

use super::RequestLineRewriter;

fn rewrite(input: &[u8]) -> Vec<u8> {
    let mut rewriter = RequestLineRewriter::default();
    let mut out = Vec::new();
    rewriter.feed(input, &mut out);
    rewriter.finish(&mut out);
    out
}

/// The same input split at every position, and fed a byte at a time.
fn assert_split_invariant(input: &[u8]) {
    let whole = rewrite(input);
    for at in 0..=input.len() {
        let mut rewriter = RequestLineRewriter::default();
        let mut out = Vec::new();
        rewriter.feed(&input[..at], &mut out);
        rewriter.feed(&input[at..], &mut out);
        rewriter.finish(&mut out);
        assert_eq!(out, whole, "split at {at}");
    }
    let mut rewriter = RequestLineRewriter::default();
    let mut out = Vec::new();
    for b in input {
        rewriter.feed(std::slice::from_ref(b), &mut out);
    }
    rewriter.finish(&mut out);
    assert_eq!(out, whole, "byte by byte");
}

#[test]
fn raw_quotes_in_the_query_are_percent_encoded() {
    let input = b"GET /api/traces?service=checkout&tags={\"http.status_code\":\"200\"} HTTP/1.1\r\nHost: x\r\n\r\n";
    let expected = b"GET /api/traces?service=checkout&tags={%22http.status_code%22:%22200%22} HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_eq!(rewrite(input), expected.to_vec());
    assert_split_invariant(input);
}

#[test]
fn angle_brackets_backticks_and_inner_spaces_are_encoded_too() {
    assert_eq!(
        rewrite(b"GET /a?q=<b>`c` d HTTP/1.1\r\n\r\n"),
        b"GET /a?q=%3Cb%3E%60c%60%20d HTTP/1.1\r\n\r\n".to_vec()
    );
}

#[test]
fn a_valid_request_passes_unchanged() {
    let input = b"GET /api/services HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n";
    assert_eq!(rewrite(input), input.to_vec());
}

#[test]
fn bodies_are_never_rewritten_and_the_next_request_line_is() {
    let body = b"GET /\"not a request\" HTTP/1.1\r\n";
    let mut input = Vec::new();
    input.extend_from_slice(b"GET /a?x=\"1\" HTTP/1.1\r\nHost: x\r\n\r\n");
    input.extend_from_slice(
        format!(
            "POST /api/transform HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    input.extend_from_slice(body);
    input.extend_from_slice(b"GET /b?y=\"2\" HTTP/1.1\r\n\r\n");
    let out = String::from_utf8(rewrite(&input)).unwrap();
    assert!(out.starts_with("GET /a?x=%221%22 HTTP/1.1\r\n"), "{out}");
    assert!(
        out.contains("\r\n\r\nGET /\"not a request\" HTTP/1.1\r\n"),
        "{out}"
    );
    assert!(out.ends_with("GET /b?y=%222%22 HTTP/1.1\r\n\r\n"), "{out}");
    assert_split_invariant(&input);
}

#[test]
fn chunked_bodies_are_followed_to_their_end() {
    let input = b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
        20\r\nGET /\"inside a chunk\" HTTP/1.1\r\n\r\n\
        0\r\nX-Trailer: 1\r\n\r\n\
        GET /after?q=\"ok\" HTTP/1.1\r\n\r\n";
    let out = String::from_utf8(rewrite(input)).unwrap();
    assert!(out.contains("GET /\"inside a chunk\" HTTP/1.1"), "{out}");
    assert!(
        out.ends_with("GET /after?q=%22ok%22 HTTP/1.1\r\n\r\n"),
        "{out}"
    );
    assert_split_invariant(input);
}

#[test]
fn http2_and_upgrades_pass_through_untouched() {
    let h2 = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nGET /\"x\" HTTP/1.1\r\n";
    assert_eq!(rewrite(h2), h2.to_vec());
    let upgrade =
        b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\nGET /\"x\" HTTP/1.1\r\n";
    assert_eq!(rewrite(upgrade), upgrade.to_vec());
}

#[test]
fn a_connection_closed_mid_line_gives_back_what_it_sent() {
    assert_eq!(rewrite(b"GET /a?q=\"x"), b"GET /a?q=\"x".to_vec());
}

#[test]
fn malformed_framing_steps_aside() {
    let input = b"POST /x HTTP/1.1\r\nContent-Length: nope\r\n\r\nGET /\"x\" HTTP/1.1\r\n";
    assert_eq!(rewrite(input), input.to_vec());
    let input =
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /\"x\" HTTP/1.1\r\n";
    assert_eq!(rewrite(input), input.to_vec());
}

#[test]
fn a_request_line_longer_than_the_setting_passes_unchanged() {
    let line = |pad: usize| {
        format!(
            "GET /api/traces?service=a&tags={{\"k\":\"v\"}}&x={} HTTP/1.1\r\nHost: x\r\n\r\n",
            "y".repeat(pad)
        )
        .into_bytes()
    };
    let feed = |limit: usize, input: &[u8]| {
        let mut rewriter = RequestLineRewriter::new(limit);
        let mut out = Vec::new();
        rewriter.feed(input, &mut out);
        rewriter.finish(&mut out);
        out
    };
    // Within 2 KiB: encoded; past it: as sent.
    let short = line(1_000);
    assert!(feed(2048, &short).windows(3).any(|w| w == b"%22"));
    let long = line(3_000);
    assert_eq!(feed(2048, &long), long);
    let mut rewriter = RequestLineRewriter::new(2048);
    let mut out = Vec::new();
    for part in long.chunks(100) {
        rewriter.feed(part, &mut out);
    }
    rewriter.finish(&mut out);
    assert_eq!(out, long, "the same in small reads");
    // The default follows it.
    assert!(rewrite(&long).windows(3).any(|w| w == b"%22"));
}
