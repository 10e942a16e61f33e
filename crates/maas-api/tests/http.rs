#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The client against a wiremock MAAS: wire format, auth header, every error class, retries.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use maas_api::{
    AllocateParams, ClientConfig, DeployParams, DnsResourceParams, Error, ErrorClass, EventQuery,
    LinkMode, LinkSubnetParams, MaasClient, MachineFilter, MachineStatus, PowerOffParams,
    PowerState, ReleaseParams, RequestEvent, RequestObserver, RetryPolicy, SignatureMethod,
    TransportKind, VmHostCreateParams,
};
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const CONSUMER: &str = "Cq7rTzX2mWk9PbNvLd";
const TOKEN: &str = "Hs4yGe8uJf3nQa6cVx";
const SECRET: &str = "k2WnR8vT5yB3mQ7sX9dF4gH6jL2pZ8cV";

fn key() -> String {
    format!("{CONSUMER}:{TOKEN}:{SECRET}")
}

fn fast_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(attempts)
        .with_backoff(Duration::from_millis(1), Duration::from_millis(5))
        .with_max_retry_after(Duration::from_secs(5))
        .with_max_elapsed(Duration::from_secs(20))
}

fn config(server: &MockServer) -> ClientConfig {
    ClientConfig::new(&format!("{}/MAAS", server.uri()), &key())
        .unwrap()
        .with_retry(RetryPolicy::none())
}

fn auth_params(req: &Request) -> BTreeMap<String, String> {
    let h = req.headers.get("authorization").unwrap().to_str().unwrap();
    assert!(h.starts_with("OAuth "), "{h}");
    h["OAuth ".len()..]
        .split(',')
        .map(|p| {
            let (k, v) = p.trim().split_once('=').unwrap();
            let v = url::form_urlencoded::parse(format!("v={}", v.trim_matches('"')).as_bytes())
                .next()
                .unwrap()
                .1
                .into_owned();
            (k.to_owned(), v)
        })
        .collect()
}

/// Plain fields of a multipart body (no file parts in these tests).
fn multipart_fields(req: &Request) -> Vec<(String, String)> {
    let ct = req.headers.get("content-type").unwrap().to_str().unwrap();
    let boundary = ct.split("boundary=").nth(1).unwrap().trim_matches('"');
    let body = String::from_utf8(req.body.clone()).unwrap();
    body.split(&format!("--{boundary}"))
        .filter_map(|part| {
            let (head, value) = part.split_once("\r\n\r\n")?;
            let name = head.split("name=\"").nth(1)?.split('"').next()?;
            Some((name.to_owned(), value.strip_suffix("\r\n")?.to_owned()))
        })
        .collect()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Checks an HMAC-SHA1 `Authorization` header as MAAS does, independently of the client's
/// signer, for the simple requests of these tests (no repeated query names, no escapes in
/// values): POST body fields (last value wins), the header's oauth_* values, the query's.
fn assert_hmac_valid(req: &Request, secret: &str) {
    if let Err(e) = check_hmac(req, secret) {
        panic!("{e}");
    }
}

fn check_hmac(req: &Request, secret: &str) -> Result<(), String> {
    let oauth = auth_params(req);
    assert_eq!(oauth["oauth_signature_method"], "HMAC-SHA1");
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    if req.method.as_str() == "POST" {
        let ct = req.headers.get("content-type").unwrap().to_str().unwrap();
        let fields = if ct.starts_with("multipart/") {
            multipart_fields(req)
        } else {
            body_pairs(req)
        };
        params.extend(fields);
    }
    for (k, v) in &oauth {
        if k != "realm" && k != "oauth_signature" {
            params.insert(k.clone(), v.clone());
        }
    }
    for (k, v) in req.url.query_pairs() {
        if !v.is_empty() {
            params.insert(k.into_owned(), v.into_owned());
        }
    }
    let mut pairs: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    pairs.sort();
    // MAAS (Django) takes the host from the Host header.
    let host = req.headers.get("host").unwrap().to_str().unwrap();
    let uri = format!("http://{host}{}", req.url.path());
    let base = format!(
        "{}&{}&{}",
        req.method.as_str(),
        encode(&uri),
        encode(&pairs.join("&"))
    );
    let key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        format!("&{secret}").as_bytes(),
    );
    use base64::Engine as _;
    let want = base64::engine::general_purpose::STANDARD
        .encode(ring::hmac::sign(&key, base.as_bytes()).as_ref());
    if oauth["oauth_signature"] == want {
        Ok(())
    } else {
        Err(format!("signature does not match base string {base}"))
    }
}

/// The secret appears nowhere in what was sent.
fn assert_secret_not_sent(req: &Request) {
    let mut wire = format!("{} {}\n", req.method, req.url);
    for (name, value) in &req.headers {
        wire.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("")));
    }
    wire.push_str(&String::from_utf8_lossy(&req.body));
    assert!(!wire.contains(SECRET), "secret on the wire: {wire}");
}

fn client(server: &MockServer) -> MaasClient {
    MaasClient::new(config(server)).unwrap()
}

fn client_with(server: &MockServer, retry: RetryPolicy) -> MaasClient {
    MaasClient::new(config(server).with_retry(retry)).unwrap()
}

fn machine_json(system_id: &str, status: i64) -> serde_json::Value {
    json!({"system_id": system_id, "hostname": "h", "status": status, "status_name": "x",
           "power_state": "off", "resource_uri": format!("/MAAS/api/2.0/machines/{system_id}/")})
}

