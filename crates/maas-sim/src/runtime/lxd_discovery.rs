//! Real VM host discovery: the simulator connects to the LXD daemon a VM host
//! names, the way MAAS's LXD pod driver does, instead of answering from the
//! inventory.
//!
//! For each create, update and refresh of an LXD VM host, [`LxdDiscovery`]:
//! 1. connects to `power_address` over HTTPS (TLS 1.3) presenting the VM
//!    host's client certificate and key. Like MAAS it does not verify the
//!    server's certificate (MAAS connects with `verify=False`); the
//!    fingerprint it saw is logged at debug level;
//! 2. when the certificate is not trusted and a `password` was given,
//!    presents it to `POST /1.0/certificates`: a value that decodes as an LXD
//!    trust token is sent as a token (in `trust_token` when the server has
//!    `explicit_trust_token`, else in `password`), anything else as a trust
//!    password. Without a password an untrusted certificate is an error;
//! 3. checks the API extensions MAAS requires (`projects`,
//!    `virtual-machines`, `custom_block_volumes`);
//! 4. creates the VM host's project when it is missing, with the settings
//!    MAAS uses ("Project managed by MAAS", own profiles, shared images and
//!    storage volumes);
//! 5. reads `/1.0` (version, kernel architecture), `/1.0/resources` (cores,
//!    memory, CPU speed) and the storage pools with their sizes
//!    (`/1.0/storage-pools/{name}/resources`); no pool is an error, as in
//!    MAAS.
//!
//! Failures are [`DiscoveryError`]s with MAAS's wording where MAAS has one;
//! secrets never appear in them.

use std::collections::BTreeMap;

use async_trait::async_trait;
use lxd_host::{
    ClientIdentity, LxdClient, LxdError, MAAS_REQUIRED_EXTENSIONS, Secret, ServerTrust,
    TrustCredential, TrustToken,
};
use serde::Deserialize;

use crate::domain::vmhost::{
    DiscoveredHost, DiscoveredStoragePool, DiscoveryError, DiscoveryRequest, VmHostDiscovery,
    normalise_lxd_address,
};

/// Description MAAS gives the LXD projects it creates.
pub const MAAS_PROJECT_DESCRIPTION: &str = "Project managed by MAAS";

/// Name the simulator's certificate gets in LXD's trust store when it
/// authenticates with a trust password or token.
pub const TRUST_NAME: &str = "maas";

/// Discovers LXD VM hosts by talking to the real LXD daemon behind them.
/// Select it with `SimulatorBuilder::lxd_discovery` or
/// `maas-sim --vmhost-discovery lxd`.
#[derive(Debug, Clone, Default)]
pub struct LxdDiscovery {
    _private: (),
}

impl LxdDiscovery {
    /// A discovery that talks to real LXD daemons.
    pub fn new() -> Self {
        LxdDiscovery::default()
    }
}

fn fail(message: impl Into<String>) -> DiscoveryError {
    DiscoveryError {
        message: message.into(),
    }
}

/// `GET /1.0/resources` (only what discovery reads).
#[derive(Debug, Default, Deserialize)]
struct Resources {
    #[serde(default)]
    cpu: CpuResources,
    #[serde(default)]
    memory: MemoryResources,
}

#[derive(Debug, Default, Deserialize)]
struct CpuResources {
    #[serde(default)]
    total: u64,
    #[serde(default, deserialize_with = "null_default")]
    sockets: Vec<CpuSocket>,
}

#[derive(Debug, Default, Deserialize)]
struct CpuSocket {
    #[serde(default)]
    name: String,
    /// MHz.
    #[serde(default)]
    frequency: u64,
    /// MHz.
    #[serde(default)]
    frequency_turbo: u64,
}

#[derive(Debug, Default, Deserialize)]
struct MemoryResources {
    /// Bytes.
    #[serde(default)]
    total: u64,
}

/// `GET /1.0/storage-pools/{name}/resources`.
#[derive(Debug, Default, Deserialize)]
struct PoolResources {
    #[serde(default)]
    space: PoolSpace,
}

#[derive(Debug, Default, Deserialize)]
struct PoolSpace {
    #[serde(default)]
    total: u64,
}

/// `GET /1.0/storage-pools?recursion=1` entries.
#[derive(Debug, Default, Deserialize)]
struct Pool {
    name: String,
    #[serde(default)]
    driver: String,
    #[serde(default, deserialize_with = "null_default")]
    config: BTreeMap<String, String>,
}

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Debian architecture name of a kernel architecture, as MAAS maps them.
pub fn debian_architecture(kernel: &str) -> String {
    let arch = match kernel {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "armv7l" | "armv8l" | "armv6l" => "armhf",
        "i686" | "i586" | "i386" => "i386",
        "ppc64le" => "ppc64el",
        other => other,
    };
    format!("{arch}/generic")
}

