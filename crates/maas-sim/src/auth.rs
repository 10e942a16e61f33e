//! MAAS's OAuth 1.0 PLAINTEXT verification, reproduced from piston's
//! behaviour: which requests count as signed, the order of the checks, and
//! the exact error texts.

use crate::model::Token;
use crate::params::Params;
use std::collections::{HashMap, VecDeque};
use std::fmt;

/// An API key `consumer_key:token_key:token_secret`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The consumer key (18 characters in real MAAS).
    pub consumer_key: String,
    /// The token key (18 characters in real MAAS).
    pub token_key: String,
    token_secret: String,
}

impl ApiKey {
    /// Parse `consumer:token:secret`.
    pub fn parse(key: &str) -> Result<ApiKey, InvalidApiKey> {
        let parts: Vec<&str> = key.trim().split(':').collect();
        match parts.as_slice() {
            [c, t, s] if !c.is_empty() && !t.is_empty() && !s.is_empty() => Ok(ApiKey {
                consumer_key: (*c).to_string(),
                token_key: (*t).to_string(),
                token_secret: (*s).to_string(),
            }),
            _ => Err(InvalidApiKey),
        }
    }

    /// The secret part.
    pub fn token_secret(&self) -> &str {
        &self.token_secret
    }

    /// The full key string (contains the secret: do not log it).
    pub fn expose(&self) -> String {
        format!(
            "{}:{}:{}",
            self.consumer_key, self.token_key, self.token_secret
        )
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("consumer_key", &self.consumer_key)
            .field("token_key", &self.token_key)
            .field("token_secret", &"<redacted>")
            .finish()
    }
}

/// An API key that is not `consumer:token:secret`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("API key must have the form consumer_key:token_key:token_secret")]
pub struct InvalidApiKey;

/// The six names whose presence makes a request an OAuth attempt.
const MUST_HAVE: [&str; 6] = [
    "oauth_consumer_key",
    "oauth_token",
    "oauth_signature",
    "oauth_signature_method",
    "oauth_timestamp",
    "oauth_nonce",
];

/// Seconds a timestamp may lie in the past.
const TIMESTAMP_THRESHOLD: i64 = 300;

/// Outcome of authenticating one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthOutcome {
    /// Not an OAuth attempt: anonymous, or challenged.
    NotSigned,
    /// Valid signature: the token's user.
    User(u64),
    /// 401 `Authorization Error: …` (body given, WWW-Authenticate added).
    Unauthorized(String),
    /// 400 (missing OAuth parameter in an otherwise signed request).
    BadRequest(String),
}

/// Whether the request counts as an OAuth attempt (piston's check: the
/// header *text* contains every required name, or the query/body has them).
pub(crate) fn is_oauth_attempt(header: &str, query: &Params, body: &Params) -> bool {
    let in_header = MUST_HAVE.iter().all(|n| header.contains(n));
    let in_params = MUST_HAVE
        .iter()
        .all(|n| query.contains(n) || body.contains(n));
    in_header || in_params
}

/// Parse an `Authorization: OAuth …` header the way piston does: items are
/// split on `,`, anything mentioning `realm` is ignored, quotes are stripped
/// and values URL-decoded.
pub(crate) fn parse_oauth_header(header: &str) -> Result<HashMap<String, String>, String> {
    let mut params = HashMap::new();
    let Some(rest) = header.strip_prefix("OAuth ") else {
        return Ok(params);
    };
    for item in rest.split(',') {
        if item.contains("realm") {
            continue;
        }
        let item = item.trim();
        let Some((k, v)) = item.split_once('=') else {
            return Err("Unable to parse OAuth parameters from Authorization header.".to_string());
        };
        let v = v.trim_matches('"');
        params.insert(k.to_string(), unquote(v));
    }
    Ok(params)
}

