//! The `SpiffeWorkloadAPI` gRPC service, routed by hand.
//!
//! Why by hand: tonic's generated server is a `tower::Service` that matches
//! the request path and hands the body to `tonic::server::Grpc` with the
//! method's codec; with no `protoc` to run the generator, this file does
//! the same for the five methods (each method body is a `service_fn`, which
//! tonic's blanket impls turn into a unary or server-streaming service).
//! It also checks the `workload.spiffe.io: true` metadata before routing,
//! as SPIRE does, refusing the call with `InvalidArgument` otherwise.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use futures::{Stream, StreamExt as _};
use tokio_stream::wrappers::WatchStream;
use tonic::server::{Grpc, NamedService};
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

use crate::proto::{
    JwtBundlesRequest, JwtBundlesResponse, JwtSvid, JwtSvidRequest, JwtSvidResponse, ValidateJwtSvidRequest,
    ValidateJwtSvidResponse, X509BundlesRequest, X509BundlesResponse, X509SvidRequest, X509SvidResponse,
};
use crate::state::{Shared, Snapshot, trust_domain_of};

/// The gRPC service name: the upstream proto has no `package`.
pub const SERVICE_NAME: &str = "SpiffeWorkloadAPI";
/// The metadata key every call must carry, with the value `true`.
pub const SECURITY_HEADER: &str = "workload.spiffe.io";

type ResponseStream<M> = Pin<Box<dyn Stream<Item = Result<M, Status>> + Send>>;

/// The service; clones share the server state.
#[derive(Clone)]
pub(crate) struct WorkloadApiService {
    shared: Arc<Shared>,
}

impl WorkloadApiService {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl NamedService for WorkloadApiService {
    const NAME: &'static str = SERVICE_NAME;
}

impl tower::Service<http::Request<tonic::body::Body>> for WorkloadApiService {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let mut values = req.headers().get_all(SECURITY_HEADER).iter();
        let secure = matches!((values.next(), values.next()), (Some(v), None) if v == "true");
        if !secure {
            return Box::pin(async {
                Ok(Status::invalid_argument("security header missing from request").into_http())
            });
        }
        let shared = self.shared.clone();
        let path = req.uri().path().strip_prefix("/SpiffeWorkloadAPI/").unwrap_or_default().to_owned();
        Box::pin(async move {
            Ok(match path.as_str() {
                "FetchX509SVID" => {
                    let method = tower::service_fn(move |_: Request<X509SvidRequest>| {
                        let stream = snapshot_stream(&shared, |s| {
                            s.x509_svid.clone().ok_or_else(|| Status::permission_denied("no identity issued"))
                        });
                        async move { Ok::<_, Status>(Response::new(stream)) }
                    });
                    Grpc::new(ProstCodec::<X509SvidResponse, X509SvidRequest>::default())
                        .server_streaming(method, req)
                        .await
                }
                "FetchX509Bundles" => {
                    let method = tower::service_fn(move |_: Request<X509BundlesRequest>| {
                        let stream = snapshot_stream(&shared, |s| Ok(s.x509_bundles.clone()));
                        async move { Ok::<_, Status>(Response::new(stream)) }
                    });
                    Grpc::new(ProstCodec::<X509BundlesResponse, X509BundlesRequest>::default())
                        .server_streaming(method, req)
                        .await
                }
                "FetchJWTBundles" => {
                    let method = tower::service_fn(move |_: Request<JwtBundlesRequest>| {
                        let stream = snapshot_stream(&shared, |s| Ok(s.jwt_bundles.clone()));
                        async move { Ok::<_, Status>(Response::new(stream)) }
                    });
                    Grpc::new(ProstCodec::<JwtBundlesResponse, JwtBundlesRequest>::default())
                        .server_streaming(method, req)
                        .await
                }
                "FetchJWTSVID" => {
                    let method = tower::service_fn(move |r: Request<JwtSvidRequest>| {
                        let result = fetch_jwt_svid(&shared, r.into_inner()).map(Response::new);
                        async move { result }
                    });
                    Grpc::new(ProstCodec::<JwtSvidResponse, JwtSvidRequest>::default()).unary(method, req).await
                }
                "ValidateJWTSVID" => {
                    let method = tower::service_fn(move |r: Request<ValidateJwtSvidRequest>| {
                        let result = validate_jwt_svid(&shared, r.into_inner()).map(Response::new);
                        async move { result }
                    });
                    Grpc::new(ProstCodec::<ValidateJwtSvidResponse, ValidateJwtSvidRequest>::default())
                        .unary(method, req)
                        .await
                }
                _ => Status::unimplemented("unknown method").into_http(),
            })
        })
    }
}

