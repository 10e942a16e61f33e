//! An in-process `maas-sim` for `maas-test --embedded`: zero setup, fast
//! timings, and an inventory on which every part of the smoke test can run
//! (Ready machines in zone and pool `default`, one with 32 GiB for an
//! in-memory deployment, and an LXD VM host on a deployed machine whose
//! VLAN has MAAS DHCP, so that composing with a static IP works).

use std::time::Duration;

use maas_sim::{Inventory, MaasVersion, RunningSimulator, SimError, Simulator};

/// The embedded inventory (YAML, maas-sim's format).
pub const INVENTORY: &str = r#"
subnets:
  - cidr: 10.0.0.0/24
    name: pxe
    dhcp_on: true
    gateway_ip: 10.0.0.1
    reserved_ranges: [{start: 10.0.0.1, end: 10.0.0.9}]
    dynamic_ranges: [{start: 10.0.0.200, end: 10.0.0.254}]
machines:
  - hostname: kvm-01
    cpu_count: 16
    memory: 65536
    status: deployed
    owner: admin
    power_type: ipmi
    disks: [{size_gb: 1000}]
    interfaces:
      - {name: br0, subnet: 10.0.0.0/24, mode: static, ip: 10.0.0.10}
  - {hostname: node-01, cpu_count: 4, memory: 8192, power_type: ipmi}
  - {hostname: node-02, cpu_count: 8, memory: 16384, power_type: ipmi}
  - {hostname: node-03, cpu_count: 8, memory: 32768, power_type: redfish}
  - {hostname: node-04, cpu_count: 16, memory: 65536, power_type: redfish}
vm_hosts:
  - name: kvm-01
    power_address: 10.0.0.10
    project: maas
    host: kvm-01
    cores: 16
    memory: 65536
    version: 5.21.3
    storage_pools:
      - {name: default, pool_type: zfs, size_gb: 800}
"#;

/// How long the embedded simulator's operations take.
pub fn timings() -> [(&'static str, Duration); 4] {
    [
        ("deploy", Duration::from_millis(1500)),
        ("release", Duration::from_millis(500)),
        ("commission", Duration::from_millis(1000)),
        ("power", Duration::from_millis(100)),
    ]
}

/// Starts the embedded simulator on 127.0.0.1 (a free port).
pub async fn start(version: MaasVersion) -> Result<RunningSimulator, SimError> {
    let inventory = Inventory::from_yaml(INVENTORY)?;
    let mut builder = Simulator::builder()
        .seed(1)
        .maas_version(version)
        .inventory(inventory);
    for (what, d) in timings() {
        builder = match what {
            "deploy" => builder.deploy_duration(d),
            "release" => builder.release_duration(d),
            "commission" => builder.commission_duration(d),
            _ => builder.power_delay(d),
        };
    }
    builder.start("127.0.0.1:0").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_embedded_inventory_loads() {
        let sim = start(MaasVersion::default()).await.unwrap();
        let machines = sim.control().machines();
        assert_eq!(machines.len(), 5);
        assert!(sim.endpoint().starts_with("http://127.0.0.1:"));
        sim.shutdown().await;
    }
}
