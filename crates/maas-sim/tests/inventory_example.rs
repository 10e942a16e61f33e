#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The documented example inventory loads and behaves as described.

mod common;

use common::*;
use maas_sim::{Inventory, NodeStatus};
use reqwest::StatusCode;

fn example() -> Inventory {
    Inventory::from_path(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/inventory.yaml"
    ))
    .unwrap()
}

#[tokio::test]
async fn example_inventory_loads() {
    let sim = start(builder().inventory(example()).machines(2)).await;
    let admin = Maas::admin(&sim);
    let ctl = sim.control();
    let machines = ctl.machines();
    assert_eq!(machines.len(), 5);
    let gpu = ctl.machine("gpu4aa").unwrap();
    assert_eq!(gpu.zone, "rack-b");
    assert_eq!(gpu.status, NodeStatus::Ready);
    let kvm = machines.iter().find(|m| m.hostname == "kvm-01").unwrap();
    assert_eq!(kvm.status, NodeStatus::Deployed);
    assert_eq!(kvm.ip_addresses, vec!["10.10.0.21"]);
    let small = admin
        .machine(
            &machines
                .iter()
                .find(|m| m.hostname == "small-01")
                .unwrap()
                .system_id,
        )
        .await;
    assert_eq!(small["fqdn"], "small-01.lab.example.com");

    let hosts = admin.get("vm-hosts/", &[]).await.ok();
    assert_eq!(hosts.as_array().unwrap().len(), 1);
    assert_eq!(hosts[0]["host"]["system_id"], kvm.system_id.as_str());
    assert_eq!(hosts[0]["cpu_over_commit_ratio"], 2.0);
    let id = hosts[0]["id"].to_string();
    let r = admin
        .post(&format!("vm-hosts/{id}/?op=compose"), &[("cores", "40")])
        .await;
    assert_eq!(
        r.text,
        r#"{"cores": ["Ensure this value is less than or equal to 32."]}"#
    );
    let vm = admin
        .post(
            &format!("vm-hosts/{id}/?op=compose"),
            &[("cores", "20"), ("interfaces", "eth0:ip=10.10.0.50")],
        )
        .await;
    assert_eq!(vm.status, StatusCode::OK, "{}", vm.text);
    let vm = admin
        .post(&format!("vm-hosts/{id}/?op=compose"), &[("cores", "20")])
        .await;
    assert_eq!(
        vm.status,
        StatusCode::OK,
        "over-commit ratio 2 allows 40 of 32 cores: {}",
        vm.text
    );

    // lxd-02 is only simulated: registering it needs the trust password.
    let wrong = admin
        .post(
            "vm-hosts/",
            &[
                ("type", "lxd"),
                ("power_address", "10.10.0.22"),
                ("password", "nope"),
            ],
        )
        .await
        .ok();
    assert_eq!(wrong["total"]["cores"], 0);
    admin
        .delete(&format!("vm-hosts/{}/", wrong["id"]), &[])
        .await;
    let right = admin
        .post(
            "vm-hosts/",
            &[
                ("type", "lxd"),
                ("power_address", "10.10.0.22"),
                ("password", "s3cret"),
                ("name", "lxd-02"),
            ],
        )
        .await
        .ok();
    assert_eq!(right["total"]["cores"], 16);
    let subnets = admin.get("subnets/", &[]).await.ok();
    let storage = subnets
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["cidr"] == "10.20.0.0/24")
        .unwrap();
    assert_eq!(storage["vlan"]["vid"], 20);
    assert_eq!(storage["space"], "storage");
    sim.shutdown().await;
}
