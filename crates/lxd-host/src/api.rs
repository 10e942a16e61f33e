//! Typed endpoints: server, storage pools, networks, projects, profiles,
//! certificates and trust tokens.

use std::collections::BTreeMap;

use crate::method::Method;
use serde_json::json;

use crate::client::{LxdClient, query_value, seg};
use crate::error::{LxdError, Result};
use crate::features::{Features, TokenField};
use crate::fingerprint::{ClientIdentity, Fingerprint, Secret, first_cert_der};
use crate::token::TrustToken;
use crate::types::{
    Certificate, Network, NetworkCreate, Operation, OperationsByStatus, Profile, Project, Server,
    StoragePool, StoragePoolCreate,
};

fn in_project(path: &str, project: &str) -> String {
    format!("{path}?project={}", query_value(project))
}

/// Server config keys whose values are secrets.
const SECRET_KEYS: [&str; 1] = ["core.trust_password"];

/// A certificate to add to the trust store.
#[derive(Clone, PartialEq, Eq)]
pub struct CertificateAdd {
    /// Name in the trust store.
    pub name: String,
    /// DER certificate.
    pub der: Vec<u8>,
    /// Limit the certificate to `projects`.
    pub restricted: bool,
    /// Projects it may use when restricted.
    pub projects: Vec<String>,
}

impl std::fmt::Debug for CertificateAdd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAdd")
            .field("name", &self.name)
            .field("fingerprint", &self.fingerprint().to_hex())
            .field("restricted", &self.restricted)
            .field("projects", &self.projects)
            .finish()
    }
}

impl CertificateAdd {
    /// From a PEM certificate.
    pub fn from_pem(name: &str, pem: &str) -> Result<Self> {
        Ok(CertificateAdd {
            name: name.to_owned(),
            der: first_cert_der(pem)?,
            restricted: false,
            projects: Vec::new(),
        })
    }

    /// From a client identity (its certificate only).
    pub fn from_identity(name: &str, identity: &ClientIdentity) -> Self {
        CertificateAdd {
            name: name.to_owned(),
            der: identity.cert_der().to_vec(),
            restricted: false,
            projects: Vec::new(),
        }
    }

    /// Restricts the certificate to these projects.
    #[must_use]
    pub fn restricted_to(mut self, projects: &[&str]) -> Self {
        self.restricted = true;
        self.projects = projects.iter().map(|p| (*p).to_owned()).collect();
        self
    }

    /// Fingerprint of the certificate.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of_der(&self.der)
    }
}

/// What an untrusted client presents to `POST /1.0/certificates`.
#[derive(Debug, Clone, Copy)]
pub enum TrustCredential<'a> {
    /// A trust token (whole base64 form).
    Token(&'a TrustToken),
    /// A trust password (LXD < 6.1 only).
    Password(&'a Secret),
}

/// How [`LxdClient::request_trust`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustOutcome {
    /// The server added our certificate.
    Added,
    /// Our certificate was trusted already.
    AlreadyTrusted,
}

impl LxdClient {
    /// `GET /1.0`.
    pub async fn server(&self) -> Result<Server> {
        Ok(self.get("/1.0").await?.0)
    }

    /// Features of the server (version only when trusted).
    pub async fn features(&self) -> Result<Features> {
        Ok(Features::detect(&self.server().await?))
    }

    /// `PATCH /1.0`: merges these keys into the server config (`""` unsets
    /// a key). Never `PUT`, which would wipe every other key. Values of
    /// secret keys are scrubbed from errors.
    pub async fn patch_server_config(&self, config: &BTreeMap<String, String>) -> Result<()> {
        let body = json!({ "config": config });
        let result = self.request(Method::PATCH, "/1.0", Some(&body), None).await;
        result.map(|_| ()).map_err(|e| {
            SECRET_KEYS
                .iter()
                .filter_map(|k| config.get(*k))
                .fold(e, |e, secret| e.redact(secret))
        })
    }

