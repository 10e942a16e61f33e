//! rustls configuration: TLS 1.3 only, ring provider, the server pinned by the
//! SHA-256 fingerprint of its DER certificate (LXD's certificates are
//! self-signed and name only the host name, 127.0.0.1 and ::1).

use std::sync::{Arc, Mutex};

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use crate::error::LxdError;
use crate::fingerprint::{ClientIdentity, Fingerprint};

/// How the client decides to trust the HTTPS server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerTrust {
    /// Accept only a server whose certificate has this fingerprint.
    Pinned(Fingerprint),
    /// Accept the first certificate seen and pin it for the client's
    /// lifetime. Only when explicitly asked; read what was accepted with
    /// [`crate::LxdClient::observed_server_fingerprint`] and compare it out of
    /// band.
    TrustOnFirstUse,
}

/// What the verifier saw; shared with the client for reporting.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    /// The fingerprint the server presented most recently.
    pub(crate) seen: Option<Fingerprint>,
    /// Set when the presented certificate did not match the pin.
    pub(crate) mismatch: Option<(Fingerprint, Fingerprint)>,
}

#[derive(Debug)]
struct PinnedVerifier {
    trust: ServerTrust,
    /// For TOFU: the first certificate accepted.
    first: Mutex<Option<Fingerprint>>,
    observed: Arc<Mutex<Observed>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = Fingerprint::of_der(end_entity.as_ref());
        let expected = match &self.trust {
            ServerTrust::Pinned(fp) => *fp,
            ServerTrust::TrustOnFirstUse => {
                let mut first = self
                    .first
                    .lock()
                    .map_err(|_| rustls::Error::General("verifier state poisoned".into()))?;
                *first.get_or_insert(seen)
            }
        };
        let mut observed = self
            .observed
            .lock()
            .map_err(|_| rustls::Error::General("verifier state poisoned".into()))?;
        observed.seen = Some(seen);
        if seen == expected {
            observed.mismatch = None;
            Ok(ServerCertVerified::assertion())
        } else {
            tracing::warn!(expected = %expected, seen = %seen, "LXD server certificate does not match the pinned fingerprint");
            observed.mismatch = Some((expected, seen));
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls config for an LXD HTTPS endpoint.
pub(crate) fn https_config(
    trust: ServerTrust,
    identity: Option<&ClientIdentity>,
    observed: Arc<Mutex<Observed>>,
) -> Result<rustls::ClientConfig, LxdError> {
    let provider = provider();
    let verifier = Arc::new(PinnedVerifier {
        trust,
        first: Mutex::new(None),
        observed,
        algorithms: provider.signature_verification_algorithms,
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| LxdError::Tls(format!("TLS 1.3 unavailable: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match identity {
        Some(id) => {
            let (chain, key) = id.rustls_parts()?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| LxdError::Tls(format!("client certificate rejected: {e}")))?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A config for clients that never speak TLS (unix socket, plain HTTP test
/// doubles). reqwest builds a TLS backend for every client; handing it a
/// ready config keeps it away from the process-wide default provider.
pub(crate) fn inert_config() -> Result<rustls::ClientConfig, LxdError> {
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| LxdError::Tls(format!("TLS 1.3 unavailable: {e}")))?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth())
}
