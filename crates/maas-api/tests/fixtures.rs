#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The project's own MAAS JSON fixtures (old and new field sets) decode into the models with
//! the right values; arbitrary JSON never panics the machine decoder.

use maas_api::{
    ComposedMachine, DnsResource, Domain, Error, EventsPage, Interface, IpAddress, MaasVersion,
    Machine, MachineStatus, PowerState, PreRelease, ResourcePool, Subnet, Tag, User, Version,
    VmHost, VmHostParameters, Zone, decode_json,
};
use proptest::prelude::*;

fn load<T: serde::de::DeserializeOwned>(text: &str) -> T {
    decode_json(text.as_bytes()).unwrap_or_else(|e| panic!("fixture does not decode: {e}"))
}

#[test]
fn deployed_lxd_vm_3_6() {
    let m: Machine = load(include_str!("fixtures/machine_3_6_deployed_vm.json"));
    assert_eq!(m.system_id, "p3xn8d");
    assert_eq!(m.hostname, "wise-otter");
    assert_eq!(m.fqdn, "wise-otter.maas");
    assert_eq!(m.domain.as_ref().unwrap().name, "maas");
    assert_eq!(m.status, MachineStatus::Deployed);
    assert_eq!(m.status_name, "Deployed");
    assert_eq!(m.status_message.as_deref(), Some("Deployed"));
    assert_eq!(m.power_state, PowerState::On);
    assert_eq!(m.power_type, "lxd");
    assert_eq!(m.ip_addresses, vec!["172.20.8.57"]);
    assert_eq!(m.interface_set.len(), 1);
    let boot = m.boot_interface.as_ref().unwrap();
    assert_eq!(boot.name, "enp5s0");
    assert_eq!(boot.links[0].id, 917);
    assert_eq!(boot.links[0].mode, "static");
    assert_eq!(boot.links[0].ip_address.as_deref(), Some("172.20.8.57"));
    let subnet = boot.links[0].subnet.as_ref().unwrap();
    assert_eq!(subnet.cidr, "172.20.8.0/22");
    assert_eq!(subnet.vlan.as_ref().unwrap().id, 5002);
    assert_eq!(boot.ip_addresses().collect::<Vec<_>>(), vec!["172.20.8.57"]);
    assert_eq!(m.zone.as_ref().unwrap().name, "az-east");
    assert_eq!(m.pool.as_ref().unwrap().id, 2);
    assert_eq!(
        m.tag_names,
        vec!["control-plane", "pod-console-logging", "virtual"]
    );
    assert_eq!(m.cpu_count, 8);
    assert_eq!(m.memory, 16384);
    assert!((m.storage - 64424.50944).abs() < 1e-6);
    assert_eq!(m.architecture, "amd64/generic");
    assert_eq!(m.osystem, "ubuntu");
    assert_eq!(m.distro_series, "noble");
    assert_eq!(m.hwe_kernel.as_deref(), Some("ga-24.04"));
    assert_eq!(m.ephemeral_deploy, Some(false));
    assert_eq!(m.owner.as_deref(), Some("capi-controller"));
    assert!(!m.locked);
    assert!(!m.netboot);
    let pod = m.pod.as_ref().unwrap();
    assert_eq!((pod.id, pod.name.as_str()), (7, "lxd-east-1"));
    assert!(m.is_vm());
    assert_eq!(m.virtualmachine_id, Some(23));
    assert_eq!(
        m.workload_annotations
            .get("cluster.x-k8s.io/cluster-name")
            .map(String::as_str),
        Some("prod-a")
    );
    assert_eq!(m.annotations().len(), 2);
    assert_eq!(m.error_description, "");
    assert_eq!(m.resource_uri, "/MAAS/api/2.0/machines/p3xn8d/");
    assert_eq!(m.boot_disk.as_ref().unwrap().size, 64424509440);
    assert_eq!(m.blockdevice_set[0].tags, vec!["ssd"]);
    assert_eq!(
        m.hardware_info.get("cpu_model").map(String::as_str),
        Some("AMD EPYC-Milan Processor")
    );
    assert_eq!(m.numanode_set[0].cores.len(), 8);
    assert_eq!(
        m.default_gateways
            .as_ref()
            .unwrap()
            .ipv4
            .gateway_ip
            .as_deref(),
        Some("172.20.8.1")
    );
    assert_eq!(m.enable_kernel_crash_dump, Some(false));
    assert!(m.constraints_by_type.is_none());
}

