//! JSON as MAAS's handlers emit it (field sets per version profile).

use crate::domain::state::{DEFAULT_DOMAIN_ID, State};
use crate::model::*;
use serde_json::{Map, Value, json};

const API: &str = "/MAAS/api/2.0";

pub(crate) fn zone(st: &State, id: u64) -> Value {
    match st.zones.get(&id) {
        Some(z) => json!({
            "name": z.name,
            "description": z.description,
            "id": z.id,
            "resource_uri": format!("{API}/zones/{}/", z.name),
        }),
        None => Value::Null,
    }
}

pub(crate) fn pool(st: &State, id: u64) -> Value {
    match st.pools.get(&id) {
        Some(p) => json!({
            "name": p.name,
            "description": p.description,
            "id": p.id,
            "resource_uri": format!("{API}/resourcepool/{}/", p.id),
        }),
        None => Value::Null,
    }
}

pub(crate) fn domain(st: &State, id: u64) -> Value {
    match st.domains.get(&id) {
        Some(d) => {
            let count = st
                .dnsresources
                .values()
                .filter(|r| r.domain_id == d.id)
                .count();
            json!({
                "authoritative": d.authoritative,
                "ttl": d.ttl,
                "is_default": d.id == DEFAULT_DOMAIN_ID,
                "name": d.name,
                "resource_record_count": count,
                "id": d.id,
                "resource_uri": format!("{API}/domains/{}/", d.id),
            })
        }
        None => Value::Null,
    }
}

pub(crate) fn tag(t: &Tag) -> Value {
    json!({
        "name": t.name,
        "definition": t.definition,
        "comment": t.comment,
        // TagForm saves a missing kernel_opts as "" (MAAS lists such tags with
        // `kernel_opts: ''`); gomaasapi's tag schema requires a string here.
        "kernel_opts": t.kernel_opts.clone().unwrap_or_default(),
        "resource_uri": format!("{API}/tags/{}/", t.name),
    })
}

pub(crate) fn user(u: &User) -> Value {
    json!({
        "is_superuser": u.is_superuser,
        "username": u.username,
        "email": u.email,
        "is_local": true,
        "resource_uri": format!("{API}/users/{}/", u.username),
    })
}

pub(crate) fn vlan(st: &State, id: u64) -> Value {
    match st.vlans.get(&id) {
        Some(v) => {
            let fabric = st
                .fabrics
                .get(&v.fabric_id)
                .map(|f| f.name.clone())
                .unwrap_or_default();
            json!({
                "vid": v.vid,
                "mtu": v.mtu,
                "dhcp_on": v.dhcp_on,
                "external_dhcp": null,
                "relay_vlan": null,
                "fabric": fabric,
                "space": v.space.clone().unwrap_or_else(|| "undefined".into()),
                "primary_rack": v.primary_rack,
                "secondary_rack": null,
                "name": v.name,
                "id": v.id,
                "fabric_id": v.fabric_id,
                "resource_uri": format!("{API}/vlans/{}/", v.id),
            })
        }
        None => Value::Null,
    }
}

pub(crate) fn fabric(st: &State, f: &Fabric) -> Value {
    let vlans: Vec<Value> = st
        .vlans
        .values()
        .filter(|v| v.fabric_id == f.id)
        .map(|v| vlan(st, v.id))
        .collect();
    json!({
        "id": f.id,
        "name": f.name,
        "class_type": f.class_type,
        "vlans": vlans,
        "resource_uri": format!("{API}/fabrics/{}/", f.id),
    })
}

pub(crate) fn subnet(st: &State, id: u64) -> Value {
    match st.subnets.get(&id) {
        Some(s) => {
            let space = st
                .vlans
                .get(&s.vlan_id)
                .and_then(|v| v.space.clone())
                .unwrap_or_else(|| "undefined".into());
            json!({
                "name": s.name,
                "description": s.description,
                "vlan": vlan(st, s.vlan_id),
                "cidr": s.cidr.to_string(),
                "rdns_mode": 2,
                "gateway_ip": s.gateway_ip.map(|g| g.to_string()),
                "dns_servers": s.dns_servers,
                "allow_dns": true,
                "allow_proxy": true,
                "active_discovery": false,
                "managed": s.managed,
                "disabled_boot_architectures": [],
                "id": s.id,
                "space": space,
                "resource_uri": format!("{API}/subnets/{}/", s.id),
            })
        }
        None => Value::Null,
    }
}

