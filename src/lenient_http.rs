//! Lenient request lines for the Jaeger query port: scripts written against
//! Jaeger send query strings such as `tags={"http.status_code":"200"}` with
//! raw `"` characters, which Jaeger's server accepts but the `http` crate's
//! URI parser refuses (hyper then answers an empty 400 before any handler
//! runs). This module percent-encodes those few bytes in the request target
//! before hyper reads it, so the handlers see `%22` and decode it as usual.
//!
//! In: the bytes a client sends on an accepted TCP connection. Out: the same
//! bytes, except that in each HTTP/1 request line the bytes in
//! [`ENCODED_IN_TARGET`] are written as `%XX`. Request bodies, headers and
//! HTTP/2 or upgraded connections pass through untouched: the rewriter
//! follows each request's framing (`Content-Length`, chunked transfer
//! coding) to know where the next request line starts, and steps aside for
//! good when it cannot tell.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Bytes that Go's HTTP server takes in a request target but the `http`
/// crate refuses there: `"`, `<`, `>`, `` ` `` and a space inside the target.
pub const ENCODED_IN_TARGET: &[u8] = b"\"<>` ";

/// The longest request line or header line the rewriter follows by
/// default (`query.http.max_request_line_bytes`); past it the connection is
/// passed through unchanged (hyper refuses it on its own).
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;

/// Where the rewriter is in the request stream.
#[derive(Debug)]
enum State {
    /// Collecting a request line (held back until its end is seen).
    RequestLine(Vec<u8>),
    /// Inside the header block of the current request.
    Headers(HeadFacts),
    /// `n` body bytes of the current request are still to come.
    Body(u64),
    /// A chunk-size line of a chunked body.
    ChunkSize(Vec<u8>),
    /// `n` bytes of chunk data plus its closing CRLF are still to come.
    ChunkData(u64),
    /// The trailer section after the last chunk.
    Trailers(Vec<u8>),
    /// Not HTTP/1 framing this rewriter understands: bytes pass unchanged.
    Passthrough,
}

/// What the headers of the current request say about its body.
#[derive(Debug, Default)]
struct HeadFacts {
    line: Vec<u8>,
    line_too_long: bool,
    content_length: Option<u64>,
    chunked: bool,
    upgrade: bool,
}

/// The request-line rewriter for one connection.
#[derive(Debug)]
pub struct RequestLineRewriter {
    state: State,
    max_line_bytes: usize,
}

impl Default for RequestLineRewriter {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE_BYTES)
    }
}

impl RequestLineRewriter {
    /// A rewriter that follows lines of up to `max_line_bytes`.
    pub fn new(max_line_bytes: usize) -> Self {
        Self {
            state: State::RequestLine(Vec::new()),
            max_line_bytes,
        }
    }

    /// Feeds bytes read from the client; appends what hyper should read.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            let used = self.step(input, out);
            input = &input[used..];
        }
    }

    /// The client closed its side: whatever is held goes out as it came.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if let State::RequestLine(line) = &mut self.state {
            out.append(line);
        }
        self.state = State::Passthrough;
    }

    /// Consumes a prefix of `input` (at least one byte) and says how much.
    fn step(&mut self, input: &[u8], out: &mut Vec<u8>) -> usize {
        match &mut self.state {
            State::Passthrough => {
                out.extend_from_slice(input);
                input.len()
            }
            State::RequestLine(line) => {
                let (used, complete) = take_line(input, line);
                // However the bytes were split into reads, a line past the
                // limit is passed on as sent.
                if complete && line.len() <= self.max_line_bytes {
                    let line = std::mem::take(line);
                    self.state = request_line(line, out);
                } else if line.len() > self.max_line_bytes {
                    out.append(line);
                    self.state = State::Passthrough;
                }
                used
            }
            State::Headers(facts) => {
                let (used, complete) = take_line(input, &mut facts.line);
                out.extend_from_slice(&input[..used]);
                if facts.line.len() > self.max_line_bytes {
                    facts.line.clear();
                    facts.line_too_long = true;
                }
                if complete {
                    let facts = std::mem::take(facts);
                    self.state = header_line(facts);
                }
                used
            }
            State::Body(left) | State::ChunkData(left) => {
                let n = input
                    .len()
                    .min(usize::try_from(*left).unwrap_or(usize::MAX));
                out.extend_from_slice(&input[..n]);
                *left -= n as u64;
                if *left == 0 {
                    self.state = match self.state {
                        State::ChunkData(_) => State::ChunkSize(Vec::new()),
                        _ => State::RequestLine(Vec::new()),
                    };
                }
                n
            }
            State::ChunkSize(line) => {
                let (used, complete) = take_line(input, line);
                out.extend_from_slice(&input[..used]);
                if complete {
                    self.state = match chunk_size(line) {
                        Some(0) => State::Trailers(Vec::new()),
                        Some(size) => State::ChunkData(size.saturating_add(2)),
                        None => State::Passthrough,
                    };
                } else if line.len() > self.max_line_bytes {
                    self.state = State::Passthrough;
                }
                used
            }
            State::Trailers(line) => {
                let (used, complete) = take_line(input, line);
                out.extend_from_slice(&input[..used]);
                if complete {
                    if is_blank(line) {
                        self.state = State::RequestLine(Vec::new());
                    } else {
                        line.clear();
                    }
                } else if line.len() > self.max_line_bytes {
                    self.state = State::Passthrough;
                }
                used
            }
        }
    }
}

