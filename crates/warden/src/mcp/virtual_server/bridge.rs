//! Era bridging of server-to-client requests for modern clients.
//!
//! A legacy-era backend asks its client for sampling, elicitation or roots
//! with a JSON-RPC request on the call's SSE stream and waits. A modern
//! (2026-07-28) client cannot receive requests; it expects an
//! `InputRequiredResult` and retries the call with `inputResponses`. Warden
//! translates: it ends the client's response with an `InputRequiredResult`
//! whose `requestState` names the **parked** backend call, keeps that call
//! (and its backend stream) open, and when the retry arrives, sends each
//! answer to the backend under the id the backend used, then relays the rest
//! of the backend's stream as the retry's response. Several rounds work the
//! same way.
//!
//! Parked calls live in the process that parked them (a retry reaching
//! another replica gets "unknown requestState"); they are dropped when the
//! backend timeout passes without a retry. The state token is 128 random bits
//! and is bound to the method of the call it parks.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::forward::Relay;
use super::{ClientEvent, Outcome, RouteError, VirtualServer};
use crate::mcp::jsonrpc::{Id, Kind, Message, to_raw};
use crate::mcp::session::random_id;
use crate::mcp::upstream::{UpstreamError, UpstreamEvent};

/// Prefix of the `requestState` values Warden issues for parked calls.
pub const STATE_PREFIX: &str = "warden-parked.";
/// Most calls parked at once per virtual server.
const MAX_PARKED: usize = 10_000;

/// A modern client's retry, delivered to the parked call.
pub(super) struct Resume {
    client_id: Option<Id>,
    input_responses: Map<String, Value>,
    tx: mpsc::Sender<ClientEvent>,
}

/// A parked call: where to deliver the retry, and what it must match.
pub(super) struct Parked {
    tx: mpsc::Sender<Resume>,
    method: String,
    name: Option<String>,
    /// The principal that made the call: nobody else can resume it.
    principal: String,
}

/// Parked calls by state token.
pub(super) type ParkedCalls = Arc<Mutex<HashMap<String, Parked>>>;

/// The client capability a server-to-client request needs.
fn needed_capability(method: &str) -> Option<&'static str> {
    match method {
        "sampling/createMessage" => Some("sampling"),
        "elicitation/create" => Some("elicitation"),
        "roots/list" => Some("roots"),
        _ => None,
    }
}

fn call_name(params: &Map<String, Value>) -> Option<String> {
    params.get("name").or_else(|| params.get("uri")).and_then(Value::as_str).map(str::to_string)
}

impl Relay {
    /// Whether this server-to-client request can become an `InputRequiredResult`.
    pub(super) fn can_bridge(&self, m: &Message) -> bool {
        matches!(self.method.as_str(), "tools/call" | "prompts/get" | "resources/read")
            && m.method
                .as_deref()
                .and_then(needed_capability)
                .is_some_and(|c| self.client_capabilities.get(c).is_some())
    }