fn text(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_raw(body.as_bytes().to_vec(), "text/plain; charset=utf-8")
}

const LOCK_PAGE: &str = "<!DOCTYPE html><html><head><title>Conflict error</title></head>\
<body><h1>Conflict error. Try your request again, as the database is busy.</h1></body></html>";

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap()
}

fn body_pairs(req: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&req.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn values<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

// ---- wire format ---------------------------------------------------------------------------

#[tokio::test]
async fn plaintext_header_shape_fresh_nonce_and_timestamp() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/MAAS/api/2.0/users/"))
        .and(query_param("op", "whoami"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"username": "capi", "email": null, "is_local": true, "is_superuser": false}),
        ))
        .expect(2)
        .mount(&server)
        .await;
    let c =
        MaasClient::new(config(&server).with_signature_method(SignatureMethod::Plaintext)).unwrap();
    assert_eq!(c.whoami().await.unwrap().username, "capi");
    c.whoami().await.unwrap();

    let reqs = requests(&server).await;
    let headers: Vec<String> = reqs
        .iter()
        .map(|r| {
            r.headers
                .get("authorization")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut nonces = Vec::new();
    for h in &headers {
        assert!(h.starts_with("OAuth "), "{h}");
        let params: BTreeMap<&str, &str> = h["OAuth ".len()..]
            .split(',')
            .map(|p| {
                let (k, v) = p.trim().split_once('=').unwrap();
                (k, v.trim_matches('"'))
            })
            .collect();
        for name in [
            "oauth_consumer_key",
            "oauth_token",
            "oauth_signature",
            "oauth_signature_method",
            "oauth_timestamp",
            "oauth_nonce",
        ] {
            assert!(params.contains_key(name), "{name} missing from {h}");
        }
        assert_eq!(params["oauth_consumer_key"], CONSUMER);
        assert_eq!(params["oauth_token"], TOKEN);
        assert_eq!(params["oauth_signature_method"], "PLAINTEXT");
        assert_eq!(params["oauth_signature"], format!("%26{SECRET}"));
        assert_eq!(params["oauth_version"], "1.0");
        let ts: u64 = params["oauth_timestamp"].parse().unwrap();
        assert!(ts.abs_diff(now) <= 60, "timestamp {ts} not near {now}");
        assert!(!params["oauth_nonce"].is_empty());
        nonces.push(params["oauth_nonce"].to_owned());
    }
    assert_ne!(nonces[0], nonces[1], "nonce reused");
    // No cookies, JSON accepted, default user agent.
    assert!(reqs[0].headers.get("cookie").is_none());
    assert_eq!(
        reqs[0].headers.get("user-agent").unwrap(),
        &format!("maas-api/{}", env!("CARGO_PKG_VERSION"))
    );
}

/// HMAC-SHA1 is the default: GET with query, POST url-encoded with repeated names, POST
/// multipart (user_data), PUT with a body, DELETE; each signature checks out as MAAS checks
/// it, and the secret is never sent.
#[tokio::test]
async fn hmac_sha1_is_the_default_and_signs_as_maas_verifies() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/MAAS/api/2.0/users/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"username": "capi", "email": null, "is_local": true, "is_superuser": false}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/MAAS/api/2.0/machines/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(machine_json("abc123", 10)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/MAAS/api/2.0/machines/abc123/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(machine_json("abc123", 9)))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/MAAS/api/2.0/dnsresources/7/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": 7, "fqdn": "a.maas", "address_ttl": 30, "ip_addresses": []}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/MAAS/api/2.0/dnsresources/7/"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let c = client(&server);
    assert_eq!(c.config().signature_method, SignatureMethod::HmacSha1);
    c.whoami().await.unwrap();
    let wanted = AllocateParams::new()
        .tag("a b")
        .tag("é&=")
        .agent_name("capmaas/ns/c1");
    c.allocate(&wanted).await.unwrap();
    let deploy = DeployParams::new()
        .distro_series("noble")
        .user_data(b"#cloud-config\n".to_vec());
    c.deploy("abc123", &deploy).await.unwrap();
    let update = DnsResourceParams {
        address_ttl: Some(30),
        ..DnsResourceParams::default()
    };
    c.update_dns_resource(7, &update).await.unwrap();
    c.delete_dns_resource(7).await.unwrap();

    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 5);
    let multipart = reqs[2]
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(multipart.starts_with("multipart/form-data"), "{multipart}");
    for req in &reqs {
        assert_secret_not_sent(req);
        assert_hmac_valid(req, SECRET);
    }
    // A PUT's body is not signed (MAAS reads request.POST only for POST): changing it
    // keeps the signature valid.
    let mut put = reqs[3].clone();
    put.body = b"address_ttl=99".to_vec();
    assert_hmac_valid(&put, SECRET);
    // A POST body is: changing a field breaks the signature.
    let mut post = reqs[1].clone();
    post.body = String::from_utf8(post.body)
        .unwrap()
        .replace("c1", "c2")
        .into_bytes();
    assert!(
        check_hmac(&post, SECRET).is_err(),
        "a changed POST body must not verify"
    );
    // Fresh nonce per request.
    let nonces: std::collections::BTreeSet<String> = reqs
        .iter()
        .map(|r| auth_params(r)["oauth_nonce"].clone())
        .collect();
    assert_eq!(nonces.len(), reqs.len());
}

