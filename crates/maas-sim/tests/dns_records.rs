#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `dnsresourcerecords/`: DNS resource records (TXT, CNAME, MX, …) as MAAS
//! answers them, and how they show on their DNS resource.

mod common;

use common::*;
use maas_sim::Inventory;
use reqwest::StatusCode;

const INVENTORY: &str = r#"
subnets:
  - cidr: 10.20.0.0/24
    gateway_ip: 10.20.0.1
domains:
  - name: example.com
"#;

async fn sim() -> maas_sim::RunningSimulator {
    start(builder().inventory(Inventory::from_yaml(INVENTORY).unwrap())).await
}

#[tokio::test]
async fn a_txt_record_creates_its_dns_resource_and_shows_on_it() {
    let sim = sim().await;
    let admin = Maas::admin(&sim);
    let user = Maas::user(&sim);

    let r = user
        .post(
            "dnsresourcerecords/",
            &[("fqdn", "c1.maas"), ("rrtype", "TXT"), ("rrdata", "x")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = admin
        .post("dnsresourcerecords/", &[("fqdn", "c1.maas")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.text, "rrtype must be provided.");
    let r = admin
        .post(
            "dnsresourcerecords/",
            &[("fqdn", "c1.maas"), ("rrtype", "TXT")],
        )
        .await;
    assert_eq!(r.text, "rrdata must be provided.");
    let r = admin
        .post("dnsresourcerecords/", &[("rrtype", "TXT"), ("rrdata", "x")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.text, "Either name and domain (or fqdn) must be specified");
    let r = admin
        .post(
            "dnsresourcerecords/",
            &[
                ("fqdn", "c1.nowhere.org"),
                ("rrtype", "TXT"),
                ("rrdata", "x"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.text, "No Domain matches the given query.");

    let marker = "capmaas-cluster=team-a/c1";
    let t = admin
        .post(
            "dnsresourcerecords/",
            &[
                ("name", "c1"),
                ("domain", "maas"),
                ("rrtype", "txt"),
                ("rrdata", marker),
            ],
        )
        .await
        .ok();
    assert_eq!(t["fqdn"], "c1.maas");
    assert_eq!(t["rrtype"], "TXT", "MAAS stores the type in upper case");
    assert_eq!(t["rrdata"], marker);
    assert_eq!(t["ttl"], serde_json::Value::Null);
    let tid = t["id"].as_u64().unwrap();
    assert_eq!(
        t["resource_uri"],
        format!("/MAAS/api/2.0/dnsresourcerecords/{tid}/")
    );
    let keys: Vec<&String> = t.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 6, "{keys:?}");

    // The DNS resource exists now, with the record and no address.
    let dns = admin
        .get("dnsresources/", &[("fqdn", "c1.maas")])
        .await
        .ok();
    let dns = dns.as_array().unwrap();
    assert_eq!(dns.len(), 1);
    assert_eq!(dns[0]["ip_addresses"].as_array().unwrap().len(), 0);
    assert_eq!(dns[0]["resource_records"][0], t);
    let rid = dns[0]["id"].to_string();
    // Addresses are set on the resource as usual; the record stays.
    let u = admin
        .put(
            &format!("dnsresources/{rid}/"),
            &[("ip_addresses", "10.20.0.30")],
        )
        .await
        .ok();
    assert_eq!(u["ip_addresses"][0]["ip"], "10.20.0.30");
    assert_eq!(u["resource_records"][0]["rrdata"], marker);
    // A second record on the same name joins the same resource.
    let t2 = admin
        .post(
            "dnsresourcerecords/",
            &[
                ("fqdn", "c1.maas"),
                ("rrtype", "TXT"),
                ("rrdata", "v=spf1 -all"),
            ],
        )
        .await
        .ok();
    let listed = admin
        .get("dnsresourcerecords/", &[("fqdn", "c1.maas")])
        .await
        .ok();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    // `rrtype` filters dnsresources/ by records: one row per matching one.
    let by_txt = admin
        .get("dnsresources/", &[("fqdn", "c1.maas"), ("rrtype", "TXT")])
        .await
        .ok();
    assert_eq!(by_txt.as_array().unwrap().len(), 2);
    let by_a = admin
        .get("dnsresources/", &[("fqdn", "c1.maas"), ("rrtype", "A")])
        .await
        .ok();
    assert_eq!(
        by_a.as_array().unwrap().len(),
        0,
        "addresses are not records"
    );

    // Read, update (missing fields keep their values), 404s.
    let read = user
        .get(&format!("dnsresourcerecords/{tid}/"), &[])
        .await
        .ok();
    assert_eq!(read, t);
    let r = user
        .put(&format!("dnsresourcerecords/{tid}/"), &[("ttl", "60")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let u = admin
        .put(&format!("dnsresourcerecords/{tid}/"), &[("ttl", "60")])
        .await
        .ok();
    assert_eq!(u["ttl"], 60);
    assert_eq!(u["rrdata"], marker);
    let r = admin
        .put(&format!("dnsresourcerecords/{tid}/"), &[("ttl", "-1")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.text,
        r#"{"ttl": ["Ensure this value is greater than or equal to 0."]}"#
    );
    for path in ["dnsresourcerecords/999/", "dnsresourcerecords/x/"] {
        let r = admin.get(path, &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.text, "No DNSData matches the given query.");
    }

    // Deleting the last record of a resource with addresses keeps it.
    let r = user
        .delete(&format!("dnsresourcerecords/{tid}/"), &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    for id in [tid, t2["id"].as_u64().unwrap()] {
        let r = admin
            .delete(&format!("dnsresourcerecords/{id}/"), &[])
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
    }
    let dns = admin.get(&format!("dnsresources/{rid}/"), &[]).await.ok();
    assert_eq!(dns["resource_records"].as_array().unwrap().len(), 0);
    assert_eq!(dns["ip_addresses"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_record_alone_takes_its_resource_away_and_a_resource_takes_its_records() {
    let sim = sim().await;
    let admin = Maas::admin(&sim);
    let t = admin
        .post(
            "dnsresourcerecords/",
            &[
                ("fqdn", "api.example.com"),
                ("rrtype", "TXT"),
                ("rrdata", "a"),
            ],
        )
        .await
        .ok();
    let r = admin
        .delete(&format!("dnsresourcerecords/{}/", t["id"]), &[])
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let dns = admin
        .get("dnsresources/", &[("fqdn", "api.example.com")])
        .await
        .ok();
    assert_eq!(
        dns.as_array().unwrap().len(),
        0,
        "no record, no address: gone"
    );

    let t = admin
        .post(
            "dnsresourcerecords/",
            &[
                ("fqdn", "api.example.com"),
                ("rrtype", "TXT"),
                ("rrdata", "b"),
            ],
        )
        .await
        .ok();
    let dns = admin
        .get("dnsresources/", &[("fqdn", "api.example.com")])
        .await
        .ok();
    let rid = dns[0]["id"].to_string();
    let r = admin.delete(&format!("dnsresources/{rid}/"), &[]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = admin
        .get(&format!("dnsresourcerecords/{}/", t["id"]), &[])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "records cascade");
}

#[tokio::test]
async fn record_forms_refuse_what_maas_refuses() {
    let sim = sim().await;
    let admin = Maas::admin(&sim);
    let bad = |rrtype: &'static str, rrdata: &'static str| {
        [("fqdn", "www.maas"), ("rrtype", rrtype), ("rrdata", rrdata)]
    };
    let r = admin.post("dnsresourcerecords/", &bad("FOO", "x")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.text,
        r#"{"rrtype": ["FOO is not one of CNAME MX NS SRV SSHFP TXT."]}"#
    );
    let r = admin.post("dnsresourcerecords/", &bad("TXT", "")).await;
    assert_eq!(r.text, r#"{"rrdata": ["This field is required."]}"#);
    let r = admin.post("dnsresourcerecords/", &bad("MX", "mail")).await;
    assert_eq!(
        r.text,
        r#"{"__all__": ["Invalid MX: Should be '<preference> <server>'. Range for preference is 0-65535."]}"#
    );
    // A failed record leaves no DNS resource behind.
    let dns = admin
        .get("dnsresources/", &[("fqdn", "www.maas")])
        .await
        .ok();
    assert_eq!(dns.as_array().unwrap().len(), 0);
    let c = admin
        .post("dnsresourcerecords/", &bad("CNAME", "other.maas"))
        .await
        .ok();
    assert_eq!(c["rrtype"], "CNAME");
    let r = admin.post("dnsresourcerecords/", &bad("TXT", "x")).await;
    assert_eq!(
        r.text,
        r#"{"__all__": ["CNAME records for a name cannot coexist with non-CNAME records."]}"#
    );
    let r = admin
        .post("dnsresourcerecords/", &bad("CNAME", "again.maas"))
        .await;
    assert_eq!(
        r.text,
        r#"{"__all__": ["Only one CNAME can be associated with a name."]}"#
    );
    // A name no split matches: MAAS's own 500.
    let r = admin
        .post(
            "dnsresourcerecords/",
            &[("fqdn", "-bad"), ("rrtype", "TXT"), ("rrdata", "x")],
        )
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.text, "cannot unpack non-iterable NoneType object");
}