    /// `GET /1.0/storage-pools?recursion=1`.
    pub async fn storage_pools(&self) -> Result<Vec<StoragePool>> {
        Ok(self.get("/1.0/storage-pools?recursion=1").await?.0)
    }

    /// `GET /1.0/storage-pools/{name}`; `None` when missing.
    pub async fn storage_pool(&self, name: &str) -> Result<Option<StoragePool>> {
        Ok(self
            .get_optional(&format!("/1.0/storage-pools/{}", seg(name)))
            .await?
            .map(|(p, _)| p))
    }

    /// `POST /1.0/storage-pools`.
    pub async fn create_storage_pool(&self, pool: &StoragePoolCreate) -> Result<()> {
        let body = serde_json::to_value(pool).map_err(|e| LxdError::InvalidInput(e.to_string()))?;
        self.request_and_wait(Method::POST, "/1.0/storage-pools", Some(&body), None)
            .await?;
        Ok(())
    }

    /// `DELETE /1.0/storage-pools/{name}`.
    pub async fn delete_storage_pool(&self, name: &str) -> Result<()> {
        self.request_and_wait(
            Method::DELETE,
            &format!("/1.0/storage-pools/{}", seg(name)),
            None,
            None,
        )
        .await?;
        Ok(())
    }

    /// `GET /1.0/networks?recursion=1`: managed networks and host interfaces.
    pub async fn networks(&self) -> Result<Vec<Network>> {
        Ok(self.get("/1.0/networks?recursion=1").await?.0)
    }

    /// `GET /1.0/networks/{name}`; `None` when neither LXD nor the host has it.
    pub async fn network(&self, name: &str) -> Result<Option<Network>> {
        Ok(self
            .get_optional(&format!("/1.0/networks/{}", seg(name)))
            .await?
            .map(|(n, _)| n))
    }

    /// `POST /1.0/networks`.
    pub async fn create_network(&self, network: &NetworkCreate) -> Result<()> {
        let body =
            serde_json::to_value(network).map_err(|e| LxdError::InvalidInput(e.to_string()))?;
        self.request_and_wait(Method::POST, "/1.0/networks", Some(&body), None)
            .await?;
        Ok(())
    }

