//! Test support: a real etcd and kube-apiserver on loopback, with CRDs installed.
//!
//! Tests of the provider's controllers run against a **real** control plane,
//! the way controller-runtime's envtest does: the `etcd` and `kube-apiserver`
//! binaries are found through `KUBEBUILDER_ASSETS`, or — when that is unset —
//! built from the Go module proxy and cached by `hack/kube-assets.sh` (see
//! `docs/testing.md`). Nothing is ever skipped: if the binaries can't be found
//! or built, the test fails with the reason.
//!
//! # Model
//!
//! * [`shared()`] starts one control plane per test binary, lazily, and
//!   returns it as `&'static TestEnv`. Tests isolate themselves with a fresh,
//!   uniquely named namespace each: [`TestEnv::namespace`].
//! * [`TestEnv::start`] starts a dedicated control plane for tests that need
//!   cluster-scoped isolation. Dropping it stops both servers and removes its
//!   temp dir before `drop` returns.
//!
//! Each server runs under a small `sh` supervisor that stops it when the test
//! process goes away (even on `SIGKILL`), and a janitor removes the temp dir
//! once the servers are gone, so the never-dropped shared instance leaks
//! nothing either.
//!
//! The admin client authenticates with a client certificate in group
//! `system:masters`; the apiserver runs with RBAC on. There is no
//! kube-controller-manager: no garbage collection, deleted namespaces stay
//! `Terminating`.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), kube_testenv::Error> {
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use kube::api::PostParams;
//!
//! let env = kube_testenv::shared().await?;
//! env.install_capi_crds().await?;
//! let ns = env.namespace("machines").await?;
//! let cms = ns.api::<ConfigMap>();
//! let mut cm = ConfigMap::default();
//! cm.metadata.name = Some("demo".into());
//! cms.create(&PostParams::default(), &cm).await?;
//! # Ok(()) }
//! ```
//!
//! Clients are bound to the tokio runtime that created them, and every
//! `#[tokio::test]` has its own runtime: take clients from
//! [`TestEnv::client`] / [`TestNamespace::client`] inside each test instead
//! of keeping one in a static.

mod assets;
mod crds;
mod error;
mod pki;
mod process;
mod timeouts;

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::version::Info;
use kube::api::{DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Mutex, OnceCell};

pub use assets::{ASSETS_ENV, CAPI_CRDS_ENV, assets_dir, capi_crds_dir, workspace_root};
pub use crds::{FIELD_MANAGER, is_established, load_crds, parse_crds};
pub use error::{Error, Result};
pub use pki::{ADMIN_GROUP, ADMIN_USER};
pub use process::{Supervision, last_lines, process_alive, supervised_command};
pub use timeouts::{TIMEOUT_SCALE_ENV, scaled, timeout_scale};

use pki::{Pki, PkiFiles, write_file};
use process::{Janitor, Server, free_port};

/// Environment variable overriding [`Options::start_timeout`], in seconds.
pub const START_TIMEOUT_ENV: &str = "KUBE_TESTENV_START_TIMEOUT";
/// Label put on every namespace made by [`TestEnv::namespace`].
pub const NAMESPACE_LABEL: &str = "kube-testenv.capmaas.io/test-namespace";

/// How to start a control plane.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long etcd plus kube-apiserver may take to become ready.
    /// Default 180 s (or `$KUBE_TESTENV_START_TIMEOUT`): generous, for
    /// loaded 2-core machines.
    pub start_timeout: Duration,
    /// How long installed CRDs may take to become Established. Default 60 s.
    pub crd_timeout: Duration,
    /// Directory with `etcd` and `kube-apiserver`; default [`assets_dir()`].
    pub assets_dir: Option<PathBuf>,
    /// Extra `--flag=value` arguments for kube-apiserver, appended last
    /// (a later flag overrides an earlier one).
    pub extra_apiserver_args: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        let start_timeout = std::env::var(START_TIMEOUT_ENV)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map_or(Duration::from_secs(180), Duration::from_secs);
        Options {
            start_timeout,
            crd_timeout: Duration::from_secs(60),
            assets_dir: None,
            extra_apiserver_args: Vec::new(),
        }
    }
}

