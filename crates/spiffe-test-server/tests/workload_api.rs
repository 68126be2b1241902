//! The test Workload API driven by real clients: the `spiffe` crate's
//! `WorkloadApiClient` and `X509Source` (whose gRPC code is generated from
//! the upstream proto), a raw tonic client for the metadata check, Warden's
//! own `auth::spiffe` watcher and validators, and the binary. Every wait is
//! bounded.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt as _;
use spiffe::{WorkloadApiClient, X509Source};
use spiffe_test_server::proto::{JwtSvidRequest, JwtSvidResponse, X509SvidRequest, X509SvidResponse};
use spiffe_test_server::{SvidShape, TestWorkloadApi};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::sync::watch;
use warden::auth::spiffe::{
    BundleSet, BundleSource, BundleWatcher, IdError, JwtSvidError, SpiffeError, TrustBundle, TrustDomain, WatchOptions,
    WorkloadEndpoint, X509SvidError, fetch_x509_svid, spawn_domain_watcher, svid_id, validate_jwt_svid,
};

const TD: &str = "example.org";
const ID: &str = "spiffe://example.org/agent";
const AUD: &str = "spiffe://example.org/warden";
const LIMIT: Duration = Duration::from_secs(15);

/// Awaits `fut`, failing the test after [`LIMIT`].
async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(LIMIT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no result within {LIMIT:?}"),
    }
}

/// Waits for `source` to hold a set satisfying `ok`, via its change notifications.
async fn wait_for_bundles(source: &BundleSource, what: &str, ok: impl Fn(&BundleSet) -> bool) -> BundleSet {
    let mut changes = source.subscribe();
    bounded(what, async {
        loop {
            let set = source.snapshot();
            if ok(&set) {
                return set;
            }
            changes.changed().await.expect("bundle source dropped");
        }
    })
    .await
}

async fn server(dir: &tempfile::TempDir) -> TestWorkloadApi {
    TestWorkloadApi::start_with_identity(dir.path(), TD, ID).await.unwrap()
}

async fn client(api: &TestWorkloadApi) -> WorkloadApiClient {
    bounded("connect", WorkloadApiClient::connect_to(api.endpoint())).await.unwrap()
}

fn td(name: &str) -> TrustDomain {
    TrustDomain::parse(name).unwrap()
}

fn spiffe_td(name: &str) -> spiffe::TrustDomain {
    spiffe::TrustDomain::new(name).unwrap()
}

/// Warden bundles from what the `spiffe` crate fetched with `FetchJWTBundles`.
fn warden_bundles(set: &spiffe::JwtBundleSet) -> BundleSet {
    BundleSet::from_bundles(set.iter().map(|(name, bundle)| {
        let keys: Vec<serde_json::Value> =
            bundle.jwt_authorities().map(|a| serde_json::from_slice(a.jwk_json()).unwrap()).collect();
        let jwks = serde_json::json!({ "keys": keys }).to_string();
        TrustBundle::from_workload_parts(td(name.as_str()), vec![], Some(jwks.as_bytes())).unwrap()
    }))
}

#[tokio::test]
async fn x509_svid_and_bundles_are_fetched_by_the_spiffe_client() {
    let dir = tempfile::tempdir().unwrap();
    let api = server(&dir).await;
    let client = client(&api).await;

    let svid = bounded("FetchX509SVID", client.fetch_x509_svid()).await.unwrap();
    assert_eq!(svid.spiffe_id().to_string(), ID);
    assert_eq!(svid.cert_chain().len(), 1);
    assert_eq!(svid_id(svid.leaf().as_bytes()).unwrap().to_string(), ID, "Warden accepts the leaf");
    assert!(!svid.private_key().as_bytes().is_empty());

    let bundles = bounded("FetchX509Bundles", client.fetch_x509_bundles()).await.unwrap();
    let bundle = bundles.get(&spiffe_td(TD)).expect("bundle of example.org");
    assert_eq!(bundle.authorities()[0].as_bytes(), api.ca_der(TD).unwrap().as_slice());

    let context = bounded("x509 context", client.fetch_x509_context()).await.unwrap();
    assert!(context.bundle_set().get(&spiffe_td(TD)).is_some());
    api.shutdown().await.unwrap();
}

#[tokio::test]
async fn warden_fetches_its_own_svid_for_tls() {
    let dir = tempfile::tempdir().unwrap();
    let api = server(&dir).await;
    let endpoint = WorkloadEndpoint::parse(&api.endpoint()).unwrap();
    let own = fetch_x509_svid(&endpoint, LIMIT).await.unwrap();
    assert_eq!(own.id.to_string(), ID);
    assert_eq!(own.cert_chain.len(), 1);
    assert!(!format!("{own:?}").contains("Pkcs8"), "the key is not printed");
    // The pair is usable by rustls as a server certificate.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(own.cert_chain, own.private_key)
        .unwrap();
}

