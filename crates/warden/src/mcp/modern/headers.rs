//! Encoding of `Mcp-Name` / `Mcp-Param-*` header values (2026-07-28 §transports).
//!
//! A value that is plain visible ASCII without surrounding whitespace is sent
//! as is; anything else as `=?base64?<standard base64 of UTF-8>?=`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const PREFIX: &str = "=?base64?";
const SUFFIX: &str = "?=";

fn needs_encoding(v: &str) -> bool {
    v.bytes().any(|b| !(0x20..=0x7e).contains(&b))
        || v.starts_with([' ', '\t'])
        || v.ends_with([' ', '\t'])
        || (v.starts_with(PREFIX) && v.ends_with(SUFFIX))
}

/// Encodes a value for a header.
pub fn encode_header_value(v: &str) -> String {
    if needs_encoding(v) { format!("{PREFIX}{}{SUFFIX}", STANDARD.encode(v.as_bytes())) } else { v.to_string() }
}

/// Decodes a header value. `None` when it claims base64 but is not valid
/// (wrong padding, bad characters, not UTF-8).
pub fn decode_header_value(raw: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(raw).ok()?.trim_matches([' ', '\t']);
    match s.strip_prefix(PREFIX).and_then(|r| r.strip_suffix(SUFFIX)) {
        Some(b64) => String::from_utf8(STANDARD.decode(b64).ok()?).ok(),
        None => Some(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_bad_base64() {
        assert_eq!(encode_header_value("plain"), "plain");
        assert_eq!(encode_header_value("Hello, 世界"), "=?base64?SGVsbG8sIOS4lueVjA==?=");
        assert_eq!(encode_header_value(" padded "), "=?base64?IHBhZGRlZCA=?=");
        assert_eq!(decode_header_value(b"=?base64?SGVsbG8=?=").as_deref(), Some("Hello"));
        assert_eq!(decode_header_value(b"=?base64?SGVsbG8?="), None);
        assert_eq!(decode_header_value(b"=?base64?SGVs!!!bG8=?="), None);
        assert_eq!(decode_header_value(b"  foo  ").as_deref(), Some("foo"));
        assert_eq!(decode_header_value(b"=?base64?abc").as_deref(), Some("=?base64?abc"));
    }
}
