//! OAuth 1.0 PLAINTEXT signing, as MAAS expects it.
//!
//! MAAS uses 0-legged OAuth 1.0 with an empty consumer secret. The header is
//! `OAuth realm="", oauth_version="1.0", oauth_signature_method="PLAINTEXT",
//! oauth_consumer_key="…", oauth_token="…", oauth_signature="%26<token_secret>",
//! oauth_nonce="…", oauth_timestamp="…"` with a fresh random nonce and the current time on
//! every call, every value percent-encoded (RFC 5849 §3.5.1).
//!
//! This is a minimal signer rather than the `oauth1-request` crate: that crate (0.6) writes
//! the PLAINTEXT signature into the header **without** percent-encoding it
//! (`oauth_signature="&secret"`). MAAS happens to accept that because it URL-decodes values,
//! but it is not what RFC 5849 specifies nor what the reference MAAS clients send, and a
//! secret with reserved characters would corrupt the header. See `docs/maas-api.md`.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::ApiKey;

/// Percent-encode per RFC 3986 (unreserved characters kept), as OAuth 1.0 requires.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
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
pub(crate) fn authorization_header(key: &ApiKey) -> String {
    // PLAINTEXT signature = encode(consumer_secret) & encode(token_secret); consumer secret is "".
    let signature = format!("&{}", percent_encode(key.token_secret()));
    format!(
        "OAuth realm=\"\", oauth_version=\"1.0\", oauth_signature_method=\"PLAINTEXT\", \
         oauth_consumer_key=\"{}\", oauth_token=\"{}\", oauth_signature=\"{}\", \
         oauth_nonce=\"{}\", oauth_timestamp=\"{}\"",
        percent_encode(key.consumer_key()),
        percent_encode(key.token_key()),
        percent_encode(&signature),
        nonce(),
        now_secs(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_has_maas_shape() {
        let key = ApiKey::parse("ck:tk:s3cr3t").unwrap();
        let h = authorization_header(&key);
        assert!(h.starts_with("OAuth "), "{h}");
        for part in [
            "realm=\"\"",
            "oauth_consumer_key=\"ck\"",
            "oauth_token=\"tk\"",
            "oauth_signature_method=\"PLAINTEXT\"",
            "oauth_signature=\"%26s3cr3t\"",
            "oauth_version=\"1.0\"",
            "oauth_nonce=\"",
            "oauth_timestamp=\"",
        ] {
            assert!(h.contains(part), "{part} missing in {h}");
        }
        let again = authorization_header(&key);
        assert_ne!(h, again, "nonce must change per request");
    }

    #[test]
    fn values_are_percent_encoded() {
        assert_eq!(percent_encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(percent_encode("&x y,\"z"), "%26x%20y%2C%22z");
        let key = ApiKey::parse("c.k:t_k:s-e.c").unwrap();
        let h = authorization_header(&key);
        assert!(h.contains("oauth_signature=\"%26s-e.c\""), "{h}");
    }
}
