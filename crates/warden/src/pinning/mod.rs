//! Tool-definition pinning: protection against MCP "rug pulls".
//!
//! An operator approves the tool definitions a virtual server's backends
//! serve; Warden records a hash of each approved definition ([`tool_hash`]) in
//! a pin file (one per virtual server, [`PinSet`]). When a backend later serves
//! a pinned tool whose definition hashes differently — for example a changed
//! description that smuggles instructions to the model, or a widened input
//! schema — the tool is hidden from `tools/list` and its calls are refused
//! until it is approved again ([`verdict`], [`is_served`]). Tools that are not
//! in the pin file are *unpinned*; [`Unpinned`] says whether they are hidden
//! (the default) or let through.
//!
//! Pin file format (JSON, unknown keys rejected):
//!
//! ```json
//! {
//!   "version": 1,
//!   "tools": {
//!     "hr_lookup": {"sha256": "<64 lowercase hex>", "backend": "hr", "approvedAt": "2026-11-22T10:00:00Z"}
//!   }
//! }
//! ```
//!
//! See `docs/pinning.md`.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::audit::chain::{is_hash_hex, sha256_hex};

/// The pin file format version this module reads and writes.
pub const PIN_FILE_VERSION: u64 = 1;

/// The members of a tool definition that [`tool_hash`] covers, in no
/// particular order (the canonical form sorts them).
pub const HASHED_MEMBERS: [&str; 6] = ["name", "title", "description", "inputSchema", "outputSchema", "annotations"];

/// SHA-256 (hex, lowercase) of the canonical JSON of the parts of a tool definition that matter:
/// the members `name`, `title`, `description`, `inputSchema`, `outputSchema`, `annotations` of
/// `definition` (the tool object exactly as the BACKEND sent it, before Warden renames it), those
/// present only. Canonical = object keys sorted recursively, no insignificant whitespace,
/// serde_json number/string formatting. Other members (`_meta`, `icons`, …) do not count.
///
/// Keys are sorted by their UTF-8 bytes. A member present with the value
/// `null` counts as present (it hashes differently from an absent member).
/// A `definition` that is not a JSON object hashes as the empty object `{}`.
pub fn tool_hash(definition: &serde_json::Value) -> String {
    let mut selected: Vec<(&str, &serde_json::Value)> = match definition.as_object() {
        Some(obj) => HASHED_MEMBERS.iter().filter_map(|k| obj.get(*k).map(|v| (*k, v))).collect(),
        None => Vec::new(),
    };
    selected.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = String::with_capacity(256);
    out.push('{');
    for (i, (k, v)) in selected.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_string(&mut out, k);
        out.push(':');
        write_canonical(&mut out, v);
    }
    out.push('}');
    sha256_hex(out.as_bytes())
}

/// Appends the canonical JSON of `v`: object keys sorted (by UTF-8 bytes) at
/// every depth, no whitespace, `serde_json`'s formatting for scalars.
fn write_canonical(out: &mut String, v: &serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<(&String, &serde_json::Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, k);
                out.push(':');
                write_canonical(out, v);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(out, item);
            }
            out.push(']');
        }
        // Scalars: serde_json's own compact formatting (`Display` of a Value).
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Appends `s` as a JSON string literal, escaped exactly as `serde_json` does.
fn write_json_string(out: &mut String, s: &str) {
    out.push_str(&serde_json::Value::from(s).to_string());
}

/// What happens to tools that are not in the pin file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unpinned {
    /// Hidden from `tools/list` and refused on `tools/call` (the default).
    #[default]
    Hide,
    /// Served as if approved.
    Allow,
}

impl Unpinned {
    /// The config spelling: `hide` or `allow`.
    pub fn as_str(self) -> &'static str {
        match self {
            Unpinned::Hide => "hide",
            Unpinned::Allow => "allow",
        }
    }
}

impl fmt::Display for Unpinned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Unpinned {
    type Err = PinError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hide" => Ok(Unpinned::Hide),
            "allow" => Ok(Unpinned::Allow),
            other => Err(PinError::UnpinnedMode { value: other.to_owned() }),
        }
    }
}

/// What the config validation builds for one virtual server's `pinning` block.
#[derive(Debug, Clone)]
pub struct PinningSettings {
    /// The pin file (already resolved against the config file's directory).
    pub file: PathBuf,
    /// What happens to tools not in the pin file.
    pub unpinned: Unpinned,
    /// The approved pins, as last loaded from `file`.
    pub pins: Arc<PinSet>,
}

