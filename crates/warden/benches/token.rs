//! Token minting per second for the `exchange` upstream credential: every
//! call minting (cache off: one ES256 / EdDSA signature each), and the
//! per-principal cache warm (cache on: a lookup and an `Arc` clone), plus a
//! transaction token (always minted, one per backend request).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "benchmark set-up, not a request path")]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Throughput, criterion_group, criterion_main};
use warden::auth::{AgentIdentity, Principal, PrincipalKind};
use warden::config::raw_token::SigningAlgorithm;
use warden::config::{CredentialSettings, TokenServiceSettings, TransactionTokenSettings};
use warden::credentials::BackendCredential;
use warden::credentials::txn::{TxnContext, TxnTokens};
use warden::token::{KeyRing, MintRequest, TokenService};

mod common;

fn service(alg: SigningAlgorithm) -> Arc<TokenService> {
    let settings = TokenServiceSettings::in_memory("https://warden.bench", alg);
    let ring = KeyRing::open(&settings.keys).unwrap();
    TokenService::with_keys(Arc::new(settings), ring)
}

fn alice() -> Principal {
    let mut p = Principal::anonymous();
    p.kind = PrincipalKind::User;
    p.subject = "alice".into();
    p.issuer = Some("https://idp.bench".into());
    p.scopes = ["mcp:tools", "files.read", "files.write"].iter().map(|s| s.to_string()).collect();
    p.client_id = Some("hr-agent".into());
    p.agent = Some(AgentIdentity { id: "hr-agent".into(), source: "client" });
    p
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let principal = alice();
    let scopes = vec!["mcp:tools".to_string(), "files.read".to_string()];
    let mut g = c.benchmark_group("token");
    g.throughput(Throughput::Elements(1));
    for (name, alg) in [("es256", SigningAlgorithm::ES256), ("eddsa", SigningAlgorithm::EdDSA)] {
        let ts = service(alg);
        g.bench_function(format!("mint/{name}/cache_off"), |b| {
            b.iter(|| {
                let req = MintRequest {
                    audience: "https://conf.internal",
                    scopes: Some(&scopes),
                    lifetime: None,
                    impersonate: false,
                };
                black_box(ts.mint_for(black_box(&principal), &req).unwrap())
            })
        });
        let settings = CredentialSettings::Exchange {
            audience: "https://conf.internal".into(),
            scopes: Some(scopes.clone()),
            lifetime: None,
            impersonate: false,
        };
        let http = reqwest::Client::new();
        let facts = warden::credentials::BackendFacts { name: "bench", url: None, gateway_base: "http://127.0.0.1:1" };
        let cred = BackendCredential::build(&settings, Some(&ts), &http, facts).unwrap().unwrap();
        rt.block_on(cred.for_call(&principal)).unwrap();
        g.bench_function(format!("exchange/{name}/cache_on"), |b| {
            b.iter(|| black_box(rt.block_on(cred.for_call(black_box(&principal))).unwrap()))
        });
        let txn = TxnTokens::new(
            ts.clone(),
            &TransactionTokenSettings { audience: None, lifetime: Duration::from_secs(60) },
            "bench",
        );
        let cx = TxnContext {
            request_id: "0123456789abcdef",
            method: "tools/call",
            target: Some("echo"),
            backend: "conf",
            client_address: None,
        };
        g.bench_function(format!("txn_token/{name}"), |b| b.iter(|| black_box(txn.mint(&principal, &cx).unwrap())));
    }
    g.finish();
}

use criterion::Criterion;

criterion_group! { name = benches; config = common::short(); targets = bench }
criterion_main!(benches);
