//! How names from several backends share one virtual server.
//!
//! The rule (documented in `docs/multiplexing.md`):
//! - A virtual server with **one** backend exposes every name unchanged.
//! - With several, tool and prompt names become `{backend}__{name}`, and
//!   resource URIs (and URI templates) become `{backend}+{uri}`.
//!
//! Backend names contain only lowercase letters, digits and `-` (no `_`, no
//! `+`), so the first `__` (names) or first `+` (URIs) always ends the prefix:
//! the rule is reversible and two backends can never produce the same name.
//! A prefixed URI is still a valid URI: `notes+file:///a` has the scheme
//! `notes+file`, like `svn+ssh`.

/// Separator between backend and original name for tools and prompts.
pub const NAME_SEPARATOR: &str = "__";
/// Separator between backend and original URI for resources.
pub const URI_SEPARATOR: char = '+';

/// Whether `name` is usable as a backend name.
pub fn is_valid_backend_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !name.is_empty()
        && name.len() <= 32
        && bytes[0].is_ascii_lowercase()
        && !name.ends_with('-')
        && !name.contains("--")
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// Whether `name` is a valid MCP tool name (SEP-986: 1–128 of `[A-Za-z0-9_.-]`).
pub fn is_valid_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// How a virtual server names things: prefixed or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// One backend: names pass through.
    Passthrough,
    /// Several backends: names carry the backend prefix.
    Prefixed,
}

impl Naming {
    /// The naming rule for a virtual server with `backends` backends.
    pub fn for_backend_count(backends: usize) -> Naming {
        if backends == 1 { Naming::Passthrough } else { Naming::Prefixed }
    }

    /// The exposed name of a backend's tool or prompt.
    pub fn expose_name(self, backend: &str, name: &str) -> String {
        match self {
            Naming::Passthrough => name.to_string(),
            Naming::Prefixed => format!("{backend}{NAME_SEPARATOR}{name}"),
        }
    }

    /// Splits an exposed name into `(backend, original)`. With passthrough the
    /// backend is `None` (the only one).
    pub fn split_name(self, exposed: &str) -> Option<(Option<&str>, &str)> {
        match self {
            Naming::Passthrough => Some((None, exposed)),
            Naming::Prefixed => {
                let (b, n) = exposed.split_once(NAME_SEPARATOR)?;
                (is_valid_backend_name(b) && !n.is_empty()).then_some((Some(b), n))
            }
        }
    }

    /// The exposed URI of a backend's resource or template.
    pub fn expose_uri(self, backend: &str, uri: &str) -> String {
        match self {
            Naming::Passthrough => uri.to_string(),
            Naming::Prefixed => format!("{backend}{URI_SEPARATOR}{uri}"),
        }
    }

    /// Splits an exposed URI into `(backend, original)`.
    pub fn split_uri(self, exposed: &str) -> Option<(Option<&str>, &str)> {
        match self {
            Naming::Passthrough => Some((None, exposed)),
            Naming::Prefixed => {
                let (b, u) = exposed.split_once(URI_SEPARATOR)?;
                (is_valid_backend_name(b) && !u.is_empty()).then_some((Some(b), u))
            }
        }
    }
}
