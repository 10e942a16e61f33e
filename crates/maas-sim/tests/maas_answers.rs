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