#[tokio::test]
async fn anonymous_client_sends_no_authorization_and_custom_user_agent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/MAAS/api/2.0/version/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"capabilities": ["authenticate-api"], "version": "3.5.0~rc1", "subversion": ""}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let c = MaasClient::new(
        ClientConfig::anonymous(&format!("{}/MAAS/api/2.0", server.uri()))
            .unwrap()
            .with_user_agent("capmaas/9.9"),
    )
    .unwrap();
    let v = c.version().await.unwrap();
    assert_eq!(v.parsed().unwrap().to_string(), "3.5.0~rc1");
    let reqs = requests(&server).await;
    assert!(reqs[0].headers.get("authorization").is_none());
    assert_eq!(reqs[0].headers.get("user-agent").unwrap(), "capmaas/9.9");
}

#[tokio::test]
async fn allocate_puts_op_in_query_and_repeats_every_tag() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/MAAS/api/2.0/machines/"))
        .and(query_param("op", "allocate"))
        .respond_with(ResponseTemplate::new(200).set_body_json(machine_json("abc123", 10)))
        .expect(1)
        .mount(&server)
        .await;
    let params = AllocateParams::new()
        .tag("gpu")
        .tag("rack-b")
        .tag("ssd")
        .cpu_count(4)
        .mem(8192)
        .zone("az-east")
        .agent_name("capmaas/ns/c1")
        .comment("for c1");
    let m = client(&server).allocate(&params).await.unwrap();
    assert_eq!(m.status, MachineStatus::Allocated);

    let req = &requests(&server).await[0];
    assert_eq!(req.url.query(), Some("op=allocate"));
    assert_eq!(
        req.headers.get("content-type").unwrap(),
        "application/x-www-form-urlencoded"
    );
    let pairs = body_pairs(req);
    assert_eq!(values(&pairs, "tags"), vec!["gpu", "rack-b", "ssd"]);
    assert_eq!(values(&pairs, "cpu_count"), vec!["4"]);
    assert_eq!(values(&pairs, "mem"), vec!["8192"]);
    assert_eq!(values(&pairs, "zone"), vec!["az-east"]);
    assert_eq!(values(&pairs, "agent_name"), vec!["capmaas/ns/c1"]);
    assert!(values(&pairs, "op").is_empty(), "op belongs in the query");
}

#[tokio::test]
async fn list_filters_go_in_the_query_with_repeated_keys() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/MAAS/api/2.0/machines/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            machine_json("aaa111", 6),
            machine_json("bbb222", 4)
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let filter = MachineFilter::new()
        .ids(["aaa111", "bbb222"])
        .agent_name("capmaas/ns/c1")
        .tag("t1")
        .tag("t2")
        .status(MachineStatus::Deployed);
    let ms = client(&server).list_machines(&filter).await.unwrap();
    assert_eq!(ms.len(), 2);
    let req = &requests(&server).await[0];
    assert_eq!(
        req.url.query(),
        Some("id=aaa111&id=bbb222&agent_name=capmaas%2Fns%2Fc1&tags=t1&tags=t2&status=deployed")
    );
    assert!(req.body.is_empty());
}

#[tokio::test]
async fn deploy_sends_user_data_as_multipart_base64_field() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/MAAS/api/2.0/machines/abc123/"))
        .and(query_param("op", "deploy"))
        .respond_with(ResponseTemplate::new(200).set_body_json(machine_json("abc123", 9)))
        .expect(1)
        .mount(&server)
        .await;
    let user_data = b"#cloud-config\nruncmd: [echo hi]\n".to_vec();
    let params = DeployParams {
        hwe_kernel: Some("ga-24.04".into()),
        install_kvm: Some(false),
        ..DeployParams::new()
            .distro_series("noble")
            .user_data(user_data.clone())
            .ephemeral(true)
    };
    let m = client(&server).deploy("abc123", &params).await.unwrap();
    assert_eq!(m.status, MachineStatus::Deploying);
    let req = &requests(&server).await[0];
    let ct = req.headers.get("content-type").unwrap().to_str().unwrap();
    assert!(ct.starts_with("multipart/form-data; boundary="), "{ct}");
    let body = String::from_utf8(req.body.clone()).unwrap();
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&user_data);
    assert!(body.contains("name=\"user_data\"\r\n\r\n"), "{body}");
    assert!(body.contains(&encoded), "{body}");
    assert!(
        !body.contains("filename="),
        "user_data must be a plain field: {body}"
    );
    assert!(body.contains("name=\"distro_series\"\r\n\r\nnoble\r\n"));
    assert!(body.contains("name=\"ephemeral_deploy\"\r\n\r\ntrue\r\n"));
    assert!(body.contains("name=\"install_kvm\"\r\n\r\nfalse\r\n"));
    assert!(body.contains("name=\"hwe_kernel\"\r\n\r\nga-24.04\r\n"));
}