pub(crate) fn interface(st: &State, i: &Interface) -> Value {
    let system_id = st
        .machines
        .get(&i.machine_id)
        .map(|m| m.system_id.clone())
        .unwrap_or_default();
    let links: Vec<Value> = i
        .links
        .iter()
        .filter_map(|l| st.ips.get(l))
        .map(|r| {
            let mut link = Map::new();
            link.insert("id".into(), json!(r.id));
            link.insert("mode".into(), json!(r.mode()));
            if let Some(ip) = r.ip {
                link.insert("ip_address".into(), json!(ip.to_string()));
            }
            if let Some(s) = r.subnet_id {
                link.insert("subnet".into(), subnet(st, s));
            }
            Value::Object(link)
        })
        .collect();
    json!({
        "system_id": system_id,
        "id": i.id,
        "name": i.name,
        "type": i.iftype,
        "vlan": i.vlan_id.map(|v| vlan(st, v)).unwrap_or(Value::Null),
        "mac_address": i.mac,
        "parents": [],
        "children": [],
        "tags": i.tags,
        "enabled": true,
        "links": links,
        "params": {},
        "discovered": null,
        "effective_mtu": i.vlan_id.and_then(|v| st.vlans.get(&v)).map(|v| v.mtu).unwrap_or(1500),
        "vendor": i.vendor,
        "product": i.product,
        "firmware_version": null,
        "link_connected": true,
        "interface_speed": i.interface_speed,
        "link_speed": i.link_speed,
        "numa_node": 0,
        "sriov_max_vf": 0,
        "resource_uri": format!("{API}/nodes/{system_id}/interfaces/{}/", i.id),
    })
}

fn block_device(m: &Machine, b: &BlockDevice, boot: bool) -> Value {
    let sid = &m.system_id;
    let partitions = if boot {
        let psize = b.size.saturating_sub(537_919_488 + 1_048_576);
        vec![json!({
            "system_id": sid,
            "device_id": b.id,
            "id": b.partition_id,
            "uuid": format!("{:08x}-0000-4000-8000-{:012x}", b.partition_id, b.id),
            "path": format!("/dev/disk/by-dname/{}-part1", b.name),
            "type": "partition",
            "size": psize,
            "bootable": false,
            "used_for": "ext4 formatted filesystem mounted at /",
            "tags": [],
            "filesystem": {
                "fstype": "ext4",
                "label": "root",
                "uuid": format!("{:08x}-1111-4000-8000-{:012x}", b.partition_id, b.id),
                "mount_point": "/",
                "mount_options": null,
            },
            "resource_uri": format!("{API}/nodes/{sid}/blockdevices/{}/partition/{}", b.id, b.partition_id),
        })]
    } else {
        Vec::new()
    };
    json!({
        "system_id": sid,
        "id": b.id,
        "name": b.name,
        "uuid": null,
        "type": "physical",
        "path": format!("/dev/disk/by-dname/{}", b.name),
        "model": b.model,
        "serial": b.serial,
        "id_path": format!("/dev/disk/by-id/wwn-{}", b.serial),
        "size": b.size,
        "block_size": 512,
        "available_size": if boot { 0 } else { b.size },
        "used_size": if boot { b.size } else { 0 },
        "used_for": if boot { "GPT partitioned with 1 partition" } else { "Unused" },
        "tags": b.tags,
        "filesystem": null,
        "partition_table_type": if boot { Value::from("GPT") } else { Value::Null },
        "firmware_version": null,
        "storage_pool": b.storage_pool,
        "numa_node": 0,
        "partitions": partitions,
        "resource_uri": format!("{API}/nodes/{sid}/blockdevices/{}/", b.id),
    })
}

fn script_status(passed: bool) -> (i64, &'static str) {
    if passed {
        (2, "Passed")
    } else {
        (-1, "Unknown")
    }
}