#[test]
fn old_maas_2_x_field_set() {
    let m: Machine = load(include_str!("fixtures/machine_2_x_old_fields.json"));
    assert_eq!(m.system_id, "h6tqwe");
    assert_eq!(m.status, MachineStatus::FailedExitingRescueMode);
    assert_eq!(m.status.code(), 20);
    assert_eq!(m.status_name, "Failed to exit rescue mode");
    assert_eq!(m.status_message, None);
    assert_eq!(m.power_state, PowerState::Error);
    // Fields that old MAAS does not send are absent, not errors.
    assert_eq!(m.ephemeral_deploy, None);
    assert_eq!(m.hardware_uuid, None);
    assert!(m.workload_annotations.is_empty());
    assert_eq!(
        m.annotations().get("owner").map(String::as_str),
        Some("alice")
    );
    assert_eq!(m.hwe_kernel, None);
    assert_eq!(m.min_hwe_kernel, None);
    // Interface params as "" and as an object both decode.
    assert_eq!(m.interface_set.len(), 2);
    assert_eq!(m.interface_set[0].params, serde_json::json!(""));
    assert_eq!(m.interface_set[1].params["bond_mode"], "active-backup");
    assert_eq!(m.interface_set[1].parents, vec!["eth-a"]);
    assert_eq!(m.interface_set[0].link_connected, None);
    assert_eq!(
        m.pod.as_ref().unwrap().resource_uri,
        "/MAAS/api/2.0/pods/2/"
    );
    assert_eq!(m.domain.as_ref().unwrap().name, "lab");
    assert_eq!(m.cpu_speed, 1800);
}

#[test]
fn allocate_answer_has_constraints_by_type() {
    let m: Machine = load(include_str!("fixtures/machine_allocated.json"));
    assert_eq!(m.status, MachineStatus::Allocated);
    assert_eq!(m.power_state, PowerState::Off);
    assert_eq!(m.matched_interface_ids("pxe"), vec![231]);
    assert!(m.matched_interface_ids("other").is_empty());
    assert_eq!(
        m.constraints_by_type.as_ref().unwrap()["storage"]["root"][0],
        144
    );
}

#[test]
fn machine_list_with_unknown_status_and_fields() {
    let ms: Vec<Machine> = load(include_str!("fixtures/machines_list.json"));
    assert_eq!(ms.len(), 3);
    assert_eq!(ms[0].status, MachineStatus::Ready);
    assert_eq!(ms[0].owner, None);
    assert!(ms[0].boot_interface.is_none());
    assert!(ms[0].pod.is_none());
    assert_eq!(ms[0].is_dpu, Some(false));
    assert_eq!(ms[1].status, MachineStatus::Deployed);
    assert_eq!(ms[2].status, MachineStatus::Unknown(31));
    assert_eq!(ms[2].power_state, PowerState::Other("standby".into()));
}

#[test]
fn interfaces() {
    let i: Interface = load(include_str!("fixtures/interface_disconnected.json"));
    assert_eq!(i.id, 232);
    assert!(i.vlan.is_none());
    assert!(!i.enabled);
    assert_eq!(i.interface_type, "physical");
    assert!(i.links.is_empty());
    let l: Interface = load(include_str!("fixtures/interface_linked.json"));
    assert_eq!(l.links[0].subnet.as_ref().unwrap().id, 4);
    assert_eq!(l.vlan.as_ref().unwrap().fabric, "fabric-1");
    assert_eq!(l.link_speed, Some(0));
}