#[tokio::test]
async fn trailing_slash_and_singular_paths() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/MAAS/api/2.0/nodes/abc123/interfaces/88/"))
        .and(query_param("op", "link_subnet"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": 88, "name": "eth0",
            "links": [{"id": 5, "mode": "static", "ip_address": "10.0.0.9"}]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/MAAS/api/2.0/resourcepool/2/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 2, "name": "k8s"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/MAAS/api/2.0/zones/az%20east/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 3, "name": "az east"})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let params = LinkSubnetParams {
        mode: LinkMode::Static,
        subnet: Some("4".into()),
        ip_address: Some("10.0.0.9".into()),
        ..Default::default()
    };
    let iface = c.link_subnet("abc123", 88, &params).await.unwrap();
    assert_eq!(iface.links[0].ip_address.as_deref(), Some("10.0.0.9"));
    assert_eq!(c.read_resource_pool(2).await.unwrap().name, "k8s");
    assert_eq!(c.read_zone("az east").await.unwrap().id, 3);
    let reqs = requests(&server).await;
    let pairs = body_pairs(&reqs[0]);
    assert_eq!(values(&pairs, "mode"), vec!["STATIC"]);
    assert_eq!(values(&pairs, "ip_address"), vec!["10.0.0.9"]);
}

#[tokio::test]
async fn special_list_encodings_on_the_wire() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/MAAS/api/2.0/dnsresources/12/"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": 12, "fqdn": "api.maas",
            "ip_addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/MAAS/api/2.0/vm-hosts/"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": 4, "name": "h", "type": "lxd"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/MAAS/api/2.0/machines/"))
        .and(query_param("op", "release"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!(["a1", "b2"])))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let dns = c
        .update_dns_resource(
            12,
            &DnsResourceParams {
                ip_addresses: Some(vec!["10.0.0.1".into(), "10.0.0.2".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(dns.ips(), vec!["10.0.0.1", "10.0.0.2"]);
    c.create_vm_host(&VmHostCreateParams {
        power_address: "10.0.0.5:8443".into(),
        tags: vec!["east".into(), "gpu".into()],
        project: Some("maas".into()),
        password: Some("trust-me".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let released = c
        .release_machines(&["a1".into(), "b2".into()], Some("scale down"))
        .await
        .unwrap();
    assert_eq!(released, vec!["a1", "b2"]);

    let reqs = requests(&server).await;
    let dns_pairs = body_pairs(&reqs[0]);
    assert_eq!(
        values(&dns_pairs, "ip_addresses"),
        vec!["10.0.0.1 10.0.0.2"]
    );
    let vm_pairs = body_pairs(&reqs[1]);
    assert_eq!(values(&vm_pairs, "tags"), vec!["east,gpu"]);
    assert_eq!(values(&vm_pairs, "type"), vec!["lxd"]);
    assert_eq!(values(&vm_pairs, "password"), vec!["trust-me"]);
    let rel_pairs = body_pairs(&reqs[2]);
    assert_eq!(values(&rel_pairs, "machines"), vec!["a1", "b2"]);
    assert_eq!(values(&rel_pairs, "comment"), vec!["scale down"]);
}

#[tokio::test]
async fn power_query_delete_and_null_answers() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/MAAS/api/2.0/machines/abc123/"))
        .and(query_param("op", "query_power_state"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"state": "on"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/MAAS/api/2.0/machines/abc123/"))
        .and(query_param("op", "power_off"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("null", "application/json"))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/MAAS/api/2.0/vm-hosts/3/"))
        .and(query_param("decompose", "true"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/MAAS/api/2.0/machines/abc123/"))
        .and(query_param("op", "set_workload_annotations"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"system_id": "abc123",
            "workload_annotations": {"cluster": "c1"}})),
        )
        .mount(&server)
        .await;
    let c = client(&server);
    assert_eq!(c.query_power_state("abc123").await.unwrap(), PowerState::On);
    assert!(
        c.power_off("abc123", &PowerOffParams::default())
            .await
            .unwrap()
            .is_none()
    );
    c.delete_vm_host(3, true).await.unwrap();
    let mut ann = BTreeMap::new();
    ann.insert("cluster".to_owned(), "c1".to_owned());
    ann.insert("stale".to_owned(), String::new());
    let m = c.set_workload_annotations("abc123", &ann).await.unwrap();
    assert_eq!(m.workload_annotations.get("cluster").unwrap(), "c1");
    let reqs = requests(&server).await;
    let last = reqs.last().unwrap();
    assert_eq!(String::from_utf8_lossy(&last.body), "cluster=c1&stale=");
}

#[tokio::test]
async fn events_query() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/MAAS/api/2.0/events/"))
        .and(query_param("op", "query"))
        .and(query_param("id", "abc123"))
        .and(query_param("level", "WARNING"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"count": 1, "events": [
            {"id": 9, "node": "abc123", "hostname": "h", "level": "ERROR", "type": "Failed deployment",
             "created": "Tue, 05 Mar. 2024 10:21:07", "description": "curtin failed", "username": "capi"}],
            "next_uri": "/MAAS/api/2.0/events/?op=query&id=abc123&after=9", "prev_uri": null})))
        .expect(1)
        .mount(&server)
        .await;
    let q = EventQuery {
        level: Some(maas_api::EventLevel::Warning),
        limit: Some(10),
        ..EventQuery::for_machine("abc123")
    };
    let page = client(&server).query_events(&q).await.unwrap();
    assert_eq!(page.events[0].event_type, "Failed deployment");
    assert_eq!(page.prev_uri, None);
}

// ---- error classes -------------------------------------------------------------------------

async fn error_for(status: u16, template: ResponseTemplate, allocate: bool) -> Error {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(template)
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let err = if allocate {
        c.allocate(&AllocateParams::new()).await.unwrap_err()
    } else {
        c.read_machine("abc123").await.unwrap_err()
    };
    assert_eq!(err.status(), Some(status), "{err:?}");
    err
}

#[tokio::test]
async fn unauthorized_both_bodies() {
    let invalid_key = error_for(
        401,
        text(401, "Authorization Error: Invalid API key.")
            .insert_header("WWW-Authenticate", "OAuth realm=\"OAuth\""),
        false,
    )
    .await;
    assert!(matches!(invalid_key, Error::Unauthorized { .. }));
    assert_eq!(
        invalid_key.message(),
        "Authorization Error: Invalid API key."
    );
    assert_eq!(invalid_key.class(), ErrorClass::Permanent);

    let bad_token = error_for(
        401,
        ResponseTemplate::new(401).set_body_raw(
            "Authorization Error: 'Invalid access token: Hs4yGe8uJf3nQa6cVx'",
            "text/html; charset=utf-8",
        ),
        false,
    )
    .await;
    assert!(matches!(bad_token, Error::Unauthorized { .. }));
    // The token key echoed is ours (part 2 of the key): redacted like the secret.
    assert_eq!(
        bad_token.message(),
        "Authorization Error: 'Invalid access token: <redacted>'"
    );
}

#[tokio::test]
async fn forbidden_not_found_gone_bad_request_validation() {
    let e = error_for(403, text(403, ""), false).await;
    assert!(matches!(e, Error::Forbidden { .. }));
    assert_eq!(e.class(), ErrorClass::Permanent);

    let e = error_for(404, text(404, "No Machine matches the given query."), false).await;
    assert!(e.is_not_found());
    assert_eq!(e.message(), "No Machine matches the given query.");
    assert!(e.to_string().contains("404"));

    let e = error_for(
        410,
        text(410, "VM host (KVM) support has been removed from MAAS."),
        false,
    )
    .await;
    assert!(matches!(e, Error::Gone { .. }));

    let e = error_for(
        400,
        text(400, "Unrecognised signature: method=GET op=None"),
        false,
    )
    .await;
    assert!(matches!(e, Error::BadRequest { .. }));
    assert_eq!(e.message(), "Unrecognised signature: method=GET op=None");

    let e = error_for(
        400,
        ResponseTemplate::new(400).set_body_json(
            json!({"zone": ["No such zone(s): nowhere."], "__all__": ["bad", "worse"]}),
        ),
        true,
    )
    .await;
    match &e {
        Error::Validation { fields } => {
            assert_eq!(fields["zone"], vec!["No such zone(s): nowhere."]);
            assert_eq!(fields["__all__"], vec!["bad", "worse"]);
        }
        other => panic!("expected Validation, got {other:?}"),
    }
    assert_eq!(e.class(), ErrorClass::Permanent);
}

#[tokio::test]
async fn allocate_409_text_is_no_machine_available_and_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(text(
            409,
            "No available machine matches constraints: [('zone', ['z1']), ('mem', ['4096'])] (resolved to \"mem=4096.0 zone=z1\")",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let c = client_with(&server, fast_retry(4));
    let e = c
        .allocate(&AllocateParams::new().zone("z1").mem(4096))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NoMachineAvailable { .. }), "{e:?}");
    assert_eq!(e.class(), ErrorClass::Capacity);
    assert!(e.message().contains("resolved to"));
}

#[tokio::test]
async fn deploy_409_state_violation_is_conflict() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(text(
            409,
            "Can't deploy a machine that is in the 'Deployed' state",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let c = client_with(&server, fast_retry(4));
    let e = c.deploy("abc123", &DeployParams::new()).await.unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e:?}");
    assert_eq!(e.class(), ErrorClass::Permanent);
}

#[tokio::test]
async fn lock_page_409_is_busy_and_retried_even_for_allocate() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(409)
                .set_body_raw(LOCK_PAGE, "text/html; charset=utf-8")
                .insert_header("Retry-After", "0"),
        )
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(machine_json("abc123", 10)))
        .expect(1)
        .mount(&server)
        .await;
    let c = client_with(&server, fast_retry(4));
    let m = c.allocate(&AllocateParams::new()).await.unwrap();
    assert_eq!(m.system_id, "abc123");
    assert_eq!(requests(&server).await.len(), 3);

    // Without retries the error itself is visible.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(409)
                .set_body_raw(LOCK_PAGE, "text/html; charset=utf-8")
                .insert_header("Retry-After", "5"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let e = client(&server)
        .allocate(&AllocateParams::new())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Busy { status: 409, .. }), "{e:?}");
    assert_eq!(e.class(), ErrorClass::Transient);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(5)));
    assert!(e.message().contains("Conflict error"));
    assert!(!e.message().contains("<html"));
}