/// Process ids of a control plane's servers (not of their supervisors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerPids {
    /// etcd
    pub etcd: u32,
    /// kube-apiserver
    pub kube_apiserver: u32,
}

/// A running etcd + kube-apiserver pair.
#[derive(Debug)]
pub struct TestEnv {
    dir: PathBuf,
    kubeconfig_path: PathBuf,
    config: Config,
    apiserver_url: String,
    server_version: Info,
    pids: ServerPids,
    crd_timeout: Duration,
    installed: Mutex<HashMap<PathBuf, Vec<String>>>,
    /// Held for its `Drop`, which stops the servers.
    _processes: Processes,
}

/// Owned processes, stopped in order by `Drop`.
#[derive(Debug)]
struct Processes {
    apiserver: Option<Server>,
    etcd: Option<Server>,
    janitor: Janitor,
}

impl Drop for Processes {
    fn drop(&mut self) {
        // apiserver first: it shuts down in about a second while etcd is up,
        // but stalls until the supervisor's SIGKILL (5 s) if etcd goes first.
        for s in [&mut self.apiserver, &mut self.etcd].into_iter().flatten() {
            s.stop();
        }
        self.janitor.finish();
    }
}

static SHARED: OnceCell<std::result::Result<TestEnv, String>> = OnceCell::const_new();

/// The process-wide control plane, started on first use with
/// [`Options::default()`]. It lives until the test process exits; its servers
/// and temp dir are then removed by their supervisors within seconds.
///
/// If it fails to start, this and every later call return the error.
pub async fn shared() -> Result<&'static TestEnv> {
    let env = SHARED
        .get_or_init(|| async {
            TestEnv::start(Options::default())
                .await
                .map_err(|e| e.to_string())
        })
        .await;
    env.as_ref()
        .map_err(|msg| Error::SharedStartFailed(msg.clone()))
}

