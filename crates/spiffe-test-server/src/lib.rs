//! A SPIFFE Workload API server for tests (no SPIRE agent can be installed
//! here). It follows the Workload API proto exactly (`proto/workload.proto`:
//! service `SpiffeWorkloadAPI`, no proto package, RPCs `FetchX509SVID`,
//! `FetchX509Bundles`, `FetchJWTSVID`, `FetchJWTBundles`, `ValidateJWTSVID`),
//! refuses calls without the `workload.spiffe.io: true` metadata with
//! `InvalidArgument`, and sends the full current state on every stream
//! message.
//!
//! It holds an rcgen CA and an ES256 JWT key per trust domain, issues
//! X.509-SVIDs (one URI SAN, `digitalSignature`, `cA=false`) and JWT-SVIDs
//! (`kid`, `sub`, `aud`, `exp`), rotates on request, and can hand out
//! deliberately bad SVIDs ([`SvidShape`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), spiffe_test_server::TestServerError> {
//! let dir = std::env::temp_dir();
//! let api = spiffe_test_server::TestWorkloadApi::start_with_identity(&dir, "example.org", "spiffe://example.org/agent").await?;
//! println!("SPIFFE_ENDPOINT_SOCKET={}", api.endpoint());
//! api.rotate()?;
//! # Ok(()) }
//! ```

pub mod authority;
pub mod error;
pub mod proto;
mod server;
mod service;
mod state;

pub use authority::{IssuedX509Svid, SvidShape};
pub use error::TestServerError;
pub use server::{SOCKET_NAME, TestWorkloadApi};
pub use service::{SECURITY_HEADER, SERVICE_NAME};
