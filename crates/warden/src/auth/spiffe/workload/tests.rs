use super::*;

#[test]
fn endpoint_accepts_unix_uris_and_bare_paths() {
    assert_eq!(WorkloadEndpoint::parse("unix:///run/agent.sock").unwrap().as_str(), "unix:///run/agent.sock");
    assert_eq!(WorkloadEndpoint::parse("unix:/run/agent.sock").unwrap().as_str(), "unix:/run/agent.sock");
    assert_eq!(WorkloadEndpoint::parse("/run/agent.sock").unwrap().as_str(), "unix:///run/agent.sock");
    assert_eq!(WorkloadEndpoint::parse("tcp://127.0.0.1:8081").unwrap().to_string(), "tcp://127.0.0.1:8081");
}

#[test]
fn endpoint_refuses_other_forms() {
    for input in ["", "run/agent.sock", "http://127.0.0.1:1", "unix://host/x", "tcp://localhost:1", "unix:///x?q=1"] {
        assert!(matches!(WorkloadEndpoint::parse(input), Err(WorkloadError::Endpoint(_))), "{input:?}");
    }
}

#[test]
fn merge_keeps_x509_trust_when_jwt_keys_are_invalid() {
    let td = TrustDomain::parse("example.org").unwrap();
    let other = TrustDomain::parse("other.org").unwrap();
    let x509: X509Parts = [(td.clone(), vec![CertificateDer::from(vec![1, 2, 3])])].into_iter().collect();
    let jwt: JwtParts = [
        (td.clone(), br#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}"#.to_vec()),
        (other.clone(), br#"{"keys":[]}"#.to_vec()),
    ]
    .into_iter()
    .collect();
    let set = merge_parts(&x509, &jwt);
    assert_eq!(set.len(), 2);
    let bundle = set.get(&td).unwrap();
    assert_eq!(bundle.x509_authorities().len(), 1);
    assert!(bundle.jwt_keys().is_empty());
    assert!(set.get(&other).unwrap().is_empty(), "a domain with an empty JWKS is present but distrusted");
}

#[tokio::test]
async fn watcher_stops_on_shutdown_while_retrying_a_missing_socket() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = WorkloadEndpoint::parse(dir.path().join("absent.sock").to_str().unwrap()).unwrap();
    let source = BundleSource::default();
    let options = WatchOptions {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        connect_timeout: Duration::from_secs(1),
    };
    let (tx, rx) = watch::channel(false);
    let task = BundleWatcher::new(endpoint, source.clone(), options).spawn(rx);
    tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
    assert_eq!(source.version(), 0, "nothing was published");
}

#[tokio::test]
async fn watcher_stops_when_the_shutdown_sender_is_dropped() {
    let endpoint = WorkloadEndpoint::parse("/nonexistent/warden-test.sock").unwrap();
    let (tx, rx) = watch::channel(false);
    let task = BundleWatcher::new(endpoint, BundleSource::default(), WatchOptions::default()).spawn(rx);
    drop(tx);
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
}

#[tokio::test]
async fn fetch_svid_fails_fast_without_a_server() {
    let endpoint = WorkloadEndpoint::parse("/nonexistent/warden-test.sock").unwrap();
    let result = fetch_x509_svid(&endpoint, Duration::from_secs(2)).await;
    assert!(matches!(result, Err(WorkloadError::Api(_) | WorkloadError::Timeout(_))), "{result:?}");
}
