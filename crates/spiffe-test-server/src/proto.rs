//! The Workload API messages, written by hand with `prost` derives.
//!
//! Why by hand: generating them needs `protoc` (prost-build and
//! tonic-prost-build both shell out to it), which is not available here, and
//! the API is eleven small messages that have not changed in years. The
//! field numbers below are exactly those of `proto/workload.proto`; the
//! tests drive this server with the `spiffe` crate, whose code *is*
//! generated from the upstream file, so any mismatch would show there.

use std::collections::HashMap;

/// `X509SVIDRequest`: no parameters.
#[derive(Clone, Copy, PartialEq, Eq, ::prost::Message)]
pub struct X509SvidRequest {}

/// `X509SVIDResponse`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct X509SvidResponse {
    /// The workload's SVIDs (the first is the default).
    #[prost(message, repeated, tag = "1")]
    pub svids: Vec<X509Svid>,
    /// DER CRLs.
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub crl: Vec<Vec<u8>>,
    /// Bundles of other trust domains, by trust domain ID.
    #[prost(map = "string, bytes", tag = "3")]
    pub federated_bundles: HashMap<String, Vec<u8>>,
}

/// `X509SVID`.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct X509Svid {
    /// The SVID's SPIFFE ID.
    #[prost(string, tag = "1")]
    pub spiffe_id: String,
    /// DER certificate chain, leaf first.
    #[prost(bytes = "vec", tag = "2")]
    pub x509_svid: Vec<u8>,
    /// PKCS#8 DER private key.
    #[prost(bytes = "vec", tag = "3")]
    pub x509_svid_key: Vec<u8>,
    /// Concatenated DER CA certificates of the SVID's trust domain.
    #[prost(bytes = "vec", tag = "4")]
    pub bundle: Vec<u8>,
    /// Operator hint.
    #[prost(string, tag = "5")]
    pub hint: String,
}

/// `X509BundlesRequest`: no parameters.
#[derive(Clone, Copy, PartialEq, Eq, ::prost::Message)]
pub struct X509BundlesRequest {}

/// `X509BundlesResponse`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct X509BundlesResponse {
    /// DER CRLs.
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub crl: Vec<Vec<u8>>,
    /// Concatenated DER CA certificates by trust domain ID.
    #[prost(map = "string, bytes", tag = "2")]
    pub bundles: HashMap<String, Vec<u8>>,
}

/// `JWTSVIDRequest`.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct JwtSvidRequest {
    /// Audiences for the token (required).
    #[prost(string, repeated, tag = "1")]
    pub audience: Vec<String>,
    /// The SPIFFE ID wanted; empty for all.
    #[prost(string, tag = "2")]
    pub spiffe_id: String,
}

/// `JWTSVIDResponse`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct JwtSvidResponse {
    /// The tokens.
    #[prost(message, repeated, tag = "1")]
    pub svids: Vec<JwtSvid>,
}

/// `JWTSVID`.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct JwtSvid {
    /// The token's SPIFFE ID.
    #[prost(string, tag = "1")]
    pub spiffe_id: String,
    /// The token, JWS compact serialization.
    #[prost(string, tag = "2")]
    pub svid: String,
    /// Operator hint.
    #[prost(string, tag = "3")]
    pub hint: String,
}

/// `JWTBundlesRequest`: no parameters.
#[derive(Clone, Copy, PartialEq, Eq, ::prost::Message)]
pub struct JwtBundlesRequest {}

/// `JWTBundlesResponse`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct JwtBundlesResponse {
    /// JWKS documents by trust domain ID.
    #[prost(map = "string, bytes", tag = "1")]
    pub bundles: HashMap<String, Vec<u8>>,
}

/// `ValidateJWTSVIDRequest`.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct ValidateJwtSvidRequest {
    /// The validator's audience.
    #[prost(string, tag = "1")]
    pub audience: String,
    /// The token.
    #[prost(string, tag = "2")]
    pub svid: String,
}

/// `ValidateJWTSVIDResponse`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ValidateJwtSvidResponse {
    /// The token's SPIFFE ID.
    #[prost(string, tag = "1")]
    pub spiffe_id: String,
    /// The token's claims.
    #[prost(message, optional, tag = "2")]
    pub claims: Option<::prost_types::Struct>,
}