#[tokio::test]
async fn server_errors_retry_only_idempotent_calls() {
    for status in [500u16, 502, 504] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(text(status, "boom"))
            .expect(3)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(text(status, "boom"))
            .expect(1)
            .mount(&server)
            .await;
        let c = client_with(&server, fast_retry(3));
        let e = c.read_machine("abc123").await.unwrap_err();
        assert!(matches!(e, Error::Server { .. }), "{e:?}");
        assert_eq!(e.status(), Some(status));
        assert_eq!(e.class(), ErrorClass::Transient);
        let e = c.deploy("abc123", &DeployParams::new()).await.unwrap_err();
        assert!(matches!(e, Error::Server { .. }));
        server.verify().await;
    }
}

#[tokio::test]
async fn service_unavailable_with_retry_after_is_retried_for_allocate() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(text(503, "No connections available.").insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(machine_json("abc123", 10)))
        .expect(1)
        .mount(&server)
        .await;
    let c = client_with(&server, fast_retry(3));
    c.allocate(&AllocateParams::new()).await.unwrap();

    // 503 without Retry-After: not retried for a non-idempotent call.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(text(503, "Temporary failure"))
        .expect(1)
        .mount(&server)
        .await;
    let e = client_with(&server, fast_retry(3))
        .allocate(&AllocateParams::new())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Busy { status: 503, .. }));
}

