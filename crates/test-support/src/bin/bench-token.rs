//! Mints an ES256 key, writes its public JWKS to a file, and prints one
//! access token for the load harness (bench/run.sh), which measures Warden
//! with authentication on against the same Warden with it off.
//!
//!   bench-token JWKS_FILE ISSUER AUDIENCE SCOPE   → token on stdout
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark helper, not a request path")]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, issuer, audience, scope] = args.as_slice() else {
        eprintln!("usage: bench-token JWKS_FILE ISSUER AUDIENCE SCOPE");
        std::process::exit(2);
    };
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
    let key = EncodingKey::from_ec_der(pkcs8.as_ref());
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some("bench".into());
    std::fs::write(file, serde_json::to_vec(&JwkSet { keys: vec![jwk] }).unwrap()).unwrap();
    let now = jsonwebtoken::get_current_timestamp();
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("bench".into());
    h.typ = Some("at+jwt".into());
    let claims = serde_json::json!({"iss": issuer, "sub": "bench-user", "aud": audience, "scope": scope,
        "iat": now, "exp": now + 4 * 3600, "client_id": "bench-client"});
    println!("{}", jsonwebtoken::encode(&h, &claims, &key).unwrap());
}
