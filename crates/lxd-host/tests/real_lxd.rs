//! Against a real LXD daemon that each test starts for itself (Debian `lxd`,
//! a temporary `LXD_DIR`, the `dir` storage backend, bridges without routable
//! addresses). The daemon and everything it created are removed afterwards,
//! also when a test fails. Without `lxd` these tests fail with a message
//! saying what to install.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use lxd_host::testing::{LxdDaemon, free_port, unique_name};
use lxd_host::{
    Action, AddressSetting, CertificateAdd, CheckStatus, ClientIdentity, ErrorClass, Fingerprint,
    HostSpec, ItemKind, LxdClient, LxdError, Method, PlanError, Secret, ServerTrust, StorageDriver,
    TrustCredential, TrustOutcome, TrustSpec, TrustToken,
};

fn daemon() -> LxdDaemon {
    LxdDaemon::start().unwrap_or_else(|e| panic!("cannot start a test LXD daemon: {e}"))
}

/// A spec on `dir`, an address-less managed bridge, HTTPS on a free loopback port.
fn spec(port: u16) -> HostSpec {
    let mut s = HostSpec::new(
        &unique_name("pool"),
        StorageDriver::Dir,
        &unique_name("lxt"),
    );
    s.https_address = Some(format!("127.0.0.1:{port}"));
    s.project = unique_name("maas");
    s.bridge.ipv4 = Some(AddressSetting::None);
    s
}

fn actions(plan: &lxd_host::Plan) -> Vec<(ItemKind, Action)> {
    plan.steps.iter().map(|s| (s.kind, s.action)).collect()
}

#[tokio::test]
async fn server_info_and_features_over_the_socket() {
    let d = daemon();
    let c = d.client().unwrap();
    let server = c.server().await.unwrap();
    assert!(server.is_trusted());
    let env = server
        .environment
        .clone()
        .expect("environment for trusted callers");
    assert!(!env.server_version.is_empty());
    assert!(env.supports_storage_driver("dir"), "{env:?}");
    // The advertised fingerprint is the SHA-256 of the advertised certificate.
    let fp = Fingerprint::of_pem(&env.certificate).unwrap();
    assert_eq!(fp.to_hex(), env.certificate_fingerprint);
    let f = c.features().await.unwrap();
    assert!(f.version.is_some());
    assert!(f.certificate_token && f.projects);
    d.stop().unwrap();
}

#[tokio::test]
async fn first_run_creates_second_run_changes_nothing() {
    let d = daemon();
    let c = d.client().unwrap();
    let s = spec(free_port().unwrap());

    let report = lxd_host::run(&c, &s, false).await.unwrap();
    assert!(report.failure.is_none(), "{}", report.render_text());
    assert_eq!(
        actions(&report.plan),
        vec![
            (ItemKind::ServerConfig, Action::Create),
            (ItemKind::StoragePool, Action::Create),
            (ItemKind::Network, Action::Create),
            (ItemKind::Project, Action::Create),
            (ItemKind::Profile, Action::Create),
        ]
    );
    assert_eq!(report.applied.len(), 5);
    assert!(report.ready, "{}", report.render_text());
    // The test daemon cannot run VMs: a warning, not a failure.
    let vm = report
        .checks
        .iter()
        .find(|c| c.name == "VM support")
        .unwrap();
    assert_eq!(vm.status, CheckStatus::Warn);
    let https = report
        .checks
        .iter()
        .find(|c| c.name == "HTTPS listener")
        .unwrap();
    assert_eq!(https.status, CheckStatus::Pass, "{https:?}");

    // What LXD now has.
    let server = c.server().await.unwrap();
    assert_eq!(
        server.config_value("core.https_address"),
        s.https_address.clone()
    );
    let pool = c.storage_pool(&s.storage.pool).await.unwrap().unwrap();
    assert_eq!(pool.driver, "dir");
    let net = c.network(&s.bridge.name).await.unwrap().unwrap();
    assert!(net.managed);
    assert_eq!(
        net.config.get("ipv4.address").map(String::as_str),
        Some("none")
    );
    assert_eq!(
        net.config.get("ipv6.address").map(String::as_str),
        Some("none")
    );
    let (profile, _) = c.profile(&s.project, &s.profile).await.unwrap().unwrap();
    assert_eq!(
        profile.devices.get("root"),
        Some(&lxd_host::desired_root_device(&s.storage.pool))
    );
    assert_eq!(
        profile.devices.get("eth0"),
        Some(&lxd_host::desired_nic_device(&s.bridge.name, false))
    );

    // Second run: a no-op that says so.
    let again = lxd_host::run(&c, &s, false).await.unwrap();
    assert!(!again.plan.has_changes(), "{:?}", again.plan.steps);
    assert!(again.applied.is_empty());
    assert!(again.ready);
    assert!(
        again
            .render_text()
            .contains("No changes: the host already matches")
    );
    d.stop().unwrap();
}

