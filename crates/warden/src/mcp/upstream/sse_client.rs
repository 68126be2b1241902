//! Reading `text/event-stream` bodies from backends.
//!
//! Hand-rolled on purpose: the SSE grammar is a few lines (WHATWG HTML
//! §9.2.6), and the crates that parse it buffer an event without limit.
//! Here every line and event is bounded by `limits.maxUpstreamMessage`, so a
//! misbehaving backend cannot make Warden allocate without bound.

use bytes::{Buf, BytesMut};
use futures::{Stream, StreamExt};

use super::{UpstreamError, UpstreamEvent};
use crate::mcp::jsonrpc::Message;

/// One parsed SSE event.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` field (empty means `message`).
    pub event: String,
    /// `data:` lines joined with `\n`.
    pub data: String,
    /// `id:` field, if present in this event.
    pub id: Option<String>,
    /// `retry:` field in ms.
    pub retry: Option<u64>,
}

/// Incremental SSE parser with a size bound.
#[derive(Debug)]
pub struct SseParser {
    buf: BytesMut,
    cur: SseEvent,
    has_field: bool,
    has_data: bool,
    /// The last chunk ended with `\r`: a `\n` starting the next chunk
    /// belongs to the same line ending.
    pending_cr: bool,
    max: usize,
}

impl SseParser {
    /// A parser refusing events larger than `max` bytes.
    pub fn new(max: usize) -> SseParser {
        SseParser {
            buf: BytesMut::new(),
            cur: SseEvent::default(),
            has_field: false,
            has_data: false,
            pending_cr: false,
            max,
        }
    }

    /// Feeds bytes; returns the events completed by them.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, UpstreamError> {
        self.buf.extend_from_slice(chunk);
        if std::mem::take(&mut self.pending_cr) && self.buf.first() == Some(&b'\n') {
            self.buf.advance(1);
        }
        let mut out = Vec::new();
        while let Some(pos) = self.buf.iter().position(|b| *b == b'\n' || *b == b'\r') {
            let line = self.buf.split_to(pos);
            // Consume the line terminator (\r\n counts as one).
            let was_cr = self.buf.first() == Some(&b'\r');
            self.buf.advance(1);
            if was_cr {
                match self.buf.first() {
                    Some(b'\n') => self.buf.advance(1),
                    None => self.pending_cr = true,
                    Some(_) => {}
                }
            }
            let line = String::from_utf8_lossy(&line);
            if line.is_empty() {
                if self.has_field {
                    out.push(std::mem::take(&mut self.cur));
                    self.has_field = false;
                    self.has_data = false;
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line.as_ref(), ""),
            };
            match field {
                "event" => self.cur.event = value.to_string(),
                "data" => {
                    if self.has_data {
                        self.cur.data.push('\n');
                    }
                    self.cur.data.push_str(value);
                    self.has_data = true;
                }
                "id" if !value.contains('\0') => self.cur.id = Some(value.to_string()),
                "retry" => self.cur.retry = value.parse().ok(),
                _ => continue,
            }
            self.has_field = true;
            if self.cur.data.len() > self.max {
                return Err(UpstreamError::TooLarge);
            }
        }
        if self.buf.len() > self.max {
            return Err(UpstreamError::TooLarge);
        }
        Ok(out)
    }
}

/// Turns an SSE body into upstream events, parsed as the consumer polls
/// (no task or channel in between). Ends when the body ends or after the
/// first error.
pub fn event_stream<S, E>(body: S, max: usize) -> super::EventStream
where
    S: Stream<Item = Result<bytes::Bytes, E>> + Send + 'static,
    E: std::fmt::Display + Send,
{
    Box::pin(async_stream::stream! {
        let mut parser = SseParser::new(max);
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    yield Err(UpstreamError::Connect(e.to_string()));
                    return;
                }
            };
            let events = match parser.feed(&chunk) {
                Ok(ev) => ev,
                Err(e) => {
                    yield Err(e);
                    return;
                }
            };
            for ev in events {
                let message = if ev.data.trim().is_empty() {
                    None
                } else if ev.event.is_empty() || ev.event == "message" {
                    match Message::parse(ev.data.as_bytes()) {
                        Ok(m) => Some(m),
                        Err(e) => {
                            yield Err(UpstreamError::Protocol(e.to_string()));
                            return;
                        }
                    }
                } else {
                    None
                };
                yield Ok(UpstreamEvent { event_id: ev.id, retry_ms: ev.retry, message });
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::SseParser;

    fn events(chunks: &[&[u8]]) -> Vec<(String, Option<String>)> {
        let mut p = SseParser::new(1024);
        chunks.iter().flat_map(|c| p.feed(c).unwrap_or_default()).map(|e| (e.data, e.id)).collect()
    }

    #[test]
    fn line_endings_split_across_chunks_are_one_ending() {
        let whole = events(&[b"id: 7\r\ndata: x\r\ndata: y\r\n\r\n"]);
        assert_eq!(whole, vec![("x\ny".to_string(), Some("7".to_string()))]);
        assert_eq!(events(&[b"id: 7\r\ndata: x\r", b"\ndata: y\r\n\r\n"]), whole);
        assert_eq!(events(&[b"id: 7\r", b"\n", b"data: x\r\ndata: y\r", b"\n\r", b"\n"]), whole);
        assert_eq!(events(&[b"data: a\r\r"]), vec![("a".to_string(), None)]);
    }

    #[test]
    fn oversized_events_are_refused() {
        let mut p = SseParser::new(8);
        assert!(p.feed(b"data: 0123456789\n").is_err());
    }
}