    /// `PATCH /1.0/networks/{name}`: merges config keys.
    pub async fn patch_network_config(
        &self,
        name: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<()> {
        let body = json!({ "config": config });
        self.request_and_wait(
            Method::PATCH,
            &format!("/1.0/networks/{}", seg(name)),
            Some(&body),
            None,
        )
        .await?;
        Ok(())
    }

    /// `DELETE /1.0/networks/{name}`.
    pub async fn delete_network(&self, name: &str) -> Result<()> {
        self.request_and_wait(
            Method::DELETE,
            &format!("/1.0/networks/{}", seg(name)),
            None,
            None,
        )
        .await?;
        Ok(())
    }

    /// `GET /1.0/projects?recursion=1` (a restricted client sees only its own).
    pub async fn projects(&self) -> Result<Vec<Project>> {
        Ok(self.get("/1.0/projects?recursion=1").await?.0)
    }

    /// `GET /1.0/projects/{name}`; `None` when missing.
    pub async fn project(&self, name: &str) -> Result<Option<Project>> {
        Ok(self
            .get_optional(&format!("/1.0/projects/{}", seg(name)))
            .await?
            .map(|(p, _)| p))
    }

    /// `POST /1.0/projects`.
    pub async fn create_project(
        &self,
        name: &str,
        description: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<()> {
        let body = json!({ "name": name, "description": description, "config": config });
        self.request_and_wait(Method::POST, "/1.0/projects", Some(&body), None)
            .await?;
        Ok(())
    }

    /// `DELETE /1.0/projects/{name}` (must be empty but for its `default` profile).
    pub async fn delete_project(&self, name: &str) -> Result<()> {
        self.request_and_wait(
            Method::DELETE,
            &format!("/1.0/projects/{}", seg(name)),
            None,
            None,
        )
        .await?;
        Ok(())
    }

    /// `GET /1.0/profiles?recursion=1&project=…`.
    pub async fn profiles(&self, project: &str) -> Result<Vec<Profile>> {
        Ok(self
            .get(&format!(
                "/1.0/profiles?recursion=1&project={}",
                query_value(project)
            ))
            .await?
            .0)
    }

    /// `GET /1.0/profiles/{name}?project=…` with its ETag; `None` when missing.
    pub async fn profile(
        &self,
        project: &str,
        name: &str,
    ) -> Result<Option<(Profile, Option<String>)>> {
        self.get_optional(&in_project(
            &format!("/1.0/profiles/{}", seg(name)),
            project,
        ))
        .await
    }

    /// `POST /1.0/profiles?project=…`.
    pub async fn create_profile(&self, project: &str, profile: &Profile) -> Result<()> {
        let body =
            serde_json::to_value(profile).map_err(|e| LxdError::InvalidInput(e.to_string()))?;
        self.request_and_wait(
            Method::POST,
            &in_project("/1.0/profiles", project),
            Some(&body),
            None,
        )
        .await?;
        Ok(())
    }

    /// `PUT /1.0/profiles/{name}?project=…`: replaces config, description and
    /// devices. Pass the ETag of the `GET` this edit is based on; a
    /// concurrent change then fails with 412 (a transient error).
    pub async fn put_profile(
        &self,
        project: &str,
        profile: &Profile,
        if_match: Option<&str>,
    ) -> Result<()> {
        let body = json!({
            "description": profile.description,
            "config": profile.config,
            "devices": profile.devices,
        });
        self.request_and_wait(
            Method::PUT,
            &in_project(&format!("/1.0/profiles/{}", seg(&profile.name)), project),
            Some(&body),
            if_match,
        )
        .await?;
        Ok(())
    }

    /// `DELETE /1.0/profiles/{name}?project=…`.
    pub async fn delete_profile(&self, project: &str, name: &str) -> Result<()> {
        self.request_and_wait(
            Method::DELETE,
            &in_project(&format!("/1.0/profiles/{}", seg(name)), project),
            None,
            None,
        )
        .await?;
        Ok(())
    }

    /// `GET /1.0/certificates?recursion=1`.
    pub async fn certificates(&self) -> Result<Vec<Certificate>> {
        Ok(self.get("/1.0/certificates?recursion=1").await?.0)
    }

    /// `GET /1.0/certificates/{fingerprint}`; `None` when not trusted.
    pub async fn certificate(&self, fingerprint: &Fingerprint) -> Result<Option<Certificate>> {
        Ok(self
            .get_optional(&format!("/1.0/certificates/{}", fingerprint.to_hex()))
            .await?
            .map(|(c, _)| c))
    }

    /// `POST /1.0/certificates` by a trusted caller: adds a client
    /// certificate (base64 DER, no PEM armour).
    pub async fn add_certificate(&self, cert: &CertificateAdd) -> Result<()> {
        let mut body = json!({
            "type": "client",
            "name": cert.name,
            "certificate": base64_std(&cert.der),
            "restricted": cert.restricted,
        });
        if cert.restricted {
            body["projects"] = json!(cert.projects);
        }
        self.request_and_wait(Method::POST, "/1.0/certificates", Some(&body), None)
            .await?;
        Ok(())
    }

    /// `PATCH /1.0/certificates/{fingerprint}`: sets the restriction.
    pub async fn restrict_certificate(
        &self,
        fingerprint: &Fingerprint,
        restricted: bool,
        projects: &[String],
    ) -> Result<()> {
        let body = json!({ "restricted": restricted, "projects": projects });
        self.request_and_wait(
            Method::PATCH,
            &format!("/1.0/certificates/{}", fingerprint.to_hex()),
            Some(&body),
            None,
        )
        .await?;
        Ok(())
    }

    /// `DELETE /1.0/certificates/{fingerprint}`.
    pub async fn delete_certificate(&self, fingerprint: &Fingerprint) -> Result<()> {
        self.request(
            Method::DELETE,
            &format!("/1.0/certificates/{}", fingerprint.to_hex()),
            None,
            None,
        )
        .await?;
        Ok(())
    }

    /// `POST /1.0/certificates {"token": true}`: issues a single-use trust
    /// token for a client to be named `name`, restricted to `projects` when
    /// any are given. Needs `core.https_address`. The token operation stays
    /// running until used or cancelled.
    pub async fn issue_trust_token(
        &self,
        name: &str,
        projects: &[String],
    ) -> Result<(TrustToken, Operation)> {
        let mut body = json!({ "type": "client", "name": name, "token": true });
        if !projects.is_empty() {
            body["restricted"] = json!(true);
            body["projects"] = json!(projects);
        }
        let resp = self
            .request(Method::POST, "/1.0/certificates", Some(&body), None)
            .await?;
        let op: Operation = resp.parse(&Method::POST, "/1.0/certificates")?;
        if op.class != "token" {
            return Err(LxdError::Protocol {
                method: "POST".into(),
                path: "/1.0/certificates".into(),
                detail: format!("expected a token operation, got class {:?}", op.class),
            });
        }
        let token = TrustToken::from_operation(&op)?;
        Ok((token, op))
    }

    /// Running operations of class `token` (pending trust tokens).
    pub async fn pending_trust_tokens(&self) -> Result<Vec<Operation>> {
        let (by_status, _): (OperationsByStatus, _) =
            self.get("/1.0/operations?recursion=1").await?;
        Ok(by_status
            .into_values()
            .flatten()
            .filter(|op| op.class == "token" && op.is_running())
            .collect())
    }

    /// Presents a credential as an untrusted HTTPS client so that the server
    /// trusts this client's certificate. Tokens go in `trust_token` when the
    /// server has `explicit_trust_token`, otherwise in `password` (LXD 5.0 to
    /// 5.21.1). A password on LXD ≥ 6.1 fails with
    /// [`LxdError::Unsupported`]. Secrets are scrubbed from errors.
    pub async fn request_trust(
        &self,
        name: &str,
        credential: TrustCredential<'_>,
    ) -> Result<TrustOutcome> {
        let server = self.server().await?;
        if server.is_trusted() {
            return Ok(TrustOutcome::AlreadyTrusted);
        }
        let features = Features::detect(&server);
        let (field, value, secret) = match credential {
            TrustCredential::Token(token) => {
                let encoded = token.encode();
                let field = match features.token_field() {
                    TokenField::TrustToken => "trust_token",
                    TokenField::Password => "password",
                };
                (field, encoded, token.secret.clone())
            }
            TrustCredential::Password(p) => {
                ("password", p.expose().to_owned(), p.expose().to_owned())
            }
        };
        let mut body = json!({ "type": "client", "name": name });
        body[field] = json!(value);
        match self
            .request(Method::POST, "/1.0/certificates", Some(&body), None)
            .await
        {
            Ok(_) => Ok(TrustOutcome::Added),
            Err(e) => {
                let e = e.redact(&value).redact(&secret);
                match e.status() {
                    Some(400)
                        if e.lxd_message()
                            .is_some_and(|m| m.contains("already trusted")) =>
                    {
                        Ok(TrustOutcome::AlreadyTrusted)
                    }
                    Some(501) => Err(LxdError::Unsupported(format!(
                        "the server refused {field} authentication: {}",
                        e.lxd_message().unwrap_or_default()
                    ))),
                    _ => Err(e),
                }
            }
        }
    }
}

fn base64_std(der: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(der)
}