/// The machine as `MachineHandler` renders it.
pub(crate) fn machine(st: &State, m: &Machine) -> Value {
    let v = st.version;
    let mut o = Map::new();
    let ins = |o: &mut Map<String, Value>, k: &str, val: Value| {
        o.insert(k.to_string(), val);
    };
    ins(&mut o, "system_id", json!(m.system_id));
    ins(&mut o, "hostname", json!(m.hostname));
    ins(&mut o, "description", json!(m.description));
    ins(&mut o, "hardware_uuid", json!(m.hardware_uuid));
    ins(&mut o, "domain", domain(st, m.domain_id));
    ins(&mut o, "fqdn", json!(st.fqdn(m)));
    ins(&mut o, "owner", json!(st.username(m.owner)));
    let annotations = json!(m.workload_annotations);
    ins(&mut o, "owner_data", annotations.clone());
    ins(&mut o, "workload_annotations", annotations);
    ins(&mut o, "locked", json!(m.locked));
    for k in [
        "cache_sets",
        "bcaches",
        "raids",
        "volume_groups",
        "special_filesystems",
    ] {
        ins(&mut o, k, json!([]));
    }
    ins(&mut o, "bios_boot_method", json!(m.bios_boot_method));
    ins(&mut o, "architecture", json!(m.architecture));
    ins(&mut o, "min_hwe_kernel", json!(""));
    ins(&mut o, "hwe_kernel", json!(m.hwe_kernel));
    ins(&mut o, "cpu_count", json!(m.cpu_count));
    ins(&mut o, "cpu_speed", json!(m.cpu_speed));
    ins(&mut o, "memory", json!(m.memory));
    ins(&mut o, "swap_size", Value::Null);
    ins(&mut o, "storage", json!(m.storage_mb()));
    ins(&mut o, "status", json!(m.status.code()));
    ins(&mut o, "status_name", json!(m.status.name()));
    ins(&mut o, "status_message", json!(m.status_message));
    ins(&mut o, "status_action", json!(""));
    ins(&mut o, "osystem", json!(m.osystem));
    ins(&mut o, "distro_series", json!(m.distro_series));
    if v.shows_ephemeral_deploy() {
        ins(&mut o, "ephemeral_deploy", json!(m.ephemeral_deploy));
    }
    if v.shows_error_description() {
        ins(&mut o, "error_description", json!(m.error_description));
    }
    ins(&mut o, "netboot", json!(m.netboot));
    ins(&mut o, "power_type", json!(m.power_type));
    ins(&mut o, "power_state", json!(m.power_state.as_str()));
    ins(&mut o, "tag_names", json!(m.tags));
    ins(&mut o, "address_ttl", Value::Null);
    let ips: Vec<String> = st.machine_ips(m).iter().map(|i| i.to_string()).collect();
    ins(&mut o, "ip_addresses", json!(ips));
    let ifaces: Vec<Value> = m
        .interfaces
        .iter()
        .filter_map(|i| st.interfaces.get(i))
        .map(|i| interface(st, i))
        .collect();
    ins(
        &mut o,
        "boot_interface",
        ifaces.first().cloned().unwrap_or(Value::Null),
    );
    ins(&mut o, "interface_set", Value::Array(ifaces));
    ins(&mut o, "zone", zone(st, m.zone_id));
    ins(&mut o, "pool", pool(st, m.pool_id));
    ins(&mut o, "disable_ipv4", json!(false));
    let disks: Vec<Value> = m
        .block_devices
        .iter()
        .enumerate()
        .map(|(i, b)| block_device(m, b, i == 0))
        .collect();
    ins(
        &mut o,
        "boot_disk",
        disks.first().cloned().unwrap_or(Value::Null),
    );
    ins(&mut o, "blockdevice_set", Value::Array(disks.clone()));
    ins(&mut o, "physicalblockdevice_set", Value::Array(disks));
    ins(&mut o, "virtualblockdevice_set", json!([]));
    ins(&mut o, "node_type", json!(0));
    ins(&mut o, "node_type_name", json!("Machine"));
    ins(&mut o, "parent", Value::Null);
    if v.has_vm_hosts() {
        let pod = m
            .pod_id
            .and_then(|p| st.vmhosts.get(&p))
            .map(|p| json!({"id": p.id, "name": p.name, "resource_uri": format!("{API}/pods/{}/", p.id)}))
            .unwrap_or(Value::Null);
        ins(&mut o, "pod", pod);
        ins(&mut o, "virtualmachine_id", json!(m.virtualmachine_id));
    }
    let gateway = m
        .interfaces
        .first()
        .and_then(|i| st.interfaces.get(i))
        .and_then(|i| {
            i.links
                .iter()
                .filter_map(|l| st.ips.get(l))
                .find_map(|r| r.subnet_id)
        })
        .and_then(|s| st.subnets.get(&s))
        .and_then(|s| s.gateway_ip)
        .map(|g| g.to_string());
    ins(
        &mut o,
        "default_gateways",
        json!({"ipv4": {"gateway_ip": gateway, "link_id": null}, "ipv6": {"gateway_ip": null, "link_id": null}}),
    );
    ins(
        &mut o,
        "current_commissioning_result_id",
        json!(m.commissioning_result_id),
    );
    ins(
        &mut o,
        "current_testing_result_id",
        json!(m.commissioning_result_id.map(|r| r + 1_000_000)),
    );
    ins(
        &mut o,
        "current_installation_result_id",
        json!(m.installation_result_id),
    );
    let (cs, csn) = script_status(m.commissioned);
    ins(&mut o, "commissioning_status", json!(cs));
    ins(&mut o, "commissioning_status_name", json!(csn));
    ins(&mut o, "testing_status", json!(cs));
    ins(&mut o, "testing_status_name", json!(csn));
    for k in ["cpu", "memory", "network", "other", "interface"] {
        ins(&mut o, &format!("{k}_test_status"), json!(-1));
        ins(&mut o, &format!("{k}_test_status_name"), json!("Unknown"));
    }
    ins(&mut o, "storage_test_status", json!(cs));
    ins(&mut o, "storage_test_status_name", json!(csn));
    let mut hw = Map::new();
    for k in [
        "system_family",
        "system_version",
        "system_sku",
        "system_serial",
        "mainboard_vendor",
        "mainboard_product",
        "mainboard_serial",
        "mainboard_version",
        "mainboard_firmware_vendor",
        "mainboard_firmware_date",
        "mainboard_firmware_version",
        "chassis_vendor",
        "chassis_type",
        "chassis_serial",
        "chassis_version",
    ] {
        hw.insert(k.into(), json!("Unknown"));
    }
    hw.insert("system_vendor".into(), json!(m.system_vendor));
    hw.insert("system_product".into(), json!(m.system_product));
    hw.insert("cpu_model".into(), json!(m.cpu_model));
    ins(&mut o, "hardware_info", Value::Object(hw));
    let cores: Vec<u32> = (0..m.cpu_count).collect();
    ins(
        &mut o,
        "numanode_set",
        json!([{"index": 0, "cores": cores, "memory": m.memory, "hugepages_set": []}]),
    );
    ins(&mut o, "last_sync", Value::Null);
    ins(&mut o, "sync_interval", Value::Null);
    ins(&mut o, "next_sync", Value::Null);
    ins(&mut o, "enable_hw_sync", json!(m.enable_hw_sync));
    if v.shows_kernel_crash_dump() {
        ins(
            &mut o,
            "enable_kernel_crash_dump",
            json!(m.enable_kernel_crash_dump),
        );
    }
    if v.shows_is_dpu() {
        ins(&mut o, "is_dpu", json!(false));
    }
    ins(
        &mut o,
        "resource_uri",
        json!(format!("{API}/machines/{}/", m.system_id)),
    );
    Value::Object(o)
}

