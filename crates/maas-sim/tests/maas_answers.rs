#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Answers where the simulator differed from a real MAAS 3.6.5 region, each
//! checked against that region: JSON shapes, content types, statuses and
//! texts.

mod common;

use common::*;
use maas_sim::Inventory;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn interface_params_is_an_object() {
    let sim = start(builder().machines(2)).await;
    let admin = Maas::admin(&sim);
    let m = admin.get("machines/", &[]).await.ok()[0].clone();
    assert_eq!(m["boot_interface"]["params"], json!({}));
    assert_eq!(m["interface_set"][0]["params"], json!({}));
    let ifaces = admin
        .get(&format!("nodes/{}/interfaces/", sid(&m)), &[])
        .await
        .ok();
    assert_eq!(ifaces[0]["params"], json!({}));
}

#[tokio::test]
async fn not_found_texts_have_no_charset() {
    let sim = start(builder().machines(1)).await;
    let admin = Maas::admin(&sim);
    for (path, text) in [
        ("machines/zzzzzz/", "No Machine matches the given query."),
        ("zones/nope/", "No Zone matches the given query."),
        ("tags/nope/", "No Tag matches the given query."),
        ("domains/999/", "No Domain matches the given query."),
        (
            "resourcepool/999/",
            "No ResourcePool matches the given query.",
        ),
        (
            "dnsresources/999/",
            "No DNSResource matches the given query.",
        ),
        ("subnets/999/", "No Subnet matches the given query."),
        ("fabrics/999/", "No Fabric matches the given query."),
        (
            "nodes/zzzzzz/interfaces/",
            "No Node matches the given query.",
        ),
        ("vm-hosts/999/", "Not Found"),
    ] {
        let r = admin.get(path, &[]).await;
        assert_eq!(
            (r.status, r.content_type().as_str(), r.text.as_str()),
            (StatusCode::NOT_FOUND, "text/plain", text),
            "{path}"
        );
    }
    // MAAS's own 404 view keeps its charset.
    let r = admin.get("nonexistent/", &[]).await;
    assert_eq!(r.content_type(), "text/plain; charset=utf-8");
}

#[tokio::test]
async fn architectures_are_those_with_boot_images() {
    // The region has amd64 images only: an arm64 machine cannot be asked for
    // by architecture (400, not 409), whatever the inventory holds.
    let inv = Inventory::from_yaml(
        r#"
boot_architectures: [amd64/generic]
machines:
  - hostname: x86
    architecture: amd64/generic
  - hostname: arm
    architecture: arm64/generic
"#,
    )
    .unwrap();
    let sim = start(builder().inventory(inv)).await;
    let admin = Maas::admin(&sim);
    for arch in ["arm64", "arm64/generic", "armhf", "i386", "amd64/hwe-22.04"] {
        let r = admin
            .post(
                "machines/?op=allocate",
                &[("arch", arch), ("dry_run", "true")],
            )
            .await;
        assert_eq!(
            (r.status, r.text.as_str()),
            (
                StatusCode::BAD_REQUEST,
                r#"{"arch": ["Architecture not recognised."]}"#
            ),
            "{arch}"
        );
    }
    let m = admin.allocate(&[("arch", "amd64")]).await;
    assert_eq!(m["hostname"], "x86");
}

