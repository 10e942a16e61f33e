#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Real LXD discovery against real LXD daemons (`lxd_host::testing::LxdDaemon`):
//! trust by certificate, token and password, the project MAAS creates, the
//! resources read, the errors MAAS reports, and the simulator's API on top
//! (a VM host saved although discovery failed, refreshed once trusted).
//!
//! Needs root and the Debian packages `lxd`, `iptables`, `dnsmasq-base`;
//! without them the tests fail saying what to install.

mod common;

use std::collections::BTreeMap;

use common::*;
use lxd_host::testing::{LxdDaemon, free_port};
use lxd_host::types::StoragePoolCreate;
use lxd_host::{CertificateAdd, ClientIdentity, LxdClient};
use maas_sim::{DiscoveryRequest, LxdDiscovery, MAAS_PROJECT_DESCRIPTION, VmHostDiscovery};
use reqwest::StatusCode;

/// A daemon listening on 127.0.0.1:<port>, without storage pools yet.
async fn daemon() -> (LxdDaemon, LxdClient, String) {
    let d = tokio::task::spawn_blocking(LxdDaemon::start)
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("cannot start a test LXD daemon: {e}"));
    let client = d.client().unwrap();
    let port = free_port().unwrap();
    let address = format!("127.0.0.1:{port}");
    let config: BTreeMap<String, String> =
        [("core.https_address".to_owned(), address.clone())].into();
    client.patch_server_config(&config).await.unwrap();
    (d, client, address)
}

async fn add_dir_pool(client: &LxdClient) {
    client
        .create_storage_pool(&StoragePoolCreate {
            name: "default".into(),
            driver: "dir".into(),
            description: String::new(),
            config: BTreeMap::new(),
        })
        .await
        .unwrap();
}

