//! Era bridging the other way: a modern (2026-07-28) backend answers a legacy
//! client's call with an `InputRequiredResult`. A legacy client understands
//! server-to-client requests instead, so Warden sends each input request to
//! the client on the call's SSE stream (ids `wb.{token}.{key}`), collects the
//! client's answers (they arrive as separate POSTs and are routed here by that
//! id), and retries the call at the backend with `inputResponses` and the
//! backend's `requestState`, relaying what the retry returns. Several rounds
//! work the same way. Answers must reach the replica holding the call (sticky
//! sessions), as with any legacy server-to-client request.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::ClientEvent;
use super::forward::Relay;
use crate::mcp::jsonrpc::{Id, Message, to_raw};
use crate::mcp::session::random_id;
use crate::mcp::upstream::{Reply, UpstreamError};

/// Prefix of the ids of bridged input requests sent to legacy clients.
pub const ID_PREFIX: &str = "wb.";

/// Calls waiting for a legacy client's answers: token → (key, answer).
pub(super) type AwaitingAnswers = Arc<Mutex<HashMap<String, mpsc::Sender<(String, Message)>>>>;

/// Splits a bridged request id into `(token, key)`.
pub fn parse_bridged_id(id: &Id) -> Option<(&str, &str)> {
    let Id::Str(s) = id else { return None };
    s.strip_prefix(ID_PREFIX)?.split_once('.')
}

/// The `InputRequiredResult` in a response, if it is one.
pub(super) fn input_required(m: &Message) -> Option<Map<String, Value>> {
    let raw = m.result.as_ref()?;
    if !raw.get().contains("input_required") {
        return None;
    }
    let obj: Map<String, Value> = serde_json::from_str(raw.get()).ok()?;
    (obj.get("resultType").and_then(Value::as_str) == Some("input_required")).then_some(obj)
}

type UpstreamRx = crate::mcp::upstream::EventStream;

impl Relay {
    /// Whether the legacy client declared what every input request needs.
    pub(super) fn client_can_answer(&self, obj: &Map<String, Value>) -> bool {
        let Some(requests) = obj.get("inputRequests").and_then(Value::as_object) else { return true };
        requests.values().all(|r| {
            let cap = match r.get("method").and_then(Value::as_str) {
                Some("sampling/createMessage") => "sampling",
                Some("elicitation/create") => "elicitation",
                Some("roots/list") => "roots",
                _ => return false,
            };
            self.client_capabilities.get(cap).is_some()
        })
    }

    /// Asks the legacy client, retries at the backend, and returns the
    /// backend's new reply stream. `Err` carries the event ending the call.
    pub(super) async fn ask_legacy_client(
        &mut self,
        result: Map<String, Value>,
        tx: &mpsc::Sender<ClientEvent>,
    ) -> Result<UpstreamRx, ClientEvent> {
        let requests = result.get("inputRequests").and_then(Value::as_object).cloned().unwrap_or_default();
        let token = random_id();
        let (atx, mut arx) = mpsc::channel(16);
        self.awaiting.lock().insert(token.clone(), atx);
        let answers = async {
            for (key, req) in &requests {
                let id = Id::Str(format!("{ID_PREFIX}{token}.{key}"));
                let method = req.get("method").and_then(Value::as_str).unwrap_or_default();
                let msg = Message::request(id, method, req.get("params").and_then(to_raw));
                if tx.send(ClientEvent { event_id: None, retry_ms: None, message: Some(msg) }).await.is_err() {
                    return Err(self.error(UpstreamError::Unavailable("client went away".into())));
                }
            }
            let mut responses = Map::new();
            while responses.len() < requests.len() {
                let next = tokio::select! {
                    a = arx.recv() => a,
                    _ = tokio::time::sleep(self.backend.timeout) => None,
                };
                let Some((key, answer)) = next else {
                    return Err(self.error(UpstreamError::Timeout));
                };
                match answer.result.as_ref().and_then(|r| serde_json::from_str::<Value>(r.get()).ok()) {
                    Some(v) if requests.contains_key(&key) => {
                        responses.insert(key, v);
                    }
                    _ => return Err(self.error(UpstreamError::Protocol("the client refused an input request".into()))),
                }
            }
            Ok(responses)
        }
        .await;
        self.awaiting.lock().remove(&token);
        let responses = answers?;
        // Retry the same call with the answers and the backend's state.
        let mut params = self.request.params_object().unwrap_or_default();
        params.insert("inputResponses".into(), Value::Object(responses));
        match result.get("requestState") {
            Some(state) => params.insert("requestState".into(), state.clone()),
            None => params.remove("requestState"),
        };
        let retry = Message::request(Id::Str(format!("wr.{token}")), &self.method, to_raw(&params));
        self.request = retry.clone();
        match self.backend.upstream.send(&self.ctx, retry).await {
            Ok(Reply::Stream(rx)) => Ok(rx),
            Ok(Reply::Single(m)) => Ok(crate::mcp::upstream::single_stream(m)),
            Ok(Reply::Accepted) => Err(self.error(UpstreamError::Protocol("retry answered with 202".into()))),
            Err(e) => Err(self.error(e)),
        }
    }
}
