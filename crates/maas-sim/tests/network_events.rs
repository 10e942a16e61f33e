#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Interfaces, subnets, reserved addresses, DNS resources, domains, zones,
//! pools, tags and the event log.

mod common;

use common::*;
use maas_sim::Inventory;
use reqwest::StatusCode;

const INVENTORY: &str = r#"
subnets:
  - cidr: 10.20.0.0/24
    gateway_ip: 10.20.0.1
    dynamic_ranges: [{start: 10.20.0.200, end: 10.20.0.250}]
    reserved_ranges: [{start: 10.20.0.1, end: 10.20.0.9}]
  - cidr: 192.168.50.0/24
    fabric: fabric-storage
    vid: 50
    dhcp_on: false
domains:
  - name: example.com
tags:
  - name: ssd
machines:
  - hostname: n1
    cpu_count: 4
    memory: 8192
    tags: [ssd]
"#;

async fn sim() -> maas_sim::RunningSimulator {
    start(builder().inventory(Inventory::from_yaml(INVENTORY).unwrap())).await
}

#[tokio::test]
async fn subnets_fabrics_vlans() {
    let sim = sim().await;
    let admin = Maas::admin(&sim);
    let subnets = admin.get("subnets/", &[]).await.ok();
    assert_eq!(subnets.as_array().unwrap().len(), 2);
    let s = admin.get("subnets/10.20.0.0/24/", &[]).await.ok();
    assert_eq!(s["cidr"], "10.20.0.0/24");
    assert_eq!(s["gateway_ip"], "10.20.0.1");
    assert_eq!(s["vlan"]["vid"], 0);
    assert_eq!(s["vlan"]["name"], "untagged");
    assert_eq!(s["space"], "undefined");
    assert_eq!(
        s["resource_uri"],
        format!("/MAAS/api/2.0/subnets/{}/", s["id"])
    );
    let by_id = admin.get(&format!("subnets/{}/", s["id"]), &[]).await.ok();
    assert_eq!(by_id, s);
    let r = admin.get("subnets/99/", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.text, "No Subnet matches the given query.");
    let fabrics = admin.get("fabrics/", &[]).await.ok();
    let storage = fabrics
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "fabric-storage")
        .unwrap();
    let vids: Vec<u64> = storage["vlans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["vid"].as_u64().unwrap())
        .collect();
    assert_eq!(vids, vec![0, 50]);
    let fid = storage["id"].to_string();
    let vlans = admin.get(&format!("fabrics/{fid}/vlans/"), &[]).await.ok();
    assert_eq!(vlans.as_array().unwrap().len(), 2);
    let v = admin
        .get(&format!("fabrics/{fid}/vlans/50/"), &[])
        .await
        .ok();
    assert_eq!(v["dhcp_on"], false);
    let same = admin.get(&format!("vlans/{}/", v["id"]), &[]).await.ok();
    assert_eq!(same, v);
    sim.shutdown().await;
}

