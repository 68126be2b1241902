//! Session management that lets a tool close its own SSE response stream mid-call.
//!
//! SEP-1699 (SSE polling) has the server end a POST's SSE stream before the result is
//! ready; the client then resumes with `GET` + `Last-Event-ID` and receives the result
//! there. rmcp's [`LocalSessionHandle::close_sse_stream`] does the closing, but needs the
//! stream's internal HTTP request number, which a tool handler never sees. This wrapper
//! around [`LocalSessionManager`] opens request streams itself and, for calls of
//! [`RECONNECTION_TOOL`] only, remembers which stream carries which JSON-RPC request.
//! Everything else is delegated unchanged.
//!
//! [`LocalSessionHandle::close_sse_stream`]: rmcp::transport::streamable_http_server::session::local::LocalSessionHandle::close_sse_stream

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use futures::Stream;
use rmcp::{
    model::{ClientJsonRpcMessage, ClientRequest, JsonRpcMessage, RequestId, ServerJsonRpcMessage},
    transport::streamable_http_server::session::{
        EventStore, RestoreOutcome, ServerSseMessage, SessionId, SessionManager,
        local::{LocalSessionManager, LocalSessionManagerError, SessionError},
    },
};
use tokio_stream::wrappers::ReceiverStream;

/// The tool whose response stream is tracked so that it can be closed mid-call.
pub const RECONNECTION_TOOL: &str = "test_reconnection";

/// Why a response stream could not be closed.
#[derive(Debug, thiserror::Error)]
pub enum CloseStreamError {
    /// No open stream is recorded for this session and request.
    #[error("no open response stream for request {request:?} in session {session}")]
    UnknownStream {
        /// Session the request arrived on.
        session: SessionId,
        /// JSON-RPC id of the request.
        request: RequestId,
    },
    /// The session is gone.
    #[error("session {0} not found")]
    UnknownSession(SessionId),
    /// The session worker refused or has stopped.
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// [`LocalSessionManager`] plus a record of the response streams of in-flight
/// [`RECONNECTION_TOOL`] calls.
#[derive(Debug, Default)]
pub struct ResumableSessions {
    inner: LocalSessionManager,
    /// `(session, JSON-RPC request id)` → rmcp's number for the HTTP response stream.
    streams: Mutex<HashMap<(SessionId, RequestId), u64>>,
}

impl ResumableSessions {
    /// Ends the SSE stream that carries `request`'s response, after a priming event that
    /// tells the client to reconnect after `retry`. The session keeps the response and
    /// replays it to a `GET` with `Last-Event-ID`.
    pub async fn close_response_stream(
        &self,
        session: &SessionId,
        request: &RequestId,
        retry: Duration,
    ) -> Result<(), CloseStreamError> {
        let key = (session.clone(), request.clone());
        let stream =
            self.streams.lock().unwrap_or_else(PoisonError::into_inner).remove(&key).ok_or_else(|| {
                CloseStreamError::UnknownStream { session: session.clone(), request: request.clone() }
            })?;
        let handle = self
            .inner
            .sessions
            .read()
            .await
            .get(session)
            .cloned()
            .ok_or_else(|| CloseStreamError::UnknownSession(session.clone()))?;
        handle.close_sse_stream(stream, Some(retry)).await?;
        Ok(())
    }

    fn forget_session(&self, session: &SessionId) {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner).retain(|(id, _), _| id != session);
    }
}

/// The JSON-RPC id of `message` if it calls [`RECONNECTION_TOOL`].
fn reconnection_call_id(message: &ClientJsonRpcMessage) -> Option<&RequestId> {
    match message {
        JsonRpcMessage::Request(request) => match &request.request {
            ClientRequest::CallToolRequest(call) if call.params.name == RECONNECTION_TOOL => Some(&request.id),
            _ => None,
        },
        _ => None,
    }
}

impl SessionManager for ResumableSessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.inner.create_session().await
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.forget_session(id);
        self.inner.close_session(id).await
    }

    /// Same as [`LocalSessionManager`]'s, except that the stream number of a
    /// [`RECONNECTION_TOOL`] call is recorded before the call is dispatched.
    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let handle = self
            .inner
            .sessions
            .read()
            .await
            .get(id)
            .cloned()
            .ok_or_else(|| LocalSessionManagerError::SessionNotFound(id.clone()))?;
        let receiver = handle.establish_request_wise_channel().await?;
        let stream = receiver.http_request_id;
        if let (Some(stream), Some(request)) = (stream, reconnection_call_id(&message)) {
            self.streams.lock().unwrap_or_else(PoisonError::into_inner).insert((id.clone(), request.clone()), stream);
        }
        handle.push_message(message, stream).await?;
        Ok(ReceiverStream::new(receiver.inner))
    }

    async fn accept_message(&self, id: &SessionId, message: ClientJsonRpcMessage) -> Result<(), Self::Error> {
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.resume(id, last_event_id).await
    }

    async fn restore_session(&self, id: SessionId) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        self.inner.restore_session(id).await
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.inner.event_store()
    }
}
