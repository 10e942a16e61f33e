#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! VM hosts: create (certificate generation), read/list, parameters,
//! compose → Ready, over-commit, register_vmhost, release with force, 3.8.

mod common;

use common::*;
use maas_sim::{Inventory, MaasVersion, NodeStatus};
use reqwest::StatusCode;

const INVENTORY: &str = r#"
zones:
  - name: az1
pools:
  - name: vms
machines:
  - hostname: host1
    cpu_count: 16
    memory: 65536
    zone: az1
    status: deployed
    interfaces:
      - name: br0
        mode: static
        ip: 10.0.1.10
vm_hosts:
  - name: lxd1
    power_address: 10.0.1.10
    project: maas
    zone: az1
    pool: vms
    host: host1
    cores: 8
    memory: 16384
    storage_pools:
      - name: default
        size_gb: 200
"#;

#[tokio::test]
async fn create_read_parameters_and_certificate() {
    let sim = start(builder()).await;
    let admin = Maas::admin(&sim);
    let user = Maas::user(&sim);
    let r = user
        .post(
            "vm-hosts/",
            &[("type", "lxd"), ("power_address", "10.9.9.9")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.text, "This method is reserved for admin users.");

    let h = admin
        .post(
            "vm-hosts/",
            &[
                ("type", "lxd"),
                ("power_address", "10.9.9.9"),
                ("name", "edge1"),
                ("tags", "a,b"),
            ],
        )
        .await
        .ok();
    assert_eq!(h["name"], "edge1");
    assert_eq!(h["type"], "lxd");
    assert!(h.get("power_address").is_none());
    let tags: Vec<&str> = h["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(tags, vec!["a", "b", "pod-console-logging"]);
    assert_eq!(
        h["resource_uri"],
        format!("/MAAS/api/2.0/vm-hosts/{}/", h["id"])
    );
    assert!(
        h["total"]["cores"].as_u64().unwrap() > 0,
        "simulated discovery filled resources"
    );
    assert_eq!(h["pool"]["id"], 0);
    let id = h["id"].as_u64().unwrap();

    let p = admin
        .get(&format!("vm-hosts/{id}/"), &[("op", "parameters")])
        .await
        .ok();
    assert_eq!(p["power_address"], "https://10.9.9.9:8443");
    assert_eq!(p["project"], "default");
    let cert = p["certificate"].as_str().unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(p["key"].as_str().unwrap().contains("PRIVATE KEY"));
    let r = user
        .get(&format!("vm-hosts/{id}/"), &[("op", "parameters")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // The certificate endpoint serves the same PEM as text/plain.
    let r = http()
        .get(format!("{}/vmhost-certificate/edge1", sim.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.text().await.unwrap(), cert);
    let r = http()
        .get(format!("{}/vmhost-certificate/nope", sim.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Same type and parameters again.
    let r = admin
        .post(
            "vm-hosts/",
            &[("type", "lxd"), ("power_address", "https://10.9.9.9:8443")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.text, "Pod edge1 with type and parameters already exist.");
    // Missing fields.
    let r = admin.post("vm-hosts/", &[("type", "lxd")]).await;
    assert_eq!(r.text, r#"{"power_address": ["This field is required."]}"#);

    // Read via the pods alias; list; 404 text.
    let r = admin.get(&format!("pods/{id}/"), &[]).await.ok();
    assert_eq!(r["name"], "edge1");
    assert_eq!(
        admin
            .get("vm-hosts/", &[])
            .await
            .ok()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let r = admin.get("vm-hosts/999/", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.text, "Not Found");

    // Update, refresh, tags, delete.
    let r = admin
        .put(
            &format!("vm-hosts/{id}/"),
            &[("cpu_over_commit_ratio", "2")],
        )
        .await
        .ok();
    assert_eq!(r["cpu_over_commit_ratio"], 2.0);
    let r = admin
        .put(&format!("vm-hosts/{id}/"), &[("type", "virsh")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    admin
        .post(&format!("vm-hosts/{id}/?op=refresh"), &[])
        .await
        .ok();
    let r = admin
        .post(&format!("vm-hosts/{id}/?op=add_tag"), &[("tag", "x")])
        .await
        .ok();
    assert!(r["tags"].as_array().unwrap().iter().any(|t| t == "x"));
    let r = admin
        .delete(&format!("vm-hosts/{id}/"), &[("decompose", "true")])
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    sim.shutdown().await;
}

#[tokio::test]
async fn discovery_failure_still_saves_and_refresh_reports_it() {
    let sim = start(builder()).await;
    let d = sim.control().simulated_discovery();
    d.set_host(
        "10.7.7.7",
        maas_sim::SimulatedHost {
            reachable: true,
            trust_password: Some("sekret".into()),
            ..Default::default()
        },
    );
    let admin = Maas::admin(&sim);
    let h = admin
        .post(
            "vm-hosts/",
            &[
                ("type", "lxd"),
                ("power_address", "10.7.7.7"),
                ("name", "locked"),
            ],
        )
        .await
        .ok();
    assert_eq!(h["total"]["cores"], 0, "saved without resources");
    let id = h["id"].as_u64().unwrap();
    let r = admin.post(&format!("vm-hosts/{id}/?op=refresh"), &[]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.text, "Failed to authenticate to the VM host.");
    // The operator trusts the certificate, then refresh works.
    let p = admin
        .get(&format!("vm-hosts/{id}/"), &[("op", "parameters")])
        .await
        .ok();
    d.trust_certificate("10.7.7.7", p["certificate"].as_str().unwrap());
    let h = admin
        .post(&format!("vm-hosts/{id}/?op=refresh"), &[])
        .await
        .ok();
    assert!(h["total"]["cores"].as_u64().unwrap() > 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn compose_commissions_and_overcommit() {
    let sim = start(builder().inventory(Inventory::from_yaml(INVENTORY).unwrap())).await;
    let admin = Maas::admin(&sim);
    let ctl = sim.control();
    let hosts = admin.get("vm-hosts/", &[]).await.ok();
    let h = &hosts[0];
    assert_eq!(h["name"], "lxd1");
    assert_eq!(h["host"]["system_id"], ctl.machines()[0].system_id.as_str());
    assert_eq!(h["zone"]["name"], "az1");
    assert_eq!(h["storage_pools"][0]["total"], 200_000_000_000u64);
    let id = h["id"].as_u64().unwrap();
    let zone_id = h["zone"]["id"].to_string();
    let pool_id = h["pool"]["id"].to_string();

    let r = admin
        .post(
            &format!("vm-hosts/{id}/?op=compose"),
            &[
                ("cores", "2"),
                ("memory", "4096"),
                ("hostname", "vm-a"),
                ("zone", zone_id.as_str()),
                ("pool", pool_id.as_str()),
                ("interfaces", "eth0:ip=10.0.1.50"),
            ],
        )
        .await
        .ok();
    let vm = r["system_id"].as_str().unwrap().to_string();
    assert_eq!(r["resource_uri"], format!("/MAAS/api/2.0/machines/{vm}/"));
    let m = admin.machine(&vm).await;
    assert_eq!(m["status_name"], "Commissioning");
    assert_eq!(m["zone"]["name"], "az1");
    assert_eq!(m["pool"]["name"], "vms");
    assert_eq!(m["pod"]["name"], "lxd1");
    assert_eq!(m["ip_addresses"], serde_json::json!(["10.0.1.50"]));
    assert_eq!(m["interface_set"][0]["links"][0]["mode"], "static");
    ctl.complete_pending();
    let m = admin.machine(&vm).await;
    assert_eq!(m["status_name"], "Ready");
    assert_eq!(m["power_state"], "off");
    let host = admin.get(&format!("vm-hosts/{id}/"), &[]).await.ok();
    assert_eq!(host["used"]["cores"], 2);
    assert_eq!(host["available"]["memory"], 16384 - 4096);

    // Hostname must be unique, the IP free, resources available.
    let r = admin
        .post(
            &format!("vm-hosts/{id}/?op=compose"),
            &[("hostname", "vm-a")],
        )
        .await;
    assert_eq!(
        r.text,
        r#"{"hostname": ["Node with hostname \"vm-a\" already exists"]}"#
    );
    let r = admin
        .post(
            &format!("vm-hosts/{id}/?op=compose"),
            &[("interfaces", "eth0:ip=10.0.1.50")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.text, "The IP address 10.0.1.50 is already in use.");
    let r = admin
        .post(&format!("vm-hosts/{id}/?op=compose"), &[("cores", "7")])
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r.text,
        "Unable to compose KVM instance in 'lxd1'. CPU overcommit ratio is 1.0 and there are 6 available resources; 7 requested."
    );
    let r = admin
        .post(&format!("vm-hosts/{id}/?op=compose"), &[("memory", "512")])
        .await;
    assert_eq!(
        r.text,
        r#"{"memory": ["Ensure this value is greater than or equal to 1024."]}"#
    );

    // Allocate with no Ready match composes a dynamic VM, deleted on release.
    let r = admin
        .post(
            "machines/?op=allocate",
            &[("cpu_count", "3"), ("mem", "2048")],
        )
        .await
        .ok();
    let dynamic = sid(&r);
    assert_eq!(r["status_name"], "Allocated");
    assert_eq!(r["pod"]["name"], "lxd1");
    assert_ne!(dynamic, vm);
    admin
        .post(&format!("machines/{dynamic}/?op=release"), &[])
        .await
        .ok();
    ctl.complete_pending();
    let r = admin.get(&format!("machines/{dynamic}/"), &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Deleting the host machine needs force while it hosts a VM host.
    let host_id = ctl
        .machines()
        .into_iter()
        .find(|m| m.hostname == "host1")
        .unwrap()
        .system_id;
    let r = admin
        .post(&format!("machines/{host_id}/?op=release"), &[])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.text, "The following VM hosts must be removed first: lxd1");
    let r = admin
        .post(
            &format!("machines/{host_id}/?op=release"),
            &[("force", "true")],
        )
        .await
        .ok();
    assert_eq!(r["status_name"], "Releasing");
    assert_eq!(
        admin.get("vm-hosts/", &[]).await.ok(),
        serde_json::json!([])
    );
    assert!(ctl.machine(&vm).is_none(), "the VM went with its host");
    sim.shutdown().await;
}

#[tokio::test]
async fn register_vmhost_on_deploy() {
    let sim = start(builder().machines(3)).await;
    let admin = Maas::admin(&sim);
    let ctl = sim.control();
    let m = admin.allocate(&[]).await;
    let id = sid(&m);
    let r = admin
        .post(
            &format!("machines/{id}/?op=deploy"),
            &[("register_vmhost", "true"), ("ephemeral_deploy", "true")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.text,
        "A machine can not be a VM host if it is deployed to memory."
    );
    admin
        .post(
            &format!("machines/{id}/?op=deploy"),
            &[("register_vmhost", "true")],
        )
        .await
        .ok();
    assert!(
        admin
            .get("vm-hosts/", &[])
            .await
            .ok()
            .as_array()
            .unwrap()
            .is_empty()
    );
    ctl.complete_pending();
    let m = admin.machine(&id).await;
    assert_eq!(m["status_name"], "Deployed");
    let hosts = admin.get("vm-hosts/", &[]).await.ok();
    let h = &hosts[0];
    assert_eq!(h["name"], m["hostname"]);
    assert_eq!(h["host"]["system_id"], id.as_str());
    assert_eq!(h["zone"], m["zone"]);
    assert_eq!(h["pool"], m["pool"]);
    let p = admin
        .get(&format!("vm-hosts/{}/", h["id"]), &[("op", "parameters")])
        .await
        .ok();
    assert_eq!(p["project"], "maas");
    let ip = m["ip_addresses"][0].as_str().unwrap();
    assert_eq!(p["power_address"], format!("https://{ip}:8443"));
    assert_eq!(ctl.machine(&id).unwrap().agent_name, "maas-kvm-pod");
    let r = admin.post(&format!("machines/{id}/?op=release"), &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    sim.shutdown().await;
}

#[tokio::test]
async fn maas_main_removed_vm_hosts() {
    let sim = start_version(2, MaasVersion::V3_8).await;
    let admin = Maas::admin(&sim);
    let user = Maas::user(&sim);
    for (client, path) in [
        (&admin, "vm-hosts/"),
        (&admin, "pods/"),
        (&user, "vm-hosts/1/"),
    ] {
        let r = client.get(path, &[]).await;
        assert_eq!(r.status, StatusCode::GONE, "{path}");
        assert_eq!(r.text, "VM host (KVM) support has been removed from MAAS.");
    }
    let r = admin
        .post(
            "vm-hosts/",
            &[("type", "lxd"), ("power_address", "1.2.3.4")],
        )
        .await;
    assert_eq!(r.status, StatusCode::GONE);
    let m = admin.allocate(&[]).await;
    let r = admin
        .post(
            &format!("machines/{}/?op=deploy", sid(&m)),
            &[("register_vmhost", "true")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.text,
        "Support for register_vmhost allocation parameter has been removed."
    );
    let r = admin
        .post(
            &format!("machines/{}/?op=deploy", sid(&m)),
            &[("install_kvm", "1")],
        )
        .await;
    assert_eq!(
        r.text,
        "Support for install_kvm allocation parameter has been removed."
    );
    // pod constraints are gone from the allocation form.
    let r = admin
        .post("machines/?op=allocate", &[("not_pod", "x")])
        .await;
    assert_eq!(r.text, r#"{"not_pod": ["No such constraint."]}"#);
    assert_eq!(
        sim.control().machine(&sid(&m)).unwrap().status,
        NodeStatus::Allocated
    );
    sim.shutdown().await;
}
