//! One MAAS endpoint: raw HTTP requests, signed as the corpus says, answers kept whole.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use maas_api::{ApiKey, Endpoint as MaasEndpoint, RequestSigner, SignatureMethod};
use url::Url;

use crate::compare::Answer;
use crate::corpus::{Auth, Request};

/// How to reach one endpoint.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// A label (`A`, `B`).
    pub label: String,
    /// The MAAS URL (`http://host:5240/MAAS`).
    pub url: String,
    /// The admin API key `consumer:token:secret`.
    pub api_key: String,
    /// A shell command that makes the given machines (hostnames appended) Ready, for
    /// endpoints without commissioning (e.g. a MAAS region without a rack).
    pub ready_command: Option<String>,
    /// Accept any TLS certificate.
    pub insecure: bool,
}

/// A connected endpoint.
pub struct Endpoint {
    pub(crate) label: String,
    /// `…/MAAS/api/2.0/`.
    pub(crate) api: Url,
    /// `scheme://host[:port]`.
    pub(crate) origin: String,
    key_parts: [String; 3],
    http: reqwest::Client,
    pub(crate) ready_command: Option<String>,
    /// How requests without their own `auth` are signed.
    pub(crate) default_auth: Auth,
    nonce_counter: std::sync::atomic::AtomicU64,
}

