//! Test-only MAAS client: OAuth PLAINTEXT signing over raw reqwest.
#![allow(dead_code)]

use maas_sim::{MaasVersion, RunningSimulator, Simulator, SimulatorBuilder};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

static NONCE: AtomicU64 = AtomicU64::new(1);

pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client")
}

/// A builder with short timings for tests.
pub fn builder() -> SimulatorBuilder {
    Simulator::builder()
        .seed(7)
        .deploy_duration(Duration::from_millis(400))
        .release_duration(Duration::from_millis(100))
        .commission_duration(Duration::from_millis(200))
        .erase_duration(Duration::from_millis(200))
        .power_delay(Duration::from_millis(20))
}

pub async fn start(b: SimulatorBuilder) -> RunningSimulator {
    b.start("127.0.0.1:0").await.expect("simulator starts")
}

pub async fn start_version(machines: usize, v: MaasVersion) -> RunningSimulator {
    start(builder().machines(machines).maas_version(v)).await
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    pub fn content_type(&self) -> String {
        self.header("content-type").unwrap_or_default()
    }

    #[track_caller]
    pub fn ok(self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.text);
        self.json()
    }
}

/// Build the OAuth header for `key` (consumer:token:secret).
pub fn oauth_header(key: &str, nonce: &str, timestamp: i64) -> String {
    let parts: Vec<&str> = key.split(':').collect();
    format!(
        "OAuth realm=\"\", oauth_version=\"1.0\", oauth_signature_method=\"PLAINTEXT\", oauth_consumer_key=\"{}\", oauth_token=\"{}\", oauth_signature=\"%26{}\", oauth_nonce=\"{}\", oauth_timestamp=\"{}\"",
        parts[0], parts[1], parts[2], nonce, timestamp
    )
}

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn fresh_nonce() -> String {
    format!("n{}-{}", NONCE.fetch_add(1, Ordering::Relaxed), now_secs())
}

/// A signed client for one user.
#[derive(Clone)]
pub struct Maas {
    pub base: String,
    pub key: Option<String>,
    pub http: reqwest::Client,
}

impl Maas {
    pub fn new(sim: &RunningSimulator, key: Option<&str>) -> Maas {
        Maas {
            base: format!("{}/api/2.0/", sim.endpoint()),
            key: key.map(str::to_string),
            http: http(),
        }
    }

    pub fn admin(sim: &RunningSimulator) -> Maas {
        Maas::new(sim, Some(sim.admin_api_key()))
    }

    pub fn user(sim: &RunningSimulator) -> Maas {
        Maas::new(sim, Some(sim.user_api_key()))
    }

    pub fn anon(sim: &RunningSimulator) -> Maas {
        Maas::new(sim, None)
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, String)],
    ) -> Resp {
        let url = format!("{}{}", self.base, path);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(key) = &self.key {
            req = req.header(
                "Authorization",
                oauth_header(key, &fresh_nonce(), now_secs()),
            );
        }
        for (k, v) in headers {
            req = req.header(*k, v.clone());
        }
        if method == Method::POST || method == Method::PUT {
            let body: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form.iter())
                .finish();
            req = req
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body);
        } else if !form.is_empty() {
            req = req.query(form);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        Resp {
            status: resp.status(),
            headers: resp.headers().clone(),
            text: resp.text().await.expect("body"),
        }
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Resp {
        self.raw(Method::GET, path, query, &[]).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.raw(Method::POST, path, form, &[]).await
    }

    pub async fn put(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.raw(Method::PUT, path, form, &[]).await
    }

    pub async fn delete(&self, path: &str, query: &[(&str, &str)]) -> Resp {
        self.raw(Method::DELETE, path, query, &[]).await
    }

    /// Allocate, returning the machine JSON.
    pub async fn allocate(&self, form: &[(&str, &str)]) -> Value {
        self.post("machines/?op=allocate", form).await.ok()
    }

    pub async fn machine(&self, system_id: &str) -> Value {
        self.get(&format!("machines/{system_id}/"), &[]).await.ok()
    }
}

/// The system id of a machine JSON.
pub fn sid(v: &Value) -> String {
    v["system_id"].as_str().expect("system_id").to_string()
}

/// RFC 3986 escaping as OAuth uses it (unreserved characters kept).
pub fn oauth_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// HMAC-SHA1 (RFC 2104) in base64, written for the tests.
pub fn hmac_sha1(key: &[u8], msg: &[u8]) -> String {
    use base64::Engine;
    use sha1::{Digest, Sha1};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x36)
        .chain(msg.iter().copied())
        .collect();
    let inner = Sha1::digest(&ipad);
    let opad: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x5c)
        .chain(inner.iter().copied())
        .collect();
    base64::engine::general_purpose::STANDARD.encode(Sha1::digest(&opad))
}

/// An RFC 5849 HMAC-SHA1 `Authorization` header for `key` over `method`,
/// `url` (scheme://host/path, no query) and the extra `params` (query and
/// form fields). Returns (header, base string).
pub fn hmac_header(
    key: &str,
    method: &str,
    url: &str,
    params: &[(&str, &str)],
) -> (String, String) {
    let parts: Vec<&str> = key.split(':').collect();
    let nonce = fresh_nonce();
    let ts = now_secs().to_string();
    let oauth = [
        ("oauth_consumer_key", parts[0]),
        ("oauth_token", parts[1]),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_nonce", nonce.as_str()),
        ("oauth_timestamp", ts.as_str()),
        ("oauth_version", "1.0"),
    ];
    let mut all: Vec<(String, String)> = oauth
        .iter()
        .chain(params.iter())
        .map(|(k, v)| (oauth_escape(k), oauth_escape(v)))
        .collect();
    all.sort();
    let normalized: Vec<String> = all.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let base = format!(
        "{}&{}&{}",
        oauth_escape(method),
        oauth_escape(url),
        oauth_escape(&normalized.join("&"))
    );
    let sig = hmac_sha1(
        format!("&{}", oauth_escape(parts[2])).as_bytes(),
        base.as_bytes(),
    );
    let header = format!(
        "OAuth {}, oauth_signature=\"{}\"",
        oauth
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", oauth_escape(v)))
            .collect::<Vec<_>>()
            .join(", "),
        oauth_escape(&sig)
    );
    (header, base)
}
