//! Configuration: raw serde structs → validated model; env expansion; schema.

pub mod auth;
mod backend;
mod credential;
mod env;
mod idp;
mod load;
mod model;
pub mod policy;
mod policy_external;
mod raw;
mod raw_auth;
mod raw_oauth_client;
mod raw_policy;
pub mod raw_token;
pub mod token;
mod units;

#[cfg(test)]
mod tests;

pub use env::{expand_str, expand_tree};
pub use load::{ConfigError, DEFAULT_CONFIG_YAML, json_schema, load_file, load_str, load_str_in};
pub use model::{
    BackendConfig, BackendKind, BuiltinDemo, Config, Curation, DEFAULT_ADMIN, DEFAULT_LISTEN, Limits, Listener,
    SessionSettings, TlsFiles, VirtualServerConfig,
};
pub use policy::{AuditSettings, LabelRules, PolicySettings};
pub use raw::{AccessLogOutput, EraSetting, HttpProtocol, HttpTransport, RawConfig};
pub use raw_oauth_client::RawOAuthClientCredential;
pub use token::{
    CredentialSettings, DevIdpSettings, SigningKeySettings, TokenServiceSettings, TransactionTokenSettings,
};
pub use units::{ByteSize, HumanDuration};