impl TestEnv {
    /// Starts a dedicated control plane. Dropping the returned value stops
    /// it and removes its files before `drop` returns.
    pub async fn start(options: Options) -> Result<TestEnv> {
        let assets = match &options.assets_dir {
            Some(dir) => {
                assets::check_assets(dir)?;
                dir.clone()
            }
            None => assets_dir().await?,
        };
        let mut attempt = 1;
        loop {
            match Self::start_once(&assets, &options).await {
                Err(e) if attempt < 3 && is_port_conflict(&e) => {
                    tracing::warn!(attempt, error = %e, "port taken; retrying with new ports");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn start_once(assets: &Path, options: &Options) -> Result<TestEnv> {
        let started = Instant::now();
        let deadline = started + options.start_timeout;
        let dir = tempfile::Builder::new()
            .prefix("kube-testenv-")
            .tempdir()
            .map_err(|e| Error::io("creating a temp dir", e))?
            .keep();
        // From here on, dropping the janitor removes `dir`.
        let janitor = match Janitor::spawn(&dir) {
            Ok(j) => j,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let mut processes = Processes {
            apiserver: None,
            etcd: None,
            janitor,
        };

        let pki = Pki::generate()?;
        let pki_files = pki.write(&dir.join("pki"))?;
        let etcd_port = free_port()?;
        let etcd_peer_port = free_port()?;
        let apiserver_port = free_port()?;

        let etcd = processes.etcd.insert(Server::spawn(
            "etcd",
            &assets.join("etcd"),
            &etcd_args(&dir.join("etcd-data"), etcd_port, etcd_peer_port),
            &dir.join("etcd.log"),
        )?);
        processes.janitor.watch(etcd.pid())?;
        wait_etcd(etcd, etcd_port, deadline, options.start_timeout).await?;
        let etcd_pid = etcd.pid();

        let mut args = apiserver_args(&dir, &pki_files, etcd_port, apiserver_port);
        args.extend(options.extra_apiserver_args.iter().cloned());
        let apiserver = processes.apiserver.insert(Server::spawn(
            "kube-apiserver",
            &assets.join("kube-apiserver"),
            &args,
            &dir.join("kube-apiserver.log"),
        )?);
        processes.janitor.watch(apiserver.pid())?;
        if let Some(etcd) = processes.etcd.as_mut() {
            etcd.stop_after(apiserver.pid())?;
        }

        let apiserver_url = format!("https://127.0.0.1:{apiserver_port}");
        let kubeconfig_path = dir.join("kubeconfig");
        write_file(
            &kubeconfig_path,
            &kubeconfig_json(&apiserver_url, &pki),
            0o600,
        )?;
        let config = load_kubeconfig(&kubeconfig_path).await?;
        let server_version =
            wait_apiserver(apiserver, &config, deadline, options.start_timeout).await?;
        if let Ok(requested) = std::env::var(KUBE_VERSION_ENV)
            && !requested.trim().is_empty()
            && !version_matches(&requested, &server_version.git_version)
        {
            return Err(Error::WrongVersion {
                requested,
                reported: server_version.git_version.clone(),
            });
        }
        let pids = ServerPids {
            etcd: etcd_pid,
            kube_apiserver: apiserver.pid(),
        };
        tracing::info!(
            url = %apiserver_url,
            version = %server_version.git_version,
            etcd_pid = pids.etcd,
            apiserver_pid = pids.kube_apiserver,
            elapsed = ?started.elapsed(),
            "test control plane ready"
        );
        Ok(TestEnv {
            dir,
            kubeconfig_path,
            config,
            apiserver_url,
            server_version,
            pids,
            crd_timeout: options.crd_timeout,
            installed: Mutex::new(HashMap::new()),
            _processes: processes,
        })
    }

    /// A new client for the admin user (`system:masters`). Call it inside
    /// the tokio runtime that will use the client.
    pub fn client(&self) -> Result<Client> {
        Ok(Client::try_from(self.config.clone())?)
    }

    /// The client configuration (admin user), e.g. to build clients with
    /// other settings.
    pub fn config(&self) -> Config {
        self.config.clone()
    }

    /// A kubeconfig file for the admin user, for `kubectl` or for
    /// controllers started as separate processes. It holds a private key:
    /// mode 0600, inside the environment's private temp dir.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// `https://127.0.0.1:<port>`
    pub fn apiserver_url(&self) -> &str {
        &self.apiserver_url
    }

    /// What the apiserver reported on `/version` at startup.
    pub fn server_version(&self) -> &Info {
        &self.server_version
    }

    /// Process ids of etcd and kube-apiserver.
    pub fn pids(&self) -> ServerPids {
        self.pids
    }

    /// The environment's temp dir (PKI, etcd data, server logs, kubeconfig).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a fresh namespace named `<prefix>-<n>-<random>` (prefix
    /// sanitised to a DNS label) and returns it with a client. The namespace
    /// is deleted, best effort, when the handle is dropped.
    pub async fn namespace(&self, prefix: &str) -> Result<TestNamespace> {
        let client = self.client()?;
        let name = unique_namespace_name(prefix);
        let mut ns = Namespace::default();
        ns.metadata.name = Some(name.clone());
        ns.metadata.labels = Some([(NAMESPACE_LABEL.to_owned(), "true".to_owned())].into());
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await?;
        tracing::debug!(namespace = %name, "created test namespace");
        Ok(TestNamespace {
            name,
            client,
            config: self.config.clone(),
            deleted: false,
        })
    }

    /// Installs (server-side apply, idempotent) the given CRDs and waits
    /// until they are Established. Returns their names.
    pub async fn install_crds(&self, crds: &[CustomResourceDefinition]) -> Result<Vec<String>> {
        crds::apply_and_wait(self.client()?, crds, self.crd_timeout).await
    }

    /// Installs the CRDs in a YAML file or a directory of YAML files (see
    /// [`load_crds`]) and waits until they are Established. Installing the
    /// same path again on this environment is a no-op. Returns CRD names.
    pub async fn install_crds_from_path(&self, path: impl AsRef<Path>) -> Result<Vec<String>> {
        let path = path.as_ref();
        let key = std::fs::canonicalize(path)
            .map_err(|e| Error::io(format!("resolving {}", path.display()), e))?;
        let mut installed = self.installed.lock().await;
        if let Some(names) = installed.get(&key) {
            return Ok(names.clone());
        }
        let crds = load_crds(&key)?;
        let names = self.install_crds(&crds).await?;
        tracing::info!(path = %key.display(), count = names.len(), "installed CRDs");
        installed.insert(key, names.clone());
        Ok(names)
    }

    /// Same as [`TestEnv::install_crds_from_path`]; reads a directory.
    pub async fn install_crds_from_dir(&self, dir: impl AsRef<Path>) -> Result<Vec<String>> {
        self.install_crds_from_path(dir).await
    }

    /// Installs the Cluster API CRDs from [`capi_crds_dir()`] (core CRDs plus
    /// kubeadm bootstrap / control plane, with contract labels). Idempotent.
    pub async fn install_capi_crds(&self) -> Result<Vec<String>> {
        let dir = capi_crds_dir().await?;
        self.install_crds_from_path(dir).await
    }
}

/// A namespace made for one test, with a client bound to the runtime that
/// created it.
pub struct TestNamespace {
    name: String,
    client: Client,
    config: Config,
    deleted: bool,
}

impl std::fmt::Debug for TestNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestNamespace")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TestNamespace {
    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A client (admin user).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// An `Api` for a namespaced kind in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// Deletes the namespace now. Without kube-controller-manager it stays
    /// `Terminating`, but it no longer accepts new objects.
    pub async fn delete(mut self) -> Result<()> {
        self.deleted = true;
        Api::<Namespace>::all(self.client.clone())
            .delete(&self.name, &DeleteParams::background())
            .await?;
        Ok(())
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        // Best effort, off the test's runtime (which may be shutting down).
        let name = std::mem::take(&mut self.name);
        let config = self.config.clone();
        let spawned = std::thread::Builder::new()
            .name("kube-testenv-ns-delete".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    let Ok(client) = Client::try_from(config) else {
                        return;
                    };
                    if let Err(e) = Api::<Namespace>::all(client)
                        .delete(&name, &DeleteParams::background())
                        .await
                    {
                        tracing::debug!(namespace = %name, error = %e, "namespace not deleted");
                    }
                });
            });
        if let Err(e) = spawned {
            tracing::debug!(error = %e, "cannot spawn namespace cleanup");
        }
    }
}

fn is_port_conflict(e: &Error) -> bool {
    match e {
        Error::Exited { log_tail, .. } | Error::NotReady { log_tail, .. } => {
            log_tail.contains("address already in use")
        }
        _ => false,
    }
}

fn etcd_args(data_dir: &Path, client_port: u16, peer_port: u16) -> Vec<String> {
    let client = format!("http://127.0.0.1:{client_port}");
    let peer = format!("http://127.0.0.1:{peer_port}");
    vec![
        "--name=kube-testenv".into(),
        format!("--data-dir={}", data_dir.display()),
        format!("--listen-client-urls={client}"),
        format!("--advertise-client-urls={client}"),
        format!("--listen-peer-urls={peer}"),
        format!("--initial-advertise-peer-urls={peer}"),
        format!("--initial-cluster=kube-testenv={peer}"),
        "--unsafe-no-fsync=true".into(),
        "--log-level=warn".into(),
    ]
}

fn apiserver_args(dir: &Path, pki: &PkiFiles, etcd_port: u16, port: u16) -> Vec<String> {
    let p = |path: &Path| path.display().to_string();
    vec![
        format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
        "--bind-address=127.0.0.1".into(),
        "--advertise-address=127.0.0.1".into(),
        format!("--secure-port={port}"),
        format!("--cert-dir={}", p(&dir.join("apiserver-certs"))),
        format!("--tls-cert-file={}", p(&pki.serving_cert)),
        format!("--tls-private-key-file={}", p(&pki.serving_key)),
        format!("--client-ca-file={}", p(&pki.ca_cert)),
        "--service-cluster-ip-range=10.0.0.0/24".into(),
        format!("--service-account-issuer=https://127.0.0.1:{port}"),
        format!("--service-account-key-file={}", p(&pki.service_account_pub)),
        format!(
            "--service-account-signing-key-file={}",
            p(&pki.service_account_key)
        ),
        "--authorization-mode=RBAC".into(),
        "--allow-privileged=true".into(),
        "--disable-admission-plugins=ServiceAccount".into(),
        "--profiling=false".into(),
    ]
}

fn kubeconfig_json(server: &str, pki: &Pki) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    // JSON is valid YAML, and every kubeconfig reader accepts it.
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kube-testenv", "cluster": {
            "server": server,
            "certificate-authority-data": b64(&pki.ca_cert),
        }}],
        "users": [{"name": ADMIN_USER, "user": {
            "client-certificate-data": b64(&pki.admin_cert),
            "client-key-data": b64(&pki.admin_key),
        }}],
        "contexts": [{"name": "kube-testenv", "context": {
            "cluster": "kube-testenv",
            "user": ADMIN_USER,
            "namespace": "default",
        }}],
        "current-context": "kube-testenv",
    });
    format!("{doc:#}\n")
}

