//! Secrets out of every text an [`crate::Error`] carries.
//!
//! MAAS echoes what it was sent, and sometimes what it expected: the 401 for a bad signature
//! is `Invalid signature. Expected signature base string: …`, which for PLAINTEXT is
//! `&<the token secret MAAS holds>` — the right secret, whatever secret the client sent. Any
//! answer body (a 409 text, a 503, a validation map, a garbage 200) can quote parameters
//! back. So every text that goes into an error is first turned into [`Redacted`]: the one
//! type [`crate::error::classify_response`] and the transport and decode errors are built
//! from, and that only [`Redactor::redact`] makes.

use crate::config::ApiKey;

/// What replaces a secret.
pub(crate) const REDACTED: &str = "<redacted>";

/// The marker before the base string in MAAS's 401 text.
const BASE_STRING_MARKER: &str = "Expected signature base string: ";

/// Text with secrets removed. Only [`Redactor::redact`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Redacted(String);

impl Redacted {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Removes, from any text: the signature base string MAAS echoes in its 401 (all but the
/// method and URL), the client's token secret, token key and whole API key, and anything
/// shaped like a MAAS API key (`consumer:token:secret`).
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    /// Our own secrets, longest first.
    literals: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("literals", &self.literals.len())
            .finish()
    }
}

/// Shorter parts are not searched for: they would match ordinary words (MAAS makes 18- and
/// 32-character parts; the whole key, with its colons, is always searched for).
const MIN_LITERAL: usize = 8;

impl Redactor {
    /// A redactor for the client's key (`None`: only the shape rules apply).
    pub(crate) fn for_key(key: Option<&ApiKey>) -> Self {
        let mut literals = Vec::new();
        if let Some(k) = key {
            literals.push(format!(
                "{}:{}:{}",
                k.consumer_key(),
                k.token_key(),
                k.token_secret()
            ));
            for part in [k.token_secret(), k.token_key()] {
                if part.len() >= MIN_LITERAL {
                    literals.push(part.to_owned());
                }
            }
        }
        literals.sort_by_key(|l| std::cmp::Reverse(l.len()));
        Redactor { literals }
    }

    /// `text` with every secret replaced by `<redacted>`.
    pub(crate) fn redact(&self, text: &str) -> Redacted {
        let mut out = redact_base_strings(text);
        for lit in &self.literals {
            if out.contains(lit.as_str()) {
                out = out.replace(lit.as_str(), REDACTED);
            }
        }
        Redacted(redact_key_shapes(&out))
    }
}

/// Characters of an OAuth base string: everything is percent-encoded, joined by `&`.
fn base_string_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '%' | '&' | '-' | '.' | '_' | '~')
}

