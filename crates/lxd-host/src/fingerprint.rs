//! Certificate fingerprints, client identities and secrets.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest as _, Sha256};

use crate::error::LxdError;

/// SHA-256 of a DER certificate: how LXD names certificates and how clients
/// pin servers.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER-encoded certificate.
    pub fn of_der(der: &[u8]) -> Self {
        Fingerprint(Sha256::digest(der).into())
    }

    /// The fingerprint of the first certificate in a PEM document.
    pub fn of_pem(pem: &str) -> Result<Self, LxdError> {
        Ok(Self::of_der(&first_cert_der(pem)?))
    }

    /// Lower-case hex, as LXD prints it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl FromStr for Fingerprint {
    type Err = LxdError;

    /// Accepts 64 hex digits, upper or lower case, optionally separated by `:`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let cleaned: String = s.trim().chars().filter(|c| *c != ':').collect();
        let bytes = hex::decode(&cleaned)
            .map_err(|_| LxdError::InvalidInput(format!("fingerprint {s:?} is not hexadecimal")))?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| {
            LxdError::InvalidInput(format!(
                "fingerprint {s:?} is not a SHA-256 digest (64 hex digits)"
            ))
        })?;
        Ok(Fingerprint(arr))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

pub(crate) fn first_cert_der(pem: &str) -> Result<Vec<u8>, LxdError> {
    let der = CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .ok_or_else(|| LxdError::InvalidInput("no PEM CERTIFICATE block found".into()))?
        .map_err(|e| LxdError::InvalidInput(format!("unreadable PEM certificate: {e}")))?;
    Ok(der.as_ref().to_vec())
}

/// A string that must never be logged: a trust password or a private key.
/// `Debug` prints `<redacted>`; read it with [`Secret::expose`]. The one
/// redacting type of capmaas, shared with `maas-api`.
pub use capmaas_secret::Secret;

/// A TLS client identity: a certificate and its private key, in PEM.
///
/// `Debug` shows the certificate's fingerprint, never the key.
#[derive(Clone)]
pub struct ClientIdentity {
    cert_pem: String,
    cert_der: Vec<u8>,
    key_pem: Secret,
}

impl ClientIdentity {
    /// Loads an identity from a PEM certificate and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, LxdError> {
        let cert_der = first_cert_der(cert_pem).map_err(|e| LxdError::Tls(e.to_string()))?;
        // Validate the key now rather than at the first handshake.
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|_| LxdError::Tls("the private key is not a readable PEM key".into()))?;
        Ok(ClientIdentity {
            cert_pem: cert_pem.to_owned(),
            cert_der,
            key_pem: Secret::new(key_pem),
        })
    }

    /// Generates a fresh self-signed ECDSA P-384 identity (the key type LXD
    /// recommends) with the given common name, valid for ten years.
    pub fn generate(common_name: &str) -> Result<Self, LxdError> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)
            .map_err(|e| LxdError::Tls(format!("key generation failed: {e}")))?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| LxdError::Tls(format!("certificate parameters: {e}")))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2034, 1, 1);
        let cert = params
            .self_signed(&key)
            .map_err(|e| LxdError::Tls(format!("self-signing failed: {e}")))?;
        Ok(ClientIdentity {
            cert_pem: cert.pem(),
            cert_der: cert.der().as_ref().to_vec(),
            key_pem: Secret::new(key.serialize_pem()),
        })
    }

    /// The certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The private key, PEM (a secret).
    pub fn key_pem(&self) -> &Secret {
        &self.key_pem
    }

    /// The certificate's fingerprint, as LXD lists it.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of_der(&self.cert_der)
    }

    /// Standard base64 of the DER certificate: the form
    /// `POST /1.0/certificates` expects in `certificate`.
    pub fn cert_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.cert_der)
    }

    pub(crate) fn rustls_parts(
        &self,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), LxdError> {
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.expose().as_bytes())
            .map_err(|_| LxdError::Tls("the private key is not a readable PEM key".into()))?;
        Ok((vec![CertificateDer::from(self.cert_der.clone())], key))
    }
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("fingerprint", &self.fingerprint().to_hex())
            .field("key", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        let hex = "11d07a7530f9431520afcb1bed70b2853f53c25f2e4553b42fdcdf8525b28f39";
        let fp: Fingerprint = hex.parse().unwrap();
        assert_eq!(fp.to_string(), hex);
        let upper_colons = hex
            .to_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(upper_colons.parse::<Fingerprint>().unwrap(), fp);
        assert!("abcd".parse::<Fingerprint>().is_err());
        assert!("zz".repeat(32).parse::<Fingerprint>().is_err());
    }

    #[test]
    fn generated_identity_round_trips_through_pem() {
        let id = ClientIdentity::generate("unit-test").unwrap();
        let again = ClientIdentity::from_pem(id.cert_pem(), id.key_pem().expose()).unwrap();
        assert_eq!(again.fingerprint(), id.fingerprint());
        assert_eq!(
            Fingerprint::of_pem(id.cert_pem()).unwrap(),
            id.fingerprint()
        );
        let b64 = id.cert_base64();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(Fingerprint::of_der(&der), id.fingerprint());
        id.rustls_parts().unwrap();
    }

    #[test]
    fn debug_never_shows_key() {
        let id = ClientIdentity::generate("unit-test").unwrap();
        let dbg = format!("{id:?}");
        assert!(!dbg.contains("PRIVATE KEY"), "{dbg}");
        assert!(dbg.contains(&id.fingerprint().to_hex()));
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn bad_pem_is_rejected() {
        assert!(ClientIdentity::from_pem("nope", "nope").is_err());
        let id = ClientIdentity::generate("x").unwrap();
        assert!(ClientIdentity::from_pem(id.cert_pem(), "not a key").is_err());
        assert!(Fingerprint::of_pem("-----BEGIN NOTHING-----").is_err());
    }
}
