//! Reading a config file: YAML → env expansion → typed raw config → validated model.

use std::path::Path;

use super::model::Config;
use super::raw::RawConfig;

/// The configuration `warden serve` runs when given no file.
pub const DEFAULT_CONFIG_YAML: &str = include_str!("default.yaml");

/// Why a configuration could not be loaded. Every variant lists problems as
/// `key.path: message` lines.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// File path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The text is not valid YAML.
    #[error("{origin}: invalid YAML: {message}")]
    Syntax {
        /// File name or `(embedded)`.
        origin: String,
        /// Parser message (with line and column).
        message: String,
    },
    /// The config has problems; each names its key path.
    #[error("{origin}: {} problem(s):\n  {}", problems.len(), problems.join("\n  "))]
    Invalid {
        /// File name or `(embedded)`.
        origin: String,
        /// `key.path: message` lines.
        problems: Vec<String>,
    },
}

/// Loads and validates a config file, expanding `${VAR}` from the process environment.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
    let base = path.parent().unwrap_or(Path::new(""));
    load_str_in(&text, &path.display().to_string(), &|k| std::env::var(k).ok(), base)
}

/// Loads and validates config text. `origin` names the source in errors;
/// relative file paths in it are relative to the working directory.
pub fn load_str(text: &str, origin: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    load_str_in(text, origin, lookup, Path::new(""))
}

/// [`load_str`], with relative policy, pin and audit paths resolved against `base`.
pub fn load_str_in(
    text: &str,
    origin: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    base: &Path,
) -> Result<Config, ConfigError> {
    let mut tree: serde_norway::Value = serde_norway::from_str(text)
        .map_err(|e| ConfigError::Syntax { origin: origin.to_string(), message: e.to_string() })?;
    if tree.is_null() {
        tree = serde_norway::Value::Mapping(Default::default());
    }
    let mut problems = super::env::expand_tree(&mut tree, lookup);
    let raw: Option<RawConfig> = match serde_path_to_error::deserialize(tree) {
        Ok(raw) => Some(raw),
        Err(e) => {
            let path = e.path().to_string();
            let path = if path == "." { "(root)".to_string() } else { path };
            problems.push(format!("{path}: {}", e.into_inner()));
            None
        }
    };
    let invalid = |problems| ConfigError::Invalid { origin: origin.to_string(), problems };
    match raw {
        Some(raw) if problems.is_empty() => Config::from_raw_in(raw, base).map_err(invalid),
        Some(raw) => {
            // Report type-level problems together with semantic ones.
            if let Err(more) = Config::from_raw_in(raw, base) {
                problems.extend(more);
            }
            Err(invalid(problems))
        }
        None => Err(invalid(problems)),
    }
}

/// The JSON Schema of the configuration file, pretty-printed.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(RawConfig);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}
