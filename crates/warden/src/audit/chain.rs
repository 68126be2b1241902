//! Canonical bytes and the hash chain.
//!
//! **Canonical bytes** of a record: its compact `serde_json` serialization
//! (no whitespace, fields in the order of [`AuditRecord`](super::AuditRecord)'s
//! declaration) *without* the `hash` member. The `hash` is the lowercase hex
//! SHA-256 of those bytes. The stored line is the canonical bytes with the
//! closing `}` replaced by `,"hash":"<64 hex>"}`, followed by `\n`; `hash`
//! is therefore always the last member, and a verifier recovers the canonical
//! bytes from the line alone by cutting that suffix and putting `}` back
//! (no JSON re-serialization, so no dependence on key order or number
//! formatting of any particular library).
//!
//! **Chain**: each record's `prev` is the previous record's `hash`; the first
//! record of a file has `seq` 0 and `prev` = [`GENESIS_PREV`] (64 zeros).
//! Because `prev` and `seq` are inside the hashed bytes, each hash commits to
//! the whole file before it.

use aws_lc_rs::digest;

/// The `prev` of the first record in a file: 64 zeros.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Length of `,"hash":"` + 64 hex digits + `"}`.
const HASH_SUFFIX_LEN: usize = 9 + 64 + 2;

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = digest::digest(&digest::SHA256, bytes);
    let mut out = String::with_capacity(64);
    for b in d.as_ref() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether `s` is 64 lowercase hex digits.
pub fn is_hash_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The stored line (without `\n`) for `canonical` bytes: returns the line and
/// the hash. `canonical` must be a JSON object ending in `}`.
pub fn seal(canonical: &[u8]) -> Option<(Vec<u8>, String)> {
    let (last, body) = canonical.split_last()?;
    if *last != b'}' {
        return None;
    }
    let hash = sha256_hex(canonical);
    let mut line = Vec::with_capacity(canonical.len() + HASH_SUFFIX_LEN + 1);
    line.extend_from_slice(body);
    line.extend_from_slice(b",\"hash\":\"");
    line.extend_from_slice(hash.as_bytes());
    line.extend_from_slice(b"\"}");
    Some((line, hash))
}

/// Splits a stored line (without `\n`) into its canonical bytes and the
/// stored hash. `None` when the line does not end in a well-formed `hash`
/// member (truncated or rewritten).
pub fn unseal(line: &[u8]) -> Option<(Vec<u8>, &str)> {
    let cut = line.len().checked_sub(HASH_SUFFIX_LEN)?;
    let (body, suffix) = line.split_at(cut);
    let hex = suffix.strip_prefix(b",\"hash\":\"")?.strip_suffix(b"\"}")?;
    let hex = std::str::from_utf8(hex).ok()?;
    if !is_hash_hex(hex) {
        return None;
    }
    let mut canonical = Vec::with_capacity(body.len() + 1);
    canonical.extend_from_slice(body);
    canonical.push(b'}');
    Some((canonical, hex))
}

/// The chain fields of a stored record, read without interpreting the rest
/// (so that verification survives new record fields).
#[derive(Debug, serde::Deserialize)]
pub struct ChainFields {
    /// Position in the file.
    pub seq: u64,
    /// Previous record's hash.
    pub prev: String,
    /// This record's hash.
    pub hash: String,
}

/// A stored line checked on its own: parsed, and its hash recomputed.
#[derive(Debug)]
pub enum LineCheck {
    /// Well-formed, and the stored hash matches the content.
    Sound(ChainFields),
    /// Well-formed, but the content does not match the stored hash.
    HashMismatch(ChainFields),
    /// Not a record at all (or cut short).
    Malformed(String),
}

/// Checks one stored line (without `\n`) on its own.
pub fn check_line(line: &[u8]) -> LineCheck {
    let fields: ChainFields = match serde_json::from_slice(line) {
        Ok(f) => f,
        Err(e) => return LineCheck::Malformed(format!("not a JSON audit record ({e})")),
    };
    let Some((canonical, stored)) = unseal(line) else {
        return LineCheck::Malformed("`hash` is not the last member or is not 64 hex digits".into());
    };
    if stored != fields.hash {
        return LineCheck::Malformed("duplicate `hash` members".into());
    }
    if sha256_hex(&canonical) == stored { LineCheck::Sound(fields) } else { LineCheck::HashMismatch(fields) }
}
