//! Client configuration: endpoint, API key, TLS, timeouts, user agent, retries, observer.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::auth::SignatureMethod;
use crate::observer::RequestObserver;
use crate::retry::RetryPolicy;

/// The path every MAAS 2.0 API URL lives under.
pub const API_PATH: &str = "MAAS/api/2.0/";

/// Why a configuration value was rejected. Messages never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The endpoint is not a usable MAAS URL.
    #[error("invalid MAAS endpoint: {0}")]
    Endpoint(String),
    /// The API key is malformed.
    #[error(transparent)]
    ApiKey(#[from] ApiKeyError),
    /// The CA bundle could not be read.
    #[error("invalid CA bundle: {0}")]
    CaBundle(String),
    /// TLS could not be set up.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The HTTP client could not be built.
    #[error("HTTP client setup failed: {0}")]
    Http(String),
    /// The user agent is not a valid header value.
    #[error("invalid user agent: it must be visible ASCII")]
    UserAgent,
}

/// A normalised MAAS API base URL, always ending in `/MAAS/api/2.0/`.
///
/// Accepted inputs (scheme required, `http` or `https`):
/// `http://maas:5240`, `http://maas:5240/MAAS`, `http://maas:5240/MAAS/`,
/// `http://maas:5240/MAAS/api/2.0`, `http://maas:5240/MAAS/api/2.0/`, and any of these under a
/// proxy prefix (`https://proxy/region1/MAAS`). A path ending in `/api/2.0` is kept as given;
/// a path ending in `/MAAS` or `/api` is completed; any other path gets `/MAAS/api/2.0/` appended.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    base: Url,
}

impl Endpoint {
    /// Parse and normalise an endpoint.
    pub fn parse(input: &str) -> Result<Self, ConfigError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(ConfigError::Endpoint("it is empty".into()));
        }
        let mut url = Url::parse(input).map_err(|e| {
            ConfigError::Endpoint(format!(
                "not an absolute URL ({e}); expected e.g. http://maas.example:5240/MAAS"
            ))
        })?;
        match url.scheme() {
            "http" | "https" => {}
            other => {
                return Err(ConfigError::Endpoint(format!(
                    "scheme {other:?} is not http or https"
                )));
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ConfigError::Endpoint("it has no host".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            // Never echo the URL: it holds credentials.
            return Err(ConfigError::Endpoint(
                "it must not contain user credentials; use the API key".into(),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError::Endpoint(
                "it must not have a query or fragment".into(),
            ));
        }
        let trimmed = url.path().trim_end_matches('/').to_owned();
        let lower = trimmed.to_ascii_lowercase();
        let path = if lower.ends_with("/api/2.0") {
            format!("{trimmed}/")
        } else if lower.ends_with("/api/1.0") {
            return Err(ConfigError::Endpoint(
                "the 1.0 API is gone; use the 2.0 API (…/MAAS/api/2.0/)".into(),
            ));
        } else if lower.ends_with("/maas/api") {
            format!("{trimmed}/2.0/")
        } else if lower.ends_with("/maas") {
            format!("{trimmed}/api/2.0/")
        } else {
            format!("{trimmed}/{API_PATH}")
        };
        url.set_path(&path);
        Ok(Endpoint { base: url })
    }

    /// The base URL, ending in `/api/2.0/`.
    pub fn url(&self) -> &Url {
        &self.base
    }

    /// The base URL as text.
    pub fn as_str(&self) -> &str {
        self.base.as_str()
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint({})", self.base)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.base.as_str())
    }
}

impl std::str::FromStr for Endpoint {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Endpoint::parse(s)
    }
}

/// The three parts of a MAAS API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPart {
    /// Part 1, the consumer key.
    ConsumerKey,
    /// Part 2, the token key.
    TokenKey,
    /// Part 3, the token secret.
    TokenSecret,
}

impl fmt::Display for KeyPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyPart::ConsumerKey => "consumer key (part 1 of 3)",
            KeyPart::TokenKey => "token key (part 2 of 3)",
            KeyPart::TokenSecret => "token secret (part 3 of 3)",
        })
    }
}

