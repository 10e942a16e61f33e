//! LXD 5.0, 5.21 and 6.x differences, against recorded-style answers served
//! by wiremock (written from the LXD REST documentation and source: envelope
//! shapes, token fields, the removed trust password, 501 answers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use lxd_host::{
    Action, CheckStatus, ErrorClass, HostSpec, ItemKind, LxdClient, LxdError, Method, PlanError,
    Secret, StorageDriver, TokenField, TrustCredential, TrustOutcome, TrustSpec, TrustToken,
};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

const SERVER_FP: &str = "11d07a7530f9431520afcb1bed70b2853f53c25f2e4553b42fdcdf8525b28f39";

fn sync(metadata: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "type": "sync", "status": "Success", "status_code": 200,
        "operation": "", "error_code": 0, "error": "", "metadata": metadata
    }))
}

fn created() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "type": "sync", "status": "Success", "status_code": 200,
        "operation": "", "error_code": 0, "error": "", "metadata": null
    }))
}

fn error(code: u16, text: &str) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(json!({
        "type": "error", "status": "", "status_code": 0,
        "operation": "", "error_code": code, "error": text, "metadata": null
    }))
}

fn extensions(version: &str) -> Vec<&'static str> {
    let mut e = vec![
        "projects",
        "virtual-machines",
        "custom_block_volumes",
        "certificate_project",
        "certificate_token",
    ];
    let v = lxd_host::LxdVersion::parse(version).unwrap();
    if v >= lxd_host::LxdVersion::new(5, 21, 2) {
        e.push("explicit_trust_token");
    }
    e
}

fn untrusted_server(version: &str) -> Value {
    json!({
        "api_extensions": extensions(version),
        "api_status": "stable", "api_version": "1.0",
        "auth": "untrusted", "public": false, "auth_methods": ["tls"]
    })
}

fn trusted_server(version: &str, config: Value) -> Value {
    json!({
        "api_extensions": extensions(version),
        "api_status": "stable", "api_version": "1.0",
        "auth": "trusted", "public": false, "auth_methods": ["tls"],
        "config": config,
        "environment": {
            "addresses": ["10.0.0.5:8443"],
            "certificate": "", "certificate_fingerprint": SERVER_FP,
            "driver": "lxc | qemu", "driver_version": "5.0.3 | 8.2.1",
            "kernel_architecture": "x86_64",
            "server_version": version, "server_clustered": false, "server_name": "node1",
            "storage": "zfs", "storage_version": "2.2.2",
            "storage_supported_drivers": [
                {"name": "dir", "version": "1", "remote": false},
                {"name": "zfs", "version": "2.2.2", "remote": false}
            ],
            "project": "default"
        }
    })
}

fn token() -> TrustToken {
    TrustToken {
        client_name: "maas".into(),
        fingerprint: SERVER_FP.into(),
        addresses: vec!["10.0.0.5:8443".into()],
        secret: "eb5aab8bc69ffa11e4f44f2a16aee4ed6b7f5653e75b87b1b5d692c0b068223e".into(),
        expires_at: lxd_host::NO_EXPIRY.into(),
    }
}

/// Matches a JSON body that has no such key.
struct Lacks(&'static str);
impl Match for Lacks {
    fn matches(&self, request: &Request) -> bool {
        serde_json::from_slice::<Value>(&request.body)
            .map(|v| v.get(self.0).is_none())
            .unwrap_or(false)
    }
}

async fn mock_get(server: &MockServer, p: &str, resp: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(p))
        .respond_with(resp)
        .mount(server)
        .await;
}

#[tokio::test]
async fn token_goes_in_password_on_5_0_and_5_21_1() {
    for version in ["5.0.2", "5.21.1"] {
        let server = MockServer::start().await;
        mock_get(&server, "/1.0", sync(untrusted_server(version))).await;
        let t = token();
        Mock::given(method("POST"))
            .and(path("/1.0/certificates"))
            .and(body_partial_json(
                json!({"type": "client", "name": "maas", "password": t.encode()}),
            ))
            .and(Lacks("trust_token"))
            .respond_with(created())
            .expect(1)
            .mount(&server)
            .await;
        let c = LxdClient::plain_http(&server.uri()).unwrap();
        assert_eq!(
            c.features().await.unwrap().token_field(),
            TokenField::Password
        );
        let outcome = c
            .request_trust("maas", TrustCredential::Token(&t))
            .await
            .unwrap();
        assert_eq!(outcome, TrustOutcome::Added, "LXD {version}");
    }
}