#[tokio::test]
async fn deploy_allocate_and_tag_form_texts() {
    let sim = start(builder().machines(3)).await;
    let admin = Maas::admin(&sim);
    let id = sid(&admin.allocate(&[]).await);

    // The release choices start with MAAS's default, ''.
    let r = admin
        .post(
            &format!("machines/{id}/?op=deploy"),
            &[("distro_series", "nonsense")],
        )
        .await;
    assert_eq!(
        r.text,
        r#"{"distro_series": ["'nonsense' is not a valid distro_series.  It should be one of: '', 'ubuntu/focal', 'ubuntu/jammy', 'ubuntu/noble'."]}"#
    );

    // An unknown space in `interfaces` is an Http404, not a mismatch.
    let r = admin
        .post(
            "machines/?op=allocate",
            &[("interfaces", "eth0:space=nope")],
        )
        .await;
    assert_eq!(
        (r.status, r.content_type().as_str(), r.text.as_str()),
        (
            StatusCode::NOT_FOUND,
            "text/plain",
            "No Space matches the given query."
        )
    );

    // Tag definitions are XPath: lxml's syntax errors.
    for (definition, msg) in [
        ("//node[", "Invalid expression"),
        ("//node[@id=\"x]", "Unfinished literal"),
    ] {
        let r = admin
            .post("tags/", &[("name", "t1"), ("definition", definition)])
            .await;
        assert_eq!(
            r.text,
            format!(r#"{{"definition": ["Invalid xpath expression: {msg}"]}}"#)
        );
    }
    let r = admin
        .post("tags/", &[("name", "bad name"), ("definition", "//node[")])
        .await;
    assert_eq!(
        r.text,
        r#"{"definition": ["Invalid xpath expression: Invalid expression"], "name": ["Enter a valid value."]}"#
    );
}

#[tokio::test]
async fn unknown_vm_host_texts() {
    let sim = start(builder().machines(1)).await;
    let admin = Maas::admin(&sim);
    // A read is piston's own `Not Found`; every other action looks the
    // VM host up with get_object_or_404.
    let r = admin.get("vm-hosts/999/", &[]).await;
    assert_eq!((r.status.as_u16(), r.text.as_str()), (404, "Not Found"));
    for (method, path) in [
        (reqwest::Method::PUT, "vm-hosts/999/"),
        (reqwest::Method::DELETE, "vm-hosts/999/"),
        (reqwest::Method::POST, "vm-hosts/999/?op=compose"),
        (reqwest::Method::POST, "vm-hosts/999/?op=refresh"),
        (reqwest::Method::GET, "vm-hosts/999/?op=parameters"),
    ] {
        let r = admin.raw(method.clone(), path, &[], &[]).await;
        assert_eq!(
            (
                r.status.as_u16(),
                r.content_type().as_str(),
                r.text.as_str()
            ),
            (404, "text/plain", "No Pod matches the given query."),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn link_subnet_form_texts() {
    let sim = start(builder().machines(2)).await;
    let admin = Maas::admin(&sim);
    let m = admin.allocate(&[]).await;
    let iid = m["interface_set"][0]["id"].to_string();
    let path = format!("nodes/{}/interfaces/{iid}/?op=link_subnet", sid(&m));
    for (form, body) in [
        (
            vec![("mode", "BOGUS")],
            r#"{"mode": ["'bogus' is not a valid mode.  It should be one of: 'auto', 'dhcp', 'static', 'link_up'."]}"#,
        ),
        (
            vec![("mode", "AUTO"), ("subnet", "999999")],
            r#"{"subnet": ["None found with id=999999.", "This field is required."]}"#,
        ),
        (
            vec![("mode", "AUTO"), ("subnet", "10.250.0.0/24")],
            r#"{"subnet": ["Select a valid choice. That choice is not one of the available choices.", "This field is required."]}"#,
        ),
        (
            vec![("mode", "DHCP"), ("subnet", "999999")],
            r#"{"subnet": ["None found with id=999999."]}"#,
        ),
    ] {
        let r = admin.post(&path, &form).await;
        assert_eq!(
            (r.status, r.text.as_str()),
            (StatusCode::BAD_REQUEST, body),
            "{form:?}"
        );
    }
}

#[tokio::test]
async fn zones_pools_domains_tags_update_and_delete() {
    let sim = start(builder().machines(1)).await;
    let admin = Maas::admin(&sim);
    // Zones.
    admin.post("zones/", &[("name", "z1")]).await.ok();
    let r = admin.put("zones/z1/", &[("name", "bad/name")]).await;
    assert_eq!(r.text, r#"{"name": ["Enter a valid value."]}"#);
    let z = admin
        .put("zones/z1/", &[("name", "z2"), ("description", "d")])
        .await
        .ok();
    assert_eq!(
        (z["name"].as_str(), z["description"].as_str()),
        (Some("z2"), Some("d"))
    );
    let r = admin.put("zones/nope/", &[("description", "x")]).await;
    assert_eq!(
        (r.status.as_u16(), r.text.as_str()),
        (404, "No Zone matches the given query.")
    );
    // Pools: delete, never the default one.
    let p = admin.post("resourcepools/", &[("name", "p1")]).await.ok();
    let path = format!("resourcepool/{}/", p["id"]);
    let p = admin.put(&path, &[("name", "p2")]).await.ok();
    assert_eq!(p["name"], "p2");
    assert_eq!(
        admin.delete(&path, &[]).await.status,
        StatusCode::NO_CONTENT
    );
    let r = admin.delete(&path, &[]).await;
    assert_eq!(
        (r.status.as_u16(), r.text.as_str()),
        (404, "No ResourcePool matches the given query.")
    );
    let r = admin.delete("resourcepool/0/", &[]).await;
    assert_eq!(
        (
            r.status.as_u16(),
            r.content_type().as_str(),
            r.text.as_str()
        ),
        (
            400,
            "text/plain; charset=utf-8",
            "This is the default pool, it cannot be deleted."
        )
    );
    // Domains: the form's texts on update; the default domain stays.
    let d = admin.post("domains/", &[("name", "d1.test")]).await.ok();
    let path = format!("domains/{}/", d["id"]);
    let r = admin.put(&path, &[("ttl", "x")]).await;
    assert_eq!(r.text, r#"{"ttl": ["Enter a whole number."]}"#);
    let r = admin.put(&path, &[("name", "bad name")]).await;
    assert_eq!(
        r.text,
        r#"{"name": ["Domain name contains invalid characters.", "Label contains disallowed characters: 'bad name'."]}"#
    );
    let d = admin
        .put(&path, &[("name", "d2.test"), ("ttl", "60")])
        .await
        .ok();
    assert_eq!(
        (d["name"].as_str(), d["ttl"].as_i64()),
        (Some("d2.test"), Some(60))
    );
    assert_eq!(
        admin.delete(&path, &[]).await.status,
        StatusCode::NO_CONTENT
    );
    let r = admin.delete("domains/0/", &[]).await;
    assert_eq!(
        r.text,
        "This domain is the default domain, it cannot be deleted."
    );
    let r = admin
        .post("domains/", &[("name", "d3.test"), ("ttl", "0")])
        .await;
    assert_eq!(
        r.text,
        r#"{"ttl": ["Ensure this value is greater than or equal to 1."]}"#
    );
    // Tags: rename follows on the machines.
    admin.post("tags/", &[("name", "t1")]).await.ok();
    let id = sid(&admin.get("machines/", &[]).await.ok()[0]);
    admin
        .post("tags/t1/?op=update_nodes", &[("add", id.as_str())])
        .await
        .ok();
    let t = admin
        .put("tags/t1/", &[("name", "t2"), ("comment", "c")])
        .await
        .ok();
    assert_eq!(
        (t["name"].as_str(), t["comment"].as_str()),
        (Some("t2"), Some("c"))
    );
    let m = admin.machine(&id).await;
    let tags = m["tag_names"].as_array().unwrap();
    assert!(
        tags.contains(&json!("t2")) && !tags.contains(&json!("t1")),
        "{tags:?}"
    );
    let r = admin.put("tags/t2/", &[("name", "bad name")]).await;
    assert_eq!(r.text, r#"{"name": ["Enter a valid value."]}"#);
}

#[tokio::test]
async fn users_handler_takes_posts() {
    let sim = start(builder().machines(1)).await;
    let admin = Maas::admin(&sim);
    // MAAS's UsersHandler has a create: a GET-only op POSTed is an unknown
    // signature, not 405.
    let r = admin.post("users/?op=whoami", &[]).await;
    assert_eq!(
        (r.status.as_u16(), r.text.as_str()),
        (400, "Unrecognised signature: method=POST op=whoami")
    );
    let r = admin.post("users/", &[("username", "u1")]).await;
    assert_eq!(r.text, "No provided email!");
    let form = [
        ("username", "u1"),
        ("email", "u1@example.com"),
        ("password", "pw"),
        ("is_superuser", "0"),
    ];
    let u = admin.post("users/", &form).await.ok();
    assert_eq!(
        (u["username"].as_str(), u["is_superuser"].as_bool()),
        (Some("u1"), Some(false))
    );
    let r = admin.post("users/", &form).await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "a taken username: MAAS's conflict page"
    );
}

#[tokio::test]
async fn subnet_specifiers_and_usage() {
    let inv = Inventory::from_yaml(
        "subnets:\n  - cidr: 10.99.0.0/24\n    gateway_ip: 10.99.0.1\nmachines:\n  - hostname: m1\n",
    )
    .unwrap();
    let sim = start(builder().inventory(inv)).await;
    let admin = Maas::admin(&sim);
    // The path is decoded before routing, as Django does.
    let s = admin.get("subnets/cidr:10.99.0.0%2F24/", &[]).await.ok();
    assert_eq!(s["cidr"], "10.99.0.0/24");
    // The real region's answers for the same subnet.
    let v = admin
        .get("subnets/cidr:10.99.0.0%2F24/?op=statistics", &[])
        .await
        .ok();
    assert_eq!(
        v,
        json!({"num_available": 253, "largest_available": 253, "num_unavailable": 1,
               "total_addresses": 254, "usage": 0.003937007874015748, "usage_string": "0%",
               "available_string": "100%", "first_address": "10.99.0.1",
               "last_address": "10.99.0.254", "ip_version": 4})
    );
    let v = admin
        .get("subnets/10.99.0.0/24/?op=reserved_ip_ranges", &[])
        .await
        .ok();
    assert_eq!(
        v,
        json!([{"start": "10.99.0.1", "end": "10.99.0.1", "num_addresses": 1, "purpose": ["gateway-ip"]}])
    );
    let v = admin
        .get("subnets/10.99.0.0/24/?op=unreserved_ip_ranges", &[])
        .await
        .ok();
    assert_eq!(
        v,
        json!([{"start": "10.99.0.2", "end": "10.99.0.254", "num_addresses": 253}])
    );
}

#[tokio::test]
async fn abort_of_a_deployment_keeps_its_addresses() {
    let sim = start(builder().machines(2)).await;
    let admin = Maas::admin(&sim);
    let id = sid(&admin.allocate(&[]).await);
    let m = admin
        .post(&format!("machines/{id}/?op=deploy"), &[])
        .await
        .ok();
    let ip = m["interface_set"][0]["links"][0]["ip_address"].clone();
    assert!(ip.is_string(), "{m}");
    let m = admin
        .post(&format!("machines/{id}/?op=abort"), &[])
        .await
        .ok();
    assert_eq!(m["status_name"], "Allocated");
    assert_eq!(m["interface_set"][0]["links"][0]["ip_address"], ip);
}