/// Why an API key was rejected. Names the part; never contains the key or any part of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyError {
    /// Nothing was given.
    #[error("MAAS API key is empty; expected consumer_key:token_key:token_secret")]
    Empty,
    /// Not three `:`-separated parts.
    #[error(
        "MAAS API key has {found} part(s); expected 3 separated by ':' (consumer_key:token_key:token_secret)"
    )]
    PartCount {
        /// How many parts were found.
        found: usize,
    },
    /// One part is empty.
    #[error("MAAS API key {0} is empty")]
    EmptyPart(KeyPart),
    /// One part has characters MAAS never generates (whitespace, control, non-ASCII, quotes…).
    #[error("MAAS API key {0} contains invalid characters (expected letters and digits)")]
    InvalidCharacters(KeyPart),
}

/// A MAAS API key (`consumer_key:token_key:token_secret`).
///
/// `Debug` shows the consumer key only; the token key and secret are redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    consumer_key: String,
    token_key: String,
    token_secret: String,
}

impl ApiKey {
    /// Parse `consumer_key:token_key:token_secret` (surrounding whitespace is trimmed).
    pub fn parse(input: &str) -> Result<Self, ApiKeyError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(ApiKeyError::Empty);
        }
        let parts: Vec<&str> = input.split(':').collect();
        if parts.len() != 3 {
            return Err(ApiKeyError::PartCount { found: parts.len() });
        }
        let names = [
            KeyPart::ConsumerKey,
            KeyPart::TokenKey,
            KeyPart::TokenSecret,
        ];
        for (part, name) in parts.iter().zip(names) {
            if part.is_empty() {
                return Err(ApiKeyError::EmptyPart(name));
            }
            if !part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            {
                return Err(ApiKeyError::InvalidCharacters(name));
            }
        }
        Ok(ApiKey {
            consumer_key: parts[0].to_owned(),
            token_key: parts[1].to_owned(),
            token_secret: parts[2].to_owned(),
        })
    }

    /// The consumer key.
    pub fn consumer_key(&self) -> &str {
        &self.consumer_key
    }

    /// The token key.
    pub fn token_key(&self) -> &str {
        &self.token_key
    }

    pub(crate) fn token_secret(&self) -> &str {
        &self.token_secret
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("consumer_key", &self.consumer_key)
            .field("token_key", &"<redacted>")
            .field("token_secret", &"<redacted>")
            .finish()
    }
}

impl std::str::FromStr for ApiKey {
    type Err = ApiKeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ApiKey::parse(s)
    }
}

/// TLS settings. rustls with the `ring` provider is always used.
#[derive(Clone, Default)]
pub struct TlsOptions {
    /// Skip the operating system's trust store (default: use it).
    pub no_system_roots: bool,
    /// Extra trusted CA certificates, PEM (one or more `CERTIFICATE` blocks).
    pub ca_bundle_pem: Option<Vec<u8>>,
    /// Accept any server certificate. Dangerous; for labs only. Must be set explicitly.
    pub danger_accept_invalid_certs: bool,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("no_system_roots", &self.no_system_roots)
            .field(
                "ca_bundle_pem_bytes",
                &self.ca_bundle_pem.as_ref().map(Vec::len),
            )
            .field(
                "danger_accept_invalid_certs",
                &self.danger_accept_invalid_certs,
            )
            .finish()
    }
}

/// The default user agent: `maas-api/<crate version>`.
pub fn default_user_agent() -> String {
    format!("maas-api/{}", env!("CARGO_PKG_VERSION"))
}

/// Everything [`crate::MaasClient::new`] needs.
///
/// ```
/// use std::time::Duration;
/// use maas_api::{ClientConfig, RetryPolicy};
///
/// let config = ClientConfig::new(
///     "http://maas.example:5240/MAAS",
///     "aaaaaaaaaaaaaaaaaa:bbbbbbbbbbbbbbbbbb:cccccccccccccccccccccccccccccccc",
/// )?
/// .with_request_timeout(Duration::from_secs(20))
/// .with_retry(RetryPolicy::none());
/// assert_eq!(config.endpoint.as_str(), "http://maas.example:5240/MAAS/api/2.0/");
/// // Debug never shows the secret.
/// assert!(!format!("{config:?}").contains("cccc"));
/// # Ok::<(), maas_api::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct ClientConfig {
    /// The normalised endpoint.
    pub endpoint: Endpoint,
    /// Credentials; `None` makes anonymous requests (only `version/` works then).
    pub api_key: Option<ApiKey>,
    /// How requests are signed (default [`SignatureMethod::HmacSha1`]: the token secret is
    /// never sent). [`SignatureMethod::Plaintext`] sends the secret in every request.
    pub signature_method: SignatureMethod,
    /// TLS settings.
    pub tls: TlsOptions,
    /// TCP + TLS connect timeout (default 10 s).
    pub connect_timeout: Duration,
    /// Whole-request timeout (default 30 s).
    pub request_timeout: Duration,
    /// Timeout for `op=query_power_state`, which MAAS may block up to 60 s (default 90 s).
    pub power_query_timeout: Duration,
    /// `User-Agent` header (default `maas-api/<version>`).
    pub user_agent: String,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Optional per-request observer (metrics).
    pub observer: Option<Arc<dyn RequestObserver>>,
}