#[tokio::test]
async fn token_goes_in_trust_token_on_5_21_2_and_6() {
    for version in ["5.21.2", "6.1", "6.5"] {
        let server = MockServer::start().await;
        mock_get(&server, "/1.0", sync(untrusted_server(version))).await;
        let t = token();
        Mock::given(method("POST"))
            .and(path("/1.0/certificates"))
            .and(body_partial_json(
                json!({"type": "client", "trust_token": t.encode()}),
            ))
            .and(Lacks("password"))
            .respond_with(created())
            .expect(1)
            .mount(&server)
            .await;
        let c = LxdClient::plain_http(&server.uri()).unwrap();
        let outcome = c
            .request_trust("maas", TrustCredential::Token(&t))
            .await
            .unwrap();
        assert_eq!(outcome, TrustOutcome::Added, "LXD {version}");
    }
}

#[tokio::test]
async fn password_on_6_x_is_a_clear_unsupported_error_without_the_secret() {
    let server = MockServer::start().await;
    mock_get(&server, "/1.0", sync(untrusted_server("6.1"))).await;
    Mock::given(method("POST"))
        .and(path("/1.0/certificates"))
        .respond_with(error(
            501,
            "Password authentication is no longer supported, please update your client",
        ))
        .mount(&server)
        .await;
    let c = LxdClient::plain_http(&server.uri()).unwrap();
    let pw = Secret::new("correct-horse");
    let err = c
        .request_trust("maas", TrustCredential::Password(&pw))
        .await
        .unwrap_err();
    assert!(matches!(err, LxdError::Unsupported(_)), "{err:?}");
    assert!(err.to_string().contains("no longer supported"));
    assert!(!err.to_string().contains("correct-horse"));
    assert!(!format!("{err:?}").contains("correct-horse"));
    assert_eq!(err.class(), ErrorClass::Permanent);
}