fn request(address: &str, id: &ClientIdentity, password: Option<&str>) -> DiscoveryRequest {
    DiscoveryRequest {
        name: "node1".into(),
        power_type: "lxd".into(),
        power_address: address.into(),
        project: "maas".into(),
        password: password.map(str::to_owned),
        certificate: Some(id.cert_pem().to_owned()),
        key: Some(id.key_pem().expose().to_owned()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_trusts_creates_the_project_and_reads_resources() {
    let (daemon, lxd, address) = daemon().await;
    let discovery = LxdDiscovery::new();
    let trusted = ClientIdentity::generate("maas-sim-test").unwrap();
    lxd.add_certificate(&CertificateAdd::from_identity("maas", &trusted))
        .await
        .unwrap();

    // No storage pool: MAAS's error.
    let err = discovery
        .discover(&request(&address, &trusted, None))
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "No storage pools exists.  Please create a storage pool in LXD."
    );
    add_dir_pool(&lxd).await;

    // Trusted certificate: resources as LXD reports them.
    let host = discovery
        .discover(&request(&address, &trusted, None))
        .await
        .unwrap();
    let server = lxd.server().await.unwrap();
    let env = server.environment.unwrap();
    assert_eq!(host.version, env.server_version);
    assert_eq!(
        host.architectures,
        vec![maas_sim::debian_architecture(&env.kernel_architecture)]
    );
    let (resources, _): (serde_json::Value, _) = lxd.get("/1.0/resources").await.unwrap();
    assert_eq!(host.cores, resources["cpu"]["total"].as_u64().unwrap());
    assert_eq!(
        host.memory_mib,
        resources["memory"]["total"].as_u64().unwrap() / (1024 * 1024)
    );
    assert!(host.cores > 0 && host.memory_mib > 0);
    assert_eq!(host.storage_pools.len(), 1);
    let pool = &host.storage_pools[0];
    assert_eq!(
        (
            pool.id.as_str(),
            pool.name.as_str(),
            pool.pool_type.as_str()
        ),
        ("default", "default", "dir")
    );
    assert!(pool.total_bytes > 0, "{pool:?}");
    assert!(!pool.path.is_empty(), "{pool:?}");

    // The project MAAS uses was created, the way MAAS creates it.
    let project = lxd.project("maas").await.unwrap().expect("project maas");
    assert_eq!(project.description, MAAS_PROJECT_DESCRIPTION);
    assert_eq!(project.config["features.profiles"], "true");
    assert_eq!(project.config["features.images"], "false");
    // A second discovery finds it and changes nothing.
    discovery
        .discover(&request(&address, &trusted, None))
        .await
        .unwrap();

    // An untrusted certificate without a password.
    let stranger = ClientIdentity::generate("stranger").unwrap();
    let err = discovery
        .discover(&request(&address, &stranger, None))
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "VM Host node1: Certificate is not trusted and no password was given"
    );
    // A wrong password: refused, and never echoed.
    let err = discovery
        .discover(&request(&address, &stranger, Some("wrong-horse-battery")))
        .await
        .unwrap_err();
    assert!(
        err.message
            .starts_with("VM Host node1: Password authentication failed"),
        "{err}"
    );
    assert!(!err.message.contains("wrong-horse-battery"), "{err}");

    // A trust token (what lxd-test --issue-token prints) as the password.
    let (token, _) = lxd.issue_trust_token("maas", &[]).await.unwrap();
    let encoded = token.encode();
    discovery
        .discover(&request(&address, &stranger, Some(&encoded)))
        .await
        .unwrap();
    let certs = lxd.certificates().await.unwrap();
    assert!(
        certs
            .iter()
            .any(|c| c.fingerprint == stranger.fingerprint().to_hex()),
        "the token made LXD trust the certificate"
    );

    // A trust password (LXD < 6.1).
    let third = ClientIdentity::generate("third").unwrap();
    let config: BTreeMap<String, String> =
        [("core.trust_password".to_owned(), "pa55-word".to_owned())].into();
    lxd.patch_server_config(&config).await.unwrap();
    discovery
        .discover(&request(&address, &third, Some("pa55-word")))
        .await
        .unwrap();
    daemon.stop().unwrap();
}

#[tokio::test]
async fn unreachable_lxd_is_a_connection_failure() {
    let port = free_port().unwrap();
    let id = ClientIdentity::generate("x").unwrap();
    let err = LxdDiscovery::new()
        .discover(&request(&format!("127.0.0.1:{port}"), &id, Some("pw")))
        .await
        .unwrap_err();
    assert!(
        err.message.starts_with(&format!(
            "Failed to connect to the LXD REST API at https://127.0.0.1:{port}"
        )),
        "{err}"
    );
}

/// Through the simulator's API: MAAS generates the certificate, saves the
/// VM host although discovery fails, and refresh succeeds once the
/// certificate is trusted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_saves_untrusted_hosts_and_refreshes_once_trusted() {
    let (daemon, lxd, address) = daemon().await;
    add_dir_pool(&lxd).await;
    let sim = start(builder().lxd_discovery()).await;
    let admin = Maas::admin(&sim);
    let created = admin
        .post(
            "vm-hosts/",
            &[
                ("type", "lxd"),
                ("power_address", address.as_str()),
                ("name", "real1"),
                ("project", "maas"),
            ],
        )
        .await
        .ok();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["name"], "real1");
    assert_eq!(created["total"]["cores"], 0, "nothing discovered yet");

    let refresh = format!("vm-hosts/{id}/?op=refresh");
    let r = admin.post(&refresh, &[]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(
        r.text,
        "VM Host real1: Certificate is not trusted and no password was given"
    );

    // Trust MAAS's certificate (op=parameters), as an operator would.
    let params = admin
        .get(&format!("vm-hosts/{id}/"), &[("op", "parameters")])
        .await
        .ok();
    let pem = params["certificate"].as_str().unwrap();
    let cert = CertificateAdd::from_pem("maas", pem)
        .unwrap()
        .restricted_to(&["maas"]);
    // A certificate restricted to a project needs the project first.
    lxd.create_project("maas", "", &BTreeMap::new())
        .await
        .unwrap();
    lxd.add_certificate(&cert).await.unwrap();

    let host = admin.post(&refresh, &[]).await.ok();
    let env = lxd.server().await.unwrap().environment.unwrap();
    assert_eq!(host["version"], env.server_version.as_str());
    assert!(host["total"]["cores"].as_u64().unwrap() > 0);
    assert_eq!(host["storage_pools"][0]["name"], "default");
    assert_eq!(host["storage_pools"][0]["type"], "dir");
    sim.shutdown().await;
    daemon.stop().unwrap();
}