#[tokio::test]
async fn jwt_svid_validates_with_warden_against_fetched_jwt_bundles() {
    let dir = tempfile::tempdir().unwrap();
    let api = server(&dir).await;
    let client = client(&api).await;

    let token = bounded("FetchJWTSVID", client.fetch_jwt_token([AUD], None)).await.unwrap();
    let jwt_bundles = bounded("FetchJWTBundles", client.fetch_jwt_bundles()).await.unwrap();
    let bundles = warden_bundles(&jwt_bundles);

    let svid = validate_jwt_svid(&token, &bundles, &[AUD.to_owned()], Duration::ZERO).unwrap();
    assert_eq!(svid.id.to_string(), ID);
    assert_eq!(svid.audience, [AUD]);
    assert!(svid.expiry > SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs());
    assert_eq!(
        validate_jwt_svid(&token, &bundles, &["spiffe://example.org/other".to_owned()], Duration::ZERO),
        Err(SpiffeError::JwtSvid(JwtSvidError::AudienceMismatch))
    );

    // The spiffe crate's own validator and the server's ValidateJWTSVID agree.
    let theirs = spiffe::JwtSvid::parse_and_validate(&token, &jwt_bundles, &[AUD]).unwrap();
    assert_eq!(theirs.spiffe_id().to_string(), ID);
    let validated = bounded("ValidateJWTSVID", client.validate_jwt_token(AUD, &token)).await.unwrap();
    assert_eq!(validated.spiffe_id().to_string(), ID);
    assert!(bounded("ValidateJWTSVID", client.validate_jwt_token("wrong", &token)).await.is_err());

    // Asking for another identity, or for no audience, is refused.
    let other = spiffe::SpiffeId::new("spiffe://example.org/someone-else").unwrap();
    assert!(bounded("FetchJWTSVID", client.fetch_jwt_token([AUD], Some(&other))).await.is_err());
    assert!(bounded("FetchJWTSVID", client.fetch_jwt_token(Vec::<String>::new(), None)).await.is_err());
}

#[tokio::test]
async fn x509_source_observes_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let api = server(&dir).await;
    let source = bounded("X509Source", X509Source::builder().endpoint(api.endpoint()).build()).await.unwrap();
    let first = source.svid().unwrap();
    assert_eq!(first.spiffe_id().to_string(), ID);
    let mut updates = source.updated();

    api.rotate().unwrap();
    let new_ca = api.ca_der(TD).unwrap();
    bounded("rotation seen by X509Source", async {
        loop {
            let bundle = source.bundle_set().unwrap().get(&spiffe_td(TD)).unwrap();
            if source.svid().unwrap().leaf() != first.leaf() && bundle.authorities()[0].as_bytes() == new_ca.as_slice()
            {
                break;
            }
            updates.changed().await.unwrap();
        }
    })
    .await;
    bounded("X509Source shutdown", source.shutdown()).await;
}

#[tokio::test]
async fn streams_send_the_full_state_on_every_message() {
    let dir = tempfile::tempdir().unwrap();
    let api = server(&dir).await;
    let client = client(&api).await;
    let mut x509 = bounded("stream", client.stream_x509_bundles()).await.unwrap();
    let mut jwt = bounded("stream", client.stream_jwt_bundles()).await.unwrap();
    let first = bounded("first x509 message", x509.next()).await.unwrap().unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(bounded("first jwt message", jwt.next()).await.unwrap().unwrap().len(), 1);

    api.add_trust_domain("other.org").unwrap();
    let second = bounded("second x509 message", x509.next()).await.unwrap().unwrap();
    assert!(second.get(&spiffe_td(TD)).is_some() && second.get(&spiffe_td("other.org")).is_some());
    let jwt_second = bounded("second jwt message", jwt.next()).await.unwrap().unwrap();
    assert_eq!(jwt_second.len(), 2, "the JWT stream also sends everything, not a delta");
}