#[test]
fn subnets_ip_dns_domains_zones_pools() {
    let subnets: Vec<Subnet> = load(include_str!("fixtures/subnets.json"));
    assert_eq!(subnets.len(), 2);
    assert_eq!(subnets[0].gateway_ip.as_deref(), Some("172.20.8.1"));
    assert_eq!(subnets[0].dns_servers, vec!["172.20.8.2"]);
    assert_eq!(subnets[1].cidr, "fd00:20::/64");
    assert_eq!(subnets[1].gateway_ip, None);
    assert_eq!(subnets[1].vlan.as_ref().unwrap().vid, 20);
    assert_eq!(subnets[1].space.as_deref(), Some("internal"));

    let ip: IpAddress = load(include_str!("fixtures/ip_reserved.json"));
    assert_eq!(ip.ip, "172.20.8.200");
    assert_eq!(ip.alloc_type, 4);
    assert_eq!(ip.alloc_type_name, "User reserved");
    assert_eq!(ip.owner.as_ref().unwrap().username, "capi-controller");
    assert_eq!(ip.subnet.as_ref().unwrap().cidr, "172.20.8.0/22");

    let dns: Vec<DnsResource> = load(include_str!("fixtures/dnsresources.json"));
    assert_eq!(dns[0].fqdn, "prod-a-api.maas");
    assert_eq!(dns[0].address_ttl, Some(10));
    assert_eq!(dns[0].ips(), vec!["172.20.8.57", "172.20.8.58"]);
    assert_eq!(dns[1].id, -1);
    assert!(dns[1].ip_addresses.is_empty());
    assert_eq!(dns[1].resource_records[0].rrtype, "A");

    let domains: Vec<Domain> = load(include_str!("fixtures/domains.json"));
    assert!(domains[0].is_default);
    assert_eq!(domains[1].ttl, Some(300));
    assert!(!domains[1].authoritative);

    let zones: Vec<Zone> = load(include_str!("fixtures/zones.json"));
    assert_eq!(zones[1].name, "az-east");
    assert_eq!(zones[1].resource_uri, "/MAAS/api/2.0/zones/az-east/");

    let pools: Vec<ResourcePool> = load(include_str!("fixtures/resource_pools.json"));
    assert_eq!(pools[0].id, 0);
    assert_eq!(pools[1].resource_uri, "/MAAS/api/2.0/resourcepool/2/");
}

#[test]
fn vm_hosts() {
    let h: VmHost = load(include_str!("fixtures/vm_host_lxd.json"));
    assert_eq!(h.id, 7);
    assert_eq!(h.host_type, "lxd");
    assert_eq!(h.version.as_deref(), Some("5.21.3"));
    assert!(h.is_composable());
    assert_eq!(h.available.cores, 32);
    assert_eq!(h.total.memory, 196608);
    assert_eq!(h.used.local_storage, 193273528320);
    assert_eq!(h.cpu_over_commit_ratio, Some(2.0));
    assert_eq!(h.default_macvlan_mode, None);
    assert_eq!(h.storage_pools[0].pool_type, "zfs");
    assert!(h.storage_pools[0].default);
    assert_eq!(
        h.host.as_ref().unwrap().system_id.as_deref(),
        Some("t2bq7c")
    );

    let hosts: Vec<VmHost> = load(include_str!("fixtures/vm_hosts.json"));
    let old = &hosts[1];
    assert_eq!(old.host_type, "virsh");
    assert_eq!(old.version, None);
    assert_eq!(old.default_macvlan_mode.as_deref(), Some(""));
    assert_eq!(old.host.as_ref().unwrap().system_id, None);
    assert_eq!(
        old.storage_pools[0].id,
        "0d5e8f7a-7c3b-4a59-9d61-3c2e1b0a9f88"
    );
    assert_eq!(old.memory_over_commit_ratio, Some(1.5));

    let params: VmHostParameters = load(include_str!("fixtures/vm_host_parameters.json"));
    assert_eq!(params.project.as_deref(), Some("maas"));
    assert!(params.password.as_deref().unwrap().contains("DO-NOT-LOG"));
    let dbg = format!("{params:?}");
    assert!(!dbg.contains("DO-NOT-LOG"), "{dbg}");
    assert!(dbg.contains("172.20.8.30"), "{dbg}");

    let composed: ComposedMachine = load(include_str!("fixtures/compose_result.json"));
    assert_eq!(composed.system_id, "z9v3aa");
}

