//! Which MAAS to talk to, and how: endpoint, API key, TLS, timeouts.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use maas_api::{ClientConfig, MaasClient, RetryPolicy, Secret};

use crate::cli::BadInput;

/// A MAAS endpoint and the credentials to use it. `Debug` hides the key.
#[derive(Clone)]
pub struct MaasTarget {
    /// `http://maas:5240/MAAS` (or any form `maas-api` accepts).
    pub endpoint: String,
    /// `consumer:token:secret`.
    pub api_key: Secret,
    /// Extra CA certificates (PEM file) for an HTTPS endpoint.
    pub ca_cert: Option<PathBuf>,
    /// Whole-request timeout.
    pub request_timeout: Duration,
}

impl fmt::Debug for MaasTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaasTarget")
            .field("endpoint", &self.endpoint)
            .field("api_key", &"<redacted>")
            .field("ca_cert", &self.ca_cert)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl MaasTarget {
    /// A target with the default request timeout (60 s).
    pub fn new(endpoint: impl Into<String>, api_key: impl Into<String>) -> Self {
        MaasTarget {
            endpoint: endpoint.into(),
            api_key: Secret::new(api_key.into()),
            ca_cert: None,
            request_timeout: Duration::from_secs(60),
        }
    }

    /// The retry policy of the CLIs: a few quick retries of what MAAS says
    /// it did not do, so that a failure is reported in seconds.
    pub fn retry_policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(10),
            max_elapsed: Duration::from_secs(30),
        }
    }

    /// A client, or the reason the settings are unusable (never echoing the key).
    pub fn client(&self) -> Result<MaasClient, BadInput> {
        let mut config = ClientConfig::new(&self.endpoint, self.api_key.expose())
            .map_err(|e| BadInput(format!("--maas-endpoint/--maas-api-key: {e}")))?
            .with_request_timeout(self.request_timeout)
            .with_retry(Self::retry_policy())
            .with_user_agent(format!("maas-checks/{}", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &self.ca_cert {
            let pem = std::fs::read(path).map_err(|e| {
                BadInput(format!(
                    "--maas-ca-cert: cannot read {}: {e}",
                    path.display()
                ))
            })?;
            config = config.with_ca_bundle_pem(pem);
        }
        MaasClient::new(config).map_err(|e| BadInput(format!("MAAS client: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AbCdEfGhJkMnPqRsTu:VwXyZaBcDeFgHjKmNp:Zq9XyW8vU7tS6rQ5pN4mL3kJ2hG2fE3d";

    #[test]
    fn bad_settings_are_bad_input_without_the_key() {
        let t = MaasTarget::new("http://maas:5240/MAAS", KEY);
        assert!(t.client().is_ok());
        assert!(!format!("{t:?}").contains("Zq9XyW8v"));
        let e = MaasTarget::new("maas:5240", KEY).client().unwrap_err();
        assert!(e.0.contains("invalid MAAS endpoint"), "{e}");
        let e = MaasTarget::new("http://maas:5240/MAAS", "a:b")
            .client()
            .unwrap_err();
        assert!(e.0.starts_with("--maas-endpoint/--maas-api-key"), "{e}");
        let bad = "AbCdEfGhJkMnPqRsTu:VwXyZaBcDeFgHjKmNp:";
        let e = MaasTarget::new("http://maas:5240/MAAS", bad)
            .client()
            .unwrap_err();
        assert!(!e.0.contains("VwXyZaBc"), "{e}");
        let mut t = MaasTarget::new("http://maas:5240/MAAS", KEY);
        t.ca_cert = Some("/nonexistent/ca.pem".into());
        assert!(t.client().unwrap_err().0.starts_with("--maas-ca-cert"));
    }
}
