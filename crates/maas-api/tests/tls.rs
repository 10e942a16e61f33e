#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! HTTPS with rustls (ring): a private CA bundle is trusted, an unknown CA is refused, and the
//! explicit skip-verify opt-in connects anyway. The server is an in-process tokio-rustls
//! listener on 127.0.0.1 with a certificate from a throw-away CA.

use std::sync::Arc;

use maas_api::{ClientConfig, ConfigError, Error, MaasClient, RetryPolicy, TransportKind};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const KEY: &str = "Cq7rTzX2mWk9PbNvLd:Hs4yGe8uJf3nQa6cVx:k2WnR8vT5yB3mQ7sX9dF4gH6jL2pZ8cV";

struct TlsMaas {
    port: u16,
    ca_pem: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsMaas {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start() -> TlsMaas {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // Handshake failures (untrusted CA) simply end the connection.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let body = r#"{"capabilities":[],"version":"3.6.5","subversion":""}"#;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    TlsMaas {
        port,
        ca_pem: ca.pem(),
        task,
    }
}

fn base(server: &TlsMaas) -> ClientConfig {
    ClientConfig::new(&format!("https://127.0.0.1:{}/MAAS", server.port), KEY)
        .unwrap()
        .with_retry(RetryPolicy::none())
        .without_system_roots()
}

#[tokio::test]
async fn trusts_the_ca_bundle() {
    let server = start().await;
    let client = MaasClient::new(base(&server).with_ca_bundle_pem(server.ca_pem.clone())).unwrap();
    assert_eq!(client.version().await.unwrap().version, "3.6.5");
}

#[tokio::test]
async fn refuses_an_unknown_ca() {
    let server = start().await;
    let client = MaasClient::new(base(&server)).unwrap();
    let err = client.version().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn skip_verify_is_an_explicit_opt_in() {
    let server = start().await;
    let client = MaasClient::new(base(&server).danger_accept_invalid_certs()).unwrap();
    assert_eq!(client.version().await.unwrap().version, "3.6.5");
}

#[tokio::test]
async fn bad_ca_bundles_are_config_errors() {
    let server = start().await;
    assert_eq!(
        maas_api::parse_ca_bundle(server.ca_pem.as_bytes())
            .unwrap()
            .len(),
        1
    );
    for bad in [
        &b"not a pem"[..],
        b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
    ] {
        let err = MaasClient::new(base(&server).with_ca_bundle_pem(bad.to_vec())).unwrap_err();
        assert!(matches!(err, ConfigError::CaBundle(_)), "{err:?}");
    }
}