/// Keep `METHOD&URL&` of an echoed HMAC-SHA1 base string (they help find a proxy that
/// changed the URL) and drop the rest; a PLAINTEXT one (`&secret`) goes entirely.
fn redact_base_strings(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(BASE_STRING_MARKER) {
        let start = at + BASE_STRING_MARKER.len();
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let len = tail
            .find(|c: char| !base_string_char(c))
            .unwrap_or(tail.len());
        let base = &tail[..len];
        let parts: Vec<&str> = base.splitn(3, '&').collect();
        match parts.as_slice() {
            [method, url, _]
                if !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase()) =>
            {
                out.push_str(&format!("{method}&{url}&{REDACTED}"));
            }
            _ if base.is_empty() => {}
            _ => out.push_str(REDACTED),
        }
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// Replace `aaaaaaaaaa:bbbbbbbbbb:cccccccccccccccccccc`-shaped words (MAAS keys are 18:18:32
/// letters and digits) wherever they are.
fn redact_key_shapes(text: &str) -> String {
    let is_key_char = |c: char| c.is_ascii_alphanumeric();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        // Only start at a word boundary.
        if !is_key_char(bytes[i] as char) || (i > 0 && is_key_char(bytes[i - 1] as char)) {
            i += 1;
            continue;
        }
        let run = |from: usize| {
            bytes[from..]
                .iter()
                .take_while(|b| is_key_char(**b as char))
                .count()
        };
        let a = run(i);
        let b_start = i + a + 1;
        let shaped = a >= 10
            && bytes.get(i + a) == Some(&b':')
            && run(b_start) >= 10
            && bytes.get(b_start + run(b_start)) == Some(&b':')
            && run(b_start + run(b_start) + 1) >= 20;
        if shaped {
            let b = run(b_start);
            let c_start = b_start + b + 1;
            let end = c_start + run(c_start);
            out.push_str(&text[copied..i]);
            out.push_str(REDACTED);
            copied = end;
            i = end;
        } else {
            i += a;
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "Zq9XyW8vU7tS6rQ5pN4mL3kJ2hG2fE3d";
    const TOKEN: &str = "VwXyZaBcDeFgHjKmNp";

    fn redactor() -> Redactor {
        let key = ApiKey::parse(&format!("AbCdEfGhJkMnPqRsTu:{TOKEN}:{SECRET}")).unwrap();
        Redactor::for_key(Some(&key))
    }

    #[test]
    fn our_secret_token_and_key_go() {
        let r = redactor();
        let t = r.redact(&format!(
            "x AbCdEfGhJkMnPqRsTu:{TOKEN}:{SECRET} y {SECRET}{SECRET} z Invalid access token: {TOKEN}"
        ));
        assert_eq!(
            t.as_str(),
            "x <redacted> y <redacted><redacted> z Invalid access token: <redacted>"
        );
    }

    #[test]
    fn base_string_echoes_keep_only_method_and_url() {
        let r = Redactor::default();
        let hmac = "Authorization Error: 'Invalid signature. Expected signature base string: \
                    GET&http%3A%2F%2F127.0.0.1%3A5240%2FMAAS%2Fapi%2F2.0%2Fusers%2F&oauth_\
                    consumer_key%3DAbC%26oauth_token%3DVwX%26op%3Dwhoami'";
        assert_eq!(
            r.redact(hmac).as_str(),
            "Authorization Error: 'Invalid signature. Expected signature base string: \
             GET&http%3A%2F%2F127.0.0.1%3A5240%2FMAAS%2Fapi%2F2.0%2Fusers%2F&<redacted>'"
        );
        // PLAINTEXT: the echo is the real secret MAAS holds, not ours: all of it goes.
        let plain = "Authorization Error: 'Invalid signature. Expected signature base string: \
                     &M9d7ZRVvXhTP4mhbEC6LxwwYnzywFmMV'";
        assert_eq!(
            r.redact(plain).as_str(),
            "Authorization Error: 'Invalid signature. Expected signature base string: <redacted>'"
        );
        // Inside JSON, twice.
        let json = format!(r#"{{"a": ["{plain}"], "b": "{plain}"}}"#);
        let out = r.redact(&json);
        assert!(!out.as_str().contains("M9d7"), "{out:?}");
        assert!(serde_json::from_str::<serde_json::Value>(out.as_str()).is_ok());
    }

    #[test]
    fn key_shapes_go_other_words_stay() {
        let r = Redactor::default();
        assert_eq!(
            r.redact("key AAAAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBBBB:CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC.")
                .as_str(),
            "key <redacted>."
        );
        for keep in [
            "52:54:00:00:00:01",
            "12:34:56",
            "fe80::1",
            "No machine with system ID abc123 available.",
            "x:y:z",
        ] {
            assert_eq!(r.redact(keep).as_str(), keep);
        }
    }

    #[test]
    fn short_parts_are_not_searched_but_the_whole_key_is() {
        let key = ApiKey::parse("ck:tk:s3c").unwrap();
        let r = Redactor::for_key(Some(&key));
        assert_eq!(r.redact("ck:tk:s3c and s3c").as_str(), "<redacted> and s3c");
    }
}