#[test]
fn version_user_events_tags() {
    let v: Version = load(include_str!("fixtures/version_3_6.json"));
    assert!(v.has_capability("authenticate-api"));
    assert_eq!(v.parsed().unwrap(), MaasVersion::new(3, 6, 5));
    let old: Version = load(include_str!("fixtures/version_2_x.json"));
    let parsed = old.parsed().unwrap();
    assert_eq!(parsed.pre, PreRelease::Beta(3));
    assert!(parsed < v.parsed().unwrap());
    assert_eq!(old.subversion, "git+1425f6d4c");

    let u: User = load(include_str!("fixtures/whoami.json"));
    assert_eq!(u.username, "capi-controller");
    assert!(u.is_superuser);

    let page: EventsPage = load(include_str!("fixtures/events.json"));
    assert_eq!(page.count, 3);
    assert_eq!(page.events[0].event_type, "Deployed");
    assert_eq!(page.events[0].id, 40512);
    assert_eq!(page.events[2].username, None);
    assert_eq!(page.events[2].level, "WARNING");
    assert!(page.next_uri.unwrap().contains("after=40512"));

    let tags: Vec<Tag> = load(include_str!("fixtures/tags.json"));
    assert_eq!(tags[0].name, "gpu");
    assert_eq!(tags[1].kernel_opts, None);
    assert!(tags[1].definition.contains("QEMU"));
}

#[test]
fn decode_errors_carry_a_short_excerpt() {
    let body = format!("{{\"system_id\": 5, \"hostname\": [{}]", "1,".repeat(500));
    let err = decode_json::<Machine>(body.as_bytes()).unwrap_err();
    match &err {
        Error::Decode { excerpt, message } => {
            assert!(excerpt.chars().count() <= 201, "{}", excerpt.len());
            assert!(excerpt.starts_with("{\"system_id\""));
            assert!(!message.is_empty());
        }
        other => panic!("expected Decode, got {other:?}"),
    }
    // Not a refusal: MAAS may have acted (a cut or proxied answer); the caller observes again.
    assert_eq!(err.class(), maas_api::ErrorClass::Transient);
    assert!(err.maas_may_have_acted());
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

const MACHINE_KEYS: &[&str] = &[
    "system_id",
    "hostname",
    "fqdn",
    "domain",
    "status",
    "status_name",
    "status_message",
    "power_state",
    "power_type",
    "ip_addresses",
    "interface_set",
    "boot_interface",
    "zone",
    "pool",
    "tag_names",
    "cpu_count",
    "memory",
    "storage",
    "architecture",
    "osystem",
    "distro_series",
    "hwe_kernel",
    "ephemeral_deploy",
    "owner",
    "locked",
    "netboot",
    "pod",
    "virtualmachine_id",
    "workload_annotations",
    "owner_data",
    "resource_uri",
    "error_description",
    "hardware_info",
    "blockdevice_set",
    "constraints_by_type",
];

fn machine_like() -> impl Strategy<Value = serde_json::Value> {
    prop::collection::btree_map(prop::sample::select(MACHINE_KEYS), arb_json(), 0..12).prop_map(
        |m| serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()),
    )
}

fn check_never_panics(value: &serde_json::Value) {
    let bytes = serde_json::to_vec(value).unwrap();
    match decode_json::<Machine>(&bytes) {
        Ok(_) | Err(Error::Decode { .. }) => {}
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }
    match decode_json::<Vec<Machine>>(&bytes) {
        Ok(_) | Err(Error::Decode { .. }) => {}
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_json_never_panics_the_machine_decoder(value in arb_json()) {
        check_never_panics(&value);
    }

    #[test]
    fn machine_shaped_json_never_panics(value in machine_like()) {
        check_never_panics(&value);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let ok = matches!(decode_json::<Machine>(&bytes), Ok(_) | Err(Error::Decode { .. }));
        prop_assert!(ok);
    }
}
