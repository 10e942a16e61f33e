//! MAAS API keys (`consumer_key:token_key:token_secret`).

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_debug_redacts_secret() {
        let k = ApiKey::parse("a:b:supersecret").unwrap();
        assert!(!format!("{k:?}").contains("supersecret"));
        assert!(ApiKey::parse("a:b").is_err());
    }
}