impl PinningSettings {
    /// Builds the settings by loading `file` ([`PinSet::load`]: a missing
    /// file is an empty set).
    pub fn load(file: PathBuf, unpinned: Unpinned) -> Result<PinningSettings, PinError> {
        let pins = PinSet::load(&file)?;
        Ok(PinningSettings { file, unpinned, pins: Arc::new(pins) })
    }
}

/// The decision for one tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinVerdict {
    /// The tool is pinned and its definition hashes as approved.
    Approved,
    /// The tool is pinned but its definition changed since approval.
    Changed {
        /// The approved hash (from the pin file).
        approved: String,
        /// The hash of the definition the backend serves now.
        actual: String,
    },
    /// The tool is not in the pin file.
    Unpinned,
}

impl PinVerdict {
    /// The word the CLI prints for this verdict: `approved`, `changed` or `new`.
    pub fn label(&self) -> &'static str {
        match self {
            PinVerdict::Approved => "approved",
            PinVerdict::Changed { .. } => "changed",
            PinVerdict::Unpinned => "new",
        }
    }
}

impl fmt::Display for PinVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The approved pins of one virtual server (one pin file per virtual server).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinSet {
    /// Exposed tool name → pin. A `BTreeMap`, so iteration and the saved file
    /// have a stable (sorted) order.
    tools: BTreeMap<String, PinEntry>,
}

/// One approved tool.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PinEntry {
    /// [`tool_hash`] of the approved definition (64 lowercase hex digits).
    pub sha256: String,
    /// The backend that served the approved definition.
    pub backend: String,
    /// When it was approved (RFC 3339).
    pub approved_at: String,
}

/// The pin file as stored.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PinFile {
    version: u64,
    #[serde(default)]
    tools: BTreeMap<String, PinEntry>,
}