#[tokio::test]
async fn calls_without_the_security_header_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let api = server(&dir).await;
    let endpoint = spiffe::transport::Endpoint::parse(&api.endpoint()).unwrap();
    let channel = bounded("raw connect", spiffe::transport::connect(&endpoint)).await.unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);

    let unary = |header: Option<&'static str>| {
        let mut req = tonic::Request::new(JwtSvidRequest { audience: vec![AUD.into()], spiffe_id: String::new() });
        if let Some(v) = header {
            req.metadata_mut().insert("workload.spiffe.io", v.parse().unwrap());
        }
        req
    };
    let path = || http::uri::PathAndQuery::from_static("/SpiffeWorkloadAPI/FetchJWTSVID");
    let codec = || tonic_prost::ProstCodec::<JwtSvidRequest, JwtSvidResponse>::default();
    for header in [None, Some("false"), Some("TRUE")] {
        bounded("ready", grpc.ready()).await.unwrap();
        let status = bounded("FetchJWTSVID", grpc.unary(unary(header), path(), codec())).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{header:?}");
    }
    bounded("ready", grpc.ready()).await.unwrap();
    let ok = bounded("FetchJWTSVID", grpc.unary(unary(Some("true")), path(), codec())).await.unwrap();
    assert_eq!(ok.into_inner().svids[0].spiffe_id, ID);

    bounded("ready", grpc.ready()).await.unwrap();
    let stream = bounded(
        "FetchX509SVID",
        grpc.server_streaming(
            tonic::Request::new(X509SvidRequest {}),
            http::uri::PathAndQuery::from_static("/SpiffeWorkloadAPI/FetchX509SVID"),
            tonic_prost::ProstCodec::<X509SvidRequest, X509SvidResponse>::default(),
        ),
    )
    .await;
    assert_eq!(stream.unwrap_err().code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn warden_watcher_receives_bundles_and_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let api = server(&dir).await;
    let source = BundleSource::default();
    let options = WatchOptions { initial_backoff: Duration::from_millis(20), ..WatchOptions::default() };
    let (stop, stopped) = watch::channel(false);
    let endpoint = WorkloadEndpoint::parse(&api.endpoint()).unwrap();
    let task = BundleWatcher::new(endpoint, source.clone(), options).spawn(stopped);

    let kid = api.jwt_kid(TD).unwrap();
    let set =
        wait_for_bundles(&source, "first bundles", |s| s.get(&td(TD)).is_some_and(|b| b.jwt_key(&kid).is_some())).await;
    let bundle = set.get(&td(TD)).unwrap();
    assert_eq!(bundle.x509_authorities()[0].as_ref(), api.ca_der(TD).unwrap().as_slice());
    let old_token = api.issue_jwt_svid(ID, &[AUD], Duration::from_secs(60), TD).unwrap();
    assert!(validate_jwt_svid(&old_token, &set, &[AUD.to_owned()], Duration::ZERO).is_ok());

    api.rotate().unwrap();
    let new_kid = api.jwt_kid(TD).unwrap();
    assert_ne!(kid, new_kid);
    let rotated =
        wait_for_bundles(&source, "rotated bundles", |s| s.get(&td(TD)).is_some_and(|b| b.jwt_key(&new_kid).is_some()))
            .await;
    let bundle = rotated.get(&td(TD)).unwrap();
    assert_eq!(bundle.x509_authorities()[0].as_ref(), api.ca_der(TD).unwrap().as_slice());
    assert_eq!(
        validate_jwt_svid(&old_token, &rotated, &[AUD.to_owned()], Duration::ZERO),
        Err(SpiffeError::JwtSvid(JwtSvidError::UnknownKeyId(td(TD)))),
        "the whole state was replaced: the old key is gone"
    );
    let new_token = api.issue_jwt_svid(ID, &[AUD], Duration::from_secs(60), TD).unwrap();
    assert!(validate_jwt_svid(&new_token, &rotated, &[AUD.to_owned()], Duration::ZERO).is_ok());

    stop.send(true).unwrap();
    bounded("watcher stops", task).await.unwrap();
}

#[tokio::test]
async fn watcher_reconnects_after_the_server_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let api = server(&dir).await;
    let source = BundleSource::default();
    let options = WatchOptions {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        ..WatchOptions::default()
    };
    let (_stop, stopped) = watch::channel(false);
    let task =
        BundleWatcher::new(WorkloadEndpoint::parse(&api.endpoint()).unwrap(), source.clone(), options).spawn(stopped);
    wait_for_bundles(&source, "first bundles", |s| s.get(&td(TD)).is_some()).await;
    api.shutdown().await.unwrap();

    // A new server on the same socket, with new keys and another domain.
    let api = TestWorkloadApi::start(dir.path()).await.unwrap();
    api.add_trust_domain("second.org").unwrap();
    wait_for_bundles(&source, "bundles after restart", |s| s.get(&td("second.org")).is_some()).await;
    assert!(source.snapshot().get(&td(TD)).is_none(), "every update replaces the whole state");
    task.abort();
}

#[tokio::test]
async fn domain_watcher_replaces_only_its_own_domain() {
    let dir = tempfile::tempdir().unwrap();
    let api = server(&dir).await;
    api.add_trust_domain("other.org").unwrap();
    let source = BundleSource::new(BundleSet::from_bundles([TrustBundle::new(td("static.org"))]));
    let task = spawn_domain_watcher(&api.endpoint(), td(TD), source.clone());
    let set = wait_for_bundles(&source, "domain bundle", |s| s.get(&td(TD)).is_some()).await;
    assert!(set.get(&td("static.org")).is_some(), "other writers' domains are kept");
    assert!(set.get(&td("other.org")).is_none(), "only the watched domain is taken from the API");
    task.abort();
}