/// The VM host as `VmHostHandler` renders it.
pub(crate) fn vmhost(st: &State, h: &VmHost) -> Value {
    let (uc, um, us) = st.vmhost_used(h.id);
    let total_storage = h.local_storage();
    let pools: Vec<Value> = h
        .storage_pools
        .iter()
        .map(|p| {
            let used: u64 = st
                .machines
                .values()
                .filter(|m| m.pod_id == Some(h.id))
                .flat_map(|m| m.block_devices.iter())
                .filter(|b| b.storage_pool.as_deref() == Some(p.name.as_str()))
                .map(|b| b.size)
                .sum();
            json!({
                "id": p.id,
                "name": p.name,
                "type": p.pool_type,
                "path": p.path,
                "total": p.total,
                "used": used,
                "available": p.total as i64 - used as i64,
                "default": h.default_storage_pool.as_deref() == Some(p.name.as_str()),
            })
        })
        .collect();
    json!({
        "id": h.id,
        "name": h.name,
        "tags": h.tags,
        "type": h.power_type,
        "architectures": h.architectures,
        "capabilities": h.capabilities,
        "total": {"cores": h.cores, "memory": h.memory, "local_storage": total_storage},
        "used": {"cores": uc, "memory": um, "local_storage": us},
        "available": {
            "cores": h.cores as i64 - uc as i64,
            "memory": h.memory as i64 - um as i64,
            "local_storage": total_storage as i64 - us as i64,
        },
        "zone": zone(st, h.zone_id),
        "cpu_over_commit_ratio": h.cpu_over_commit_ratio,
        "memory_over_commit_ratio": h.memory_over_commit_ratio,
        "storage_pools": pools,
        "pool": pool(st, h.pool_id),
        "host": {
            "system_id": h.host_machine.and_then(|m| st.machines.get(&m)).map(|m| m.system_id.clone()),
            "__incomplete__": true,
        },
        "default_macvlan_mode": h.default_macvlan_mode,
        "version": h.version,
        "resource_uri": format!("{API}/vm-hosts/{}/", h.id),
    })
}