#[tokio::test]
async fn already_trusted_and_wrong_password_answers() {
    let server = MockServer::start().await;
    mock_get(&server, "/1.0", sync(untrusted_server("5.21.3"))).await;
    Mock::given(method("POST"))
        .and(path("/1.0/certificates"))
        .and(body_partial_json(json!({"password": "again"})))
        .respond_with(error(400, "Client is already trusted"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/1.0/certificates"))
        .and(body_partial_json(json!({"password": "wrong"})))
        .respond_with(error(403, "not authorized"))
        .mount(&server)
        .await;
    let c = LxdClient::plain_http(&server.uri()).unwrap();
    assert_eq!(
        c.request_trust("m", TrustCredential::Password(&Secret::new("again")))
            .await
            .unwrap(),
        TrustOutcome::AlreadyTrusted
    );
    let err = c
        .request_trust("m", TrustCredential::Password(&Secret::new("wrong")))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert_eq!(err.lxd_message(), Some("not authorized"));
}

/// A fully configured host, as LXD `version` reports it.
async fn configured_host(version: &str, config: Value) -> (MockServer, HostSpec) {
    let server = MockServer::start().await;
    mock_get(&server, "/1.0", sync(trusted_server(version, config))).await;
    mock_get(
        &server,
        "/1.0/storage-pools/default",
        sync(json!({"name": "default", "driver": "zfs", "config": {"size": "50GiB"}, "status": "Created", "used_by": []})),
    )
    .await;
    mock_get(
        &server,
        "/1.0/networks/br0",
        sync(json!({"name": "br0", "type": "bridge", "managed": false, "config": {}, "used_by": null})),
    )
    .await;
    mock_get(
        &server,
        "/1.0/projects/maas",
        sync(json!({"name": "maas", "description": "", "config": {"features.profiles": "true"}})),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/1.0/profiles/maas"))
        .and(query_param("project", "maas"))
        .respond_with(
            sync(json!({
                "name": "maas", "description": "", "config": {},
                "devices": {
                    "root": {"type": "disk", "path": "/", "pool": "default"},
                    "eth0": {"type": "nic", "name": "eth0", "nictype": "bridged", "parent": "br0"}
                },
                "used_by": []
            }))
            .insert_header("ETag", "\"etag-1\""),
        )
        .mount(&server)
        .await;
    let mut spec = HostSpec::new("default", StorageDriver::Zfs, "br0");
    spec.storage.size_gib = Some(50);
    (server, spec)
}

#[tokio::test]
async fn trust_password_plan_fails_clearly_on_6_x_and_sends_nothing() {
    let (server, mut spec) =
        configured_host("6.1", json!({"core.https_address": "[::]:8443"})).await;
    Mock::given(method("PATCH"))
        .respond_with(sync(json!({})))
        .expect(0)
        .mount(&server)
        .await;
    spec.trust = Some(TrustSpec::TrustPassword(Secret::new("s3cret")));
    let c = LxdClient::plain_http(&server.uri()).unwrap();
    let err = lxd_host::plan(&c, &spec).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("removed in LXD 6.1"), "{text}");
    assert!(text.contains("--issue-token"), "{text}");
    assert!(!text.contains("s3cret"));
    assert_eq!(err.class(), ErrorClass::Permanent);
}

#[tokio::test]
async fn trust_password_on_5_21_is_set_with_patch_and_never_shown() {
    let (server, mut spec) =
        configured_host("5.21.3", json!({"core.https_address": "[::]:8443"})).await;
    Mock::given(method("PATCH"))
        .and(path("/1.0"))
        .and(body_partial_json(
            json!({"config": {"core.trust_password": "s3cret"}}),
        ))
        .respond_with(sync(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/1.0"))
        .respond_with(sync(json!({})))
        .expect(0)
        .mount(&server)
        .await;
    spec.trust = Some(TrustSpec::TrustPassword(Secret::new("s3cret")));
    let c = LxdClient::plain_http(&server.uri()).unwrap();
    let plan = lxd_host::plan(&c, &spec).await.unwrap();
    let step = plan.step(ItemKind::Trust).unwrap();
    assert_eq!(step.action, Action::Create);
    assert!(!format!("{plan:?}").contains("s3cret"));
    assert!(!serde_json::to_string(&plan).unwrap().contains("s3cret"));
    let applied = lxd_host::apply(&c, &spec, &plan).await;
    assert!(applied.failure.is_none(), "{:?}", applied.failure);
    assert_eq!(applied.applied.len(), 1);
}

#[tokio::test]
async fn echoed_trust_password_is_redacted_from_errors() {
    let (server, mut spec) =
        configured_host("6.0.0", json!({"core.https_address": "[::]:8443"})).await;
    Mock::given(method("PATCH"))
        .and(path("/1.0"))
        .respond_with(error(
            400,
            "cannot set 'core.trust_password' to 's3cret': unknown key",
        ))
        .mount(&server)
        .await;
    spec.trust = Some(TrustSpec::TrustPassword(Secret::new("s3cret")));
    let c = LxdClient::plain_http(&server.uri()).unwrap();
    let plan = lxd_host::plan(&c, &spec).await.unwrap();
    let applied = lxd_host::apply(&c, &spec, &plan).await;
    let failure = applied.failure.expect("the PATCH was refused");
    assert!(failure.error.contains("<redacted>"), "{}", failure.error);
    assert!(!failure.error.contains("s3cret"));
}

#[tokio::test]
async fn configured_host_plans_no_changes() {
    let (server, spec) =
        configured_host("5.21.3", json!({"core.https_address": "[::]:8443"})).await;
    let c = LxdClient::plain_http(&server.uri()).unwrap();
    let plan = lxd_host::plan(&c, &spec).await.unwrap();
    assert!(!plan.has_changes(), "{:?}", plan.steps);
    assert!(plan.server.vm_capable);
    assert_eq!(plan.server.version, "5.21.3");
}

#[tokio::test]
async fn profile_update_retries_after_a_412_with_a_fresh_etag() {
    let (server, mut spec) =
        configured_host("6.1", json!({"core.https_address": "[::]:8443"})).await;
    spec.storage.size_gib = None;
    spec.bridge.name = "br1".into();
    mock_get(
        &server,
        "/1.0/networks/br1",
        sync(json!({"name": "br1", "type": "bridge", "managed": false})),
    )
    .await;
    // First PUT: someone changed the profile in between.
    Mock::given(method("PUT"))
        .and(path("/1.0/profiles/maas"))
        .and(header("If-Match", "\"etag-1\""))
        .respond_with(error(412, "ETag doesn't match: abc vs etag-1"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/1.0/profiles/maas"))
        .and(header("If-Match", "\"etag-1\""))
        .and(body_partial_json(json!({
            "devices": {"eth0": {"type": "nic", "name": "eth0", "nictype": "bridged", "parent": "br1"},
                        "root": {"type": "disk", "path": "/", "pool": "default"}}
        })))
        .respond_with(sync(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    let c = LxdClient::plain_http(&server.uri()).unwrap();
    let plan = lxd_host::plan(&c, &spec).await.unwrap();
    let step = plan.step(ItemKind::Profile).unwrap();
    assert_eq!(step.action, Action::Update);
    assert_eq!(
        step.changes
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>(),
        vec!["devices.eth0.parent: br0 -> br1"]
    );
    let applied = lxd_host::apply(&c, &spec, &plan).await;
    assert!(applied.failure.is_none(), "{:?}", applied.failure);
}

#[tokio::test]
async fn token_issue_on_6_x_and_pending_token_reuse() {
    let (server, mut spec) =
        configured_host("6.1", json!({"core.https_address": "[::]:8443"})).await;
    spec.trust = Some(TrustSpec::IssueToken {
        name: "maas-region".into(),
    });
    let op = json!({
        "id": "5b1b5d2e-0000-4000-8000-000000000001", "class": "token",
        "description": "Executing operation", "status": "Running", "status_code": 103,
        "resources": null, "may_cancel": true, "err": "",
        "metadata": {
            "addresses": ["10.0.0.5:8443"], "fingerprint": SERVER_FP,
            "request": {"name": "maas-region", "type": "client", "restricted": true, "projects": ["maas"], "token": true},
            "secret": "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
            "expiresAt": "0001-01-01T00:00:00Z"
        }
    });
    mock_get(&server, "/1.0/operations", sync(json!({}))).await;
    mock_get(&server, "/1.0/certificates", sync(json!([]))).await;
    Mock::given(method("POST"))
        .and(path("/1.0/certificates"))
        .and(body_partial_json(json!({
            "type": "client", "name": "maas-region", "token": true,
            "restricted": true, "projects": ["maas"]
        })))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "type": "async", "status": "Operation created", "status_code": 100,
            "operation": "/1.0/operations/5b1b5d2e-0000-4000-8000-000000000001",
            "error_code": 0, "error": "", "metadata": op
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = LxdClient::plain_http(&server.uri()).unwrap();
    let plan = lxd_host::plan(&c, &spec).await.unwrap();
    assert_eq!(plan.step(ItemKind::Trust).unwrap().action, Action::Create);
    let applied = lxd_host::apply(&c, &spec, &plan).await;
    assert!(applied.failure.is_none(), "{:?}", applied.failure);
    let issued = applied.token.unwrap();
    assert!(!issued.reused);
    assert!(!format!("{issued:?}").contains("00112233445566778899"));
    let decoded = TrustToken::decode(&issued.encoded()).unwrap();
    assert_eq!(decoded.client_name, "maas-region");
    assert_eq!(decoded.fingerprint, SERVER_FP);

    // With the token pending, a new plan reuses it instead of issuing another.
    let (server2, spec2) = {
        let (s, mut sp) = configured_host("6.1", json!({"core.https_address": "[::]:8443"})).await;
        sp.trust = spec.trust.clone();
        (s, sp)
    };
    mock_get(&server2, "/1.0/operations", sync(json!({"running": [op]}))).await;
    let c2 = LxdClient::plain_http(&server2.uri()).unwrap();
    let plan2 = lxd_host::plan(&c2, &spec2).await.unwrap();
    assert!(!plan2.has_changes());
    let applied2 = lxd_host::apply(&c2, &spec2, &plan2).await;
    let reused = applied2.token.unwrap();
    assert!(reused.reused);
    assert_eq!(reused.token, decoded);
}

#[tokio::test]
async fn token_needs_an_https_listener() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/1.0/certificates"))
        .respond_with(error(
            400,
            "Can't issue token when server isn't listening on network",
        ))
        .mount(&server)
        .await;
    let c = LxdClient::plain_http(&server.uri()).unwrap();
    let err = c.issue_trust_token("maas", &[]).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("listening on network"));
}

#[tokio::test]
async fn failed_operation_is_an_error_although_wait_answers_200() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/1.0/storage-pools"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "type": "async", "status": "Operation created", "status_code": 100,
            "operation": "/1.0/operations/op-1", "error_code": 0, "error": "",
            "metadata": {"id": "op-1", "class": "task", "status": "Running", "status_code": 103}
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/1.0/operations/op-1/wait"))
        .respond_with(sync(json!({
            "id": "op-1", "class": "task", "status": "Failure", "status_code": 400,
            "err": "Failed creating pool: disk full", "metadata": null
        })))
        .mount(&server)
        .await;
    let c = LxdClient::plain_http(&server.uri()).unwrap();
    let err = c
        .create_storage_pool(&lxd_host::types::StoragePoolCreate {
            name: "p".into(),
            driver: "zfs".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    match err {
        LxdError::OperationFailed { id, status, err } => {
            assert_eq!(id, "op-1");
            assert_eq!(status, "Failure");
            assert_eq!(err, "Failed creating pool: disk full");
        }
        other => panic!("expected OperationFailed, got {other:?}"),
    }
}

#[tokio::test]
async fn still_running_operation_times_out_as_transient() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/1.0/operations/op-2/wait"))
        .respond_with(sync(
            json!({"id": "op-2", "class": "task", "status": "Running", "status_code": 103}),
        ))
        .mount(&server)
        .await;
    let c = LxdClient::plain_http(&server.uri())
        .unwrap()
        .with_operation_timeout(std::time::Duration::from_millis(10));
    let err = c.wait_operation("op-2").await.unwrap_err();
    assert!(matches!(err, LxdError::OperationTimeout { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Transient);
}

#[tokio::test]
async fn error_envelopes_and_non_json_answers() {
    let server = MockServer::start().await;
    mock_get(&server, "/1.0/networks/x", error(404, "Network not found")).await;
    mock_get(
        &server,
        "/1.0/networks/y",
        ResponseTemplate::new(503).set_body_string("<html>Service Unavailable</html>"),
    )
    .await;
    mock_get(
        &server,
        "/1.0/networks/z",
        ResponseTemplate::new(200).set_body_string("hello"),
    )
    .await;
    let c = LxdClient::plain_http(&server.uri()).unwrap();
    assert!(c.network("x").await.unwrap().is_none());
    let err = c.network("y").await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert!(err.is_transient());
    let err = c.network("z").await.unwrap_err();
    assert!(matches!(err, LxdError::Protocol { .. }), "{err:?}");
    let err = c
        .request(Method::GET, "/1.0/networks/y", None, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Service Unavailable"));
}

#[tokio::test]
async fn lxd_5_20_and_old_versions_warn_and_missing_extensions_fail() {
    let (server, spec) = configured_host("5.20", json!({})).await;
    let c = LxdClient::plain_http(&server.uri()).unwrap();
    let features = c.features().await.unwrap();
    let checks = lxd_host::verify(&c, &spec, &features).await;
    let v = checks.iter().find(|c| c.name == "LXD version").unwrap();
    assert_eq!(v.status, CheckStatus::Warn);
    assert!(v.detail.contains("5.20"));

    let server = MockServer::start().await;
    let mut old = trusted_server("4.0.9", json!({}));
    old["api_extensions"] = json!(["projects"]);
    mock_get(&server, "/1.0", sync(old)).await;
    let c = LxdClient::plain_http(&server.uri()).unwrap();
    let features = c.features().await.unwrap();
    let checks = lxd_host::verify(&c, &spec, &features).await;
    let ext = checks
        .iter()
        .find(|c| c.name == "API extensions for MAAS")
        .unwrap();
    assert_eq!(ext.status, CheckStatus::Fail);
    assert!(ext.detail.contains("virtual-machines"));
    assert!(ext.detail.contains("custom_block_volumes"));
}

#[tokio::test]
async fn managed_network_of_another_type_is_refused() {
    let (server, mut spec) =
        configured_host("6.1", json!({"core.https_address": "[::]:8443"})).await;
    spec.bridge.name = "ovn0".into();
    mock_get(
        &server,
        "/1.0/networks/ovn0",
        sync(json!({"name": "ovn0", "type": "ovn", "managed": true})),
    )
    .await;
    let c = LxdClient::plain_http(&server.uri()).unwrap();
    let err = lxd_host::plan(&c, &spec).await.unwrap_err();
    assert!(matches!(err, PlanError::ManagedNotBridge { .. }), "{err:?}");
}
