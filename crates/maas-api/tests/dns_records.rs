#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `dnsresourcerecords/` on the wire: paths, form fields, decoding, and the
//! records of a DNS resource.

use maas_api::{
    ClientConfig, DnsResource, DnsResourceFilter, DnsResourceRecordFilter, DnsResourceRecordParams,
    ErrorClass, MaasClient, RetryPolicy,
};
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn client(server: &MockServer) -> MaasClient {
    let key = "Cq7rTzX2mWk9PbNvLd:Hs4yGe8uJf3nQa6cVx:k2WnR8vT5yB3mQ7sX9dF4gH6jL2pZ8cV";
    MaasClient::new(
        ClientConfig::new(&format!("{}/MAAS", server.uri()), key)
            .unwrap()
            .with_retry(RetryPolicy::none()),
    )
    .unwrap()
}

fn body(req: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&req.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn record(id: i64, ttl: Option<i64>) -> serde_json::Value {
    json!({"id": id, "fqdn": "c1.maas", "ttl": ttl, "rrtype": "TXT",
           "rrdata": "capmaas-cluster=ns/c1",
           "resource_uri": format!("/MAAS/api/2.0/dnsresourcerecords/{id}/")})
}

#[tokio::test]
async fn records_are_created_listed_updated_and_deleted_on_their_paths() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/MAAS/api/2.0/dnsresourcerecords/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(record(4, None)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/MAAS/api/2.0/dnsresourcerecords/"))
        .and(query_param("fqdn", "c1.maas"))
        .and(query_param("rrtype", "TXT"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([record(4, None)])))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/MAAS/api/2.0/dnsresourcerecords/4/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(record(4, Some(60))))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/MAAS/api/2.0/dnsresourcerecords/4/"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/MAAS/api/2.0/dnsresourcerecords/5/"))
        .respond_with(ResponseTemplate::new(404).set_body_raw(
            b"No DNSData matches the given query.".to_vec(),
            "text/plain",
        ))
        .mount(&server)
        .await;
    let c = client(&server);
    let created = c
        .create_dns_resource_record(&DnsResourceRecordParams {
            name: Some("c1".into()),
            domain: Some("maas".into()),
            rrtype: Some("TXT".into()),
            rrdata: Some("capmaas-cluster=ns/c1".into()),
            ..DnsResourceRecordParams::default()
        })
        .await
        .unwrap();
    assert_eq!(created.id, 4);
    assert_eq!(created.fqdn, "c1.maas");
    assert_eq!(created.ttl, None);
    let listed = c
        .list_dns_resource_records(&DnsResourceRecordFilter {
            fqdn: Some("c1.maas".into()),
            rrtype: Some("TXT".into()),
            ..DnsResourceRecordFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(listed, vec![created.clone()]);
    let updated = c
        .update_dns_resource_record(
            4,
            &DnsResourceRecordParams {
                ttl: Some(60),
                ..DnsResourceRecordParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.ttl, Some(60));
    c.delete_dns_resource_record(4).await.unwrap();
    let gone = c.delete_dns_resource_record(5).await.unwrap_err();
    assert!(gone.is_not_found(), "{gone}");
    assert_eq!(gone.class(), ErrorClass::Permanent);

    let reqs = server.received_requests().await.unwrap();
    assert_eq!(
        body(&reqs[0]),
        vec![
            ("name".to_owned(), "c1".to_owned()),
            ("domain".to_owned(), "maas".to_owned()),
            ("rrtype".to_owned(), "TXT".to_owned()),
            ("rrdata".to_owned(), "capmaas-cluster=ns/c1".to_owned()),
        ],
        "only the fields given, no fqdn"
    );
    assert_eq!(
        body(&reqs[2]),
        vec![("ttl".to_owned(), "60".to_owned())],
        "an update sends only what changes (MAAS keeps the rest)"
    );
}

#[tokio::test]
async fn a_dns_resource_shows_its_txt_records() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/MAAS/api/2.0/dnsresources/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
            "id": 9, "fqdn": "c1.maas", "address_ttl": null,
            "ip_addresses": [{"ip": "10.0.0.5"}],
            "resource_records": [
                {"id": 3, "fqdn": "c1.maas", "ttl": null, "rrtype": "CNAME", "rrdata": "x.maas"},
                record(4, None),
                {"id": 6, "fqdn": "c1.maas", "ttl": null, "rrtype": "TXT", "rrdata": "v=spf1 -all"},
            ],
            "resource_uri": "/MAAS/api/2.0/dnsresources/9/"}])))
        .mount(&server)
        .await;
    let list: Vec<DnsResource> = client(&server)
        .list_dns_resources(&DnsResourceFilter {
            fqdn: Some("c1.maas".into()),
            ..DnsResourceFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(list[0].ips(), vec!["10.0.0.5"]);
    assert_eq!(
        list[0].records_of("txt"),
        vec!["capmaas-cluster=ns/c1", "v=spf1 -all"]
    );
    assert_eq!(list[0].resource_records[1].id, Some(4));
}