#[tokio::test]
async fn bad_svids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let api = server(&dir).await;
    api.add_trust_domain("other.org").unwrap();

    // Two URI SANs: Warden and the spiffe crate both refuse it.
    let two = api.issue_x509_svid(ID, &SvidShape::TwoUriSans).unwrap();
    assert_eq!(svid_id(&two.cert_der), Err(SpiffeError::X509Svid(X509SvidError::UriSanCount(2))));
    api.set_svid_shape(SvidShape::TwoUriSans).unwrap();
    let client = client(&api).await;
    assert!(bounded("FetchX509SVID", client.fetch_x509_svid()).await.is_err());

    // Signed by another trust domain's CA: the ID looks right, but the chain
    // only verifies against the other domain's bundle.
    let foreign = api.issue_x509_svid(ID, &SvidShape::SignedByOtherDomain("other.org".into())).unwrap();
    assert_eq!(svid_id(&foreign.cert_der).unwrap().to_string(), ID);
    assert!(!verifies(&foreign.cert_der, &api.ca_der(TD).unwrap()));
    assert!(verifies(&foreign.cert_der, &api.ca_der("other.org").unwrap()));
    let valid = api.issue_x509_svid(ID, &SvidShape::Valid).unwrap();
    assert!(verifies(&valid.cert_der, &api.ca_der(TD).unwrap()));

    // A JWT-SVID for example.org signed with other.org's key.
    let forged = api.issue_jwt_svid(ID, &[AUD], Duration::from_secs(60), "other.org").unwrap();
    let bundles = warden_bundles(&bounded("FetchJWTBundles", client.fetch_jwt_bundles()).await.unwrap());
    assert_eq!(
        validate_jwt_svid(&forged, &bundles, &[AUD.to_owned()], Duration::ZERO),
        Err(SpiffeError::JwtSvid(JwtSvidError::UnknownKeyId(td(TD))))
    );
    assert!(bounded("ValidateJWTSVID", client.validate_jwt_token(AUD, &forged)).await.is_err());

    // A JWT-SVID whose subject is not a SPIFFE ID.
    let odd = api.issue_jwt_svid("spiffe://example.org/a/", &[AUD], Duration::from_secs(60), TD).unwrap();
    assert_eq!(
        validate_jwt_svid(&odd, &bundles, &[AUD.to_owned()], Duration::ZERO),
        Err(SpiffeError::JwtSvid(JwtSvidError::BadSubject(IdError::TrailingSlash)))
    );
}

#[tokio::test]
async fn a_workload_without_identity_gets_permission_denied() {
    let dir = tempfile::tempdir().unwrap();
    let api = server(&dir).await;
    api.clear_identity().unwrap();
    let client = client(&api).await;
    let err = bounded("FetchX509SVID", client.fetch_x509_svid()).await.unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("no identity") || format!("{err:?}").contains("PermissionDenied"),
        "{err:?}"
    );
    assert!(bounded("FetchJWTSVID", client.fetch_jwt_token([AUD], None)).await.is_err());
    // Bundles are still served.
    assert!(bounded("FetchX509Bundles", client.fetch_x509_bundles()).await.is_ok());
}

#[tokio::test]
async fn binary_prints_listening_rotates_on_sighup_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_spiffe-test-server"))
        .arg("--socket")
        .arg(&socket)
        .args(["--trust-domain", TD, "--spiffe-id", ID])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = bounded("listening line", lines.next_line()).await.unwrap().unwrap();
    assert_eq!(first, format!("listening on unix:{}", socket.display()));

    let client =
        bounded("connect", WorkloadApiClient::connect_to(format!("unix://{}", socket.display()))).await.unwrap();
    let before = bounded("FetchX509SVID", client.fetch_x509_svid()).await.unwrap();
    assert_eq!(before.spiffe_id().to_string(), ID);

    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    let rotated = bounded("rotated line", lines.next_line()).await.unwrap().unwrap();
    assert!(rotated.starts_with("rotated generation "), "{rotated}");
    let after = bounded("FetchX509SVID", client.fetch_x509_svid()).await.unwrap();
    assert_ne!(before.leaf(), after.leaf());

    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = bounded("exit", child.wait()).await.unwrap();
    assert!(status.success(), "{status:?}");
}

/// Whether `leaf` chains to `ca` for a TLS client certificate, per rustls.
fn verifies(leaf: &[u8], ca: &[u8]) -> bool {
    use rustls::pki_types::{CertificateDer, UnixTime};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca.to_vec())).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
    verifier.verify_client_cert(&CertificateDer::from(leaf.to_vec()), &[], UnixTime::now()).is_ok()
}
