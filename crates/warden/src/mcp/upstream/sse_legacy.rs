//! The 2024-11-05 HTTP+SSE transport: one GET stream for everything the
//! server sends (its first `endpoint` event names the POST URL), and one
//! POST per client message. Modelled as a message channel.

use std::time::Duration;

use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;
use url::Url;

use super::UpstreamError;
use super::channel::{Connector, Link};
use super::sse_client::SseParser;
use crate::mcp::jsonrpc::Message;

/// Connects to an HTTP+SSE server.
pub struct SseConnector {
    /// The SSE endpoint.
    pub url: Url,
    /// HTTP client.
    pub client: reqwest::Client,
    /// Extra headers.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// Max message size.
    pub max_message: usize,
    /// Time to wait for the stream's headers and its `endpoint` event.
    pub connect_timeout: Duration,
    /// Time one POST of a message may take.
    pub request_timeout: Duration,
}

impl Connector for SseConnector {
    fn connect(&self) -> futures::future::BoxFuture<'_, Result<Link, UpstreamError>> {
        async move {
            let mut req = self.client.get(self.url.clone()).header(http::header::ACCEPT, "text/event-stream");
            for (k, v) in &self.headers {
                req = req.header(k, v);
            }
            let resp = tokio::time::timeout(self.connect_timeout, req.send())
                .await
                .map_err(|_| UpstreamError::Timeout)?
                .map_err(|e| UpstreamError::Connect(e.to_string()))?;
            if !resp.status().is_success() {
                return Err(UpstreamError::Status(resp.status().as_u16()));
            }
            let (incoming, from_server) = mpsc::channel::<Message>(256);
            let (endpoint_tx, endpoint_rx) = oneshot::channel::<Url>();
            // When the POST side dies, the GET side ends too, so that the
            // supervisor sees the link close and reconnects.
            let (writer_gone_tx, mut writer_gone) = oneshot::channel::<()>();
            let base = self.url.clone();
            let max = self.max_message;
            tokio::spawn(async move {
                let mut body = resp.bytes_stream();
                let mut parser = SseParser::new(max);
                let mut endpoint_tx = Some(endpoint_tx);
                loop {
                    let chunk = tokio::select! {
                        c = body.next() => c,
                        _ = &mut writer_gone => break,
                    };
                    let Some(Ok(chunk)) = chunk else { break };
                    let Ok(events) = parser.feed(&chunk) else {
                        break;
                    };
                    for ev in events {
                        if ev.event == "endpoint" {
                            if let (Some(tx), Ok(u)) = (endpoint_tx.take(), base.join(ev.data.trim())) {
                                let _ = tx.send(u);
                            }
                        } else if ev.event.is_empty() || ev.event == "message" {
                            match Message::parse(ev.data.as_bytes()) {
                                Ok(m) => {
                                    if incoming.send(m).await.is_err() {
                                        return;
                                    }
                                }
                                Err(e) => warn!(error = %e, "SSE backend sent an invalid message"),
                            }
                        }
                    }
                }
            });
            let endpoint = tokio::time::timeout(self.connect_timeout, endpoint_rx)
                .await
                .map_err(|_| UpstreamError::Timeout)?
                .map_err(|_| UpstreamError::Protocol("SSE stream ended before the endpoint event".into()))?;
            if endpoint.origin() != self.url.origin() {
                return Err(UpstreamError::Protocol("endpoint event points to another origin".into()));
            }
            let (to_server, mut outgoing) = mpsc::channel::<Message>(256);
            let client = self.client.clone();
            let headers = self.headers.clone();
            let request_timeout = self.request_timeout;
            tokio::spawn(async move {
                let _writer_gone_tx = writer_gone_tx;
                while let Some(m) = outgoing.recv().await {
                    let mut req = client
                        .post(endpoint.clone())
                        .header(http::header::CONTENT_TYPE, "application/json")
                        .timeout(request_timeout)
                        .body(m.to_bytes());
                    for (k, v) in &headers {
                        req = req.header(k, v);
                    }
                    match req.send().await {
                        Ok(r) if r.status().is_success() => {}
                        Ok(r) => warn!(status = r.status().as_u16(), "SSE backend refused a message"),
                        Err(e) => {
                            warn!(error = %e, "SSE backend POST failed");
                            break;
                        }
                    }
                }
            });
            Ok(Link { tx: to_server, rx: from_server })
        }
        .boxed()
    }
}
