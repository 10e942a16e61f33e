#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! MAAS's validators and their exact answers (status, content type, body),
//! as the real MAAS 3.6.5 region gives them: owner data keys, tag, zone and
//! pool names, domain names, DNS resource names and addresses, hostnames,
//! agent names.

mod common;

use common::*;
use reqwest::StatusCode;

const JSON_UTF8: &str = "application/json; charset=utf-8";
const TEXT_UTF8: &str = "text/plain; charset=utf-8";

#[track_caller]
fn answer(r: &Resp, status: u16, content_type: &str, body: &str) {
    assert_eq!(
        (
            r.status.as_u16(),
            r.content_type().as_str(),
            r.text.as_str()
        ),
        (status, content_type, body)
    );
}

#[tokio::test]
async fn owner_data_keys_follow_maas_key_rule() {
    let sim = start(builder().machines(3)).await;
    let admin = Maas::admin(&sim);
    let id = sid(&admin.allocate(&[]).await);
    let path = format!("machines/{id}/?op=set_workload_annotations");

    // The keys capmaas used to write: MAAS answers 500, text/plain.
    for key in ["capmaas.io/owner", "capmaas.io/cluster", "a b", "k:v", ""] {
        let r = admin.post(&path, &[(key, "x")]).await;
        answer(&r, 500, TEXT_UTF8, "Invalid character in key name");
    }
    // The transaction rolls back: a good key sent with a bad one is not kept.
    let r = admin
        .post(&path, &[("good", "1"), ("capmaas.io/owner", "x")])
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    let m = admin.machine(&id).await;
    assert!(m["workload_annotations"].get("good").is_none(), "{m}");

    // Keys MAAS accepts: word characters (Unicode), dots and hyphens; `$`
    // lets one trailing newline through.
    let r = admin
        .post(
            &path,
            &[
                ("capmaas.io.owner", "ns/name"),
                ("é-ключ_1", "v"),
                ("trailing\n", "v"),
            ],
        )
        .await;
    let m = r.ok();
    assert_eq!(m["workload_annotations"]["capmaas.io.owner"], "ns/name");
    assert_eq!(m["workload_annotations"]["é-ключ_1"], "v");
    assert_eq!(m["workload_annotations"]["trailing\n"], "v");

    // Removing is not validated (an empty value deletes the key).
    let r = admin.post(&path, &[("capmaas.io/owner", "")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // OwnerData.key is a CharField(max_length=255): full_clean's error
    // comes through the middleware as JSON *without* charset.
    let long = "k".repeat(256);
    let r = admin.post(&path, &[(long.as_str(), "v")]).await;
    answer(
        &r,
        400,
        "application/json",
        r#"{"key": ["Ensure this value has at most 255 characters (it has 256)."]}"#,
    );
    let ok = "k".repeat(255);
    assert_eq!(
        admin.post(&path, &[(ok.as_str(), "v")]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn tag_zone_and_pool_names_use_maas_form_texts() {
    let sim = start(builder().machines(1)).await;
    let admin = Maas::admin(&sim);
    let invalid = r#"{"name": ["Enter a valid value."]}"#;
    let too_long = r#"{"name": ["Ensure this value has at most 256 characters (it has 257)."]}"#;
    let long = "a".repeat(257);
    for (kind, bad, good) in [
        // Tag._tag_name_regex = ^[a-zA-Z0-9_-]+$
        (
            "tags",
            vec!["bad/x", "with space", "dot.ted", "é"],
            vec!["-tag", "t_1"],
        ),
        // MODEL_NAME_VALIDATOR = ^\w[ \w-]*$
        (
            "zones",
            vec!["bad/x", "-zone", "dot.ted"],
            vec!["with space", "zone_é"],
        ),
        (
            "resourcepools",
            vec!["bad/x", "-pool", "dot.ted"],
            vec!["with space", "pool_é"],
        ),
    ] {
        for name in bad {
            let r = admin.post(&format!("{kind}/"), &[("name", name)]).await;
            answer(&r, 400, JSON_UTF8, invalid);
        }
        for name in good {
            let r = admin.post(&format!("{kind}/"), &[("name", name)]).await;
            assert_eq!(r.ok()["name"], name, "{kind}");
        }
        let r = admin.post(&format!("{kind}/"), &[("name", &long)]).await;
        answer(&r, 400, JSON_UTF8, too_long);
        let r = admin.post(&format!("{kind}/"), &[("name", "")]).await;
        answer(
            &r,
            400,
            JSON_UTF8,
            r#"{"name": ["This field is required."]}"#,
        );
        // The form strips the name.
        let r = admin.post(&format!("{kind}/"), &[("name", " lead")]).await;
        assert_eq!(r.ok()["name"], "lead", "{kind}");
    }
}

#[tokio::test]
async fn domain_names_are_checked_by_both_maas_validators() {
    let sim = start(builder().machines(1)).await;
    let admin = Maas::admin(&sim);
    for (name, body) in [
        (
            "bad name",
            r#"{"name": ["Domain name contains invalid characters.", "Label contains disallowed characters: 'bad name'."]}"#,
        ),
        (
            "bad_x",
            r#"{"name": ["Domain name contains invalid characters.", "Label contains disallowed characters: 'bad_x'."]}"#,
        ),
        (
            "ex-.com",
            r#"{"name": ["Invalid domain name: ex-.com.", "Label cannot start or end with hyphen: 'ex-'."]}"#,
        ),
        (
            "a..b",
            r#"{"name": ["Invalid domain name: a..b.", "DNS name contains an empty label."]}"#,
        ),
        (
            "maas-internal",
            r#"{"name": ["Domain name cannot duplicate maas internal domain name."]}"#,
        ),
    ] {
        let r = admin.post("domains/", &[("name", name)]).await;
        answer(&r, 400, JSON_UTF8, body);
    }
    // A 64-character label passes the first validator, not the second.
    let long = format!("{}.example", "a".repeat(64));
    let r = admin.post("domains/", &[("name", long.as_str())]).await;
    answer(
        &r,
        400,
        JSON_UTF8,
        &format!(
            r#"{{"name": ["Label is too long: '{}'.  Maximum allowed is 63 characters."]}}"#,
            "a".repeat(64)
        ),
    );
    // Trailing dots are dropped (DomainNameField.to_python).
    let r = admin.post("domains/", &[("name", "Example.test.")]).await;
    assert_eq!(r.ok()["name"], "Example.test");
    let r = admin.post("domains/", &[("name", "Example.test")]).await;
    answer(
        &r,
        400,
        JSON_UTF8,
        r#"{"name": ["Domain with this Name already exists."]}"#,
    );
}

#[tokio::test]
async fn dns_resources_as_maas_validates_them() {
    let sim = start(builder().machines(1)).await;
    let admin = Maas::admin(&sim);
    admin.post("domains/", &[("name", "ex.test")]).await.ok();
    let create = |form: Vec<(&'static str, &'static str)>| {
        let admin = admin.clone();
        async move { admin.post("dnsresources/", &form).await }
    };

    // Names are checked when addresses are given.
    let r = create(vec![
        ("name", "bad name"),
        ("domain", "ex.test"),
        ("ip_addresses", "10.9.0.2"),
    ])
    .await;
    answer(
        &r,
        400,
        JSON_UTF8,
        r#"{"__all__": ["Invalid dnsresource name: bad name."]}"#,
    );
    let r = create(vec![
        ("name", "_srv"),
        ("domain", "ex.test"),
        ("ip_addresses", "10.9.0.2"),
    ])
    .await;
    answer(
        &r,
        400,
        JSON_UTF8,
        r#"{"__all__": ["Invalid dnsresource name: _srv."]}"#,
    );
    // ... and not without (MAAS creates it).
    let r = create(vec![("name", "bad name"), ("domain", "ex.test")]).await;
    assert_eq!(r.ok()["fqdn"], "bad name.ex.test");

    // fqdn is split by separate_fqdn's regex, whose `.` matches any
    // character: `bad_name.ex.test` looks for domain `name.ex.test`.
    let r = create(vec![
        ("fqdn", "bad_name.ex.test"),
        ("ip_addresses", "10.9.0.3"),
    ])
    .await;
    answer(&r, 404, "text/plain", "No Domain matches the given query.");
    // An fqdn naming a domain is its `@` record.
    let r = create(vec![("fqdn", "ex.test"), ("ip_addresses", "10.9.0.4")]).await;
    let v = r.ok();
    assert_eq!(v["fqdn"], "ex.test");

    // Addresses MAAS cannot parse: netaddr's error, unhandled (500).
    let r = create(vec![
        ("name", "h1"),
        ("domain", "ex.test"),
        ("ip_addresses", "10.9.0.5 999.1.1.1"),
    ])
    .await;
    answer(
        &r,
        500,
        TEXT_UTF8,
        "failed to detect a valid IP address from '999.1.1.1'",
    );
    // Nothing was kept from the failed request.
    let ips = admin.get("ipaddresses/", &[("all", "true")]).await.ok();
    assert!(
        !ips.to_string().contains("10.9.0.5"),
        "the rolled-back address stays free: {ips}"
    );
    // An id that is no StaticIPAddress: the foreign key fails, MAAS retries
    // the transaction and serves its conflict page.
    let r = create(vec![
        ("name", "h2"),
        ("domain", "ex.test"),
        ("ip_addresses", "99999"),
    ])
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.header("retry-after").as_deref(), Some("5"));
    assert!(r.text.contains("Conflict error. Try your request again"));

    // Missing pieces.
    let r = create(vec![("name", "h3"), ("ip_addresses", "10.9.0.6")]).await;
    answer(
        &r,
        400,
        JSON_UTF8,
        r#"{"domain": ["This field is required."]}"#,
    );
    let r = create(vec![("domain", "ex.test"), ("ip_addresses", "10.9.0.6")]).await;
    answer(&r, 500, TEXT_UTF8, "'name'");
    let r = create(vec![("name", "h4"), ("domain", "999")]).await;
    answer(&r, 404, "text/plain", "No Domain matches the given query.");
    let r = create(vec![
        ("name", "h5"),
        ("domain", "ex.test"),
        ("address_ttl", "2147483648"),
    ])
    .await;
    answer(
        &r,
        400,
        JSON_UTF8,
        r#"{"address_ttl": ["Ensure this value is less than or equal to 2147483647."]}"#,
    );

    // Update: the form always checks the name; with addresses on record the
    // model's clean checks it again, so MAAS lists the message twice.
    let h = create(vec![
        ("name", "h6"),
        ("domain", "ex.test"),
        ("ip_addresses", "10.9.0.7"),
    ])
    .await
    .ok();
    let path = format!("dnsresources/{}/", h["id"]);
    let r = admin.put(&path, &[("name", "bad_x")]).await;
    answer(
        &r,
        400,
        JSON_UTF8,
        r#"{"__all__": ["Invalid dnsresource name: bad_x.", "Invalid dnsresource name: bad_x."]}"#,
    );
    let v = admin.put(&path, &[("ip_addresses", "10.9.0.8")]).await.ok();
    assert_eq!(v["ip_addresses"][0]["ip"], "10.9.0.8");
}

#[tokio::test]
async fn hostnames_and_agent_names() {
    let sim = start(builder().machines(3)).await;
    let admin = Maas::admin(&sim);
    let machines = admin.get("machines/", &[]).await.ok();
    let id = sid(&machines[0]);
    let other = machines[1]["hostname"].as_str().unwrap().to_string();
    let path = format!("machines/{id}/");
    for (hostname, msg) in [
        (
            "bad host",
            "Label contains disallowed characters: 'bad host'.",
        ),
        (
            "under_score",
            "Host label cannot contain underscore: 'under_score'.",
        ),
        (
            "trailing-",
            "Label cannot start or end with hyphen: 'trailing-'.",
        ),
        ("host.nodomain", "Nonexistant domain."),
        (other.as_str(), "Node with this Hostname already exists."),
    ] {
        let r = admin.put(&path, &[("hostname", hostname)]).await;
        answer(&r, 400, JSON_UTF8, &format!(r#"{{"hostname": ["{msg}"]}}"#));
    }
    // `host.domain` moves the machine to that domain.
    let m = admin.put(&path, &[("hostname", "renamed.maas")]).await.ok();
    assert_eq!(
        (m["hostname"].as_str(), m["fqdn"].as_str()),
        (Some("renamed"), Some("renamed.maas"))
    );
    let r = admin.put(&path, &[("domain", "nodomain")]).await;
    answer(
        &r,
        400,
        JSON_UTF8,
        r#"{"domain": ["Unable to find domain nodomain"]}"#,
    );

    // Node.agent_name is a CharField(max_length=255): acquire's save fails
    // full_clean, and nothing is allocated.
    let long = "a".repeat(256);
    let r = admin
        .post("machines/?op=allocate", &[("agent_name", long.as_str())])
        .await;
    answer(
        &r,
        400,
        "application/json",
        r#"{"agent_name": ["Ensure this value has at most 255 characters (it has 256)."]}"#,
    );
    let owned = admin.get("machines/", &[("owner", "admin")]).await.ok();
    assert_eq!(owned.as_array().map(Vec::len), Some(0), "{owned}");
    // Comments are TextFields: any length is fine.
    let comment = "c".repeat(10_000);
    let m = admin
        .allocate(&[
            ("agent_name", "a".repeat(255).as_str()),
            ("comment", comment.as_str()),
        ])
        .await;
    assert_eq!(m["status_name"], "Allocated");
}
