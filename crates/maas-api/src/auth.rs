//! OAuth 1.0 signing, as MAAS verifies it: HMAC-SHA1 (the default) or PLAINTEXT.
//!
//! MAAS uses 0-legged OAuth 1.0 with an empty consumer secret and checks requests with
//! piston3's OAuth server, which registers both PLAINTEXT and HMAC-SHA1. PLAINTEXT puts the
//! token secret itself in every request; HMAC-SHA1 sends only a signature over the request.
//!
//! For HMAC-SHA1 the signature base string is RFC 5849 §3.4.1 (`METHOD&enc(url)&enc(params)`,
//! parameters percent-encoded, sorted, joined), but **the parameters are the ones MAAS
//! collects**, which differ from RFC 5849 §3.4.1.3 (checked against a MAAS 3.6.5 region, see
//! `docs/maas-api.md`):
//!
//! - one value per name: piston3 builds a `dict`. Body fields of a POST (url-encoded **and
//!   multipart**: Django's `request.POST` holds the plain fields of both) keep their **last**
//!   value; then the `Authorization` header's `oauth_*` values (without `realm` and
//!   `oauth_signature`) are added; then the query string's **first** value of each name
//!   overrides;
//! - query values with an empty value are dropped (`parse_qs(keep_blank_values=False)`) and
//!   every query value is percent-decoded **twice** (`parse_qs`, then `unquote`);
//! - PUT and DELETE bodies are not signed (piston3 reads `request.POST` only for POST);
//! - the URL is `scheme://Host` (default port removed) plus the path as Django re-escapes it.
//!
//! A signer that follows the RFC to the letter is refused by MAAS (401) as soon as a name
//! repeats, a query value is empty, or a PUT has a body.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use url::Url;

use crate::config::ApiKey;
use crate::form::Form;

/// How requests are signed (OAuth 1.0 `oauth_signature_method`).
///
/// MAAS accepts both. [`SignatureMethod::HmacSha1`] is the default: the token secret never
/// leaves the client. [`SignatureMethod::Plaintext`] sends the token secret in every request
/// (in clear over plain HTTP, MAAS's default on port 5240); use it only over TLS, or with a
/// proxy in front of MAAS that rewrites the request URL (HMAC-SHA1 signs the URL as MAAS
/// sees it, so a proxy that changes the host, port, scheme or path breaks it).
///
/// Parses from and displays as MAAS's names, `HMAC-SHA1` and `PLAINTEXT` (case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignatureMethod {
    /// `HMAC-SHA1`: a signature over the method, URL and parameters. The default.
    #[default]
    HmacSha1,
    /// `PLAINTEXT`: the token secret itself as the signature.
    Plaintext,
}

impl SignatureMethod {
    /// MAAS's name for it: `HMAC-SHA1` or `PLAINTEXT`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureMethod::HmacSha1 => "HMAC-SHA1",
            SignatureMethod::Plaintext => "PLAINTEXT",
        }
    }
}

impl fmt::Display for SignatureMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A signature method name that is neither `HMAC-SHA1` nor `PLAINTEXT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown OAuth signature method {0:?}; expected HMAC-SHA1 or PLAINTEXT")]
pub struct UnknownSignatureMethod(pub String);

impl std::str::FromStr for SignatureMethod {
    type Err = UnknownSignatureMethod;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("HMAC-SHA1") || t.eq_ignore_ascii_case("hmac_sha1") {
            Ok(SignatureMethod::HmacSha1)
        } else if t.eq_ignore_ascii_case("PLAINTEXT") {
            Ok(SignatureMethod::Plaintext)
        } else {
            Err(UnknownSignatureMethod(truncate_name(t)))
        }
    }
}

fn truncate_name(s: &str) -> String {
    s.chars().take(32).collect()
}

/// What of a request is signed.
pub(crate) struct SignedRequest<'a> {
    /// `GET`, `POST`, `PUT`, `DELETE`.
    pub method: &'a str,
    /// The full request URL, query included.
    pub url: &'a Url,
    /// The form body fields (url-encoded or multipart), in order.
    pub body: Vec<(&'a str, &'a str)>,
}

impl<'a> SignedRequest<'a> {
    pub(crate) fn with_form(method: &'a str, url: &'a Url, body: &'a Form) -> Self {
        SignedRequest {
            method,
            url,
            body: body.pairs().collect(),
        }
    }
}

/// Signs requests you send yourself, exactly as [`crate::MaasClient`] signs its own: for
/// MAAS endpoints the client does not cover, or tools that need the raw HTTP answer.
///
/// ```
/// use maas_api::{ApiKey, RequestSigner, SignatureMethod};
///
/// let key = ApiKey::parse("ck:tk:secret")?;
/// let signer = RequestSigner::new(key, SignatureMethod::HmacSha1);
/// let url = url::Url::parse("http://maas:5240/MAAS/api/2.0/machines/?op=allocate")?;
/// // The form fields of the body (url-encoded or multipart): MAAS signs them for POST.
/// let header = signer.authorization("POST", &url, &[("cpu_count", "4")]);
/// assert!(header.starts_with("OAuth "));
/// assert!(!header.contains("secret"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RequestSigner {
    key: ApiKey,
    method: SignatureMethod,
}

