//! LXD trust tokens: what `lxc config trust add` prints and what an
//! untrusted client presents to become trusted.
//!
//! The printed token is standard base64 of a JSON object with `client_name`,
//! `fingerprint` (of the server certificate), `addresses`, `secret` and
//! `expires_at`. The whole base64 string is presented to the server, not just
//! the secret.

use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::LxdError;
use crate::fingerprint::Fingerprint;
use crate::types::Operation;

/// The `expires_at` LXD writes when no expiry is configured.
pub const NO_EXPIRY: &str = "0001-01-01T00:00:00Z";

/// A decoded trust token. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustToken {
    /// Name the certificate gets in the trust store.
    pub client_name: String,
    /// Fingerprint of the server certificate (pin it).
    pub fingerprint: String,
    /// Where the server listens.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// The secret; single use.
    pub secret: String,
    /// RFC 3339 expiry, [`NO_EXPIRY`] when none.
    #[serde(default = "no_expiry")]
    pub expires_at: String,
}

fn no_expiry() -> String {
    NO_EXPIRY.to_owned()
}

impl TrustToken {
    /// Decodes the base64 form users pass around.
    pub fn decode(encoded: &str) -> Result<Self, LxdError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| LxdError::InvalidInput("the trust token is not base64".into()))?;
        serde_json::from_slice(&raw)
            .map_err(|_| LxdError::InvalidInput("the trust token is not LXD token JSON".into()))
    }

    /// The base64 form (what `lxc config trust add` prints).
    pub fn encode(&self) -> String {
        // Serializing a struct of strings cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode(json)
    }

    /// The server fingerprint, parsed.
    pub fn server_fingerprint(&self) -> Result<Fingerprint, LxdError> {
        self.fingerprint.parse()
    }

    /// Builds the token from a pending `class: token` operation, as `lxc`
    /// does. The operation's metadata carries `addresses`, `fingerprint`,
    /// `secret`, `request.name` and (LXD ≥ 5.21) `expiresAt`.
    pub fn from_operation(op: &Operation) -> Result<Self, LxdError> {
        let meta = &op.metadata;
        let text = |key: &str| meta.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        let secret = text("secret").ok_or_else(|| LxdError::Protocol {
            method: "GET".into(),
            path: format!("/1.0/operations/{}", op.id),
            detail: "token operation without a secret".into(),
        })?;
        let fingerprint = text("fingerprint").unwrap_or_default();
        let client_name = meta
            .get("request")
            .and_then(|r| r.get("name"))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let addresses = meta
            .get("addresses")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let expires_at = text("expiresAt")
            .or_else(|| text("expires_at"))
            .unwrap_or_else(no_expiry);
        Ok(TrustToken {
            client_name,
            fingerprint,
            addresses,
            secret,
            expires_at,
        })
    }
}

impl fmt::Debug for TrustToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustToken")
            .field("client_name", &self.client_name)
            .field("fingerprint", &self.fingerprint)
            .field("addresses", &self.addresses)
            .field("secret", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op() -> Operation {
        serde_json::from_value(json!({
            "id": "aa6f7b88-a414-4e31-a079-fc826c5db936",
            "class": "token",
            "status": "Running",
            "status_code": 103,
            "metadata": {
                "addresses": ["127.0.0.1:18443"],
                "fingerprint": "11d07a7530f9431520afcb1bed70b2853f53c25f2e4553b42fdcdf8525b28f39",
                "request": {"name": "tok1", "type": "client", "restricted": true, "projects": ["maas"], "token": true},
                "secret": "eb5aab8bc69ffa11e4f44f2a16aee4ed6b7f5653e75b87b1b5d692c0b068223e"
            }
        }))
        .unwrap()
    }

    #[test]
    fn from_operation_and_round_trip() {
        let t = TrustToken::from_operation(&op()).unwrap();
        assert_eq!(t.client_name, "tok1");
        assert_eq!(t.addresses, vec!["127.0.0.1:18443"]);
        assert_eq!(t.expires_at, NO_EXPIRY);
        t.server_fingerprint().unwrap();
        let encoded = t.encode();
        let decoded = TrustToken::decode(&encoded).unwrap();
        assert_eq!(decoded, t);
        // The encoded form is base64 of JSON with LXD's field names.
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&encoded)
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        for key in [
            "client_name",
            "fingerprint",
            "addresses",
            "secret",
            "expires_at",
        ] {
            assert!(v.get(key).is_some(), "{key} missing in {v}");
        }
    }

    #[test]
    fn expiry_is_taken_when_present() {
        let mut o = op();
        o.metadata["expiresAt"] = json!("2030-01-01T00:00:00Z");
        assert_eq!(
            TrustToken::from_operation(&o).unwrap().expires_at,
            "2030-01-01T00:00:00Z"
        );
    }

    #[test]
    fn debug_hides_secret_and_bad_tokens_fail() {
        let t = TrustToken::from_operation(&op()).unwrap();
        assert!(!format!("{t:?}").contains(&t.secret));
        assert!(TrustToken::decode("!!!").is_err());
        assert!(TrustToken::decode("e30=").is_err()); // "{}"
        let mut o = op();
        o.metadata.as_object_mut().unwrap().remove("secret");
        assert!(TrustToken::from_operation(&o).is_err());
    }
}