#[tokio::test]
async fn link_subnet_static_and_unlink() {
    let sim = sim().await;
    let admin = Maas::admin(&sim);
    let user = Maas::user(&sim);
    let m = sim.control().machines()[0].clone();
    let ifaces = admin
        .get(&format!("nodes/{}/interfaces/", m.system_id), &[])
        .await
        .ok();
    let iface = &ifaces[0];
    let iid = iface["id"].to_string();
    assert_eq!(iface["links"][0]["mode"], "auto");
    assert!(iface["links"][0].get("ip_address").is_none());
    let path = format!("nodes/{}/interfaces/{iid}/", m.system_id);

    let r = user
        .post(
            &format!("{path}?op=link_subnet"),
            &[("mode", "STATIC"), ("subnet", "10.20.0.0/24")],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "interface edits need machine admin"
    );

    let r = admin
        .post(
            &format!("{path}?op=link_subnet"),
            &[("subnet", "10.20.0.0/24")],
        )
        .await;
    assert_eq!(r.text, r#"{"mode": ["This field is required."]}"#);
    let r = admin
        .post(
            &format!("{path}?op=link_subnet"),
            &[
                ("mode", "STATIC"),
                ("subnet", "10.20.0.0/24"),
                ("ip_address", "10.20.0.210"),
            ],
        )
        .await;
    assert_eq!(
        r.text,
        r#"{"ip_address": ["IP address is inside a dynamic range 10.20.0.200 to 10.20.0.250."]}"#
    );
    let r = admin
        .post(
            &format!("{path}?op=link_subnet"),
            &[
                ("mode", "STATIC"),
                ("subnet", "10.20.0.0/24"),
                ("ip_address", "10.99.0.5"),
            ],
        )
        .await;
    assert_eq!(
        r.text,
        r#"{"ip_address": ["IP address is not in the given subnet '10.20.0.0/24:10.20.0.0/24(vid=0)'."]}"#
    );
    let r = admin
        .post(
            &format!("{path}?op=link_subnet"),
            &[
                ("mode", "static"),
                ("subnet", "10.20.0.0/24"),
                ("ip_address", "10.20.0.42"),
            ],
        )
        .await
        .ok();
    let links = r["links"].as_array().unwrap();
    let link = links.iter().find(|l| l["mode"] == "static").unwrap();
    assert_eq!(link["ip_address"], "10.20.0.42");
    assert_eq!(link["subnet"]["cidr"], "10.20.0.0/24");
    // The address is now taken.
    let r = admin
        .post("ipaddresses/?op=reserve", &[("ip", "10.20.0.42")])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.text, "The IP address 10.20.0.42 is already in use.");
    // Linking it again: link_subnet's own wording (StaticIPAddressUnavailable, 404).
    let r = admin
        .post(
            &format!("{path}?op=link_subnet"),
            &[
                ("mode", "STATIC"),
                ("subnet", "10.20.0.0/24"),
                ("ip_address", "10.20.0.42"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.text, "IP address is already in use.");

    // STATIC links survive deploy/release.
    let a = admin.allocate(&[]).await;
    assert_eq!(sid(&a), m.system_id);
    admin
        .post(&format!("machines/{}/?op=deploy", m.system_id), &[])
        .await
        .ok();
    let r = admin
        .post(&format!("{path}?op=link_subnet"), &[("mode", "dhcp")])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.text,
        "Cannot link subnet interface because the machine is not New, Ready, Allocated, or Broken."
    );
    sim.control().complete_pending();
    admin
        .post(&format!("machines/{}/?op=release", m.system_id), &[])
        .await
        .ok();
    sim.control().complete_pending();
    let mm = admin.machine(&m.system_id).await;
    assert_eq!(mm["ip_addresses"], serde_json::json!(["10.20.0.42"]));

    let link_id = link["id"].to_string();
    let r = admin
        .post(&format!("{path}?op=unlink_subnet"), &[("id", "12345")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.text
            .starts_with(r#"{"id": ["'12345' is not a valid id.  It should be one of: "#),
        "{}",
        r.text
    );
    let r = admin
        .post(
            &format!("{path}?op=unlink_subnet"),
            &[("id", link_id.as_str())],
        )
        .await
        .ok();
    assert!(
        r["links"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["mode"] != "static")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn reserve_release_and_dns() {
    let sim = sim().await;
    let admin = Maas::admin(&sim);
    let user = Maas::user(&sim);
    let r = admin.post("ipaddresses/?op=reserve", &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.text,
        "Must supply either the 'subnet' or the 'ip' parameter."
    );
    let r = admin
        .post("ipaddresses/?op=reserve", &[("subnet", "172.31.0.0/16")])
        .await;
    assert_eq!(r.text, "Unable to identify subnet: 172.31.0.0/16.");
    let r = admin
        .post("ipaddresses/?op=reserve", &[("ip", "172.31.0.1")])
        .await;
    assert_eq!(r.text, "No known subnet for IP address: 172.31.0.1.");
    let r = admin
        .post("ipaddresses/?op=reserve", &[("ip", "10.20.0.220")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let ip = user
        .post(
            "ipaddresses/?op=reserve",
            &[("subnet", "10.20.0.0/24"), ("hostname", "vip")],
        )
        .await
        .ok();
    assert_eq!(ip["alloc_type"], 4);
    assert_eq!(ip["alloc_type_name"], "User reserved");
    assert_eq!(ip["owner"]["username"], "user");
    assert_eq!(ip["resource_uri"], "/MAAS/api/2.0/ipaddresses/");
    assert_eq!(
        ip["ip"], "10.20.0.10",
        "first free address after the reserved range"
    );
    let created = ip["created"].as_str().unwrap();
    assert_eq!(created.len(), 23, "{created}");
    let mine = user.get("ipaddresses/", &[]).await.ok();
    assert_eq!(mine.as_array().unwrap().len(), 1);
    let dns = user
        .get("dnsresources/", &[("fqdn", "vip.maas")])
        .await
        .ok();
    assert_eq!(dns[0]["ip_addresses"][0]["ip"], "10.20.0.10");
    let r = admin
        .post("ipaddresses/?op=release", &[("ip", "10.20.0.10")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "not the admin's address");
    let r = user
        .post(
            "ipaddresses/?op=release",
            &[("ip", "10.20.0.10"), ("force", "true")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.text,
        "Force-releasing an IP address requires admin privileges."
    );
    let r = user
        .post("ipaddresses/?op=release", &[("ip", "10.20.0.10")])
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    // DNS resources: space-separated addresses, unknown IPs become reserved.
    let r = user
        .post("dnsresources/", &[("fqdn", "api.example.com")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let d = admin
        .post(
            "dnsresources/",
            &[
                ("fqdn", "api.example.com"),
                ("ip_addresses", "10.20.0.30 192.168.50.7"),
            ],
        )
        .await
        .ok();
    assert_eq!(d["fqdn"], "api.example.com");
    let ips: Vec<&str> = d["ip_addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["ip"].as_str().unwrap())
        .collect();
    assert_eq!(ips, vec!["10.20.0.30", "192.168.50.7"]);
    assert_eq!(d["ip_addresses"][0]["alloc_type_name"], "User reserved");
    let r = admin
        .post("dnsresources/", &[("fqdn", "api.example.com")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.text,
        r#"{"__all__": ["Labels must be unique within their zone."]}"#
    );
    let r = admin
        .post("dnsresources/", &[("fqdn", "api.nowhere.org")])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.text, "No Domain matches the given query.");
    let id = d["id"].to_string();
    // Repeated keys: only the last value counts.
    let u = admin
        .put(
            &format!("dnsresources/{id}/"),
            &[
                ("ip_addresses", "10.20.0.31"),
                ("ip_addresses", "10.20.0.32"),
            ],
        )
        .await
        .ok();
    assert_eq!(u["ip_addresses"].as_array().unwrap().len(), 1);
    assert_eq!(u["ip_addresses"][0]["ip"], "10.20.0.32");
    let listed = admin
        .get("dnsresources/", &[("fqdn", "api.example.com")])
        .await
        .ok();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let r = admin.delete(&format!("dnsresources/{id}/"), &[]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = admin.get(&format!("dnsresources/{id}/"), &[]).await;
    assert_eq!(r.text, "No DNSResource matches the given query.");

    let domains = admin.get("domains/", &[]).await.ok();
    let maas = domains
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "maas")
        .unwrap();
    assert_eq!(maas["id"], 0);
    assert_eq!(maas["is_default"], true);
    sim.shutdown().await;
}

#[tokio::test]
async fn zones_pools_tags_users() {
    let sim = sim().await;
    let admin = Maas::admin(&sim);
    let user = Maas::user(&sim);
    let z = admin.get("zones/default/", &[]).await.ok();
    assert_eq!(
        z,
        serde_json::json!({"name": "default", "description": "", "id": 1, "resource_uri": "/MAAS/api/2.0/zones/default/"})
    );
    let r = admin.post("zones/", &[("name", "default")]).await;
    assert_eq!(
        r.text,
        r#"{"name": ["Physical zone with this Name already exists."]}"#
    );
    let r = user.post("zones/", &[("name", "z9")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.text, "This method is reserved for admin users.");
    let r = admin.delete("zones/never-existed/", &[]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = admin.get("zones/never-existed/", &[]).await;
    assert_eq!(r.text, "No Zone matches the given query.");

    let p = admin.get("resourcepool/0/", &[]).await.ok();
    assert_eq!(
        p,
        serde_json::json!({"name": "default", "description": "Default pool", "id": 0, "resource_uri": "/MAAS/api/2.0/resourcepool/0/"})
    );
    assert_eq!(admin.get("resourcepool/default/", &[]).await.ok(), p);
    let r = admin.get("resourcepool/77/", &[]).await;
    assert_eq!(r.text, "No ResourcePool matches the given query.");
    let pools = admin.get("resourcepools/", &[]).await.ok();
    assert_eq!(pools.as_array().unwrap().len(), 1);

    let t = admin
        .post("tags/", &[("name", "gpu"), ("comment", "has a GPU")])
        .await
        .ok();
    assert_eq!(t["resource_uri"], "/MAAS/api/2.0/tags/gpu/");
    // A tag created without kernel_opts shows "" (TagForm saves the blank field), not null.
    assert_eq!(t["kernel_opts"], "");
    let r = user.post("tags/", &[("name", "x")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let m = sim.control().machines()[0].system_id.clone();
    let r = admin
        .post("tags/gpu/op-update_nodes", &[("add", m.as_str())])
        .await
        .ok();
    assert_eq!(r, serde_json::json!({"added": 1, "removed": 0}));
    let ms = admin.get("tags/gpu/", &[("op", "machines")]).await.ok();
    assert_eq!(ms[0]["system_id"], m.as_str());
    let got = admin.allocate(&[("tags", "gpu,ssd")]).await;
    assert_eq!(sid(&got), m);

    let me = user.get("users/", &[("op", "whoami")]).await.ok();
    assert_eq!(
        me,
        serde_json::json!({"is_superuser": false, "username": "user", "email": "user@example.com", "is_local": true, "resource_uri": "/MAAS/api/2.0/users/user/"})
    );
    let tok = user
        .post("account/?op=create_authorisation_token", &[("name", "ci")])
        .await
        .ok();
    assert_eq!(tok["name"], "ci");
    let key = format!(
        "{}:{}:{}",
        tok["consumer_key"].as_str().unwrap(),
        tok["token_key"].as_str().unwrap(),
        tok["token_secret"].as_str().unwrap()
    );
    let mut new = Maas::anon(&sim);
    new.key = Some(key);
    let me2 = new.get("users/", &[("op", "whoami")]).await.ok();
    assert_eq!(me2["username"], "user");
    sim.shutdown().await;
}

#[tokio::test]
async fn events_query_newest_first_with_links() {
    let sim = sim().await;
    let admin = Maas::admin(&sim);
    let id = sid(&admin.allocate(&[]).await);
    admin
        .post(&format!("machines/{id}/?op=deploy"), &[])
        .await
        .ok();
    sim.control().complete_pending();
    let r = admin
        .get("events/", &[("op", "query"), ("id", id.as_str())])
        .await
        .ok();
    let events = r["events"].as_array().unwrap();
    assert_eq!(r["count"], events.len());
    assert!(events.len() >= 9);
    assert_eq!(events[0]["type"], "Deployed");
    assert_eq!(events[0]["level"], "INFO");
    assert_eq!(events[0]["node"], id.as_str());
    let ids: Vec<u64> = events.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");
    assert!(
        events.iter().all(|e| e["level"] != "DEBUG"),
        "INFO and above by default"
    );
    let created = events[0]["created"].as_str().unwrap();
    assert!(created.contains(". 20"), "{created}");
    assert_eq!(
        r["next_uri"],
        format!("/MAAS/api/2.0/events/?op=query&id={id}&after={}", ids[0])
    );
    assert_eq!(
        r["prev_uri"],
        format!(
            "/MAAS/api/2.0/events/?op=query&id={id}&before={}",
            ids[ids.len() - 1]
        )
    );

    let d = admin
        .get(
            "events/",
            &[("op", "query"), ("id", id.as_str()), ("level", "DEBUG")],
        )
        .await
        .ok();
    assert!(d["count"].as_u64().unwrap() > r["count"].as_u64().unwrap());
    let user_events: Vec<&serde_json::Value> = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "User acquiring node")
        .collect();
    assert_eq!(user_events[0]["description"], "(admin)");
    assert_eq!(user_events[0]["username"], "admin");

    let page = admin
        .get(
            "events/",
            &[("op", "query"), ("id", id.as_str()), ("limit", "2")],
        )
        .await
        .ok();
    assert_eq!(page["count"], 2);
    let before = page["events"][1]["id"].to_string();
    let older = admin
        .get(
            "events/",
            &[
                ("op", "query"),
                ("id", id.as_str()),
                ("before", before.as_str()),
                ("limit", "2"),
            ],
        )
        .await
        .ok();
    assert!(older["events"][0]["id"].as_u64().unwrap() < page["events"][1]["id"].as_u64().unwrap());

    let r = admin
        .get("events/", &[("op", "query"), ("level", "LOUD")])
        .await;
    assert_eq!(r.text, "Unrecognised log level: LOUD");
    let r = admin
        .get("events/", &[("op", "query"), ("limit", "1001")])
        .await;
    assert_eq!(
        r.text,
        "Requested number of events 1001 is greater than limit: 1000"
    );
    let r = admin
        .get(
            "events/",
            &[("op", "query"), ("after", "1"), ("before", "5")],
        )
        .await;
    assert_eq!(
        r.text,
        "There is undetermined behaviour when both `after` and `before` are specified."
    );
    let empty = admin
        .get("events/", &[("op", "query"), ("hostname", "ghost")])
        .await
        .ok();
    assert_eq!(empty["count"], 0);
    assert!(empty["prev_uri"].is_null());
    sim.shutdown().await;
}