/// Appends `input` up to and including the first `\n` to `line`; returns
/// how many bytes were taken and whether the line is complete.
fn take_line(input: &[u8], line: &mut Vec<u8>) -> (usize, bool) {
    match input.iter().position(|&b| b == b'\n') {
        Some(at) => {
            line.extend_from_slice(&input[..=at]);
            (at + 1, true)
        }
        None => {
            line.extend_from_slice(input);
            (input.len(), false)
        }
    }
}

fn is_blank(line: &[u8]) -> bool {
    line == b"\r\n" || line == b"\n"
}

/// Writes a complete request line, rewritten, and says what follows it.
fn request_line(line: Vec<u8>, out: &mut Vec<u8>) -> State {
    if is_blank(&line) {
        // Empty lines before a request are allowed and skipped by servers.
        out.extend_from_slice(&line);
        return State::RequestLine(Vec::new());
    }
    if line.starts_with(b"PRI * HTTP/2.0") {
        out.extend_from_slice(&line);
        return State::Passthrough;
    }
    let text = line.strip_suffix(b"\n").unwrap_or(&line);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    let ending = &line[text.len()..];
    let (Some(first), Some(last)) = (
        text.iter().position(|&b| b == b' '),
        text.iter().rposition(|&b| b == b' '),
    ) else {
        out.extend_from_slice(&line);
        return State::Passthrough;
    };
    if first == last || !text[last + 1..].starts_with(b"HTTP/1.") {
        out.extend_from_slice(&line);
        return State::Passthrough;
    }
    out.extend_from_slice(&text[..=first]);
    for &b in &text[first + 1..last] {
        if ENCODED_IN_TARGET.contains(&b) {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
    out.extend_from_slice(&text[last..]);
    out.extend_from_slice(ending);
    State::Headers(HeadFacts::default())
}

/// Takes one complete header line into the facts; at the blank line that
/// ends the head, says where the body (if any) goes.
fn header_line(mut facts: HeadFacts) -> State {
    if is_blank(&facts.line) {
        return if facts.upgrade || facts.line_too_long {
            State::Passthrough
        } else if facts.chunked {
            State::ChunkSize(Vec::new())
        } else {
            match facts.content_length {
                Some(n) if n > 0 => State::Body(n),
                _ => State::RequestLine(Vec::new()),
            }
        };
    }
    let line = String::from_utf8_lossy(&facts.line).into_owned();
    if let Some((name, value)) = line.split_once(':') {
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            match value.parse::<u64>() {
                Ok(n) => facts.content_length = Some(n),
                // hyper refuses it; whatever follows is not ours to frame.
                Err(_) => facts.upgrade = true,
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            facts.chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            if !facts.chunked {
                facts.upgrade = true; // a framing we do not follow
            }
        } else if name.eq_ignore_ascii_case("upgrade") {
            facts.upgrade = true;
        }
    }
    facts.line.clear();
    State::Headers(facts)
}

/// The size on a chunk-size line (hex, extensions after `;` ignored).
fn chunk_size(line: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(line).ok()?;
    let size = text.split(';').next()?.trim();
    u64::from_str_radix(size, 16).ok()
}

/// A TCP connection whose reads go through a [`RequestLineRewriter`].
pub struct LenientStream {
    inner: TcpStream,
    rewriter: RequestLineRewriter,
    pending: Vec<u8>,
    pending_at: usize,
    scratch: Box<[u8]>,
}

impl LenientStream {
    fn new(inner: TcpStream, max_line_bytes: usize) -> Self {
        Self {
            inner,
            rewriter: RequestLineRewriter::new(max_line_bytes),
            pending: Vec::new(),
            pending_at: 0,
            scratch: vec![0; 16 * 1024].into_boxed_slice(),
        }
    }
}

impl AsyncRead for LenientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.pending_at < this.pending.len() {
                let n = buf.remaining().min(this.pending.len() - this.pending_at);
                buf.put_slice(&this.pending[this.pending_at..this.pending_at + n]);
                this.pending_at += n;
                return Poll::Ready(Ok(()));
            }
            this.pending.clear();
            this.pending_at = 0;
            let mut read = ReadBuf::new(&mut this.scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    let filled = read.filled();
                    if filled.is_empty() {
                        this.rewriter.finish(&mut this.pending);
                        if this.pending.is_empty() {
                            return Poll::Ready(Ok(()));
                        }
                    } else {
                        let bytes = filled.to_vec();
                        this.rewriter.feed(&bytes, &mut this.pending);
                    }
                }
            }
        }
    }
}

impl AsyncWrite for LenientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A TCP listener whose connections are [`LenientStream`]s, for
/// `axum::serve`, following lines of up to the given length.
pub struct LenientListener(pub TcpListener, pub usize);

impl axum::serve::Listener for LenientListener {
    type Io = LenientStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (LenientStream::new(stream, self.1), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

#[cfg(test)]
mod tests;