impl ClientConfig {
    /// A configuration with defaults, from an endpoint and an API key.
    pub fn new(endpoint: &str, api_key: &str) -> Result<Self, ConfigError> {
        let mut config = ClientConfig::anonymous(endpoint)?;
        config.api_key = Some(ApiKey::parse(api_key)?);
        Ok(config)
    }

    /// A configuration without credentials.
    pub fn anonymous(endpoint: &str) -> Result<Self, ConfigError> {
        Ok(ClientConfig {
            endpoint: Endpoint::parse(endpoint)?,
            api_key: None,
            signature_method: SignatureMethod::default(),
            tls: TlsOptions::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            power_query_timeout: Duration::from_secs(90),
            user_agent: default_user_agent(),
            retry: RetryPolicy::default(),
            observer: None,
        })
    }

    /// Set how requests are signed: `SignatureMethod::HmacSha1` (the default) or
    /// `SignatureMethod::Plaintext` (sends the token secret; use it only over TLS).
    pub fn with_signature_method(mut self, method: SignatureMethod) -> Self {
        self.signature_method = method;
        self
    }

    /// Set the connect timeout.
    pub fn with_connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Set the request timeout.
    pub fn with_request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }

    /// Set the user agent.
    pub fn with_user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }

    /// Set the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Add trusted CA certificates (PEM).
    pub fn with_ca_bundle_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.ca_bundle_pem = Some(pem.into());
        self
    }

    /// Do not trust the operating system's CA store (only the CA bundle).
    pub fn without_system_roots(mut self) -> Self {
        self.tls.no_system_roots = true;
        self
    }

    /// Accept any server certificate. Only for labs; logged as a warning at client creation.
    pub fn danger_accept_invalid_certs(mut self) -> Self {
        self.tls.danger_accept_invalid_certs = true;
        self
    }

    /// Install a request observer.
    pub fn with_observer(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("endpoint", &self.endpoint)
            .field("api_key", &self.api_key)
            .field("signature_method", &self.signature_method)
            .field("tls", &self.tls)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("power_query_timeout", &self.power_query_timeout)
            .field("user_agent", &self.user_agent)
            .field("retry", &self.retry)
            .field("observer", &self.observer.as_ref().map(|_| "<set>"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "Zq9XyW8vU7tS6rQ5pN4mL3kJ2hG2fE3d";

    fn key() -> String {
        format!("AbCdEfGhJkMnPqRsTu:VwXyZaBcDeFgHjKmNp:{SECRET}")
    }

    #[test]
    fn endpoint_normalisation_table() {
        let base = "http://maas.example:5240/MAAS/api/2.0/";
        let cases = [
            ("http://maas.example:5240", base),
            ("http://maas.example:5240/", base),
            ("http://maas.example:5240/MAAS", base),
            ("http://maas.example:5240/MAAS/", base),
            ("http://maas.example:5240/MAAS/api", base),
            ("http://maas.example:5240/MAAS/api/2.0", base),
            ("http://maas.example:5240/MAAS/api/2.0/", base),
            ("  http://maas.example:5240/MAAS/api/2.0//  ", base),
            (
                "https://maas.example/MAAS",
                "https://maas.example/MAAS/api/2.0/",
            ),
            (
                "https://proxy.example/region1",
                "https://proxy.example/region1/MAAS/api/2.0/",
            ),
            (
                "https://proxy.example/region1/MAAS",
                "https://proxy.example/region1/MAAS/api/2.0/",
            ),
            (
                "http://10.0.0.2:5240/maas",
                "http://10.0.0.2:5240/maas/api/2.0/",
            ),
            ("http://[::1]:5240/MAAS", "http://[::1]:5240/MAAS/api/2.0/"),
        ];
        for (input, want) in cases {
            let ep = Endpoint::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(ep.as_str(), want, "input {input:?}");
        }
    }

    #[test]
    fn endpoint_rejections() {
        for bad in [
            "",
            "maas.example:5240/MAAS",
            "ftp://maas.example/MAAS",
            "http://maas.example/MAAS?x=1",
            "http://maas.example/MAAS/api/1.0",
            "not a url",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad:?} accepted");
        }
        let err = Endpoint::parse("http://admin:hunter2@maas.example/MAAS").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn api_key_parses() {
        let k = ApiKey::parse(&format!("  {}\n", key())).unwrap();
        assert_eq!(k.consumer_key(), "AbCdEfGhJkMnPqRsTu");
        assert_eq!(k.token_key(), "VwXyZaBcDeFgHjKmNp");
        assert_eq!(k.token_secret(), SECRET);
    }

    #[test]
    fn api_key_errors_name_the_part_and_hide_the_key() {
        let cases: Vec<(String, ApiKeyError)> = vec![
            (String::new(), ApiKeyError::Empty),
            (SECRET.to_owned(), ApiKeyError::PartCount { found: 1 }),
            (format!("a:{SECRET}"), ApiKeyError::PartCount { found: 2 }),
            (
                format!("a:b:c:{SECRET}"),
                ApiKeyError::PartCount { found: 4 },
            ),
            (
                format!(":b:{SECRET}"),
                ApiKeyError::EmptyPart(KeyPart::ConsumerKey),
            ),
            (
                format!("a::{SECRET}"),
                ApiKeyError::EmptyPart(KeyPart::TokenKey),
            ),
            (
                "AbCdEf:VwXyZa:".to_owned(),
                ApiKeyError::EmptyPart(KeyPart::TokenSecret),
            ),
            (
                format!("a b:c:{SECRET}"),
                ApiKeyError::InvalidCharacters(KeyPart::ConsumerKey),
            ),
            (
                format!("a:c\u{e9}:{SECRET}"),
                ApiKeyError::InvalidCharacters(KeyPart::TokenKey),
            ),
            (
                format!("AbCdEf:VwXyZa:{SECRET}\"x"),
                ApiKeyError::InvalidCharacters(KeyPart::TokenSecret),
            ),
        ];
        for (input, want) in cases {
            let err = ApiKey::parse(&input).unwrap_err();
            assert_eq!(err, want, "input {input:?}");
            let msg = err.to_string();
            assert!(!msg.contains(SECRET), "secret leaked: {msg}");
            assert!(!msg.contains("AbCdEf"), "key leaked: {msg}");
            assert!(!format!("{err:?}").contains(SECRET));
        }
        let msg = ApiKey::parse("a::s").unwrap_err().to_string();
        assert!(msg.contains("token key (part 2 of 3)"), "{msg}");
        let msg = ApiKey::parse("a:b:s s").unwrap_err().to_string();
        assert!(msg.contains("token secret (part 3 of 3)"), "{msg}");
        // Through ClientConfig, too.
        let err = ClientConfig::new("http://m/MAAS", &format!("x:{SECRET}")).unwrap_err();
        assert!(!err.to_string().contains(SECRET));
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let k = ApiKey::parse(&key()).unwrap();
        let dbg = format!("{k:?}");
        assert!(!dbg.contains(SECRET), "{dbg}");
        assert!(!dbg.contains("VwXyZaBcDeFgHjKmNp"), "{dbg}");
        assert!(dbg.contains("AbCdEfGhJkMnPqRsTu"), "{dbg}");

        let config = ClientConfig::new("http://maas.example:5240/MAAS", &key())
            .unwrap()
            .with_ca_bundle_pem(b"-----BEGIN CERTIFICATE-----".to_vec());
        let dbg = format!("{config:?}");
        assert!(!dbg.contains(SECRET), "{dbg}");
        assert!(dbg.contains("maas.example"), "{dbg}");
        assert!(dbg.contains("ca_bundle_pem_bytes: Some(27)"), "{dbg}");
    }

    #[test]
    fn default_user_agent_has_crate_version() {
        let ua = default_user_agent();
        assert_eq!(ua, format!("maas-api/{}", env!("CARGO_PKG_VERSION")));
        let c = ClientConfig::anonymous("http://m")
            .unwrap()
            .with_user_agent("capmaas/1.2");
        assert_eq!(c.user_agent, "capmaas/1.2");
    }
}