/// CPU speed in MHz from LXD's resources: the speed in the model name
/// (`… @ 2.40GHz`) when every socket has the same model, else the highest
/// turbo frequency, else the average current frequency rounded to 100 MHz.
fn cpu_speed(cpu: &CpuResources) -> u64 {
    let first = cpu.sockets.first().map(|s| s.name.as_str()).unwrap_or("");
    if !first.is_empty() && cpu.sockets.iter().all(|s| s.name == first) {
        let ghz = first
            .rsplit_once(" @ ")
            .and_then(|(_, tail)| tail.trim().strip_suffix("GHz"))
            .and_then(|n| n.trim().parse::<f64>().ok());
        if let Some(g) = ghz.filter(|g| g.is_finite() && *g > 0.0) {
            return (g * 1000.0) as u64;
        }
    }
    let turbo = cpu
        .sockets
        .iter()
        .map(|s| s.frequency_turbo)
        .max()
        .unwrap_or(0);
    if turbo > 0 {
        return turbo;
    }
    let n = cpu.sockets.len() as u64;
    if n == 0 {
        return 0;
    }
    let avg = cpu.sockets.iter().map(|s| s.frequency).sum::<u64>() / n;
    (avg + 50) / 100 * 100
}

fn query(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

impl LxdDiscovery {
    async fn run(&self, req: &DiscoveryRequest) -> Result<DiscoveredHost, DiscoveryError> {
        let who = format!("VM Host {}", req.name);
        if req.power_type != "lxd" {
            return Err(fail(format!(
                "{who}: the simulator's LXD discovery cannot discover {} VM hosts",
                req.power_type
            )));
        }
        let address = normalise_lxd_address(&req.power_address);
        let identity = match (req.certificate.as_deref(), req.key.as_deref()) {
            (Some(c), Some(k)) if !c.trim().is_empty() && !k.trim().is_empty() => {
                ClientIdentity::from_pem(c, k)
                    .map_err(|e| fail(format!("{who}: invalid certificate or key: {e}")))?
            }
            _ => return Err(fail(format!("{who}: No certificates available"))),
        };
        let client = LxdClient::https(&address, ServerTrust::TrustOnFirstUse, Some(&identity))
            .map_err(|e| fail(format!("{who}: {e}")))?;
        let unreachable = |e: LxdError| match e {
            LxdError::Transport { detail, .. } => fail(format!(
                "Failed to connect to the LXD REST API at {address}: {detail}"
            )),
            other => fail(format!("{who}: {other}")),
        };
        let mut server = client.server().await.map_err(unreachable)?;
        if let Some(fp) = client.observed_server_fingerprint() {
            tracing::debug!(vmhost = %req.name, %address, server_fingerprint = %fp, "connected to LXD");
        }
        if !server.is_trusted() {
            let Some(password) = req.password.as_deref().filter(|p| !p.is_empty()) else {
                return Err(fail(format!(
                    "{who}: Certificate is not trusted and no password was given"
                )));
            };
            let secret = Secret::new(password);
            let token = TrustToken::decode(password).ok();
            let credential = match &token {
                Some(t) => TrustCredential::Token(t),
                None => TrustCredential::Password(&secret),
            };
            client
                .request_trust(TRUST_NAME, credential)
                .await
                .map_err(|e| fail(format!("{who}: Password authentication failed: {e}")))?;
            server = client.server().await.map_err(unreachable)?;
            if !server.is_trusted() {
                return Err(fail(format!(
                    "{who}: Certificate is not trusted and no password was given"
                )));
            }
        }
        let missing: Vec<&str> = MAAS_REQUIRED_EXTENSIONS
            .iter()
            .copied()
            .filter(|e| !server.has_extension(e))
            .collect();
        if !missing.is_empty() {
            return Err(fail(format!(
                "{who}: Please upgrade your LXD host to 4.16 or higher to support the following extensions: {}",
                missing.join(",")
            )));
        }
        let project = if req.project.is_empty() {
            "default"
        } else {
            req.project.as_str()
        };
        self.ensure_project(&client, project)
            .await
            .map_err(|e| fail(format!("{who}: {e}")))?;
        let env = server.environment.clone().unwrap_or_default();
        let p = query(project);
        let (resources, _): (Resources, _) = client
            .get(&format!("/1.0/resources?project={p}"))
            .await
            .map_err(|e| fail(format!("{who}: {e}")))?;
        let (pools, _): (Vec<Pool>, _) = client
            .get(&format!("/1.0/storage-pools?recursion=1&project={p}"))
            .await
            .map_err(|e| fail(format!("{who}: {e}")))?;
        if pools.is_empty() {
            return Err(fail(
                "No storage pools exists.  Please create a storage pool in LXD.",
            ));
        }
        let mut storage_pools = Vec::with_capacity(pools.len());
        for pool in pools {
            let path = format!(
                "/1.0/storage-pools/{}/resources?project={p}",
                query(&pool.name)
            );
            let (space, _): (PoolResources, _) = client
                .get(&path)
                .await
                .map_err(|e| fail(format!("{who}: {e}")))?;
            storage_pools.push(DiscoveredStoragePool {
                id: pool.name.clone(),
                path: pool.config.get("source").cloned().unwrap_or_default(),
                name: pool.name,
                pool_type: pool.driver,
                total_bytes: space.space.total,
            });
        }
        let architectures = if env.kernel_architecture.is_empty() {
            Vec::new()
        } else {
            vec![debian_architecture(&env.kernel_architecture)]
        };
        Ok(DiscoveredHost {
            version: env.server_version,
            architectures,
            cores: resources.cpu.total,
            memory_mib: resources.memory.total / (1024 * 1024),
            cpu_speed: cpu_speed(&resources.cpu),
            storage_pools,
        })
    }

    /// Creates the project when it is missing, as MAAS does.
    async fn ensure_project(&self, client: &LxdClient, project: &str) -> Result<(), LxdError> {
        if client.project(project).await?.is_some() {
            return Ok(());
        }
        let config: BTreeMap<String, String> = [
            ("features.images", "false"),
            ("features.profiles", "true"),
            ("features.storage.volumes", "false"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        match client
            .create_project(project, MAAS_PROJECT_DESCRIPTION, &config)
            .await
        {
            Ok(()) => {
                tracing::info!(project, "created the LXD project for MAAS");
                Ok(())
            }
            // Someone else created it meanwhile.
            Err(e) if e.is_already_exists() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl VmHostDiscovery for LxdDiscovery {
    async fn discover(&self, request: &DiscoveryRequest) -> Result<DiscoveredHost, DiscoveryError> {
        let result = self.run(request).await;
        match &result {
            Ok(h) => tracing::info!(
                vmhost = %request.name,
                version = %h.version,
                cores = h.cores,
                memory_mib = h.memory_mib,
                pools = h.storage_pools.len(),
                "discovered LXD VM host"
            ),
            Err(e) => {
                tracing::warn!(vmhost = %request.name, error = %e, "LXD VM host discovery failed")
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_architectures_map_to_debian_names() {
        assert_eq!(debian_architecture("x86_64"), "amd64/generic");
        assert_eq!(debian_architecture("aarch64"), "arm64/generic");
        assert_eq!(debian_architecture("ppc64le"), "ppc64el/generic");
        assert_eq!(debian_architecture("s390x"), "s390x/generic");
    }

    fn socket(name: &str, frequency: u64, turbo: u64) -> CpuSocket {
        CpuSocket {
            name: name.into(),
            frequency,
            frequency_turbo: turbo,
        }
    }

    #[test]
    fn cpu_speed_prefers_the_model_name_then_turbo_then_average() {
        let named = CpuResources {
            total: 8,
            sockets: vec![socket(
                "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz",
                1200,
                3300,
            )],
        };
        assert_eq!(cpu_speed(&named), 2400);
        let turbo = CpuResources {
            total: 8,
            sockets: vec![
                socket("AMD EPYC", 1500, 3500),
                socket("AMD EPYC", 1500, 3700),
            ],
        };
        assert_eq!(cpu_speed(&turbo), 3700);
        let average = CpuResources {
            total: 8,
            sockets: vec![socket("a", 2249, 0), socket("b", 2251, 0)],
        };
        assert_eq!(cpu_speed(&average), 2300);
        assert_eq!(cpu_speed(&CpuResources::default()), 0);
    }

    fn request(power_type: &str, cert: Option<&str>) -> DiscoveryRequest {
        DiscoveryRequest {
            name: "h1".into(),
            power_type: power_type.into(),
            power_address: "127.0.0.1:1".into(),
            project: "maas".into(),
            password: Some("s3cret-pass".into()),
            certificate: cert.map(str::to_owned),
            key: cert.map(|_| "not a key".to_owned()),
        }
    }

    #[tokio::test]
    async fn refuses_virsh_and_missing_or_bad_certificates_without_leaking_secrets() {
        let d = LxdDiscovery::new();
        let e = d.discover(&request("virsh", None)).await.unwrap_err();
        assert!(e.message.contains("cannot discover virsh"), "{e}");
        let e = d.discover(&request("lxd", None)).await.unwrap_err();
        assert_eq!(e.message, "VM Host h1: No certificates available");
        let e = d
            .discover(&request("lxd", Some("garbage")))
            .await
            .unwrap_err();
        assert!(e.message.contains("invalid certificate or key"), "{e}");
        assert!(!e.message.contains("s3cret-pass"));
    }
}