    /// Ends the client's response with an `InputRequiredResult` for `first`
    /// (and any requests right behind it), waits for the retry, answers the
    /// backend, and returns the retry's stream. `None` when the call ends.
    pub(super) async fn park(
        &mut self,
        first: Message,
        rx: &mut crate::mcp::upstream::EventStream,
        mut tx: mpsc::Sender<ClientEvent>,
        queued: &mut VecDeque<UpstreamEvent>,
    ) -> Option<mpsc::Sender<ClientEvent>> {
        let mut pending: Vec<(String, Message)> = vec![(format!("w{}", 0), first)];
        // Requests that arrive together go into one InputRequiredResult.
        use futures::{FutureExt, StreamExt};
        while let Some(Some(Ok(ev))) = rx.next().now_or_never() {
            match ev.message {
                Some(m) if m.kind().ok() == Some(Kind::Request) && self.can_bridge(&m) => {
                    pending.push((format!("w{}", pending.len()), m));
                }
                _ => queued.push_back(ev),
            }
        }
        let name = None;
        loop {
            let token = format!("{STATE_PREFIX}{}", random_id());
            let (rtx, mut rrx) = mpsc::channel(1);
            let full = {
                let mut parked = self.parked.lock();
                let full = parked.len() >= MAX_PARKED;
                if !full {
                    parked.insert(
                        token.clone(),
                        Parked {
                            tx: rtx,
                            method: self.method.clone(),
                            name: name.clone(),
                            principal: self.principal.clone(),
                        },
                    );
                }
                full
            };
            if full {
                let _ = tx.send(self.error(UpstreamError::Unavailable("too many parked calls".into()))).await;
                self.cancel_upstream("too many parked calls").await;
                return None;
            }
            let requests: Map<String, Value> =
                pending.iter().map(|(k, m)| (k.clone(), json!({"method": m.method, "params": m.params}))).collect();
            let result = json!({"resultType": "input_required", "inputRequests": requests, "requestState": token});
            let msg = to_raw(&result).map(|r| Message::response(self.client_id.clone(), r));
            let _ = tx.send(ClientEvent { event_id: None, retry_ms: None, message: msg }).await;
            drop(tx);
            // Wait for the retry (one deadline for the whole wait); meanwhile
            // keep what the backend sends.
            let deadline = tokio::time::sleep(self.backend.timeout);
            tokio::pin!(deadline);
            let resume = loop {
                tokio::select! {
                    r = rrx.recv() => break r,
                    ev = rx.next() => match ev {
                        Some(Ok(ev)) => {
                            if queued.len() < 256 {
                                queued.push_back(ev);
                            }
                        }
                        // The backend ended or failed while parked: the retry
                        // will find nothing; let the backend's end be seen.
                        _ => break None,
                    },
                    _ = &mut deadline => break None,
                }
            };
            self.parked.lock().remove(&token);
            let Some(resume) = resume else {
                self.cancel_upstream("no answer to the input request").await;
                return None;
            };
            self.client_id = resume.client_id;
            let mut missing = Vec::new();
            for (key, m) in pending {
                match resume.input_responses.get(&key) {
                    Some(answer) if answer.is_object() => {
                        let reply = to_raw(answer).map(|r| Message::response(m.id.clone(), r));
                        if let Some(reply) = reply {
                            let _ = self.backend.upstream.send(&self.ctx, reply).await;
                        }
                    }
                    _ => missing.push((key, m)),
                }
            }
            if missing.is_empty() {
                return Some(resume.tx);
            }
            // Missing or malformed answers: ask again for those.
            pending = missing;
            tx = resume.tx;
        }
    }
}

impl VirtualServer {
    /// A modern client's retry of a parked call (its `requestState` is ours).
    pub(super) async fn resume_parked(
        &self,
        msg: &Message,
        params: &Map<String, Value>,
        token: &str,
        principal: &str,
    ) -> Result<Outcome, RouteError> {
        let method = msg.method.clone().unwrap_or_default();
        let sender = {
            let parked = self.parked.lock();
            match parked.get(token) {
                Some(p)
                    if p.method == method
                        && p.principal == principal
                        && (p.name.is_none() || p.name == call_name(params)) =>
                {
                    Some(p.tx.clone())
                }
                _ => None,
            }
        };
        let sender = sender.ok_or(RouteError::InvalidParams("unknown or expired requestState"))?;
        let input_responses = params
            .get("inputResponses")
            .and_then(Value::as_object)
            .cloned()
            .ok_or(RouteError::InvalidParams("inputResponses must be an object"))?;
        let (tx, rx) = mpsc::channel(64);
        sender
            .send(Resume { client_id: msg.id.clone(), input_responses, tx })
            .await
            .map_err(|_| RouteError::InvalidParams("unknown or expired requestState"))?;
        Ok(Outcome::Stream(rx))
    }
}