#[tokio::test]
async fn exhaustion_503_is_capacity_and_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(text(
            503,
            "abc123: Unable to allocate static IP due to address exhaustion.",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let e = client_with(&server, fast_retry(3))
        .deploy("abc123", &DeployParams::new())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Exhausted { .. }), "{e:?}");
    assert_eq!(e.class(), ErrorClass::Capacity);
}

#[tokio::test]
async fn retry_after_seconds_is_honoured() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(text(503, "busy").insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    let started = Instant::now();
    client_with(&server, fast_retry(3))
        .list_zones()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(950), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
}

#[tokio::test]
async fn retry_after_http_date_is_honoured() {
    let server = MockServer::start().await;
    let when = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2);
    let date = jiff::fmt::rfc2822::to_string(&when.to_zoned(jiff::tz::TimeZone::UTC))
        .unwrap()
        .replace("+0000", "GMT");
    Mock::given(method("GET"))
        .respond_with(text(503, "busy").insert_header("Retry-After", date.as_str()))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    let started = Instant::now();
    client_with(&server, fast_retry(3))
        .list_zones()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    // HTTP dates have 1 s resolution: the wait is between ~1 and ~2 s.
    assert!(
        elapsed >= Duration::from_millis(900),
        "{elapsed:?} for {date}"
    );
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
}

#[tokio::test]
async fn retry_after_is_capped_and_budget_respected() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(text(503, "busy").insert_header("Retry-After", "3600"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    let policy = fast_retry(3).with_max_retry_after(Duration::from_millis(200));
    let started = Instant::now();
    client_with(&server, policy).list_zones().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));

    // A delay beyond the total budget stops retrying at once.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(text(503, "busy").insert_header("Retry-After", "30"))
        .expect(1)
        .mount(&server)
        .await;
    let policy = fast_retry(5)
        .with_max_retry_after(Duration::from_secs(60))
        .with_max_elapsed(Duration::from_secs(2));
    let started = Instant::now();
    let e = client_with(&server, policy).list_zones().await.unwrap_err();
    assert!(matches!(e, Error::Busy { .. }));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn request_timeout_retries_reads_but_not_allocate() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([]))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let c = MaasClient::new(
        config(&server)
            .with_request_timeout(Duration::from_millis(300))
            .with_retry(fast_retry(2)),
    )
    .unwrap();
    let e = c.list_zones().await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.class(), ErrorClass::Transient);
    assert_eq!(requests(&server).await.len(), 2, "GET retried once");

    let e = c.allocate(&AllocateParams::new()).await.unwrap_err();
    assert!(matches!(
        e,
        Error::Transport {
            kind: TransportKind::Timeout,
            ..
        }
    ));
    let posts = requests(&server)
        .await
        .iter()
        .filter(|r| r.method == wiremock::http::Method::POST)
        .count();
    assert_eq!(posts, 1, "allocate must not be retried after a timeout");
    assert!(
        e.maas_may_have_acted(),
        "a timed-out allocate: outcome unknown"
    );
}

/// What a controller sees after a failed allocate: whether MAAS may have taken a machine.
#[tokio::test]
async fn failed_allocate_says_whether_maas_may_have_acted() {
    let cases: Vec<(&str, ResponseTemplate, bool)> = vec![
        ("500", text(500, "boom"), true),
        (
            "502 html",
            text(502, "<html><title>Bad Gateway</title></html>"),
            true,
        ),
        ("503 no Retry-After", text(503, "busy"), true),
        ("garbage 200", text(200, "not json"), true),
        (
            "503 Retry-After",
            text(503, "busy").insert_header("Retry-After", "0"),
            false,
        ),
        (
            "lock page",
            ResponseTemplate::new(409).set_body_raw(LOCK_PAGE, "text/html; charset=utf-8"),
            false,
        ),
        ("429", text(429, "slow down"), false),
        ("no machine", text(409, "No machine available."), false),
        ("400", text(400, "bad"), false),
        (
            "401",
            text(401, "Authorization Error: Invalid API key."),
            false,
        ),
        ("403", text(403, ""), false),
        ("404", text(404, "No such zone"), false),
    ];
    for (name, answer, want) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(answer)
            .mount(&server)
            .await;
        let c = client_with(&server, fast_retry(3));
        let e = c.allocate(&AllocateParams::new()).await.unwrap_err();
        assert_eq!(e.maas_may_have_acted(), want, "{name}: {e:?}");
    }
    // Nothing listening: never sent.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let c = MaasClient::new(
        ClientConfig::new(&format!("http://127.0.0.1:{port}/MAAS"), &key())
            .unwrap()
            .with_retry(fast_retry(2)),
    )
    .unwrap();
    let e = c.allocate(&AllocateParams::new()).await.unwrap_err();
    assert!(!e.maas_may_have_acted(), "{e:?}");
}

