//! Mints an ES256 key, writes its public JWKS to a file, and prints one
//! access token for the load harness (bench/run.sh), which measures Warden
//! with authentication on against the same Warden with it off.
//!
//!   bench-token JWKS_FILE ISSUER AUDIENCE SCOPE   → token on stdout

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, issuer, audience, scope] = args.as_slice() else {
        eprintln!("usage: bench-token JWKS_FILE ISSUER AUDIENCE SCOPE");
        return std::process::ExitCode::from(2);
    };
    match mint(file, issuer, audience, scope) {
        Ok(token) => {
            println!("{token}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-token: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn mint(file: &str, issuer: &str, audience: &str, scope: &str) -> Result<String, Box<dyn std::error::Error>> {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map_err(|e| format!("key generation: {e}"))?;
    let key = EncodingKey::from_ec_der(pkcs8.as_ref());
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256)?;
    jwk.common.key_id = Some("bench".into());
    std::fs::write(file, serde_json::to_vec(&JwkSet { keys: vec![jwk] })?)?;
    let now = jsonwebtoken::get_current_timestamp();
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("bench".into());
    h.typ = Some("at+jwt".into());
    let claims = serde_json::json!({"iss": issuer, "sub": "bench-user", "aud": audience, "scope": scope,
        "iat": now, "exp": now + 4 * 3600, "client_id": "bench-client"});
    Ok(jsonwebtoken::encode(&h, &claims, &key)?)
}