impl RequestSigner {
    /// A signer for one API key and method.
    pub fn new(key: ApiKey, method: SignatureMethod) -> Self {
        RequestSigner { key, method }
    }

    /// The signature method in use.
    pub fn signature_method(&self) -> SignatureMethod {
        self.method
    }

    /// The `Authorization` header value for one request (fresh nonce and timestamp).
    /// `url` is the full request URL, query included; `form_body` the body's form fields.
    pub fn authorization(
        &self,
        http_method: &str,
        url: &Url,
        form_body: &[(&str, &str)],
    ) -> String {
        let req = SignedRequest {
            method: http_method,
            url,
            body: form_body.to_vec(),
        };
        authorization_header(&self.key, self.method, &req)
    }

    /// [`RequestSigner::authorization`] with a given nonce and timestamp (seconds since the
    /// epoch), for reproducible tests. MAAS refuses a nonce it has seen and a timestamp more
    /// than 5 minutes old.
    pub fn authorization_with(
        &self,
        http_method: &str,
        url: &Url,
        form_body: &[(&str, &str)],
        nonce: &str,
        timestamp: u64,
    ) -> String {
        let req = SignedRequest {
            method: http_method,
            url,
            body: form_body.to_vec(),
        };
        authorization_header_with(&self.key, self.method, &req, nonce, timestamp)
    }
}

impl fmt::Debug for RequestSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSigner")
            .field("key", &self.key)
            .field("method", &self.method)
            .finish()
    }
}

/// Percent-encode per RFC 3986 (unreserved characters kept), as OAuth 1.0 requires.
pub(crate) fn percent_encode(s: &str) -> String {
    percent_encode_bytes(s.as_bytes(), |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
    })
}