/// (method + endpoint, op, status, attempt, error class)
type Seen = (String, Option<String>, Option<u16>, u32, Option<ErrorClass>);

#[derive(Default)]
struct Recorder(Mutex<Vec<Seen>>);

impl RequestObserver for Recorder {
    fn observe(&self, e: &RequestEvent<'_>) {
        self.0.lock().unwrap().push((
            format!("{} {}", e.method, e.endpoint),
            e.op.map(str::to_owned),
            e.status,
            e.attempt,
            e.error_class,
        ));
    }
}

#[tokio::test]
async fn connection_refused_is_retried_even_for_allocate_and_observed() {
    // A port with nothing listening.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let rec = Arc::new(Recorder::default());
    let c = MaasClient::new(
        ClientConfig::new(&format!("http://127.0.0.1:{port}/MAAS"), &key())
            .unwrap()
            .with_retry(fast_retry(3))
            .with_observer(rec.clone()),
    )
    .unwrap();
    let e = c.allocate(&AllocateParams::new()).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!e.to_string().contains(SECRET));
    let events = rec.0.lock().unwrap();
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[2].3, 3);
    assert_eq!(events[0].0, "POST machines/");
    assert_eq!(events[0].1.as_deref(), Some("allocate"));
    assert_eq!(events[0].2, None);
    assert_eq!(events[0].4, Some(ErrorClass::Transient));
}

#[tokio::test]
async fn observer_sees_op_status_and_attempts() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(text(502, "bad gateway"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(machine_json("abc123", 6)))
        .mount(&server)
        .await;
    let rec = Arc::new(Recorder::default());
    let c = MaasClient::new(
        config(&server)
            .with_retry(fast_retry(3))
            .with_observer(rec.clone()),
    )
    .unwrap();
    c.read_machine("abc123").await.unwrap();
    let events = rec.0.lock().unwrap().clone();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].0, "GET machines/{system_id}/");
    assert_eq!(events[0].2, Some(502));
    assert_eq!(events[0].3, 1);
    assert_eq!(events[1].2, Some(200));
    assert_eq!(events[1].3, 2);
    assert_eq!(events[1].4, None);
}

#[tokio::test]
async fn delete_retried_after_timeout_treats_404_as_done() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(204).set_delay(Duration::from_secs(3)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(text(404, "No DNSResource matches the given query."))
        .mount(&server)
        .await;
    let c = MaasClient::new(
        config(&server)
            .with_request_timeout(Duration::from_millis(300))
            .with_retry(fast_retry(3)),
    )
    .unwrap();
    c.delete_dns_resource(12).await.unwrap();
    // But a first-attempt 404 is reported.
    let e = client(&server).delete_dns_resource(12).await.unwrap_err();
    assert!(e.is_not_found());
}