/// Distinguishes temp files of concurrent saves within one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl PinSet {
    /// Reads a pin file. A missing file is an empty set (nothing approved yet) — returns Ok(empty).
    /// Malformed JSON, wrong version, bad hash (not 64 lowercase hex) → Err with a message naming the file and the problem.
    ///
    /// Also rejected: unknown keys, a missing `version`, and an `approvedAt`
    /// that is not an RFC 3339 timestamp.
    pub fn load(path: &Path) -> Result<PinSet, PinError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(PinSet::default()),
            Err(source) => return Err(PinError::Read { path: path.to_path_buf(), source }),
        };
        PinSet::parse(path, &text)
    }

    /// Parses the text of a pin file; `path` only names it in errors.
    fn parse(path: &Path, text: &str) -> Result<PinSet, PinError> {
        let invalid = |detail: String| PinError::Invalid { path: path.to_path_buf(), detail };
        // Syntax first (with line/column), then the version, so that a file of
        // a future version reports its version rather than an unknown key.
        let tree: serde_json::Value =
            serde_json::from_str(text).map_err(|e| invalid(format!("malformed JSON: {e}")))?;
        let Some(obj) = tree.as_object() else {
            return Err(invalid("expected a JSON object".to_owned()));
        };
        match obj.get("version") {
            None => return Err(invalid("missing \"version\"".to_owned())),
            Some(v) if v.as_u64() == Some(PIN_FILE_VERSION) => {}
            Some(v) => return Err(PinError::Version { path: path.to_path_buf(), found: v.to_string() }),
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let file: PinFile = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let at = e.path().to_string();
            let inner = e.into_inner();
            if at.is_empty() || at == "." { invalid(inner.to_string()) } else { invalid(format!("at {at}: {inner}")) }
        })?;
        for (tool, entry) in &file.tools {
            if !is_hash_hex(&entry.sha256) {
                return Err(PinError::BadHash {
                    path: path.to_path_buf(),
                    tool: tool.clone(),
                    hash: entry.sha256.clone(),
                });
            }
            if let Err(e) = humantime::parse_rfc3339_weak(&entry.approved_at) {
                return Err(invalid(format!(
                    "tool {tool:?}: approvedAt {:?} is not an RFC 3339 time: {e}",
                    entry.approved_at
                )));
            }
        }
        Ok(PinSet { tools: file.tools })
    }

    /// The verdict for a tool exposed as `exposed_name` whose definition
    /// hashes to `hash` ([`tool_hash`]).
    pub fn check(&self, exposed_name: &str, hash: &str) -> PinVerdict {
        match self.tools.get(exposed_name) {
            None => PinVerdict::Unpinned,
            Some(entry) if entry.sha256 == hash => PinVerdict::Approved,
            Some(entry) => PinVerdict::Changed { approved: entry.sha256.clone(), actual: hash.to_owned() },
        }
    }

    /// The pin of a tool, if it has one.
    pub fn get(&self, exposed_name: &str) -> Option<&PinEntry> {
        self.tools.get(exposed_name)
    }

    /// How many tools are pinned.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether no tool is pinned.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// The pins, sorted by exposed tool name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &PinEntry)> {
        self.tools.iter()
    }

    /// Approves (inserts or replaces) a tool.
    ///
    /// `hash` should be a [`tool_hash`]; the approval time is now, in RFC 3339
    /// with whole seconds (UTC).
    pub fn approve(&mut self, exposed_name: &str, backend: &str, hash: &str) {
        let approved_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        self.tools.insert(
            exposed_name.to_owned(),
            PinEntry { sha256: hash.to_owned(), backend: backend.to_owned(), approved_at },
        );
    }

    /// Removes a pin; returns whether it existed.
    pub fn revoke(&mut self, exposed_name: &str) -> bool {
        self.tools.remove(exposed_name).is_some()
    }

    /// Writes the set atomically (temp file in the same directory, fsync, rename), creating the parent directory if needed; stable key order; pretty JSON with trailing newline.
    pub fn save(&self, path: &Path) -> Result<(), PinError> {
        let write_err = |source: std::io::Error| PinError::Write { path: path.to_path_buf(), source };
        let file_name = path
            .file_name()
            .ok_or_else(|| write_err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path")))?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(write_err)?;

        let file = PinFile { version: PIN_FILE_VERSION, tools: self.tools.clone() };
        let mut bytes =
            serde_json::to_vec_pretty(&file).map_err(|source| PinError::Encode { path: path.to_path_buf(), source })?;
        bytes.push(b'\n');

        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(file_name);
        temp_name.push(format!(".tmp.{}.{}", std::process::id(), TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)));
        let temp = dir.join(temp_name);

        let result = write_synced(&temp, &bytes).and_then(|()| std::fs::rename(&temp, path));
        if let Err(e) = result {
            let _ = std::fs::remove_file(&temp);
            return Err(write_err(e));
        }
        // Make the rename itself durable. Best effort: not every platform or
        // file system lets a directory be opened and synced.
        #[cfg(unix)]
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// Creates `path` (which must not exist), writes `bytes` and fsyncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Everything that can go wrong with pinning.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PinError {
    /// The pin file exists but could not be read.
    #[error("pin file {}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The pin file is not valid JSON or does not have the expected shape.
    #[error("pin file {}: {detail}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The pin file has a `version` other than 1.
    #[error("pin file {}: unsupported version {found} (expected {PIN_FILE_VERSION})", path.display())]
    Version {
        /// The file.
        path: PathBuf,
        /// The `version` value found, as JSON.
        found: String,
    },
    /// A pin's `sha256` is not 64 lowercase hex digits.
    #[error("pin file {}: tool {tool:?}: sha256 {hash:?} is not 64 lowercase hex digits", path.display())]
    BadHash {
        /// The file.
        path: PathBuf,
        /// The exposed tool name.
        tool: String,
        /// The offending value.
        hash: String,
    },
    /// The pin set could not be serialized.
    #[error("pin file {}: cannot encode: {source}", path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// The serialization error.
        #[source]
        source: serde_json::Error,
    },
    /// Writing the pin file (or its directory or temp file) failed.
    #[error("pin file {}: cannot write: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An `unpinned` mode other than `hide` or `allow`.
    #[error("unpinned: expected \"hide\" or \"allow\", got {value:?}")]
    UnpinnedMode {
        /// The value given.
        value: String,
    },
}

/// The decision for one tool from a backend, and the report lines the CLI prints.
///
/// `exposed_name` is the name Warden exposes the tool under (the pin file's
/// key); `definition` is the tool object exactly as the backend sent it. The
/// CLI prints [`PinVerdict::label`] for each tool.
pub fn verdict(settings: &PinningSettings, exposed_name: &str, definition: &serde_json::Value) -> PinVerdict {
    settings.pins.check(exposed_name, &tool_hash(definition))
}

/// Whether a tool with this verdict is served: Approved → true; Changed → false; Unpinned → settings.unpinned == Allow.
pub fn is_served(settings: &PinningSettings, v: &PinVerdict) -> bool {
    match v {
        PinVerdict::Approved => true,
        PinVerdict::Changed { .. } => false,
        PinVerdict::Unpinned => settings.unpinned == Unpinned::Allow,
    }
}
