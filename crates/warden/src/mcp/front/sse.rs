//! Writing `text/event-stream` responses to clients, with keep-alives.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::StreamBody;
use hyper::body::Frame;
use tokio::sync::mpsc;

use crate::mcp::virtual_server::ClientEvent;

/// Idle time after which a comment line keeps the stream (and proxies) alive.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Formats one event.
pub fn format_event(ev: &ClientEvent) -> Bytes {
    let mut out = String::new();
    if let Some(id) = &ev.event_id {
        out.push_str("id: ");
        out.push_str(id);
        out.push('\n');
    }
    if let Some(r) = ev.retry_ms {
        out.push_str(&format!("retry: {r}\n"));
    }
    out.push_str("event: message\ndata: ");
    if let Some(m) = &ev.message {
        out.push_str(&String::from_utf8_lossy(&m.to_line()));
    }
    out.push_str("\n\n");
    Bytes::from(out)
}

/// Turns client events into an SSE body that ends when the events end.
pub fn sse_body(
    mut rx: mpsc::Receiver<ClientEvent>,
) -> StreamBody<impl futures::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send + 'static> {
    let stream = async_stream::stream! {
        loop {
            match tokio::time::timeout(KEEP_ALIVE, rx.recv()).await {
                Ok(Some(ev)) => yield Ok(Frame::data(format_event(&ev))),
                Ok(None) => break,
                Err(_) => yield Ok(Frame::data(Bytes::from_static(b": keep-alive\n\n"))),
            }
        }
    };
    StreamBody::new(stream)
}
