//! Shared set-up: a simulator with a known inventory and `maas-api` clients for its users.

use std::time::Duration;

use maas_api::{ClientConfig, MaasClient, RetryPolicy};
use maas_sim::{Control, Inventory, MaasVersion, RunningSimulator, Simulator};

/// The inventory every test starts from. Costs (cpu + GiB) decide allocation order:
/// small-1 6, small-2 12, arm-1 24, big-1 80.
pub const INVENTORY: &str = r#"
zones:
  - name: zone-a
    description: first zone
  - name: zone-b
pools:
  - name: pool-a
    description: the A pool
tags:
  - name: gpu
  - name: ssd
    comment: solid state
domains:
  - name: lab.example
    ttl: 300
subnets:
  - cidr: 10.10.0.0/24
    name: pxe
    fabric: fabric-0
    gateway_ip: 10.10.0.1
    dns_servers: [10.10.0.2]
    reserved_ranges: [{start: 10.10.0.1, end: 10.10.0.19}]
    dynamic_ranges: [{start: 10.10.0.200, end: 10.10.0.254}]
  - cidr: 10.20.0.0/24
    name: storage
    fabric: fabric-1
    vid: 20
    dhcp_on: false
machines:
  - hostname: small-1
    system_id: sm1aaa
    cpu_count: 2
    memory: 4096
    zone: zone-a
    tags: [ssd]
    power_type: ipmi
    interfaces:
      - {name: eth0, mac: "52:54:00:00:00:01", subnet: pxe}
  - hostname: small-2
    system_id: sm2bbb
    cpu_count: 4
    memory: 8192
    zone: zone-b
    pool: pool-a
    power_type: redfish
    interfaces:
      - {name: eth0, mac: "52:54:00:00:00:02", subnet: pxe}
      - {name: eth1, mac: "52:54:00:00:00:12", subnet: storage, mode: link_up}
  - hostname: arm-1
    system_id: arm1cc
    architecture: arm64/generic
    cpu_count: 8
    memory: 16384
    zone: zone-b
    domain: lab.example
  - hostname: big-1
    system_id: big1dd
    cpu_count: 16
    memory: 65536
    zone: zone-a
    tags: [gpu, ssd]
  - hostname: new-1
    system_id: new1ee
    status: new
  - hostname: broken-1
    system_id: brk1ff
    status: broken
    owner: user
  - hostname: deployed-1
    system_id: dep1gg
    status: deployed
    owner: admin
  - hostname: kvm-host
    system_id: kvmhhh
    status: deployed
    owner: admin
    cpu_count: 32
    memory: 131072
    interfaces:
      - {name: br0, subnet: pxe, mode: static, ip: 10.10.0.21}
vm_hosts:
  - name: kvm-01
    power_address: 10.10.0.21
    project: maas
    zone: zone-a
    host: kvm-host
    cores: 32
    memory: 131072
    storage_pools:
      - {name: default, size_gb: 800}
  - name: lxd-02
    power_address: 10.10.0.22
    trust_password: s3cret-trust
    registered: false
"#;

/// A long step duration: nothing moves unless a test advances the clock or completes. (Not
/// longer: the simulated deploy timeout is 30 min on 3.4, and a deploy that outlasts it fails.)
pub const FOREVER: Duration = Duration::from_secs(600);

/// A running simulator with admin and non-admin clients.
pub struct Env {
    pub sim: RunningSimulator,
    pub admin: MaasClient,
    pub user: MaasClient,
}

impl Env {
    pub fn ctl(&self) -> Control {
        self.sim.control()
    }

    /// A client for `key` with this policy.
    pub fn client_with(&self, key: &str, retry: RetryPolicy) -> MaasClient {
        client(&self.sim.endpoint(), key, retry)
    }
}

pub fn client(endpoint: &str, key: &str, retry: RetryPolicy) -> MaasClient {
    let config = ClientConfig::new(endpoint, key)
        .expect("client config")
        .with_request_timeout(Duration::from_secs(20))
        .with_retry(retry);
    MaasClient::new(config).expect("client")
}

/// Retries that honour `Retry-After` but never wait long (MAAS sends 5 s and 10 s).
pub fn fast_retries(attempts: u32) -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(attempts)
        .with_backoff(Duration::from_millis(5), Duration::from_millis(20))
        .with_max_retry_after(Duration::from_millis(20))
}

/// The standard environment on MAAS 3.6.
pub async fn env() -> Env {
    env_version(MaasVersion::V3_6).await
}

/// The standard environment on a given version profile. Clients do not retry.
pub async fn env_version(version: MaasVersion) -> Env {
    let inventory = Inventory::from_yaml(INVENTORY).expect("test inventory parses");
    let sim = Simulator::builder()
        .seed(11)
        .maas_version(version)
        .inventory(inventory)
        .deploy_duration(FOREVER)
        .release_duration(FOREVER)
        .commission_duration(FOREVER)
        .erase_duration(FOREVER)
        .power_delay(FOREVER)
        .start("127.0.0.1:0")
        .await
        .expect("simulator starts");
    let admin = client(&sim.endpoint(), sim.admin_api_key(), RetryPolicy::none());
    let user = client(&sim.endpoint(), sim.user_api_key(), RetryPolicy::none());
    Env { sim, admin, user }
}

/// Sorted hostnames of machines.
pub fn hostnames(ms: &[maas_api::Machine]) -> Vec<String> {
    let mut v: Vec<String> = ms.iter().map(|m| m.hostname.clone()).collect();
    v.sort();
    v
}

/// Sorted owned strings.
pub fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}