#[tokio::test]
async fn drift_is_corrected_without_touching_other_settings() {
    let d = daemon();
    let c = d.client().unwrap();
    let s = spec(free_port().unwrap());
    let first = lxd_host::run(&c, &s, false).await.unwrap();
    assert!(first.ready, "{}", first.render_text());

    // Behind the tool's back: another https address, an unrelated server key,
    // a profile whose eth0 and root changed, plus an extra device.
    let other = format!("127.0.0.1:{}", free_port().unwrap());
    c.patch_server_config(&BTreeMap::from([
        ("core.https_address".to_owned(), other.clone()),
        ("images.auto_update_interval".to_owned(), "0".to_owned()),
    ]))
    .await
    .unwrap();
    let (mut profile, etag) = c.profile(&s.project, &s.profile).await.unwrap().unwrap();
    // eth0 rewritten as a bridged NIC (LXD checks `network` references but
    // validates `parent` only when an instance uses the profile).
    profile.devices.insert(
        "eth0".into(),
        BTreeMap::from([
            ("type".to_owned(), "nic".to_owned()),
            ("name".to_owned(), "eth0".to_owned()),
            ("nictype".to_owned(), "bridged".to_owned()),
            ("parent".to_owned(), "br-elsewhere".to_owned()),
        ]),
    );
    let second_pool = unique_name("pool");
    c.create_storage_pool(&lxd_host::types::StoragePoolCreate {
        name: second_pool.clone(),
        driver: "dir".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    profile
        .devices
        .get_mut("root")
        .unwrap()
        .insert("pool".into(), second_pool.clone());
    profile.devices.insert(
        "extra".into(),
        BTreeMap::from([
            ("type".to_owned(), "disk".to_owned()),
            ("source".to_owned(), "/tmp".to_owned()),
            ("path".to_owned(), "/mnt/extra".to_owned()),
        ]),
    );
    c.put_profile(&s.project, &profile, etag.as_deref())
        .await
        .unwrap();

    let plan = lxd_host::plan(&c, &s).await.unwrap();
    let server_step = plan.step(ItemKind::ServerConfig).unwrap();
    assert_eq!(server_step.action, Action::Update);
    assert_eq!(
        server_step.changes[0].to_string(),
        format!(
            "core.https_address: {other} -> {}",
            s.https_address.clone().unwrap()
        )
    );
    let profile_step = plan.step(ItemKind::Profile).unwrap();
    assert_eq!(profile_step.action, Action::Update);
    let fields: Vec<&str> = profile_step
        .changes
        .iter()
        .map(|c| c.field.as_str())
        .collect();
    assert_eq!(
        fields,
        vec![
            "devices.root.pool",
            "devices.eth0.network",
            "devices.eth0.nictype",
            "devices.eth0.parent"
        ]
    );
    assert!(profile_step.notes.iter().any(|n| n.contains("extra")));

    let report = lxd_host::run(&c, &s, false).await.unwrap();
    assert!(report.ready, "{}", report.render_text());
    assert_eq!(report.applied.len(), 2);

    // Corrected, and what we do not own survived (PATCH, not PUT; GET→PUT).
    let server = c.server().await.unwrap();
    assert_eq!(
        server.config_value("core.https_address"),
        s.https_address.clone()
    );
    assert_eq!(
        server
            .config_value("images.auto_update_interval")
            .as_deref(),
        Some("0")
    );
    let (profile, _) = c.profile(&s.project, &s.profile).await.unwrap().unwrap();
    assert!(profile.devices.contains_key("extra"));
    assert_eq!(
        profile.devices.get("eth0"),
        Some(&lxd_host::desired_nic_device(&s.bridge.name, false))
    );
    assert!(!lxd_host::plan(&c, &s).await.unwrap().has_changes());
    d.stop().unwrap();
}

#[tokio::test]
async fn stale_etag_is_refused_with_a_transient_error() {
    let d = daemon();
    let c = d.client().unwrap();
    let s = spec(free_port().unwrap());
    lxd_host::run(&c, &s, false).await.unwrap();
    let (mut profile, etag) = c.profile(&s.project, &s.profile).await.unwrap().unwrap();
    assert!(etag.is_some(), "LXD sends an ETag for profiles");
    // Someone else changes the profile after our GET.
    let mut theirs = profile.clone();
    theirs.description = "changed by someone else".into();
    c.put_profile(&s.project, &theirs, None).await.unwrap();
    profile.description = "ours".into();
    let err = c
        .put_profile(&s.project, &profile, etag.as_deref())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(412), "{err}");
    assert_eq!(err.class(), ErrorClass::Transient);
    d.stop().unwrap();
}

#[tokio::test]
async fn driver_mismatch_is_a_clear_error() {
    let d = daemon();
    let c = d.client().unwrap();
    let mut s = spec(free_port().unwrap());
    lxd_host::run(&c, &s, false).await.unwrap();
    s.storage.driver = StorageDriver::Zfs;
    s.storage.size_gib = Some(5);
    let err = lxd_host::plan(&c, &s).await.unwrap_err();
    assert!(matches!(err, PlanError::DriverMismatch { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&s.storage.pool), "{text}");
    assert!(text.contains("driver dir, not zfs"), "{text}");
    assert_eq!(err.class(), ErrorClass::Permanent);

    // A new pool with a driver this host lacks is refused before any change.
    s.storage.pool = unique_name("zpool");
    let err = lxd_host::plan(&c, &s).await.unwrap_err();
    assert!(
        matches!(err, PlanError::DriverUnavailable { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("zfs"));
    d.stop().unwrap();
}

#[tokio::test]
async fn host_bridge_is_used_as_nic_parent_and_non_bridges_are_refused() {
    let d = daemon();
    let c = d.client().unwrap();
    let mut s = spec(free_port().unwrap());
    s.bridge.ipv4 = None;
    let br = unique_name("hbr");
    d.create_host_bridge(&br).unwrap();
    s.bridge.name = br.clone();

    let report = lxd_host::run(&c, &s, false).await.unwrap();
    assert!(report.ready, "{}", report.render_text());
    let net_step = report.plan.step(ItemKind::Network).unwrap();
    assert_eq!(net_step.action, Action::Unchanged);
    assert!(net_step.notes.iter().any(|n| n.contains("host bridge")));
    let net = c.network(&br).await.unwrap().unwrap();
    assert!(!net.managed, "the tool must not take over a host bridge");
    let (profile, _) = c.profile(&s.project, &s.profile).await.unwrap().unwrap();
    let eth0 = profile.devices.get("eth0").unwrap();
    assert_eq!(eth0.get("nictype").map(String::as_str), Some("bridged"));
    assert_eq!(eth0.get("parent"), Some(&br));

    // The loopback interface exists everywhere and is no bridge.
    s.bridge.name = "lo".into();
    let err = lxd_host::plan(&c, &s).await.unwrap_err();
    assert!(matches!(err, PlanError::NotABridge { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("\"lo\" is a host interface of type loopback"),
        "{err}"
    );
    d.stop().unwrap();
}

#[tokio::test]
async fn managed_bridge_with_private_cidr_and_nat_drift() {
    let d = daemon();
    let c = d.client().unwrap();
    let mut s = spec(free_port().unwrap());
    // 198.18.0.0/15 is reserved for benchmarking: never routed.
    s.bridge.ipv4 = Some(AddressSetting::Cidr("198.18.77.1/24".into()));
    s.bridge.ipv4_nat = Some(false);
    let report = lxd_host::run(&c, &s, false).await.unwrap();
    assert!(report.ready, "{}", report.render_text());
    let net = c.network(&s.bridge.name).await.unwrap().unwrap();
    assert_eq!(
        net.config.get("ipv4.address").map(String::as_str),
        Some("198.18.77.1/24")
    );
    assert_eq!(
        net.config.get("ipv4.nat").map(String::as_str),
        Some("false")
    );

    c.patch_network_config(
        &s.bridge.name,
        &BTreeMap::from([("ipv4.nat".to_owned(), "true".to_owned())]),
    )
    .await
    .unwrap();
    let plan = lxd_host::plan(&c, &s).await.unwrap();
    let step = plan.step(ItemKind::Network).unwrap();
    assert_eq!(step.action, Action::Update);
    assert_eq!(step.changes[0].to_string(), "ipv4.nat: true -> false");
    lxd_host::apply(&c, &s, &plan).await;
    let net = c.network(&s.bridge.name).await.unwrap().unwrap();
    assert_eq!(
        net.config.get("ipv4.nat").map(String::as_str),
        Some("false")
    );
    // PATCH merged: the address is untouched.
    assert_eq!(
        net.config.get("ipv4.address").map(String::as_str),
        Some("198.18.77.1/24")
    );
    d.stop().unwrap();
}

#[tokio::test]
async fn https_with_pinned_fingerprint_and_client_certificate() {
    let d = daemon();
    let c = d.client().unwrap();
    let port = free_port().unwrap();
    let mut s = spec(port);
    let identity = ClientIdentity::generate("maas-region-test").unwrap();
    s.trust = Some(TrustSpec::ClientCertificate {
        name: "maas".into(),
        pem: identity.cert_pem().to_owned(),
    });
    let report = lxd_host::run(&c, &s, false).await.unwrap();
    assert!(report.ready, "{}", report.render_text());
    let again = lxd_host::plan(&c, &s).await.unwrap();
    assert_eq!(
        again.step(ItemKind::Trust).unwrap().action,
        Action::Unchanged
    );

    let env = c.server().await.unwrap().environment.unwrap();
    let server_fp: Fingerprint = env.certificate_fingerprint.parse().unwrap();
    let endpoint = format!("127.0.0.1:{port}");

    // Pinned + trusted client certificate: trusted, restricted to the project.
    let remote =
        LxdClient::https(&endpoint, ServerTrust::Pinned(server_fp), Some(&identity)).unwrap();
    let server = remote.server().await.unwrap();
    assert!(server.is_trusted());
    assert_eq!(remote.observed_server_fingerprint(), Some(server_fp));
    let projects: Vec<String> = remote
        .projects()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(projects, vec![s.project.clone()]);
    let cert = c
        .certificate(&identity.fingerprint())
        .await
        .unwrap()
        .unwrap();
    assert!(cert.restricted);
    assert_eq!(cert.projects, vec![s.project.clone()]);

    // A wrong pin is refused before any request is sent.
    let wrong: Fingerprint = "00".repeat(32).parse().unwrap();
    let bad = LxdClient::https(&endpoint, ServerTrust::Pinned(wrong), Some(&identity)).unwrap();
    let err = bad.server().await.unwrap_err();
    match &err {
        LxdError::FingerprintMismatch { expected, seen, .. } => {
            assert_eq!(*expected, wrong);
            assert_eq!(*seen, server_fp);
        }
        other => panic!("expected a fingerprint mismatch, got {other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::Permanent);

    // Trust on first use, when asked: reports what it accepted.
    let tofu = LxdClient::https(&endpoint, ServerTrust::TrustOnFirstUse, None).unwrap();
    let untrusted = tofu.server().await.unwrap();
    assert!(!untrusted.is_trusted());
    assert!(untrusted.environment.is_none());
    assert_eq!(tofu.observed_server_fingerprint(), Some(server_fp));

    // An unknown client certificate stays untrusted and cannot list projects.
    let stranger = ClientIdentity::generate("stranger").unwrap();
    let other =
        LxdClient::https(&endpoint, ServerTrust::Pinned(server_fp), Some(&stranger)).unwrap();
    assert!(!other.server().await.unwrap().is_trusted());
    assert_eq!(other.projects().await.unwrap_err().status(), Some(403));
    d.stop().unwrap();
}

#[tokio::test]
async fn token_trust_over_https() {
    let d = daemon();
    let c = d.client().unwrap();
    let port = free_port().unwrap();
    let mut s = spec(port);
    let name = unique_name("region");
    s.trust = Some(TrustSpec::IssueToken { name: name.clone() });

    let report = lxd_host::run(&c, &s, false).await.unwrap();
    assert!(report.ready, "{}", report.render_text());
    let issued = report.token.clone().expect("a token was asked for");
    assert!(!issued.reused);
    let token = TrustToken::decode(&issued.token).unwrap();
    assert_eq!(token.client_name, name);
    assert_eq!(token.addresses, vec![format!("127.0.0.1:{port}")]);

    // A second run shows the pending token again instead of issuing another.
    let again = lxd_host::run(&c, &s, false).await.unwrap();
    assert!(again.applied.is_empty());
    let reused = again.token.clone().unwrap();
    assert!(reused.reused);
    assert_eq!(reused.token, issued.token);
    assert_eq!(c.pending_trust_tokens().await.unwrap().len(), 1);

    // The client uses the token: pin from the token, present it, get trusted.
    let identity = ClientIdentity::generate("region-test").unwrap();
    let remote = LxdClient::https(
        &token.addresses[0],
        ServerTrust::Pinned(token.server_fingerprint().unwrap()),
        Some(&identity),
    )
    .unwrap();
    assert!(!remote.server().await.unwrap().is_trusted());
    let outcome = remote
        .request_trust(&name, TrustCredential::Token(&token))
        .await
        .unwrap();
    assert_eq!(outcome, TrustOutcome::Added);
    assert!(remote.server().await.unwrap().is_trusted());
    let projects: Vec<String> = remote
        .projects()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(projects, vec![s.project.clone()]);
    let cert = c
        .certificate(&identity.fingerprint())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cert.name, name);
    assert!(cert.restricted);

    // Tokens are single use.
    let second = ClientIdentity::generate("second").unwrap();
    let remote2 = LxdClient::https(
        &token.addresses[0],
        ServerTrust::Pinned(token.server_fingerprint().unwrap()),
        Some(&second),
    )
    .unwrap();
    let err = remote2
        .request_trust(&name, TrustCredential::Token(&token))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    assert!(!err.to_string().contains(&token.secret));

    // Third run: the client is trusted, no new token.
    let third = lxd_host::run(&c, &s, false).await.unwrap();
    assert!(third.applied.is_empty());
    assert!(third.token.is_none());
    assert!(third.ready, "{}", third.render_text());
    d.stop().unwrap();
}

#[tokio::test]
async fn trust_password_where_supported() {
    let d = daemon();
    let c = d.client().unwrap();
    let port = free_port().unwrap();
    let mut s = spec(port);
    let password = Secret::new(format!("pw-{}", unique_name("x")));
    s.trust = Some(TrustSpec::TrustPassword(password.clone()));
    let report = lxd_host::run(&c, &s, false).await.unwrap();
    assert!(report.ready, "{}", report.render_text());
    assert!(!report.render_text().contains(password.expose()));
    assert!(
        !serde_json::to_string(&report)
            .unwrap()
            .contains(password.expose())
    );
    assert_eq!(
        c.server()
            .await
            .unwrap()
            .config_value("core.trust_password")
            .as_deref(),
        Some("true")
    );
    assert!(!lxd_host::plan(&c, &s).await.unwrap().has_changes());

    let env = c.server().await.unwrap().environment.unwrap();
    let identity = ClientIdentity::generate("pw-client").unwrap();
    let remote = LxdClient::https(
        &format!("127.0.0.1:{port}"),
        ServerTrust::Pinned(env.certificate_fingerprint.parse().unwrap()),
        Some(&identity),
    )
    .unwrap();
    let wrong = Secret::new("not-the-password");
    let err = remote
        .request_trust("pw", TrustCredential::Password(&wrong))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert_eq!(
        remote
            .request_trust("pw", TrustCredential::Password(&password))
            .await
            .unwrap(),
        TrustOutcome::Added
    );
    assert_eq!(
        remote
            .request_trust("pw", TrustCredential::Password(&password))
            .await
            .unwrap(),
        TrustOutcome::AlreadyTrusted
    );
    d.stop().unwrap();
}

#[tokio::test]
async fn certificates_can_be_added_listed_and_removed() {
    let d = daemon();
    let c = d.client().unwrap();
    let s = spec(free_port().unwrap());
    lxd_host::run(&c, &s, false).await.unwrap();
    let id = ClientIdentity::generate("cert-api").unwrap();
    let add = CertificateAdd::from_identity("cert-api", &id).restricted_to(&[&s.project]);
    c.add_certificate(&add).await.unwrap();
    let again = c.add_certificate(&add).await.unwrap_err();
    assert!(again.is_already_exists(), "{again}");
    let listed = c.certificates().await.unwrap();
    assert!(
        listed
            .iter()
            .any(|x| x.fingerprint == id.fingerprint().to_hex())
    );
    c.delete_certificate(&id.fingerprint()).await.unwrap();
    assert!(c.certificate(&id.fingerprint()).await.unwrap().is_none());
    d.stop().unwrap();
}

#[tokio::test]
async fn failed_operations_are_errors_even_when_wait_answers_200() {
    let d = daemon();
    let c = d.client().unwrap();
    let s = spec(free_port().unwrap());
    lxd_host::run(&c, &s, false).await.unwrap();
    // An empty container whose root disk is on a pool that does not exist:
    // LXD accepts the request (202) and the operation fails.
    let body = serde_json::json!({
        "name": unique_name("ct"),
        "type": "container",
        "source": {"type": "none"},
        "profiles": [],
        "devices": {"root": {"type": "disk", "path": "/", "pool": "no-such-pool"}},
    });
    let path = format!("/1.0/instances?project={}", s.project);
    let resp = c
        .request(Method::POST, &path, Some(&body), None)
        .await
        .unwrap();
    assert_eq!(resp.status, 202, "instance creation is asynchronous");
    let id = resp.operation_id().unwrap().to_owned();
    let err = c.wait_operation(&id).await.unwrap_err();
    match &err {
        LxdError::OperationFailed {
            id: op,
            status,
            err,
        } => {
            assert_eq!(op, &id);
            assert_eq!(status, "Failure");
            assert!(err.to_lowercase().contains("pool"), "{err}");
        }
        other => panic!("expected OperationFailed, got {other:?}"),
    }
    d.stop().unwrap();
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let d = daemon();
    let c = d.client().unwrap();
    let s = spec(free_port().unwrap());
    let report = lxd_host::run(&c, &s, true).await.unwrap();
    assert!(report.dry_run);
    assert!(report.plan.has_changes());
    assert!(report.applied.is_empty());
    assert!(c.storage_pool(&s.storage.pool).await.unwrap().is_none());
    assert!(c.project(&s.project).await.unwrap().is_none());
    assert!(c.network(&s.bridge.name).await.unwrap().is_none());
    assert!(
        report
            .render_text()
            .contains("Dry run: nothing was changed")
    );
    d.stop().unwrap();
}
