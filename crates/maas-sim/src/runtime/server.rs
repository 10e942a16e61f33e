//! The HTTP server: one hyper connection task per client (so a fault can
//! drop a connection after the request ran), an axum router for `/_sim`,
//! and the MAAS URL space (`/MAAS/api/2.0/`, `/MAAS/api/version/`,
//! `/MAAS/api/1.0/`, `/MAAS/vmhost-certificate/<name>`).

use crate::api::{self, Reply, reply};
use crate::domain::params::Params;
use crate::runtime::log::RequestRecord;
use crate::runtime::shared::Shared;
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

/// Largest request body accepted.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Per-connection handle that lets a request close its connection.
#[derive(Clone)]
struct ConnKill(Arc<Notify>);

/// Peer address of the connection.
#[derive(Clone, Copy)]
struct Peer(SocketAddr);

pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let router: Router = crate::runtime::control::router().with_state(shared.clone());
    loop {
        let accepted = tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
                continue;
            }
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let router = router.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let kill = Arc::new(Notify::new());
            let kill_for_svc = kill.clone();
            let svc = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnKill(kill_for_svc.clone()));
                req.extensions_mut().insert(Peer(peer));
                let shared = shared.clone();
                let router = router.clone();
                async move { Ok::<_, Infallible>(handle(shared, router, req.map(Body::new)).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = kill.notified() => {
                    // Dropping the connection closes the socket unanswered.
                }
                _ = shutdown.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), conn.as_mut()).await;
                }
            }
        });
    }
}

/// The host Django reports: `X-Forwarded-Host` first (MAAS sets
/// `USE_X_FORWARDED_HOST`), then `Host`.
fn host_of(req: &Request<Body>) -> String {
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|h| h.to_str().ok())
            .map(|h| h.split(',').next().unwrap_or(h).trim().to_string())
    };
    header("x-forwarded-host")
        .or_else(|| header(header::HOST.as_str()))
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".to_string())
}

/// `https` when a proxy says so (`SECURE_PROXY_SSL_HEADER`), else `http`.
fn scheme_of(req: &Request<Body>) -> &'static str {
    match req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
    {
        Some(p) if p.trim() == "https" => "https",
        _ => "http",
    }
}

fn to_response(r: Reply, api_headers: bool) -> Response<Body> {
    let mut resp = Response::new(Body::from(r.body));
    *resp.status_mut() = r.status;
    let h = resp.headers_mut();
    if let Some(ct) = r.content_type {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    if api_headers {
        if let Ok(v) = HeaderValue::from_str(api::describe::api_hash()) {
            h.insert("X-MAAS-API-Hash", v);
        }
        h.insert(header::VARY, HeaderValue::from_static("Authorization"));
    }
    for (k, v) in r.headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.append(k, v);
        }
    }
    resp
}

async fn read_body(req: Request<Body>) -> (http::request::Parts, Result<Bytes, String>) {
    let (parts, body) = req.into_parts();
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    let bytes = match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => Err(e.to_string()),
    };
    (parts, bytes)
}

/// Parse a form body (urlencoded or multipart) the way Django fills `POST`.
/// The form of a POST or PUT body, and whether it was multipart.
async fn parse_form(parts: &http::request::Parts, body: Bytes) -> (Params, bool) {
    let ct = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ct.starts_with("application/x-www-form-urlencoded") {
        return (Params::parse_urlencoded(&body), false);
    }
    if ct.starts_with("multipart/form-data") {
        let mut req = Request::new(Body::from(body));
        if let Some(v) = parts.headers.get(header::CONTENT_TYPE) {
            req.headers_mut().insert(header::CONTENT_TYPE, v.clone());
        }
        let mut params = Params::new();
        if let Ok(mut mp) = Multipart::from_request(req, &()).await {
            while let Ok(Some(field)) = mp.next_field().await {
                let name = field.name().unwrap_or("").to_string();
                // Django decodes base64 parts (python-libmaas sends them).
                let base64_encoded = field
                    .headers()
                    .get("content-transfer-encoding")
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.trim().eq_ignore_ascii_case("base64"))
                    .unwrap_or(false);
                match field.bytes().await {
                    Ok(b) => {
                        let bytes = if base64_encoded {
                            decode_base64(&b).unwrap_or_else(|| b.to_vec())
                        } else {
                            b.to_vec()
                        };
                        params.push(name, String::from_utf8_lossy(&bytes).into_owned());
                    }
                    Err(_) => break,
                }
            }
        }
        return (params, true);
    }
    (Params::new(), false)
}

