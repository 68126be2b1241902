//! Client-certificate verification for mTLS listeners. A certificate with a
//! `spiffe://` URI SAN is an X.509-SVID candidate and is path-validated only
//! against the bundle of the trust domain its SPIFFE ID names (SPIFFE X.509-SVID
//! §5); any other certificate against the configured CA files. The chain and
//! signature checks themselves are rustls/webpki's; this only picks the roots.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, RootCertStore, SignatureScheme};

use crate::auth::spiffe::{SpiffeId, TrustBundle};
use crate::auth::svid_trust::SvidTrust;

/// A built verifier and the bundle it was built from, by trust domain.
type VerifierCache = HashMap<String, (Arc<TrustBundle>, Arc<dyn ClientCertVerifier>)>;

/// Verifies client certificates per trust domain.
pub struct ClientVerifier {
    plain: Option<Arc<dyn ClientCertVerifier>>,
    trust: Arc<SvidTrust>,
    /// Built verifiers by trust domain, rebuilt when the bundle changes.
    cache: Mutex<VerifierCache>,
    mandatory: bool,
    provider: Arc<CryptoProvider>,
}

impl std::fmt::Debug for ClientVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientVerifier").field("mandatory", &self.mandatory).finish_non_exhaustive()
    }
}

fn webpki(
    roots: &[CertificateDer<'static>],
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, Error> {
    let mut store = RootCertStore::empty();
    for r in roots {
        store.add(r.clone()).map_err(|e| Error::General(format!("bad CA certificate: {e}")))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider.clone())
        .build()
        .map_err(|e| Error::General(e.to_string()))
}

impl ClientVerifier {
    /// A verifier over `ca_roots` (ordinary certificates) and `trust` (SVIDs).
    pub fn new(
        ca_roots: &[CertificateDer<'static>],
        trust: Arc<SvidTrust>,
        mandatory: bool,
        provider: Arc<CryptoProvider>,
    ) -> Result<ClientVerifier, Error> {
        let plain = if ca_roots.is_empty() { None } else { Some(webpki(ca_roots, &provider)?) };
        Ok(ClientVerifier { plain, trust, cache: Mutex::new(HashMap::new()), mandatory, provider })
    }

    fn for_domain(&self, td: &str) -> Result<Arc<dyn ClientCertVerifier>, Error> {
        let set = self.trust.bundles.snapshot();
        let bundle = set
            .iter()
            .find(|(d, _)| d.as_str() == td)
            .map(|(_, b)| b.clone())
            .filter(|b| !b.x509_authorities().is_empty())
            .ok_or(Error::InvalidCertificate(CertificateError::UnknownIssuer))?;
        let mut cache = self.cache.lock();
        if let Some((b, v)) = cache.get(td)
            && Arc::ptr_eq(b, &bundle)
        {
            return Ok(v.clone());
        }
        let v = webpki(bundle.x509_authorities(), &self.provider)?;
        cache.insert(td.to_string(), (bundle, v.clone()));
        Ok(v)
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let uris: Vec<String> = crate::auth::conn::uri_sans(end_entity.as_ref())
            .into_iter()
            .filter(|u| u.starts_with("spiffe://"))
            .collect();
        if uris.is_empty() {
            return match &self.plain {
                Some(v) => v.verify_client_cert(end_entity, intermediates, now),
                None => Err(Error::InvalidCertificate(CertificateError::UnknownIssuer)),
            };
        }
        // Every SPIFFE URI must name the same trust domain; the SVID rules
        // (exactly one URI SAN, key usage) are checked per request, so a
        // violation gets an HTTP 401 rather than a bare handshake failure.
        let mut domain: Option<String> = None;
        for u in &uris {
            let td = SpiffeId::parse(u)
                .map(|id| id.trust_domain().as_str().to_string())
                .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
            if domain.as_ref().is_some_and(|d| *d != td) {
                return Err(Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure));
            }
            domain = Some(td);
        }
        let td = domain.ok_or(Error::InvalidCertificate(CertificateError::UnknownIssuer))?;
        self.for_domain(&td)?.verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