fn percent_encode_bytes(bytes: &[u8], keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if keep(b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Decode `%XX` escapes (invalid ones kept as they are), then UTF-8 with replacement
/// characters, as Python's `urllib.parse.unquote` does.
fn percent_decode_lossy(s: &str) -> String {
    String::from_utf8_lossy(&percent_decode_bytes(s)).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// RFC 5849 §3.4.1: `METHOD&enc(base_uri)&enc(normalised parameters)`, the parameters
/// encoded, sorted by name then value (§3.4.1.3.2), and joined with `&`.
pub(crate) fn base_string<'a>(
    method: &str,
    base_uri: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut encoded: Vec<(String, String)> = params
        .into_iter()
        .map(|(k, v)| (percent_encode(k), percent_encode(v)))
        .collect();
    encoded.sort();
    let normalised = encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        percent_encode(&method.to_ascii_uppercase()),
        percent_encode(base_uri),
        percent_encode(&normalised)
    )
}

/// The base string URI as MAAS builds it: Django's `build_absolute_uri()` (the scheme, the
/// `Host` header, the path decoded and re-escaped by `escape_uri_path`) without the query,
/// the default port removed.
pub(crate) fn maas_base_uri(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    let port = match url.port() {
        Some(p) => format!(":{p}"),
        None => String::new(),
    };
    let decoded = percent_decode_bytes(url.path());
    // Django's escape_uri_path keeps these besides letters and digits.
    let path = percent_encode_bytes(&decoded, |b| {
        b.is_ascii_alphanumeric() || b"/:@&+$,-_.!~*'()".contains(&b)
    });
    format!("{}://{host}{port}{path}", url.scheme())
}

fn percent_decode_bytes(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|c| hex(*c)),
                bytes.get(i + 2).and_then(|c| hex(*c)),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// The query's parameters as piston3 reads them: Python's `parse_qs(q,
/// keep_blank_values=False)` (pairs without `=` or with an empty value dropped, `+` is a
/// space), the first value of each name, then `unquote` once more on that value.
fn maas_query_params(query: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for piece in query.split('&') {
        let Some((name, value)) = piece.split_once('=') else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        let name = percent_decode_lossy(&name.replace('+', " "));
        if out.iter().any(|(k, _)| *k == name) {
            continue;
        }
        let value = percent_decode_lossy(&value.replace('+', " "));
        out.push((name, percent_decode_lossy(&value)));
    }
    out
}

/// The parameters MAAS puts in the signature base string (see the module docs).
pub(crate) fn maas_signed_params(
    oauth: &[(&str, &str)],
    req: &SignedRequest<'_>,
) -> Vec<(String, String)> {
    let mut params: HashMap<String, String> = HashMap::new();
    if req.method.eq_ignore_ascii_case("POST") {
        for (k, v) in &req.body {
            params.insert((*k).to_owned(), (*v).to_owned());
        }
    }
    for (k, v) in oauth {
        params.insert((*k).to_owned(), (*v).to_owned());
    }
    if let Some(q) = req.url.query() {
        for (k, v) in maas_query_params(q) {
            params.insert(k, v);
        }
    }
    params.remove("oauth_signature");
    params.into_iter().collect()
}

/// HMAC-SHA1 of `base` with the key `enc(consumer_secret)&enc(token_secret)`, base64.
pub(crate) fn hmac_sha1_signature(consumer_secret: &str, token_secret: &str, base: &str) -> String {
    let key_text = format!(
        "{}&{}",
        percent_encode(consumer_secret),
        percent_encode(token_secret)
    );
    let key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        key_text.as_bytes(),
    );
    let tag = ring::hmac::sign(&key, base.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

/// A fresh nonce: 128 random bits as hex.
fn nonce() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The `Authorization` header value for one request. A new nonce and timestamp every call.
pub(crate) fn authorization_header(
    key: &ApiKey,
    method: SignatureMethod,
    req: &SignedRequest<'_>,
) -> String {
    // piston3 skips every header part that contains "realm", values included: a base64
    // signature that happens to spell it would go missing (odds ~1e-8); take another nonce.
    let mut header = authorization_header_with(key, method, req, &nonce(), now_secs());
    for _ in 0..4 {
        let signature = header
            .rsplit_once("oauth_signature=")
            .map_or("", |(_, s)| s);
        if !signature.contains("realm") {
            break;
        }
        header = authorization_header_with(key, method, req, &nonce(), now_secs());
    }
    header
}

/// [`authorization_header`] with a given nonce and timestamp (for tests and vectors).
pub(crate) fn authorization_header_with(
    key: &ApiKey,
    method: SignatureMethod,
    req: &SignedRequest<'_>,
    nonce: &str,
    timestamp: u64,
) -> String {
    let timestamp = timestamp.to_string();
    let oauth = [
        ("oauth_version", "1.0"),
        ("oauth_signature_method", method.as_str()),
        ("oauth_consumer_key", key.consumer_key()),
        ("oauth_token", key.token_key()),
        ("oauth_nonce", nonce),
        ("oauth_timestamp", timestamp.as_str()),
    ];
    let signature = match method {
        // encode(consumer_secret) & encode(token_secret); the consumer secret is "".
        SignatureMethod::Plaintext => format!("&{}", percent_encode(key.token_secret())),
        SignatureMethod::HmacSha1 => {
            let params = maas_signed_params(&oauth, req);
            let base = base_string(
                req.method,
                &maas_base_uri(req.url),
                params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            );
            hmac_sha1_signature("", key.token_secret(), &base)
        }
    };
    let mut header = String::from("OAuth realm=\"\"");
    for (k, v) in oauth
        .iter()
        .copied()
        .chain([("oauth_signature", signature.as_str())])
    {
        let _ = write!(header, ", {k}=\"{}\"", percent_encode(v));
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn values_are_percent_encoded() {
        assert_eq!(percent_encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(percent_encode("&x y,\"z"), "%26x%20y%2C%22z");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn signature_method_names() {
        assert_eq!(SignatureMethod::default(), SignatureMethod::HmacSha1);
        assert_eq!(
            "hmac-sha1".parse::<SignatureMethod>(),
            Ok(SignatureMethod::HmacSha1)
        );
        assert_eq!(
            " PLAINTEXT ".parse::<SignatureMethod>(),
            Ok(SignatureMethod::Plaintext)
        );
        assert!("RSA-SHA1".parse::<SignatureMethod>().is_err());
        assert_eq!(SignatureMethod::Plaintext.to_string(), "PLAINTEXT");
    }

    /// RFC 5849 §3.4.1.1: the example base string (parameters as the RFC collects them).
    #[test]
    fn rfc5849_base_string_example() {
        let params = [
            ("b5", "=%3D"),
            ("a3", "a"),
            ("c@", ""),
            ("a2", "r b"),
            ("oauth_consumer_key", "9djdj82h48djs9d2"),
            ("oauth_token", "kkk9d7dh3k39sjv7"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131201"),
            ("oauth_nonce", "7d8f3e4a"),
            ("c2", ""),
            ("a3", "2 q"),
        ];
        assert_eq!(
            base_string("POST", "http://example.com/request", params),
            "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q\
             %26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_\
             key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m\
             ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk\
             9d7dh3k39sjv7"
        );
    }

    /// RFC 5849 §1.2: the protected-resource request and its HMAC-SHA1 signature.
    #[test]
    fn rfc5849_hmac_sha1_example() {
        let params = [
            ("file", "vacation.jpg"),
            ("size", "original"),
            ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
            ("oauth_token", "nnch734d00sl2jdk"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131202"),
            ("oauth_nonce", "chapoH"),
        ];
        let base = base_string("GET", "http://photos.example.net/photos", params);
        assert_eq!(
            base,
            "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26\
             oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3DchapoH%26oauth_\
             signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131202%26oauth_token\
             %3Dnnch734d00sl2jdk%26size%3Doriginal"
        );
        assert_eq!(
            hmac_sha1_signature("kd94hf93k423kf44", "pfkkdhi9sl3r4s00", &base),
            "MdpQcU8iPSUjWoN/UDMsK2sui9I="
        );
    }

    /// The same request as RFC 5849 §3.4.1.1, with the parameters MAAS collects instead.
    #[test]
    fn maas_collects_one_value_per_name() {
        let u = url("http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b");
        let mut body = Form::new();
        body.text("c2", "").text("a3", "2 q");
        let req = SignedRequest::with_form("POST", &u, &body);
        let mut params = maas_signed_params(&[("oauth_nonce", "7d8f3e4a")], &req);
        params.sort();
        let want: Vec<(String, String)> = [
            // query: decoded twice ("%3D%253D" -> "=%3D" -> "==")
            ("a2", "r b"),
            // query beats body; first value
            ("a3", "a"),
            ("b5", "=="),
            // body keeps blank values; the query's blank c@ is dropped
            ("c2", ""),
            ("oauth_nonce", "7d8f3e4a"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(params, want);
    }

    #[test]
    fn repeated_names_first_in_query_last_in_body_and_put_body_unsigned() {
        let u = url("http://m:5240/MAAS/api/2.0/machines/?hostname=a&hostname=b&zone=");
        let mut body = Form::new();
        body.text("tags", "x").text("tags", "y");
        for (method, want_tags) in [("POST", Some("y")), ("PUT", None), ("DELETE", None)] {
            let req = SignedRequest::with_form(method, &u, &body);
            let params: HashMap<String, String> =
                maas_signed_params(&[], &req).into_iter().collect();
            assert_eq!(params.get("hostname").map(String::as_str), Some("a"));
            assert!(!params.contains_key("zone"), "blank query value dropped");
            assert_eq!(
                params.get("tags").map(String::as_str),
                want_tags,
                "{method}"
            );
        }
    }

    #[test]
    fn base_uri_as_django_builds_it() {
        for (input, want) in [
            (
                "http://127.0.0.1:5240/MAAS/api/2.0/users/?op=whoami",
                "http://127.0.0.1:5240/MAAS/api/2.0/users/",
            ),
            ("http://maas.example:80/MAAS/", "http://maas.example/MAAS/"),
            (
                "https://maas.example:443/MAAS/",
                "https://maas.example/MAAS/",
            ),
            (
                "https://MAAS.Example:5443/MAAS/",
                "https://maas.example:5443/MAAS/",
            ),
            ("http://[::1]:5240/MAAS/", "http://[::1]:5240/MAAS/"),
            // Django re-escapes the decoded path: ';', '=', '|' escaped, ',' and '@' kept.
            (
                "http://m/MAAS/tags/a;b=c|d,e@f%C3%A9%20/",
                "http://m/MAAS/tags/a%3Bb%3Dc%7Cd,e@f%C3%A9%20/",
            ),
        ] {
            assert_eq!(maas_base_uri(&url(input)), want, "{input}");
        }
    }

    /// Base strings MAAS 3.6.5 computed (echoed in its 401 texts) for requests with repeated
    /// names, blank and double-encoded query values, non-ASCII, url-encoded and multipart
    /// POST bodies, a PUT body and a path Django re-escapes.
    #[test]
    fn base_strings_as_maas_3_6_5_computed_them() {
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../tests/fixtures/maas365_base_strings.json"))
                .unwrap();
        let vectors = fixture["vectors"].as_array().unwrap();
        assert!(vectors.len() >= 5);
        for v in vectors {
            let s = |k: &str| v[k].as_str().unwrap().to_owned();
            let u = url(&format!("http://127.0.0.1:5240{}", s("target")));
            let body: Vec<(String, String)> = v["body"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p[0].as_str().unwrap().to_owned(),
                        p[1].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            let method = s("method");
            let req = SignedRequest {
                method: &method,
                url: &u,
                body: body.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
            };
            let (nonce, ts) = (s("nonce"), s("timestamp"));
            let oauth = [
                ("oauth_version", "1.0"),
                ("oauth_signature_method", "HMAC-SHA1"),
                ("oauth_consumer_key", "CONSUMERKEYxxxxxxx"),
                ("oauth_token", "TOKENKEYyyyyyyyyyy"),
                ("oauth_nonce", nonce.as_str()),
                ("oauth_timestamp", ts.as_str()),
            ];
            let params = maas_signed_params(&oauth, &req);
            let got = base_string(
                &method,
                &maas_base_uri(&u),
                params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            );
            assert_eq!(got, s("base"), "{method} {}", s("target"));
        }
    }

    #[test]
    fn python_unquote_semantics() {
        assert_eq!(percent_decode_lossy("a%41%zz%4"), "aA%zz%4");
        assert_eq!(percent_decode_lossy("%C3%A9"), "é");
        assert_eq!(percent_decode_lossy("%FF"), "\u{fffd}");
    }

    #[test]
    fn header_shapes() {
        let key = ApiKey::parse("ck:tk:s3cr3t").unwrap();
        let u = url("http://m:5240/MAAS/api/2.0/users/?op=whoami");
        let req = SignedRequest {
            method: "GET",
            url: &u,
            body: Vec::new(),
        };
        let plain = authorization_header_with(&key, SignatureMethod::Plaintext, &req, "n1", 7);
        assert_eq!(
            plain,
            "OAuth realm=\"\", oauth_version=\"1.0\", oauth_signature_method=\"PLAINTEXT\", \
             oauth_consumer_key=\"ck\", oauth_token=\"tk\", oauth_nonce=\"n1\", \
             oauth_timestamp=\"7\", oauth_signature=\"%26s3cr3t\""
        );
        let hmac = authorization_header_with(&key, SignatureMethod::HmacSha1, &req, "n1", 7);
        assert!(!hmac.contains("s3cr3t"), "{hmac}");
        let base = "GET&http%3A%2F%2Fm%3A5240%2FMAAS%2Fapi%2F2.0%2Fusers%2F&oauth_consumer_key\
                    %3Dck%26oauth_nonce%3Dn1%26oauth_signature_method%3DHMAC-SHA1%26oauth_\
                    timestamp%3D7%26oauth_token%3Dtk%26oauth_version%3D1.0%26op%3Dwhoami";
        let sig = percent_encode(&hmac_sha1_signature("", "s3cr3t", base));
        assert!(
            hmac.ends_with(&format!("oauth_signature=\"{sig}\"")),
            "{hmac}"
        );
        let again = authorization_header(&key, SignatureMethod::HmacSha1, &req);
        assert_ne!(
            again,
            authorization_header(&key, SignatureMethod::HmacSha1, &req),
            "nonce must change per request"
        );
    }
}
