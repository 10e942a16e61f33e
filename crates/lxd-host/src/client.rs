//! The transport: the LXD REST API over the unix socket or HTTPS, its
//! response envelopes, ETags and background operations.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::method::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{LxdError, Result};
use crate::fingerprint::{ClientIdentity, Fingerprint};
use crate::tls::{self, Observed, ServerTrust};
use crate::types::Operation;

/// The snap's socket.
pub const SNAP_SOCKET: &str = "/var/snap/lxd/common/lxd/unix.socket";
/// The Debian package's (and a source build's) socket.
pub const DEB_SOCKET: &str = "/var/lib/lxd/unix.socket";
/// Port LXD's HTTPS listener uses by convention.
pub const DEFAULT_HTTPS_PORT: u16 = 8443;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest single `/wait?timeout=` call; keeps each request under the request timeout.
const WAIT_SLICE_SECS: u64 = 30;

/// The socket LXD's own client would use, given the environment:
/// `LXD_SOCKET`, then `$LXD_DIR/unix.socket`, then the snap socket if it
/// exists and is writable, then [`DEB_SOCKET`].
pub fn socket_path_from_env() -> PathBuf {
    socket_path_from(
        std::env::var_os("LXD_SOCKET").map(PathBuf::from),
        std::env::var_os("LXD_DIR").map(PathBuf::from),
        snap_socket_usable,
    )
}

/// The precedence of [`socket_path_from_env`], with its inputs explicit.
pub fn socket_path_from(
    lxd_socket: Option<PathBuf>,
    lxd_dir: Option<PathBuf>,
    snap_usable: impl Fn(&Path) -> bool,
) -> PathBuf {
    if let Some(p) = lxd_socket.filter(|p| !p.as_os_str().is_empty()) {
        return p;
    }
    if let Some(d) = lxd_dir.filter(|p| !p.as_os_str().is_empty()) {
        return d.join("unix.socket");
    }
    let snap = Path::new(SNAP_SOCKET);
    if snap_usable(snap) {
        return snap.to_path_buf();
    }
    PathBuf::from(DEB_SOCKET)
}

fn snap_socket_usable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o222 != 0)
        .unwrap_or(false)
}

/// An LXD REST response that was not an error.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status (200, 201 for creates, 202 for async).
    pub status: u16,
    /// `ETag` header, for `If-Match` on a later `PUT`/`PATCH`.
    pub etag: Option<String>,
    /// `Location` header (set on creates).
    pub location: Option<String>,
    /// Envelope `type`: `sync` or `async`.
    pub kind: String,
    /// Envelope `operation` (async only): `/1.0/operations/<uuid>`.
    pub operation: Option<String>,
    /// Envelope `metadata`.
    pub metadata: serde_json::Value,
}

impl Response {
    /// Deserializes the metadata.
    pub fn parse<T: DeserializeOwned>(&self, method: &Method, path: &str) -> Result<T> {
        serde_json::from_value(self.metadata.clone()).map_err(|e| LxdError::Protocol {
            method: method.to_string(),
            path: path.to_owned(),
            detail: format!("metadata does not match the expected type: {e}"),
        })
    }

    /// The operation UUID of an async answer.
    pub fn operation_id(&self) -> Option<&str> {
        self.operation
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| s.rsplit('/').next().unwrap_or(s))
    }
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    operation: String,
    #[serde(default)]
    error_code: u16,
    #[serde(default)]
    error: String,
    #[serde(default)]
    metadata: serde_json::Value,
}

/// A client of one LXD daemon. Cheap to clone.
#[derive(Clone)]
pub struct LxdClient {
    http: reqwest::Client,
    base: url::Url,
    endpoint: String,
    observed: Option<Arc<Mutex<Observed>>>,
    operation_timeout: Duration,
}

impl std::fmt::Debug for LxdClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LxdClient")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