async fn load_kubeconfig(path: &Path) -> Result<Config> {
    let kubeconfig = Kubeconfig::read_from(path).map_err(|e| Error::Kubeconfig(e.to_string()))?;
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| Error::Kubeconfig(e.to_string()))
}

const POLL: Duration = Duration::from_millis(100);
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

async fn wait_etcd(
    etcd: &mut Server,
    port: u16,
    deadline: Instant,
    timeout: Duration,
) -> Result<()> {
    loop {
        etcd.check_running()?;
        let last_error = match tokio::time::timeout(PROBE_TIMEOUT, probe_etcd(port)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e,
            Err(_) => "probe timed out".to_owned(),
        };
        if Instant::now() >= deadline {
            return Err(Error::NotReady {
                component: "etcd",
                timeout,
                last_error,
                log_tail: etcd.log_tail(),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `GET /health` on etcd's plain-HTTP client port.
async fn probe_etcd(port: u16) -> std::result::Result<(), String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .map_err(|e| format!("read: {e}"))?;
    let response = String::from_utf8_lossy(&response);
    if response.starts_with("HTTP/1.") && response.contains(r#""health":"true""#) {
        Ok(())
    } else {
        Err(format!(
            "unhealthy: {}",
            response.chars().take(300).collect::<String>()
        ))
    }
}

/// The Kubernetes release the tests ask for (`1.29` or `1.29.6`), read by
/// `hack/kube-assets.sh` to build it; the started apiserver must report it.
pub const KUBE_VERSION_ENV: &str = "KUBE_VERSION";

/// `git_version` (`v1.29.6`) is the release `requested` (`1.29`, `1.29.6`,
/// `v1.29`) names.
fn version_matches(requested: &str, git_version: &str) -> bool {
    let want = requested.trim().trim_start_matches('v');
    let got = git_version.trim_start_matches('v');
    got == want
        || got
            .strip_prefix(want)
            .is_some_and(|rest| rest.starts_with('.') && want.matches('.').count() == 1)
}

/// Polls `/readyz` with the admin client certificate, then reads `/version`.
async fn wait_apiserver(
    apiserver: &mut Server,
    config: &Config,
    deadline: Instant,
    timeout: Duration,
) -> Result<Info> {
    let client = Client::try_from(config.clone())?;
    loop {
        apiserver.check_running()?;
        let request = http::Request::get("/readyz")
            .body(Vec::new())
            .map_err(|e| Error::Kubeconfig(e.to_string()))?;
        let last_error =
            match tokio::time::timeout(PROBE_TIMEOUT, client.request_text(request)).await {
                Ok(Ok(body)) if body.trim() == "ok" => break,
                Ok(Ok(body)) => body,
                Ok(Err(e)) => e.to_string(),
                Err(_) => "probe timed out".to_owned(),
            };
        if Instant::now() >= deadline {
            return Err(Error::NotReady {
                component: "kube-apiserver",
                timeout,
                last_error: last_error.chars().take(2000).collect(),
                log_tail: apiserver.log_tail(),
            });
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(client.apiserver_version().await?)
}

static NAMESPACE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// `<prefix>-<n>-<5 random base-36 chars>`, a valid DNS label.
fn unique_namespace_name(prefix: &str) -> String {
    let mut clean: String = prefix
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() { c } else { '-' }
        })
        .collect();
    clean.truncate(40);
    let clean = clean.trim_matches('-');
    let clean = if clean.is_empty() { "test" } else { clean };
    let n = NAMESPACE_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u64(n);
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    hasher.write_u32(std::process::id());
    let mut r = hasher.finish();
    let mut suffix = String::new();
    for _ in 0..5 {
        let d = (r % 36) as u32;
        suffix.push(char::from_digit(d, 36).unwrap_or('x'));
        r /= 36;
    }
    format!("{clean}-{n}-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_versions_match_the_reported_release() {
        for (req, got, ok) in [
            ("1.29", "v1.29.6", true),
            ("1.29.6", "v1.29.6", true),
            ("v1.29", "v1.29.6", true),
            ("1.29", "v1.290.1", false),
            ("1.29.6", "v1.29.60", false),
            ("1.2", "v1.29.6", false),
            ("1.31", "v1.29.6", false),
        ] {
            assert_eq!(version_matches(req, got), ok, "{req} vs {got}");
        }
    }

    fn is_dns_label(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    }

    #[test]
    fn namespace_names_are_unique_dns_labels() {
        let long = "X".repeat(100);
        let inputs = ["machines", "My_Test::case", "--", "", long.as_str()];
        let mut seen = std::collections::HashSet::new();
        for input in inputs {
            for _ in 0..20 {
                let name = unique_namespace_name(input);
                assert!(is_dns_label(&name), "{input:?} -> {name:?}");
                assert!(seen.insert(name));
            }
        }
        assert!(unique_namespace_name("My_Test").starts_with("my-test-"));
        assert!(unique_namespace_name("--").starts_with("test-"));
    }

    #[test]
    fn kubeconfig_parses_and_names_the_admin() {
        let pki = Pki::generate().unwrap();
        let text = kubeconfig_json("https://127.0.0.1:6443", &pki);
        let kc = Kubeconfig::from_yaml(&text).unwrap();
        assert_eq!(kc.current_context.as_deref(), Some("kube-testenv"));
        let cluster = kc.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://127.0.0.1:6443"));
        assert_eq!(kc.auth_infos[0].name, ADMIN_USER);
    }

    #[test]
    fn apiserver_args_point_at_the_generated_files() {
        let pki = PkiFiles {
            ca_cert: "/d/ca.crt".into(),
            serving_cert: "/d/s.crt".into(),
            serving_key: "/d/s.key".into(),
            service_account_key: "/d/sa.key".into(),
            service_account_pub: "/d/sa.pub".into(),
        };
        let args = apiserver_args(Path::new("/d"), &pki, 2379, 6443);
        for expected in [
            "--etcd-servers=http://127.0.0.1:2379",
            "--secure-port=6443",
            "--client-ca-file=/d/ca.crt",
            "--authorization-mode=RBAC",
            "--service-account-signing-key-file=/d/sa.key",
        ] {
            assert!(args.iter().any(|a| a == expected), "missing {expected}");
        }
    }

    #[test]
    fn port_conflicts_are_recognised() {
        let e = Error::Exited {
            component: "etcd",
            status: "exit status: 1".into(),
            log_tail: "listen tcp 127.0.0.1:2380: bind: address already in use".into(),
        };
        assert!(is_port_conflict(&e));
        assert!(e.is_transient());
        let e = Error::Exited {
            component: "etcd",
            status: "exit status: 1".into(),
            log_tail: "some other failure".into(),
        };
        assert!(!is_port_conflict(&e));
    }
}