/// `op=parameters`: the power parameters, secrets included (admin only).
pub(crate) fn vmhost_parameters(h: &VmHost) -> Value {
    if h.power_type == "lxd" {
        json!({
            "power_address": h.power_address,
            "project": h.project,
            "password": h.password.clone().unwrap_or_default(),
            "certificate": h.certificate.clone().unwrap_or_default(),
            "key": h.key.clone().unwrap_or_default(),
        })
    } else {
        json!({
            "power_address": h.power_address,
            "power_user": h.power_user.clone().unwrap_or_default(),
            "power_pass": h.power_pass.clone().unwrap_or_default(),
        })
    }
}

/// A StaticIPAddress as `IPAddressesHandler` renders it.
pub(crate) fn ip(st: &State, r: &StaticIp) -> Value {
    let ifaces: Vec<Value> = r
        .interface_id
        .and_then(|i| st.interfaces.get(&i))
        .map(|i| vec![interface(st, i)])
        .unwrap_or_default();
    json!({
        "alloc_type": r.alloc_type as u32,
        "alloc_type_name": r.alloc_type.name(),
        "created": crate::model::clock::iso_date(r.created_unix_ms),
        "ip": r.ip.map(|i| i.to_string()),
        "owner": r.user_id.and_then(|u| st.users.get(&u)).map(user).unwrap_or(Value::Null),
        "interface_set": ifaces,
        "subnet": r.subnet_id.map(|s| subnet(st, s)).unwrap_or(Value::Null),
        "resource_uri": format!("{API}/ipaddresses/"),
    })
}

pub(crate) fn dnsresource(st: &State, d: &DnsResource) -> Value {
    let domain = st
        .domains
        .get(&d.domain_id)
        .map(|x| x.name.clone())
        .unwrap_or_default();
    let fqdn = if d.name == "@" {
        domain.clone()
    } else {
        format!("{}.{}", d.name, domain)
    };
    let ips: Vec<Value> = d
        .ip_ids
        .iter()
        .filter_map(|i| st.ips.get(i))
        .map(|r| ip(st, r))
        .collect();
    let records: Vec<Value> = st
        .dnsdata_of(d.id)
        .into_iter()
        .map(|r| dnsdata_with_fqdn(r, &fqdn))
        .collect();
    json!({
        "id": d.id,
        "fqdn": fqdn,
        "address_ttl": d.address_ttl,
        "ip_addresses": ips,
        "resource_records": records,
        "resource_uri": format!("{API}/dnsresources/{}/", d.id),
    })
}

/// The fqdn of a DNS resource: `<name>.<domain>`, or the domain for `@`.
fn dnsresource_fqdn(st: &State, d: &DnsResource) -> String {
    let domain = st
        .domains
        .get(&d.domain_id)
        .map(|x| x.name.clone())
        .unwrap_or_default();
    if d.name == "@" {
        domain
    } else {
        format!("{}.{}", d.name, domain)
    }
}

fn dnsdata_with_fqdn(r: &DnsData, fqdn: &str) -> Value {
    json!({
        "id": r.id,
        "fqdn": fqdn,
        "ttl": r.ttl,
        "rrtype": r.rrtype,
        "rrdata": r.rrdata,
        "resource_uri": format!("{API}/dnsresourcerecords/{}/", r.id),
    })
}

/// A DNS resource record (`DISPLAYED_DNSDATA_FIELDS` and its URI).
pub(crate) fn dnsdata(st: &State, r: &DnsData) -> Value {
    let fqdn = st
        .dnsresources
        .get(&r.dnsresource_id)
        .map(|d| dnsresource_fqdn(st, d))
        .unwrap_or_default();
    dnsdata_with_fqdn(r, &fqdn)
}

pub(crate) fn event(e: &Event) -> Value {
    json!({
        "username": e.username,
        "node": e.system_id,
        "hostname": e.hostname,
        "id": e.id,
        "level": e.etype.level.as_str(),
        "created": crate::model::clock::event_date(e.created_unix_ms),
        "type": e.etype.desc,
        "description": e.description,
    })
}