fn build_error(e: reqwest::Error) -> LxdError {
    LxdError::Tls(format!("cannot build the HTTP client: {}", error_chain(&e)))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

/// Normalizes `host`, `host:port`, `[v6]:port` or `https://host:port` into an
/// HTTPS base URL, adding port 8443 when none is given.
pub fn https_base_url(endpoint: &str) -> Result<url::Url> {
    let trimmed = endpoint.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(LxdError::InvalidInput("empty LXD address".into()));
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_owned()
    } else if trimmed.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("https://[{trimmed}]")
    } else {
        format!("https://{trimmed}")
    };
    let mut url = url::Url::parse(&with_scheme)
        .map_err(|e| LxdError::InvalidInput(format!("bad LXD address {endpoint:?}: {e}")))?;
    if url.scheme() != "https" {
        return Err(LxdError::InvalidInput(format!(
            "LXD address {endpoint:?} must use https"
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(LxdError::InvalidInput(format!(
            "LXD address {endpoint:?} has no host"
        )));
    }
    if url.port().is_none() {
        url.set_port(Some(DEFAULT_HTTPS_PORT))
            .map_err(|_| LxdError::InvalidInput(format!("bad LXD address {endpoint:?}")))?;
    }
    url.set_path("/");
    Ok(url)
}

/// Percent-encodes one path segment (LXD names are mostly safe already).
pub(crate) fn seg(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes a query value.
pub(crate) fn query_value(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

impl LxdClient {
    /// A client of the daemon listening on this unix socket. Callers over the
    /// socket are always trusted. Fails only if the HTTP stack cannot be set
    /// up; a missing socket surfaces on the first request.
    pub fn unix(socket: impl AsRef<Path>) -> Result<Self> {
        let socket = socket.as_ref().to_path_buf();
        let http = reqwest::Client::builder()
            .unix_socket(socket.clone())
            // No connection pool over the socket: with one, a request that
            // waits for a busy pooled connection also opens a new one, which
            // stays connected and silent in the pool. LXD 5.0 reads the first
            // bytes of each unix connection inside its accept loop, so one
            // silent connection stops the daemon from serving any other unix
            // client (`lxc` included) until it is closed.
            .pool_max_idle_per_host(0)
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .tls_backend_preconfigured(tls::inert_config()?)
            .build()
            .map_err(build_error)?;
        let base = url::Url::parse("http://lxd/")
            .map_err(|e| LxdError::InvalidInput(format!("base URL: {e}")))?;
        Ok(LxdClient {
            http,
            base,
            endpoint: socket.display().to_string(),
            observed: None,
            operation_timeout: Duration::from_secs(120),
        })
    }

    /// A client of the local daemon, at the socket [`socket_path_from_env`]
    /// names. Fails with [`LxdError::SocketNotFound`] if it does not exist.
    pub fn unix_from_env() -> Result<Self> {
        let path = socket_path_from_env();
        if !path.exists() {
            let mut tried = Vec::new();
            if let Some(p) = std::env::var_os("LXD_SOCKET") {
                tried.push(PathBuf::from(p));
            }
            if let Some(d) = std::env::var_os("LXD_DIR") {
                tried.push(PathBuf::from(d).join("unix.socket"));
            }
            tried.push(PathBuf::from(SNAP_SOCKET));
            tried.push(PathBuf::from(DEB_SOCKET));
            tried.dedup();
            return Err(LxdError::SocketNotFound { tried });
        }
        Self::unix(path)
    }

    /// A client of a remote daemon over HTTPS: TLS 1.3, the server checked
    /// against `trust` (a pinned SHA-256 fingerprint, or trust-on-first-use
    /// when explicitly asked), and `identity` presented as the client
    /// certificate. `endpoint` is `host`, `host:port`, `[v6]:port` or an
    /// `https://` URL; port 8443 by default.
    pub fn https(
        endpoint: &str,
        trust: ServerTrust,
        identity: Option<&ClientIdentity>,
    ) -> Result<Self> {
        let base = https_base_url(endpoint)?;
        let observed = Arc::new(Mutex::new(Observed::default()));
        let config = tls::https_config(trust, identity, observed.clone())?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .tls_backend_preconfigured(config)
            .build()
            .map_err(build_error)?;
        Ok(LxdClient {
            http,
            endpoint: base.as_str().trim_end_matches('/').to_owned(),
            base,
            observed: Some(observed),
            operation_timeout: Duration::from_secs(120),
        })
    }

    /// A client speaking plain HTTP to `base_url`. LXD itself never serves
    /// plain HTTP; this is for test doubles of the REST API and for
    /// TLS-terminating proxies on the same host.
    pub fn plain_http(base_url: &str) -> Result<Self> {
        let mut base = url::Url::parse(base_url)
            .map_err(|e| LxdError::InvalidInput(format!("bad URL {base_url:?}: {e}")))?;
        if base.scheme() != "http" {
            return Err(LxdError::InvalidInput(format!(
                "{base_url:?} is not an http:// URL"
            )));
        }
        base.set_path("/");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .tls_backend_preconfigured(tls::inert_config()?)
            .build()
            .map_err(build_error)?;
        Ok(LxdClient {
            http,
            endpoint: base.as_str().trim_end_matches('/').to_owned(),
            base,
            observed: None,
            operation_timeout: Duration::from_secs(120),
        })
    }

    /// How long [`LxdClient::wait_operation`] waits in total (default 120 s).
    #[must_use]
    pub fn with_operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// The socket path or URL this client talks to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// For HTTPS clients: the fingerprint of the certificate the server
    /// presented last (with trust-on-first-use, the one that got pinned).
    pub fn observed_server_fingerprint(&self) -> Option<Fingerprint> {
        self.observed
            .as_ref()
            .and_then(|o| o.lock().ok().and_then(|g| g.seen))
    }

    fn transport_error(&self, e: reqwest::Error) -> LxdError {
        if let Some(obs) = &self.observed
            && let Ok(g) = obs.lock()
            && let Some((expected, seen)) = g.mismatch
        {
            return LxdError::FingerprintMismatch {
                endpoint: self.endpoint.clone(),
                expected,
                seen,
            };
        }
        let detail = error_chain(&e);
        let tls_failure = detail.contains("certificate")
            || detail.contains("handshake")
            || detail.contains("alert");
        LxdError::Transport {
            endpoint: self.endpoint.clone(),
            retryable: (e.is_timeout() || e.is_connect()) && !tls_failure,
            detail,
        }
    }

    /// Sends one request and unwraps LXD's envelope. `path` starts with
    /// `/1.0` and may carry a query. Error envelopes and non-2xx answers
    /// become [`LxdError::Api`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        if_match: Option<&str>,
    ) -> Result<Response> {
        let url = self
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|e| LxdError::InvalidInput(format!("bad request path {path:?}: {e}")))?;
        let mut req = self.http.request(method.to_reqwest(), url);
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(tag) = if_match {
            req = req.header(reqwest::header::IF_MATCH, tag);
        }
        let resp = req.send().await.map_err(|e| self.transport_error(e))?;
        let status = resp.status().as_u16();
        let header = |name: reqwest::header::HeaderName| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header(reqwest::header::ETAG);
        let location = header(reqwest::header::LOCATION);
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(e))?;
        tracing::debug!(endpoint = %self.endpoint, %method, path, status, "LXD request");
        let envelope: Option<Envelope> = serde_json::from_slice(&bytes).ok();
        match envelope {
            Some(env) if status < 400 && env.kind != "error" => Ok(Response {
                status,
                etag,
                location,
                kind: env.kind,
                operation: Some(env.operation).filter(|s| !s.is_empty()),
                metadata: env.metadata,
            }),
            Some(env) => Err(LxdError::Api {
                method: method.to_string(),
                path: path.to_owned(),
                status: if status >= 400 {
                    status
                } else {
                    env.error_code
                },
                message: if env.error.is_empty() {
                    format!("HTTP {status} without an error text")
                } else {
                    env.error
                },
            }),
            None if status >= 400 => Err(LxdError::Api {
                method: method.to_string(),
                path: path.to_owned(),
                status,
                message: snippet(&bytes),
            }),
            None => Err(LxdError::Protocol {
                method: method.to_string(),
                path: path.to_owned(),
                detail: format!("not an LXD JSON envelope: {}", snippet(&bytes)),
            }),
        }
    }

    /// `GET` and deserialize the metadata; also returns the ETag.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<(T, Option<String>)> {
        let resp = self.request(Method::GET, path, None, None).await?;
        let value = resp.parse(&Method::GET, path)?;
        Ok((value, resp.etag))
    }

    /// Like [`LxdClient::get`], with 404 as `None`.
    pub async fn get_optional<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Option<(T, Option<String>)>> {
        match self.get(path).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends a request whose answer may be async; when it is, waits for the
    /// operation and checks the operation's own status.
    pub async fn request_and_wait(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        if_match: Option<&str>,
    ) -> Result<Response> {
        let resp = self.request(method, path, body, if_match).await?;
        if resp.kind == "async"
            && let Some(id) = resp.operation_id()
        {
            let op = self.wait_operation(id).await?;
            return Ok(Response {
                metadata: op.metadata,
                ..resp
            });
        }
        Ok(resp)
    }

    /// `GET /1.0/operations/{id}`.
    pub async fn operation(&self, id: &str) -> Result<Operation> {
        Ok(self.get(&format!("/1.0/operations/{}", seg(id))).await?.0)
    }

    /// Waits until the operation leaves the running states, then checks its
    /// own `status_code`/`err`: `/wait` answers HTTP 200 even when the
    /// operation failed. Gives up after the client's operation timeout with
    /// [`LxdError::OperationTimeout`].
    pub async fn wait_operation(&self, id: &str) -> Result<Operation> {
        let started = Instant::now();
        loop {
            let left = self.operation_timeout.saturating_sub(started.elapsed());
            let slice = left.as_secs().clamp(1, WAIT_SLICE_SECS);
            let path = format!("/1.0/operations/{}/wait?timeout={slice}", seg(id));
            let (op, _): (Operation, _) = self.get(&path).await?;
            if !op.is_running() {
                if op.is_success() {
                    return Ok(op);
                }
                return Err(LxdError::OperationFailed {
                    id: id.to_owned(),
                    status: if op.status.is_empty() {
                        op.status_code.to_string()
                    } else {
                        op.status.clone()
                    },
                    err: op.err,
                });
            }
            if started.elapsed() >= self.operation_timeout {
                return Err(LxdError::OperationTimeout {
                    id: id.to_owned(),
                    waited: started.elapsed(),
                });
            }
        }
    }

    /// `DELETE /1.0/operations/{id}`: cancels an operation (revokes a token).
    pub async fn cancel_operation(&self, id: &str) -> Result<()> {
        self.request(
            Method::DELETE,
            &format!("/1.0/operations/{}", seg(id)),
            None,
            None,
        )
        .await?;
        Ok(())
    }
}

fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 200 {
        let cut: String = one_line.chars().take(200).collect();
        format!("{cut}…")
    } else if one_line.is_empty() {
        "(empty body)".to_owned()
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_precedence() {
        let never = |_: &Path| false;
        let always = |_: &Path| true;
        assert_eq!(
            socket_path_from(Some("/x/s".into()), Some("/d".into()), always),
            PathBuf::from("/x/s")
        );
        assert_eq!(
            socket_path_from(None, Some("/d".into()), always),
            PathBuf::from("/d/unix.socket")
        );
        assert_eq!(
            socket_path_from(Some("".into()), None, always),
            PathBuf::from(SNAP_SOCKET)
        );
        assert_eq!(
            socket_path_from(None, None, never),
            PathBuf::from(DEB_SOCKET)
        );
    }

    #[test]
    fn https_urls() {
        assert_eq!(
            https_base_url("10.0.0.5").unwrap().as_str(),
            "https://10.0.0.5:8443/"
        );
        assert_eq!(
            https_base_url("10.0.0.5:9443").unwrap().as_str(),
            "https://10.0.0.5:9443/"
        );
        assert_eq!(
            https_base_url("[::1]:8443").unwrap().as_str(),
            "https://[::1]:8443/"
        );
        assert_eq!(
            https_base_url("::1").unwrap().as_str(),
            "https://[::1]:8443/"
        );
        assert_eq!(
            https_base_url("https://node1/").unwrap().as_str(),
            "https://node1:8443/"
        );
        assert!(https_base_url("http://node1").is_err());
        assert!(https_base_url("").is_err());
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(seg("maas-pool_1.x"), "maas-pool_1.x");
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
        assert_eq!(query_value("a b&c"), "a+b%26c");
    }

    #[test]
    fn operation_ids() {
        let r = Response {
            status: 202,
            etag: None,
            location: None,
            kind: "async".into(),
            operation: Some("/1.0/operations/abc-123".into()),
            metadata: serde_json::Value::Null,
        };
        assert_eq!(r.operation_id(), Some("abc-123"));
    }

    #[test]
    fn snippets_are_short_and_single_line() {
        assert_eq!(snippet(b"a\n  b"), "a b");
        assert_eq!(snippet(b""), "(empty body)");
        assert!(snippet(&[b'x'; 500]).chars().count() <= 201);
    }
}
