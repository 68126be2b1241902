//! The bodies of Warden's fuzz targets, shared by the libFuzzer binaries in
//! `fuzz_targets/` and the libFuzzer-free `replay` binary.
//!
//! Each function takes arbitrary bytes, drives one public parser of the
//! `warden` crate and panics (= a finding) only when Warden itself panics or an
//! invariant stated in the function's doc does not hold.

use std::sync::LazyLock;
use std::time::Duration;

use warden::mcp::jsonrpc::Message;
use warden::mcp::modern::headers::{decode_header_value, encode_header_value};
use warden::mcp::session::SessionSealer;
use warden::mcp::upstream::sse_client::{SseEvent, SseParser};

/// A fuzz target's body: takes any bytes, panics on a finding.
pub type Target = fn(&[u8]);

/// Every target, by name, in the order `scripts/fuzz.sh` runs them.
pub const TARGETS: &[(&str, Target)] = &[
    ("jsonrpc_envelope", jsonrpc_envelope),
    ("config_loader", config_loader),
    ("sse_parser", sse_parser),
    ("session_open", session_open),
    ("header_value", header_value),
];

/// `Message::parse`; for a message it accepts, `kind()` and `params_object()`
/// do not panic, `to_bytes()` parses again to a message of the same kind, and
/// serializing is stable (`to_bytes(parse(to_bytes(m))) == to_bytes(m)`).
pub fn jsonrpc_envelope(data: &[u8]) {
    let Ok(msg) = Message::parse(data) else { return };
    let kind = msg.kind().expect("parse() accepted a message whose kind() fails");
    let _ = msg.params_object();
    let _ = msg.error_code();
    let bytes = msg.to_bytes();
    let again = match Message::parse(&bytes) {
        Ok(m) => m,
        Err(e) => panic!("round trip failed: {e}\n input: {:?}\n bytes: {:?}", lossy(data), lossy(&bytes)),
    };
    assert_eq!(again.kind().ok(), Some(kind), "round trip changed the kind");
    assert_eq!(again.id, msg.id, "round trip changed the id");
    assert_eq!(again.method, msg.method, "round trip changed the method");
    assert_eq!(again.to_bytes(), bytes, "serialization is not stable");
}

/// `config::load_str` on the bytes as UTF-8 YAML, with no environment
/// variables set, and `config::expand_str` on the same text: neither panics.
pub fn config_loader(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = warden::config::load_str(text, "fuzz", &|_| None);
    let _ = warden::config::expand_str(text, &|_| None);
    // With every variable set, references expand instead of failing early.
    let _ = warden::config::expand_str(text, &|name| Some(format!("<{name}>")));
}

/// The bound every fuzzed `SseParser` is created with.
pub const SSE_MAX: usize = 4096;

/// `SseParser::new(SSE_MAX).feed()` over the input split into 2 or 3 chunks.
///
/// Input layout: byte 0 picks 2 (even) or 3 (odd) chunks; byte 1 (and byte 2
/// for 3 chunks) places a cut at byte/255 of the body's length; the body is
/// everything after byte 2.
/// No event's `data` may exceed the bound and no `id` may hold a NUL.
///
/// Where both succeed, the split feed must yield the same events as feeding
/// the body whole (chunk boundaries, even inside a CRLF, change nothing).
pub fn sse_parser(data: &[u8]) {
    let (head, body) = data.split_at(data.len().min(3));
    let chunks = split_chunks(head, body);
    let split = feed_all(&chunks);
    if let Ok(events) = &split {
        for e in events {
            assert!(e.data.len() <= SSE_MAX, "event data of {} bytes exceeds the bound {SSE_MAX}", e.data.len());
            assert!(!e.id.as_deref().unwrap_or("").contains('\0'), "event id holds a NUL");
        }
    }
    if let (Ok(split), Ok(whole)) = (&split, &feed_all(&[body])) {
        let shown: Vec<String> = chunks.iter().map(|c| lossy(c)).collect();
        assert_eq!(split, whole, "splitting the body into chunks {shown:?} changed the events");
    }
}

fn split_chunks<'a>(head: &[u8], body: &'a [u8]) -> Vec<&'a [u8]> {
    let at = |i: usize| head.get(i).map_or(body.len() / 2, |b| usize::from(*b) * body.len() / 255);
    if head.first().is_some_and(|b| b % 2 == 1) {
        let (a, b) = (at(1).min(at(2)), at(1).max(at(2)));
        vec![&body[..a], &body[a..b], &body[b..]]
    } else {
        vec![&body[..at(1)], &body[at(1)..]]
    }
}

/// Feeds every chunk; stops at the first error, as the event reader does.
fn feed_all(chunks: &[&[u8]]) -> Result<Vec<SseEvent>, String> {
    let mut parser = SseParser::new(SSE_MAX);
    let mut events = Vec::new();
    for chunk in chunks {
        events.extend(parser.feed(chunk).map_err(|e| e.to_string())?);
    }
    Ok(events)
}

static SEALER: LazyLock<SessionSealer> = LazyLock::new(|| SessionSealer::new(None, Duration::from_secs(60)));

/// `SessionSealer::open` under a random key: never panics and never accepts
/// an id it did not seal. Tried on the input as is and behind the `w1.`
/// prefix, so the fuzzer reaches the base64 and AEAD steps.
pub fn session_open(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for id in [text.to_string(), format!("w1.{text}")] {
        if let Ok(state) = SEALER.open(&id) {
            panic!("opened an id this sealer never issued: {id:?} -> {state:?}");
        }
    }
}

/// `decode_header_value` on raw bytes; for UTF-8 input, `encode_header_value`
/// gives a valid HTTP header value that decodes back to the input.
pub fn header_value(data: &[u8]) {
    let _ = decode_header_value(data);
    let Ok(text) = std::str::from_utf8(data) else { return };
    let encoded = encode_header_value(text);
    assert!(
        http::HeaderValue::from_str(&encoded).is_ok(),
        "encode_header_value({text:?}) = {encoded:?} is not a valid header value"
    );
    let decoded = decode_header_value(encoded.as_bytes());
    assert_eq!(decoded.as_deref(), Some(text), "header value round trip failed via {encoded:?}");
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
