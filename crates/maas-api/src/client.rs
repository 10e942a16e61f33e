//! The HTTP core: URL building, signing, encoding, retries, tracing, observation, decoding.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use serde::de::DeserializeOwned;
use tracing::Instrument as _;
use url::Url;

use crate::auth;
use crate::config::{ClientConfig, ConfigError};
use crate::error::{
    ClassifyContext, Error, MAX_EXCERPT, MAX_MESSAGE, TransportKind, classify_response,
    parse_retry_after, truncate,
};
use crate::form::{Encoding, Form};
use crate::observer::RequestEvent;
use crate::redact::Redactor;
use crate::retry::{Idempotency, may_retry};
use crate::tls;

/// A MAAS 2.0 API client. Cheap to clone (shares one connection pool).
#[derive(Clone)]
pub struct MaasClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    /// Every text that goes into an error passes through it.
    redactor: Redactor,
}

impl std::fmt::Debug for MaasClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaasClient")
            .field("config", &self.inner.config)
            .finish()
    }
}

/// One API call, described before it is sent.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub method: Method,
    /// Path segments under the API base (each percent-encoded on push).
    pub segments: Vec<String>,
    /// Low-cardinality template for logs and metrics.
    pub endpoint: &'static str,
    pub op: Option<&'static str>,
    /// Query fields (GET/DELETE parameters).
    pub query: Form,
    /// Body fields (POST/PUT).
    pub body: Form,
    pub idempotency: Idempotency,
    /// A 409 text answer means "no machine available".
    pub allocate: bool,
    /// The answer may hold secrets: never quote it in errors.
    pub sensitive_response: bool,
    /// Per-call timeout override.
    pub timeout: Option<Duration>,
    /// A 404 on a retry means an earlier attempt already deleted the object.
    pub not_found_ok_on_retry: bool,
}

impl Call {
    fn new(method: Method, endpoint: &'static str, segments: Vec<String>) -> Self {
        let idempotency = if method == Method::POST {
            Idempotency::NonIdempotent
        } else {
            Idempotency::Idempotent
        };
        Call {
            method,
            segments,
            endpoint,
            op: None,
            query: Form::new(),
            body: Form::new(),
            idempotency,
            allocate: false,
            sensitive_response: false,
            timeout: None,
            not_found_ok_on_retry: false,
        }
    }

    pub fn get(endpoint: &'static str, segments: Vec<String>) -> Self {
        Call::new(Method::GET, endpoint, segments)
    }

    pub fn post(endpoint: &'static str, segments: Vec<String>) -> Self {
        Call::new(Method::POST, endpoint, segments)
    }

    pub fn put(endpoint: &'static str, segments: Vec<String>) -> Self {
        Call::new(Method::PUT, endpoint, segments)
    }

    pub fn delete(endpoint: &'static str, segments: Vec<String>) -> Self {
        let mut c = Call::new(Method::DELETE, endpoint, segments);
        c.not_found_ok_on_retry = true;
        c
    }

    pub fn op(mut self, op: &'static str) -> Self {
        self.op = Some(op);
        self
    }

    pub fn query(mut self, query: Form) -> Self {
        self.query = query;
        self
    }

    pub fn body(mut self, body: Form) -> Self {
        self.body = body;
        self
    }

    pub fn idempotent(mut self) -> Self {
        self.idempotency = Idempotency::Idempotent;
        self
    }

    pub fn allocate(mut self) -> Self {
        self.allocate = true;
        self
    }

    pub fn sensitive_response(mut self) -> Self {
        self.sensitive_response = true;
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }
}

/// Build path segments: `seg!["machines", id]`.
macro_rules! seg {
    ($($s:expr),* $(,)?) => { vec![$($s.to_string()),*] };
}
pub(crate) use seg;

/// A successful raw answer.
pub(crate) struct RawResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