/// The current snapshot and then one message per change, as `pick` maps
/// it, until the server closes. An `Err` from `pick` ends the stream with
/// that status.
fn snapshot_stream<M: Send + 'static>(
    shared: &Shared,
    pick: impl Fn(&Snapshot) -> Result<M, Status> + Send + 'static,
) -> ResponseStream<M> {
    let mut closing = shared.closing();
    let closed = async move {
        let _ = closing.wait_for(|c| *c).await;
    };
    Box::pin(WatchStream::new(shared.snapshots()).map(move |s| pick(&s)).take_until(closed))
}

fn fetch_jwt_svid(shared: &Shared, req: JwtSvidRequest) -> Result<JwtSvidResponse, Status> {
    if req.audience.is_empty() {
        return Err(Status::invalid_argument("audience must be specified"));
    }
    let state = shared.lock();
    let Some(identity) = state.identity.clone() else {
        return Err(Status::permission_denied("no identity issued"));
    };
    if !req.spiffe_id.is_empty() && req.spiffe_id != identity {
        return Err(Status::permission_denied("no identity issued for the requested SPIFFE ID"));
    }
    let td = trust_domain_of(&identity).map_err(|e| Status::internal(e.to_string()))?;
    let token = state
        .authority(td)
        .and_then(|a| a.sign_jwt(&identity, &req.audience, state.jwt_ttl))
        .map_err(|e| Status::internal(e.to_string()))?;
    Ok(JwtSvidResponse { svids: vec![JwtSvid { spiffe_id: identity, svid: token, hint: String::new() }] })
}

fn validate_jwt_svid(shared: &Shared, req: ValidateJwtSvidRequest) -> Result<ValidateJwtSvidResponse, Status> {
    if req.audience.is_empty() {
        return Err(Status::invalid_argument("audience must be specified"));
    }
    if req.svid.is_empty() {
        return Err(Status::invalid_argument("svid must be specified"));
    }
    let unverified: serde_json::Map<String, serde_json::Value> =
        jsonwebtoken::dangerous::insecure_decode_claims(&req.svid)
            .map_err(|e| Status::invalid_argument(format!("malformed token: {e}")))?;
    let sub = unverified.get("sub").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let td = trust_domain_of(&sub).map_err(|e| Status::invalid_argument(e.to_string()))?;
    let claims = shared
        .lock()
        .authority(td)
        .and_then(|a| a.verify_jwt(&req.svid, &req.audience))
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
    Ok(ValidateJwtSvidResponse { spiffe_id: sub, claims: Some(to_struct(claims)) })
}

fn to_struct(map: serde_json::Map<String, serde_json::Value>) -> prost_types::Struct {
    prost_types::Struct { fields: map.into_iter().map(|(k, v)| (k, to_value(v))).collect() }
}

fn to_value(v: serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    use serde_json::Value;
    let kind = match v {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(a) => Kind::ListValue(prost_types::ListValue { values: a.into_iter().map(to_value).collect() }),
        Value::Object(o) => Kind::StructValue(to_struct(o)),
    };
    prost_types::Value { kind: Some(kind) }
}
