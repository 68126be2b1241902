use std::time::Duration;

use super::jsonrpc::{EnvelopeError, Id, Kind, Message};
use super::names::{Naming, is_valid_backend_name};
use super::session::{BackendSession, SessionError, SessionSealer, SessionState, now_secs};

#[test]
fn envelope_kinds_and_errors() {
    let req = Message::parse(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap();
    assert_eq!(req.kind().unwrap(), Kind::Request);
    let note = Message::parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
    assert_eq!(note.kind().unwrap(), Kind::Notification);
    let resp = Message::parse(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#).unwrap();
    assert_eq!(resp.kind().unwrap(), Kind::Response);
    assert_eq!(resp.id, Some(Id::Str("a".into())));
    assert!(matches!(Message::parse(b"[]"), Err(EnvelopeError::Batch)));
    assert!(matches!(Message::parse(b"{"), Err(EnvelopeError::Json(_))));
    assert!(matches!(Message::parse(br#"{"jsonrpc":"1.0","id":1,"method":"x"}"#), Err(EnvelopeError::Shape(_))));
    assert!(matches!(Message::parse(br#"{"jsonrpc":"2.0","id":1}"#), Err(EnvelopeError::Shape(_))));
}

#[test]
fn params_are_forwarded_byte_for_byte() {
    let body =
        br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":{"b":1.50,"a":"\u00e9"}}}"#;
    let m = Message::parse(body).unwrap();
    assert_eq!(m.params.as_ref().unwrap().get(), r#"{"name":"x","arguments":{"b":1.50,"a":"\u00e9"}}"#);
}

#[test]
fn prefixing_is_reversible_and_collision_free() {
    let n = Naming::Prefixed;
    assert_eq!(n.expose_name("github", "create_issue"), "github__create_issue");
    assert_eq!(n.split_name("github__create_issue"), Some((Some("github"), "create_issue")));
    assert_eq!(n.split_name("a__b__c"), Some((Some("a"), "b__c")));
    assert_eq!(n.split_name("nounderscore"), None);
    assert_eq!(n.expose_uri("notes", "file:///a+b"), "notes+file:///a+b");
    assert_eq!(n.split_uri("notes+file:///a+b"), Some((Some("notes"), "file:///a+b")));
    assert_eq!(Naming::Passthrough.split_name("x"), Some((None, "x")));
    assert!(is_valid_backend_name("my-server2"));
    for bad in ["", "My", "a_b", "a+b", "-a", "a-", "a--b", "1a"] {
        assert!(!is_valid_backend_name(bad), "{bad}");
    }
}

fn state() -> SessionState {
    SessionState {
        id: "sid".into(),
        virtual_server: "vs".into(),
        protocol_version: "2025-11-25".into(),
        issued_at: now_secs(),
        backends: vec![BackendSession {
            backend: "a".into(),
            session_id: Some("backend-secret".into()),
            protocol_version: "2025-06-18".into(),
        }],
        client_capabilities: serde_json::json!({"sampling": {}}),
        principal: "p".into(),
    }
}

#[test]
fn sealed_sessions_open_only_with_the_same_key() {
    let key = secrecy::SecretBox::new(Box::new([7u8; 32]));
    let a = SessionSealer::new(Some(&key), Duration::from_secs(60));
    let b = SessionSealer::new(Some(&key), Duration::from_secs(60));
    let other = SessionSealer::new(None, Duration::from_secs(60));
    let id = a.seal(&state());
    assert!(id.bytes().all(|c| (0x21..=0x7e).contains(&c)));
    assert!(!id.contains("backend-secret"));
    assert_eq!(*b.open(&id).unwrap(), state());
    assert_eq!(other.open(&id), Err(SessionError::Forged));
    assert_ne!(a.seal(&state()), id, "nonces must differ");
}

#[test]
fn tampered_or_expired_sessions_are_refused() {
    let s = SessionSealer::new(None, Duration::from_secs(60));
    let id = s.seal(&state());
    let mut bytes = id.clone().into_bytes();
    let last = bytes.len() - 3;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    assert!(s.open(&tampered).is_err());
    assert_eq!(s.open("nope"), Err(SessionError::Malformed));
    assert_eq!(s.open("w1.!!"), Err(SessionError::Malformed));
    let mut old = state();
    old.issued_at = now_secs() - 120;
    assert_eq!(s.open(&s.seal(&old)), Err(SessionError::Expired));
}

mod props {
    use proptest::prelude::*;

    use crate::mcp::names::Naming;

    proptest! {
        #[test]
        fn split_inverts_expose(backend in "[a-z][a-z0-9]{0,8}(-[a-z0-9]{1,5}){0,2}", name in "[A-Za-z0-9_.-]{1,40}") {
            let n = Naming::Prefixed;
            let exposed = n.expose_name(&backend, &name);
            prop_assert_eq!(n.split_name(&exposed), Some((Some(backend.as_str()), name.as_str())));
        }

        #[test]
        fn uri_split_inverts_expose(backend in "[a-z][a-z0-9-]{0,8}[a-z0-9]", uri in "[a-z+]{1,8}://[ -~]{0,40}") {
            prop_assume!(!backend.contains("--"));
            let n = Naming::Prefixed;
            let exposed = n.expose_uri(&backend, &uri);
            prop_assert_eq!(n.split_uri(&exposed), Some((Some(backend.as_str()), uri.as_str())));
        }

        #[test]
        fn two_backends_never_collide(b1 in "[a-z]{1,6}", b2 in "[a-z]{1,6}", n1 in "[A-Za-z0-9_.-]{1,20}", n2 in "[A-Za-z0-9_.-]{1,20}") {
            prop_assume!(b1 != b2);
            let n = Naming::Prefixed;
            prop_assert_ne!(n.expose_name(&b1, &n1), n.expose_name(&b2, &n2));
        }
    }
}