/// Python's `urllib.unquote`: `%XX` decoded, everything else kept.
fn unquote(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Nonces seen per (consumer, token), expired after the timestamp window.
#[derive(Debug, Default)]
pub(crate) struct NonceStore {
    seen: HashMap<(String, String, String), i64>,
    order: VecDeque<(i64, (String, String, String))>,
}

impl NonceStore {
    /// Record the nonce; false when it was already used.
    pub(crate) fn check_and_record(
        &mut self,
        consumer: &str,
        token: &str,
        nonce: &str,
        now: i64,
    ) -> bool {
        // Forget nonces whose timestamps can no longer pass the window.
        while let Some((t, _)) = self.order.front() {
            if now - *t > TIMESTAMP_THRESHOLD * 2 {
                if let Some((_, key)) = self.order.pop_front() {
                    self.seen.remove(&key);
                }
            } else {
                break;
            }
        }
        let key = (consumer.to_string(), token.to_string(), nonce.to_string());
        if self.seen.contains_key(&key) {
            return false;
        }
        self.seen.insert(key.clone(), now);
        self.order.push_back((now, key));
        true
    }

    pub(crate) fn clear(&mut self) {
        self.seen.clear();
        self.order.clear();
    }
}

/// Verify an OAuth request, in piston's order: version, consumer, token,
/// timestamp, nonce, signature method, signature.
pub(crate) fn verify(
    header: &str,
    query: &Params,
    body: &Params,
    tokens: &HashMap<String, Token>,
    nonces: &mut NonceStore,
    now_unix: i64,
) -> AuthOutcome {
    if !is_oauth_attempt(header, query, body) {
        return AuthOutcome::NotSigned;
    }
    // Collect parameters: header first, then body, then query (later wins).
    let mut params: HashMap<String, String> = HashMap::new();
    match parse_oauth_header(header) {
        Ok(h) => params.extend(h),
        Err(msg) => {
            return AuthOutcome::Unauthorized(format!(
                "Authorization Error: {}",
                crate::pyfmt::repr_str(&msg)
            ));
        }
    }
    for (k, v) in body.pairs().iter().chain(query.pairs()) {
        if k.starts_with("oauth_") && !v.is_empty() {
            params.insert(k.clone(), v.clone());
        }
    }
    let unauthorized = |msg: String| {
        AuthOutcome::Unauthorized(format!(
            "Authorization Error: {}",
            crate::pyfmt::repr_str(&msg)
        ))
    };
    let missing =
        |name: &str| AuthOutcome::BadRequest(format!("'Bad Request: Parameter not found: {name}'"));

    // Version.
    if let Some(version) = params.get("oauth_version")
        && !version.is_empty()
        && version != "1.0"
    {
        return unauthorized(format!("OAuth version {version} not supported."));
    }
    // Consumer.
    let Some(consumer_key) = params.get("oauth_consumer_key") else {
        return missing("oauth_consumer_key");
    };
    if !tokens.values().any(|t| &t.consumer_key == consumer_key) {
        return AuthOutcome::Unauthorized("Authorization Error: Invalid API key.".to_string());
    }
    // Access token.
    let Some(token_key) = params.get("oauth_token") else {
        return missing("oauth_token");
    };
    let Some(token) = tokens.get(token_key.as_str()) else {
        return unauthorized(format!("Invalid access token: {token_key}"));
    };
    // Timestamp.
    let Some(timestamp) = params.get("oauth_timestamp") else {
        return missing("oauth_timestamp");
    };
    let Ok(ts) = timestamp.trim().parse::<i64>() else {
        return AuthOutcome::BadRequest(format!("'Bad Request: Invalid timestamp: {timestamp}'"));
    };
    if now_unix - ts > TIMESTAMP_THRESHOLD {
        return unauthorized(format!(
            "Expired timestamp: given {ts} and now {now_unix} has a greater difference than threshold {TIMESTAMP_THRESHOLD}"
        ));
    }
    // Nonce.
    let Some(nonce) = params.get("oauth_nonce") else {
        return missing("oauth_nonce");
    };
    if !nonces.check_and_record(consumer_key, &token.token_key, nonce, now_unix) {
        return unauthorized(format!("Nonce already used: {nonce}"));
    }
    // Signature method.
    let method = params
        .get("oauth_signature_method")
        .map(String::as_str)
        .unwrap_or("PLAINTEXT");
    if method != "PLAINTEXT" && method != "HMAC-SHA1" {
        return unauthorized(format!(
            "Signature method {method} not supported try one of the following: PLAINTEXT, HMAC-SHA1"
        ));
    }
    let Some(signature) = params.get("oauth_signature") else {
        return unauthorized("Missing signature.".to_string());
    };
    // Like piston, the consumer is only looked up, not tied to the token.
    let valid = method == "PLAINTEXT" && {
        let expected = format!("&{}", oauth_escape(&token.secret));
        constant_time_eq(signature.as_bytes(), expected.as_bytes())
            || constant_time_eq(
                signature.as_bytes(),
                format!("&{}", token.secret).as_bytes(),
            )
    };
    if !valid {
        // MAAS echoes the expected base string, which is the secret itself;
        // the simulator keeps the message shape but never the secret.
        return unauthorized(
            "Invalid signature. Expected signature base string: &<redacted>".to_string(),
        );
    }
    AuthOutcome::User(token.user_id)
}

/// RFC 5849 percent-encoding (what `oauth.escape` produces).
fn oauth_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> HashMap<String, Token> {
        let mut m = HashMap::new();
        m.insert(
            "tok".to_string(),
            Token {
                consumer_key: "cons".into(),
                token_key: "tok".into(),
                secret: "sec".into(),
                user_id: 1,
                name: "t".into(),
            },
        );
        m
    }

    fn header(consumer: &str, token: &str, sig: &str, nonce: &str, ts: i64) -> String {
        format!(
            "OAuth realm=\"\", oauth_version=\"1.0\", oauth_signature_method=\"PLAINTEXT\", oauth_consumer_key=\"{consumer}\", oauth_token=\"{token}\", oauth_signature=\"{sig}\", oauth_nonce=\"{nonce}\", oauth_timestamp=\"{ts}\""
        )
    }

    #[test]
    fn accepts_valid_and_rejects_reused_nonce() {
        let t = tokens();
        let mut n = NonceStore::default();
        let p = Params::new();
        let h = header("cons", "tok", "%26sec", "n1", 1000);
        assert_eq!(verify(&h, &p, &p, &t, &mut n, 1000), AuthOutcome::User(1));
        assert_eq!(
            verify(&h, &p, &p, &t, &mut n, 1001),
            AuthOutcome::Unauthorized("Authorization Error: 'Nonce already used: n1'".into())
        );
        // Raw '&' is accepted too.
        let h2 = header("cons", "tok", "&sec", "n2", 1000);
        assert_eq!(verify(&h2, &p, &p, &t, &mut n, 1000), AuthOutcome::User(1));
    }

    #[test]
    fn error_texts_in_maas_order() {
        let t = tokens();
        let mut n = NonceStore::default();
        let p = Params::new();
        assert_eq!(
            verify(
                &header("nope", "tok", "&sec", "a", 10),
                &p,
                &p,
                &t,
                &mut n,
                10
            ),
            AuthOutcome::Unauthorized("Authorization Error: Invalid API key.".into())
        );
        assert_eq!(
            verify(
                &header("cons", "XYZ", "&sec", "a", 10),
                &p,
                &p,
                &t,
                &mut n,
                10
            ),
            AuthOutcome::Unauthorized("Authorization Error: 'Invalid access token: XYZ'".into())
        );
        assert_eq!(
            verify(&header("cons", "tok", "&sec", "b", 10), &p, &p, &t, &mut n, 311),
            AuthOutcome::Unauthorized(
                "Authorization Error: 'Expired timestamp: given 10 and now 311 has a greater difference than threshold 300'".into()
            )
        );
        match verify(
            &header("cons", "tok", "&bad", "c", 10),
            &p,
            &p,
            &t,
            &mut n,
            10,
        ) {
            AuthOutcome::Unauthorized(msg) => {
                assert!(
                    msg.starts_with("Authorization Error: 'Invalid signature."),
                    "{msg}"
                );
                assert!(!msg.contains("sec'"));
            }
            other => panic!("unexpected {other:?}"),
        }
        // Future timestamps are fine.
        assert_eq!(
            verify(
                &header("cons", "tok", "&sec", "d", 5000),
                &p,
                &p,
                &t,
                &mut n,
                10
            ),
            AuthOutcome::User(1)
        );
    }

    #[test]
    fn unsigned_and_version() {
        let t = tokens();
        let mut n = NonceStore::default();
        let p = Params::new();
        assert_eq!(verify("", &p, &p, &t, &mut n, 0), AuthOutcome::NotSigned);
        assert_eq!(
            verify("Bearer x", &p, &p, &t, &mut n, 0),
            AuthOutcome::NotSigned
        );
        let h = header("cons", "tok", "&sec", "v", 0).replace("1.0", "2.0");
        assert_eq!(
            verify(&h, &p, &p, &t, &mut n, 0),
            AuthOutcome::Unauthorized(
                "Authorization Error: 'OAuth version 2.0 not supported.'".into()
            )
        );
    }

    #[test]
    fn api_key_debug_redacts_secret() {
        let k = ApiKey::parse("a:b:supersecret").unwrap();
        assert!(!format!("{k:?}").contains("supersecret"));
        assert!(ApiKey::parse("a:b").is_err());
    }
}