impl MaasClient {
    /// Build a client. Fails on a bad CA bundle, user agent, or TLS setup.
    pub fn new(config: ClientConfig) -> Result<Self, ConfigError> {
        HeaderValue::from_str(&config.user_agent).map_err(|_| ConfigError::UserAgent)?;
        let tls = tls::client_config(&config.tls)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(config.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .http1_only()
            .build()
            .map_err(|e| ConfigError::Http(error_chain(&e)))?;
        let redactor = Redactor::for_key(config.api_key.as_ref());
        Ok(MaasClient {
            inner: Arc::new(Inner {
                http,
                config,
                redactor,
            }),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The API base URL (`…/MAAS/api/2.0/`).
    pub fn base_url(&self) -> &Url {
        self.inner.config.endpoint.url()
    }

    fn url_for(&self, call: &Call) -> Result<Url, Error> {
        let mut url = self.base_url().clone();
        {
            let mut segs = url
                .path_segments_mut()
                .map_err(|()| Error::InvalidRequest("endpoint cannot be a base URL".into()))?;
            segs.pop_if_empty();
            for s in &call.segments {
                if s.is_empty() {
                    return Err(Error::InvalidRequest(format!(
                        "empty path segment in {}",
                        call.endpoint
                    )));
                }
                segs.push(s);
            }
            // MAAS requires the trailing slash on every URL this client uses.
            segs.push("");
        }
        if call.op.is_some() || !call.query.is_empty() {
            let mut q = url.query_pairs_mut();
            if let Some(op) = call.op {
                q.append_pair("op", op);
            }
            for (k, v) in call.query.pairs() {
                q.append_pair(k, v);
            }
        }
        Ok(url)
    }

    async fn send_once(&self, call: &Call, url: &Url) -> Result<RawResponse, Error> {
        let http = &self.inner.http;
        let mut rb = http
            .request(call.method.clone(), url.clone())
            .header(ACCEPT, "application/json");
        if let Some(key) = &self.inner.config.api_key {
            let signed = auth::SignedRequest::with_form(call.method.as_str(), url, &call.body);
            rb = rb.header(
                AUTHORIZATION,
                auth::authorization_header(key, self.inner.config.signature_method, &signed),
            );
        }
        if let Some(t) = call.timeout {
            rb = rb.timeout(t);
        }
        if call.method == Method::POST || call.method == Method::PUT {
            rb = match call.body.encoding() {
                Encoding::UrlEncoded => rb
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(call.body.to_urlencoded()),
                Encoding::Multipart => rb.multipart(call.body.to_multipart()),
            };
        }
        let resp = rb.send().await.map_err(|e| self.transport_error(&e))?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = resp
            .bytes()
            .await
            .map_err(|e| self.transport_error(&e))?
            .to_vec();
        tracing::debug!(status, response_bytes = body.len(), "MAAS answered");
        if (200..300).contains(&status) {
            return Ok(RawResponse { status, body });
        }
        let text = self.inner.redactor.redact(&String::from_utf8_lossy(&body));
        Err(classify_response(
            status,
            &content_type,
            &text,
            retry_after,
            ClassifyContext {
                allocate: call.allocate,
            },
        ))
    }

    fn transport_error(&self, e: &reqwest::Error) -> Error {
        let kind = if e.is_connect() {
            TransportKind::Connect
        } else if e.is_timeout() {
            TransportKind::Timeout
        } else {
            TransportKind::Io
        };
        Error::Transport {
            kind,
            message: truncate(
                self.inner.redactor.redact(&error_chain(e)).as_str(),
                MAX_MESSAGE,
            ),
        }
    }

    /// Send a call with retries; returns the successful raw answer.
    pub(crate) async fn execute(&self, call: &Call) -> Result<RawResponse, Error> {
        let url = self.url_for(call)?;
        let policy = &self.inner.config.retry;
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let span = tracing::debug_span!(
                "maas_request",
                method = %call.method,
                path = %url.path(),
                op = call.op.unwrap_or(""),
                attempt,
                status = tracing::field::Empty,
                latency_ms = tracing::field::Empty,
            );
            let t0 = Instant::now();
            let result = async {
                tracing::debug!(
                    request_bytes = call.body.size(),
                    query_fields = call.query.pairs().count(),
                    "sending MAAS request"
                );
                self.send_once(call, &url).await
            }
            .instrument(span.clone())
            .await;
            let latency = t0.elapsed();
            let status = match &result {
                Ok(r) => Some(r.status),
                Err(e) => e.status(),
            };
            if let Some(s) = status {
                span.record("status", s);
            }
            span.record("latency_ms", latency.as_millis() as u64);
            if let Some(obs) = &self.inner.config.observer {
                obs.observe(&RequestEvent {
                    method: call.method.as_str(),
                    endpoint: call.endpoint,
                    op: call.op,
                    status,
                    latency,
                    attempt,
                    error_class: result.as_ref().err().map(Error::class),
                });
            }
            let err = match result {
                Ok(r) => return Ok(r),
                Err(e) => e,
            };
            if attempt > 1 && call.not_found_ok_on_retry && err.is_not_found() {
                // An earlier attempt that timed out did delete it.
                tracing::debug!(parent: &span, "object already gone on retry; treating as deleted");
                return Ok(RawResponse {
                    status: 204,
                    body: Vec::new(),
                });
            }
            if attempt >= policy.max_attempts || !may_retry(&err, call.idempotency) {
                if err.class() != crate::ErrorClass::Permanent || attempt > 1 {
                    tracing::debug!(parent: &span, error = %err, attempts = attempt, "MAAS request failed");
                }
                return Err(err);
            }
            let delay = policy.delay(attempt, &err);
            if started.elapsed() + delay > policy.max_elapsed {
                tracing::debug!(parent: &span, error = %err, "retry budget exhausted");
                return Err(err);
            }
            tracing::info!(
                parent: &span,
                error = %err,
                delay_ms = delay.as_millis() as u64,
                "retrying MAAS request"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// Execute and decode JSON.
    pub(crate) async fn json<T: DeserializeOwned>(&self, call: Call) -> Result<T, Error> {
        let raw = self.execute(&call).await?;
        decode(&raw.body, call.sensitive_response, &self.inner.redactor)
    }

    /// Execute and ignore the body.
    pub(crate) async fn empty(&self, call: Call) -> Result<(), Error> {
        self.execute(&call).await.map(|_| ())
    }
}

/// Decode a MAAS JSON answer the way the client does: a [`Error::Decode`] with a short body
/// excerpt on failure, never a panic. Useful to check fixtures in callers' tests.
pub fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    decode(body, false, &Redactor::default())
}

/// Decode a JSON body; errors carry a short excerpt (or only the size, for secret-bearing answers).
pub(crate) fn decode<T: DeserializeOwned>(
    body: &[u8],
    sensitive: bool,
    redactor: &Redactor,
) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| {
        if sensitive {
            Error::Decode {
                message: format!(
                    "{:?} error at line {} column {}",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
                excerpt: format!("<{} bytes withheld: answer may hold secrets>", body.len()),
            }
        } else {
            // serde's message can quote the input, too.
            Error::Decode {
                message: truncate(redactor.redact(&e.to_string()).as_str(), MAX_EXCERPT),
                excerpt: truncate(
                    redactor.redact(&String::from_utf8_lossy(body)).as_str(),
                    MAX_EXCERPT,
                ),
            }
        }
    })
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}