#[tokio::test]
async fn malformed_json_is_decode_with_short_excerpt() {
    let server = MockServer::start().await;
    let garbage = format!(
        "{{\"system_id\": \"abc123\", \"interface_set\": [{}",
        "{".repeat(600)
    );
    Mock::given(method("GET"))
        .and(path("/MAAS/api/2.0/machines/abc123/"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(garbage, "application/json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/MAAS/api/2.0/vm-hosts/3/"))
        .and(query_param("op", "parameters"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "{\"power_address\": \"https://h:8443\", \"password\": [\"hunter2-secret\"]}",
            "application/json",
        ))
        .mount(&server)
        .await;
    let c = client(&server);
    let e = c.read_machine("abc123").await.unwrap_err();
    match &e {
        Error::Decode { excerpt, .. } => {
            assert!(
                excerpt.starts_with("{\"system_id\": \"abc123\""),
                "{excerpt}"
            );
            assert!(excerpt.chars().count() <= 201, "{}", excerpt.len());
        }
        other => panic!("expected Decode, got {other:?}"),
    }
    assert_eq!(
        e.class(),
        ErrorClass::Transient,
        "an undecodable answer is not a refusal"
    );
    // Answers that may hold secrets are never quoted.
    let e = c.vm_host_parameters(3).await.unwrap_err();
    assert!(matches!(e, Error::Decode { .. }));
    assert!(!e.to_string().contains("hunter2"), "{e}");
    assert!(!format!("{e:?}").contains("hunter2"), "{e:?}");
}

/// Every error class, with the secret, the token key, the whole key, another key and MAAS's
/// base-string echoes in its body: nothing of them in Display, Debug or message().
#[tokio::test]
async fn no_error_class_carries_a_secret() {
    const OTHER_SECRET: &str = "M9d7ZRVvXhTP4mhbEC6LxwwYnzywFmMV";
    let hmac_echo = format!(
        "Authorization Error: 'Invalid signature. Expected signature base string: \
         GET&http%3A%2F%2F127.0.0.1%3A5240%2FMAAS%2Fapi%2F2.0%2Fusers%2F&oauth_consumer_key\
         %3D{CONSUMER}%26oauth_token%3D{TOKEN}%26oauth_secret%3DZZ{OTHER_SECRET}'"
    );
    let plain_echo = format!(
        "Authorization Error: 'Invalid signature. Expected signature base string: &{OTHER_SECRET}'"
    );
    let leaks = format!(
        "{SECRET} | {TOKEN} | {} | AAAAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBBBB:{OTHER_SECRET} | {plain_echo}",
        key()
    );
    let json_leaks = serde_json::to_string(&leaks).unwrap();
    let lock_page = format!(
        "<!DOCTYPE html><html><head><title>Conflict {SECRET}</title></head><body>{leaks}</body></html>"
    );
    type Check = fn(&Error) -> bool;
    let cases: Vec<(&str, u16, String, &str, Check)> = vec![
        (
            "401 hmac echo",
            401,
            hmac_echo.clone(),
            "text/html; charset=utf-8",
            |e| matches!(e, Error::Unauthorized { .. }),
        ),
        (
            "401 plaintext echo",
            401,
            plain_echo.clone(),
            "text/html; charset=utf-8",
            |e| matches!(e, Error::Unauthorized { .. }),
        ),
        (
            "400 json",
            400,
            format!(r#"{{"name": [{json_leaks}], "{SECRET}": ["x"]}}"#),
            "application/json",
            |e| matches!(e, Error::Validation { .. }),
        ),
        ("400 text", 400, leaks.clone(), "text/plain", |e| {
            matches!(e, Error::BadRequest { .. })
        }),
        ("403", 403, leaks.clone(), "text/plain", |e| {
            matches!(e, Error::Forbidden { .. })
        }),
        ("404", 404, leaks.clone(), "text/plain", |e| {
            matches!(e, Error::NotFound { .. })
        }),
        (
            "409 no machine",
            409,
            format!("No machine available. {leaks}"),
            "text/plain",
            |e| matches!(e, Error::NoMachineAvailable { .. }),
        ),
        ("409 conflict", 409, leaks.clone(), "text/plain", |e| {
            matches!(e, Error::Conflict { .. })
        }),
        ("409 lock page", 409, lock_page.clone(), "text/html", |e| {
            matches!(e, Error::Busy { status: 409, .. })
        }),
        ("410", 410, leaks.clone(), "text/plain", |e| {
            matches!(e, Error::Gone { .. })
        }),
        ("429", 429, leaks.clone(), "text/plain", |e| {
            matches!(e, Error::Busy { status: 429, .. })
        }),
        ("500", 500, leaks.clone(), "text/plain", |e| {
            matches!(e, Error::Server { status: 500, .. })
        }),
        ("502 html", 502, lock_page.clone(), "text/html", |e| {
            matches!(e, Error::Server { status: 502, .. })
        }),
        ("503 busy", 503, leaks.clone(), "text/plain", |e| {
            matches!(e, Error::Busy { status: 503, .. })
        }),
        (
            "503 exhausted",
            503,
            format!("address exhaustion {leaks}"),
            "text/plain",
            |e| matches!(e, Error::Exhausted { .. }),
        ),
        ("405", 405, leaks.clone(), "text/plain", |e| {
            matches!(e, Error::UnexpectedStatus { .. })
        }),
        ("200 not json", 200, leaks.clone(), "text/plain", |e| {
            matches!(e, Error::Decode { .. })
        }),
        (
            "200 wrong json",
            200,
            format!(r#"{{"username": 1, "email": {json_leaks}}}"#),
            "application/json",
            |e| matches!(e, Error::Decode { .. }),
        ),
        (
            "200 string json",
            200,
            json_leaks.clone(),
            "application/json",
            |e| matches!(e, Error::Decode { .. }),
        ),
    ];
    for (name, status, body, content_type, check) in cases {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(status).set_body_raw(body.clone().into_bytes(), content_type),
            )
            .mount(&server)
            .await;
        for signature in [SignatureMethod::HmacSha1, SignatureMethod::Plaintext] {
            let c = MaasClient::new(config(&server).with_signature_method(signature)).unwrap();
            let e = c.whoami().await.unwrap_err();
            assert!(check(&e), "{name}: wrong class {e:?}");
            for shown in [e.to_string(), format!("{e:?}"), e.message()] {
                for secret in [SECRET, TOKEN, OTHER_SECRET, "oauth_consumer_key%3D"] {
                    assert!(!shown.contains(secret), "{name}: {secret} in {shown}");
                }
            }
        }
    }
    // What is kept: MAAS's words, the method and URL of an HMAC echo.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(text(401, &hmac_echo))
        .mount(&server)
        .await;
    let e = client(&server).whoami().await.unwrap_err();
    assert_eq!(
        e.message(),
        "Authorization Error: 'Invalid signature. Expected signature base string: \
         GET&http%3A%2F%2F127.0.0.1%3A5240%2FMAAS%2Fapi%2F2.0%2Fusers%2F&<redacted>'"
    );
}

#[tokio::test]
async fn release_params_on_the_wire() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/MAAS/api/2.0/machines/abc123/"))
        .and(query_param("op", "release"))
        .respond_with(ResponseTemplate::new(200).set_body_json(machine_json("abc123", 12)))
        .expect(1)
        .mount(&server)
        .await;
    let params = ReleaseParams {
        erase: true,
        secure_erase: true,
        force: true,
        comment: Some("cluster deleted".into()),
        ..Default::default()
    };
    let m = client(&server).release("abc123", &params).await.unwrap();
    assert_eq!(m.status, MachineStatus::Releasing);
    let pairs = body_pairs(&requests(&server).await[0]);
    assert_eq!(values(&pairs, "erase"), vec!["true"]);
    assert_eq!(values(&pairs, "secure_erase"), vec!["true"]);
    assert_eq!(values(&pairs, "force"), vec!["true"]);
    assert!(values(&pairs, "quick_erase").is_empty());
    assert_eq!(values(&pairs, "comment"), vec!["cluster deleted"]);
}