impl Endpoint {
    /// Check the configuration and build the HTTP client.
    pub fn new(config: &EndpointConfig) -> Result<Endpoint> {
        let api = MaasEndpoint::parse(&config.url)
            .with_context(|| format!("endpoint {}: bad URL", config.label))?
            .url()
            .clone();
        ApiKey::parse(&config.api_key)
            .with_context(|| format!("endpoint {}: bad API key", config.label))?;
        let parts: Vec<&str> = config.api_key.trim().split(':').collect();
        let [ck, tk, ts] = parts.as_slice() else {
            bail!("endpoint {}: API key must have 3 parts", config.label);
        };
        // reqwest is built without a default crypto provider; use ring, as maas-api does.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(90))
            .tls_danger_accept_invalid_certs(config.insecure)
            .http1_only()
            .build()
            .context("HTTP client")?;
        let origin = api.origin().ascii_serialization();
        Ok(Endpoint {
            label: config.label.clone(),
            api,
            origin,
            key_parts: [(*ck).to_owned(), (*tk).to_owned(), (*ts).to_owned()],
            http,
            ready_command: config.ready_command.clone(),
            default_auth: Auth::Hmac,
            nonce_counter: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Values that differ between endpoints and must not appear in reports: the origin, the
    /// API base and the key parts.
    pub(crate) fn private_values(&self) -> Vec<(String, String)> {
        [
            ("endpoint", self.origin.clone()),
            // as it appears inside the OAuth base string MAAS echoes in its 401s
            ("endpoint_encoded", oauth_encode(&self.origin)),
            ("consumer_key", self.key_parts[0].clone()),
            ("token_key", self.key_parts[1].clone()),
            ("token_secret", self.key_parts[2].clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn signer(
        &self,
        consumer: &str,
        token: &str,
        secret: &str,
        m: SignatureMethod,
    ) -> Result<RequestSigner> {
        let key = ApiKey::parse(&format!("{consumer}:{token}:{secret}")).context("API key")?;
        Ok(RequestSigner::new(key, m))
    }

    /// The URL of a corpus path (already substituted).
    pub(crate) fn url_for(&self, path: &str) -> Result<Url> {
        self.api
            .join(path)
            .with_context(|| format!("bad path {path:?}"))
    }

    fn nonce(&self) -> String {
        let n = self
            .nonce_counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!("{:016x}{:016x}", t as u64, n)
    }

    fn authorization(
        &self,
        auth: Auth,
        method: &str,
        url: &Url,
        form: &[(&str, &str)],
    ) -> Result<Option<String>> {
        let [ck, tk, ts] = &self.key_parts;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let wrong = "WrongSecretWrongSecretWrongSecre";
        let sign =
            |s: RequestSigner, ts: u64| s.authorization_with(method, url, form, &self.nonce(), ts);
        Ok(Some(match auth {
            Auth::None => return Ok(None),
            Auth::Garbage => "OAuth garbage".to_owned(),
            Auth::Hmac | Auth::Replay => {
                sign(self.signer(ck, tk, ts, SignatureMethod::HmacSha1)?, now)
            }
            Auth::Plaintext => sign(self.signer(ck, tk, ts, SignatureMethod::Plaintext)?, now),
            Auth::WrongSecret => sign(self.signer(ck, tk, wrong, SignatureMethod::HmacSha1)?, now),
            Auth::WrongSecretPlaintext => {
                sign(self.signer(ck, tk, wrong, SignatureMethod::Plaintext)?, now)
            }
            Auth::UnknownToken => sign(
                self.signer(ck, "UnknownTokenKeyAAA", ts, SignatureMethod::HmacSha1)?,
                now,
            ),
            Auth::UnknownConsumer => sign(
                self.signer("UnknownConsumerKey", tk, ts, SignatureMethod::HmacSha1)?,
                now,
            ),
            Auth::BadSignatureMethod => {
                sign(self.signer(ck, tk, ts, SignatureMethod::HmacSha1)?, now).replace(
                    "oauth_signature_method=\"HMAC-SHA1\"",
                    "oauth_signature_method=\"RSA-SHA1\"",
                )
            }
            Auth::Expired => sign(
                self.signer(ck, tk, ts, SignatureMethod::HmacSha1)?,
                now.saturating_sub(3600),
            ),
        }))
    }

    /// Send one request (path and form already substituted).
    pub(crate) async fn send(
        &self,
        req: &Request,
        path: &str,
        form: &[(String, String)],
    ) -> Answer {
        let auth = req.auth.unwrap_or(self.default_auth);
        match self.try_send(req, path, form, auth).await {
            Ok(a) => a,
            Err(e) => Answer::failed(format!("{e:#}")),
        }
    }

    async fn try_send(
        &self,
        req: &Request,
        path: &str,
        form: &[(String, String)],
        auth: Auth,
    ) -> Result<Answer> {
        let url = self.url_for(path)?;
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let header = self.authorization(auth, &req.method, &url, &pairs)?;
        let times = if auth == Auth::Replay { 2 } else { 1 };
        let mut last = None;
        for _ in 0..times {
            last = Some(
                self.send_raw(&req.method, &url, &pairs, req.multipart, header.as_deref())
                    .await?,
            );
        }
        last.context("no request sent")
    }

    async fn send_raw(
        &self,
        method: &str,
        url: &Url,
        form: &[(&str, &str)],
        multipart: bool,
        authorization: Option<&str>,
    ) -> Result<Answer> {
        let m = reqwest::Method::from_bytes(method.as_bytes()).context("method")?;
        let mut rb = self
            .http
            .request(m, url.clone())
            .header("Accept", "application/json");
        if let Some(h) = authorization {
            rb = rb.header("Authorization", h);
        }
        if !form.is_empty() || matches!(method, "POST" | "PUT") {
            if multipart {
                let boundary = format!("capmaasdifferential{}", self.nonce());
                let mut body = Vec::new();
                for (k, v) in form {
                    body.extend_from_slice(
                        format!(
                            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                        )
                        .as_bytes(),
                    );
                }
                body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
                rb = rb
                    .header(
                        "Content-Type",
                        format!("multipart/form-data; boundary={boundary}"),
                    )
                    .body(body);
            } else {
                let mut ser = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in form {
                    ser.append_pair(k, v);
                }
                rb = rb
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(ser.finish());
            }
        }
        let resp = rb.send().await.context("request failed")?;
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = resp.bytes().await.context("reading the answer")?;
        Ok(Answer::from_parts(status, &ct, &body))
    }

    /// A signed GET of a path, as JSON (for fixtures and waits).
    pub(crate) async fn get_json(&self, path: &str) -> Result<serde_json::Value> {
        let req = Request {
            method: "GET".into(),
            path: path.into(),
            form: Vec::new(),
            multipart: false,
            auth: None,
        };
        let a = self.try_send(&req, path, &[], self.default_auth).await?;
        match (a.status, a.body) {
            (200, crate::compare::Body::Json(v)) => Ok(v),
            (s, b) => bail!("GET {path}: {s} {b:?}"),
        }
    }
}

/// RFC 5849 §3.6 percent-encoding (unreserved characters kept), as in a signature base string.
fn oauth_encode(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