async fn handle(shared: Arc<Shared>, router: Router, req: Request<Body>) -> Response<Body> {
    let path = req.uri().path().to_string();
    if path.starts_with("/_sim/") || path == "/_sim" {
        let loopback = req
            .extensions()
            .get::<Peer>()
            .map(|p| p.0.ip().is_loopback())
            .unwrap_or(false);
        if !loopback {
            return to_response(
                Reply::text(
                    StatusCode::FORBIDDEN,
                    reply::PLAIN,
                    "control API is loopback-only",
                ),
                false,
            );
        }
        return match router.oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
    }
    let started = Instant::now();
    let kill = req.extensions().get::<ConnKill>().cloned();
    let method = req.method().clone();
    let host = host_of(&req);
    let scheme = scheme_of(&req);
    let query = Params::parse_urlencoded(req.uri().query().unwrap_or("").as_bytes());
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (parts, body) = read_body(req).await;
    let body = match body {
        Ok(b) => b,
        Err(_) => {
            return to_response(
                Reply::text(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    reply::PLAIN,
                    "Request body too large",
                ),
                false,
            );
        }
    };
    let (form, multipart) = if method == Method::POST || method == Method::PUT {
        parse_form(&parts, body).await
    } else {
        (Params::new(), false)
    };

    let (reply, info, api_headers) = if path.starts_with(api::API_ROOT) {
        let request = api::ApiRequest {
            method: method.clone(),
            path: path.clone(),
            query,
            body: form,
            authorization,
            host,
            scheme,
            multipart,
        };
        let (r, i) = api::dispatch(shared.api.clone(), request).await;
        (r, i, true)
    } else if path.starts_with("/MAAS/api/version/") {
        (
            Reply::text(StatusCode::OK, reply::PLAIN, "2.0"),
            Default::default(),
            false,
        )
    } else if path.starts_with("/MAAS/api/1.0/") {
        (
            Reply::text(
                StatusCode::GONE,
                reply::PLAIN,
                "The 1.0 API is no longer available. Please use API version 2.0.",
            ),
            Default::default(),
            false,
        )
    } else if let Some(name) = path.strip_prefix("/MAAS/vmhost-certificate/") {
        let cert = if shared.version.has_vm_hosts() {
            let st = shared.state.read();
            st.vmhosts
                .values()
                .find(|h| h.name == name)
                .map(|h| h.certificate.clone())
        } else {
            None
        };
        let r = match cert {
            Some(Some(pem)) => Reply::text(StatusCode::OK, reply::PLAIN, pem),
            _ => Reply::text(StatusCode::NOT_FOUND, reply::HTML, not_found_page(&path)),
        };
        (r, Default::default(), false)
    } else {
        (
            Reply::text(StatusCode::NOT_FOUND, reply::HTML, not_found_page(&path)),
            Default::default(),
            false,
        )
    };

    let status = if info.drop_connection {
        0
    } else {
        reply.status.as_u16()
    };
    if api_headers {
        let delay = shared
            .latency
            .delay(info.action.as_deref(), status, &reply.body);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
    shared.log.lock().record(RequestRecord {
        seq: 0,
        method: method.as_str().to_string(),
        path: path.clone(),
        op: info.op.clone(),
        action: info.action.clone(),
        status,
        user: info.username.clone(),
        unix_ms: shared.clock.unix_ms_at(shared.clock.now_ms()),
        duration_us: started.elapsed().as_micros() as u64,
        fault: info.fault,
    });
    tracing::debug!(
        method = %method,
        path = %path,
        op = info.op.as_deref().unwrap_or(""),
        status,
        "request"
    );
    if info.drop_connection
        && let Some(k) = kill
    {
        k.0.notify_one();
        // Never answer: the connection task drops the socket.
        std::future::pending::<()>().await;
    }
    to_response(reply, api_headers)
}

fn decode_base64(data: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine;
    let compact: Vec<u8> = data
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

fn not_found_page(path: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><title>Not Found</title></head>\n<body><h1>Not Found</h1><p>The requested resource was not found on this server: {}</p></body>\n</html>\n",
        path.replace('<', "&lt;").replace('>', "&gt;")
    )
}
