//! Identifiers Warden rewrites so that merged traffic stays attributable.
//!
//! - **Server-to-client request ids**: a backend's request id `X` from backend
//!   number `i` reaches the client as the string `w.{i}.{json(X)}`; the
//!   client's response carries it back and is routed to backend `i` with `X`.
//!   The id holds no secret: a client can only answer into its own session.
//! - **SSE event ids**: `e.{base64url(json([[i, id], …]))}`, the last event id
//!   of each backend that fed the stream. `Last-Event-ID` resumes exactly the
//!   backend streams named in it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::mcp::jsonrpc::Id;

/// Encodes a backend's server-to-client request id.
pub fn encode_server_request_id(backend: usize, id: &Id) -> Id {
    let inner = serde_json::to_string(id).unwrap_or_default();
    Id::Str(format!("w.{backend}.{inner}"))
}

/// Decodes a client's response id back to `(backend, original id)`.
pub fn decode_server_request_id(id: &Id) -> Option<(usize, Id)> {
    let Id::Str(s) = id else { return None };
    let rest = s.strip_prefix("w.")?;
    let (idx, inner) = rest.split_once('.')?;
    Some((idx.parse().ok()?, serde_json::from_str(inner).ok()?))
}

/// Encodes the per-backend last event ids of a stream.
pub fn encode_event_id(parts: &[(usize, String)]) -> String {
    let json = serde_json::to_vec(parts).unwrap_or_default();
    format!("e.{}", URL_SAFE_NO_PAD.encode(json))
}

/// Decodes a `Last-Event-ID` produced by [`encode_event_id`].
pub fn decode_event_id(s: &str) -> Option<Vec<(usize, String)>> {
    let b = URL_SAFE_NO_PAD.decode(s.strip_prefix("e.")?).ok()?;
    if b.len() > 4096 {
        return None;
    }
    serde_json::from_slice(&b).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_request_ids_round_trip() {
        for id in [Id::Num(7), Id::Str("abc.def".into()), Id::Str("w.1.2".into())] {
            let enc = encode_server_request_id(3, &id);
            assert_eq!(decode_server_request_id(&enc), Some((3, id)));
        }
        assert_eq!(decode_server_request_id(&Id::Num(1)), None);
        assert_eq!(decode_server_request_id(&Id::Str("w.x.1".into())), None);
    }

    #[test]
    fn event_ids_round_trip() {
        let parts = vec![(0, "12".to_string()), (2, "a/b:c".to_string())];
        let enc = encode_event_id(&parts);
        assert!(enc.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        assert_eq!(decode_event_id(&enc), Some(parts));
        assert_eq!(decode_event_id("garbage"), None);
    }
}
