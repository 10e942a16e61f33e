//! The error mapping end to end: what the simulator answers, as `maas_api::Error` and its class.

use std::time::Duration;

use maas_api::{
    AllocateParams, ClientConfig, ComposeParams, DeployParams, DnsResourceParams, Error,
    ErrorClass, MaasClient, MachineFilter, RetryPolicy, TagCreateParams, VmHostCreateParams,
    VmHostType,
};
use maas_sim::{OpFault, ScriptedFault};

use crate::common::*;

fn unauthorized(err: &Error) -> &str {
    match err {
        Error::Unauthorized { message } => message,
        other => panic!("expected 401, got {other:?}"),
    }
}

#[tokio::test]
async fn unauthorized_variants() {
    let env = env().await;
    let endpoint = env.sim.endpoint();
    let admin_key = env.sim.admin_api_key().to_string();
    let parts: Vec<&str> = admin_key.split(':').collect();

    // Unknown consumer key.
    let c = client(
        &endpoint,
        "AAAAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBBBB:CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC",
        RetryPolicy::none(),
    );
    let err = c.whoami().await.unwrap_err();
    assert_eq!(unauthorized(&err), "Authorization Error: Invalid API key.");
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert_eq!(err.status(), Some(401));

    // Known consumer, unknown token.
    let c = client(
        &endpoint,
        &format!("{}:BBBBBBBBBBBBBBBBBB:{}", parts[0], parts[2]),
        RetryPolicy::none(),
    );
    let err = c.whoami().await.unwrap_err();
    assert!(
        unauthorized(&err).starts_with("Authorization Error: 'Invalid access token:"),
        "{err:?}"
    );

    // Right key names, wrong secret: the secret never appears in the error.
    let wrong = "WrongSecretWrongSecretWrongSecre";
    let c = client(
        &endpoint,
        &format!("{}:{}:{wrong}", parts[0], parts[1]),
        RetryPolicy::none(),
    );
    let err = c.list_zones().await.unwrap_err();
    let msg = unauthorized(&err);
    assert!(msg.contains("Invalid signature"), "{msg}");
    assert!(!msg.contains(wrong) && !msg.contains(parts[2]), "{msg}");
    assert!(!err.to_string().contains(wrong));

    // Unsigned requests: handlers without an anonymous side answer 401 "Forbidden"; the
    // machines handler has one and answers 400; version/ works.
    let anon = MaasClient::new(
        ClientConfig::anonymous(&endpoint)
            .unwrap()
            .with_retry(RetryPolicy::none()),
    )
    .unwrap();
    let err = anon.whoami().await.unwrap_err();
    assert_eq!(unauthorized(&err), "Forbidden");
    let err = anon.list_machines(&MachineFilter::new()).await.unwrap_err();
    assert!(
        matches!(&err, Error::BadRequest { message } if message == "Unrecognised signature: method=GET op=None"),
        "{err:?}"
    );
    assert_eq!(anon.version().await.unwrap().version, "3.6.5");
}

#[tokio::test]
async fn admin_only_operations_are_forbidden_to_a_user() {
    let env = env().await;
    let u = &env.user;
    let mut errors: Vec<(&str, Error)> = Vec::new();
    errors.push(("create_zone", u.create_zone("z9", None).await.unwrap_err()));
    errors.push((
        "create_resource_pool",
        u.create_resource_pool("p9", None).await.unwrap_err(),
    ));
    errors.push((
        "create_tag",
        u.create_tag(&TagCreateParams {
            name: "t9".into(),
            ..TagCreateParams::default()
        })
        .await
        .unwrap_err(),
    ));
    errors.push((
        "create_vm_host",
        u.create_vm_host(&VmHostCreateParams {
            host_type: VmHostType::Lxd,
            power_address: "10.10.0.99".into(),
            ..VmHostCreateParams::default()
        })
        .await
        .unwrap_err(),
    ));
    errors.push((
        "compose",
        u.compose(1, &ComposeParams::default()).await.unwrap_err(),
    ));
    errors.push((
        "vm_host_parameters",
        u.vm_host_parameters(1).await.unwrap_err(),
    ));
    errors.push((
        "create_dns_resource",
        u.create_dns_resource(&DnsResourceParams {
            fqdn: Some("x.maas".into()),
            ip_addresses: Some(vec!["10.10.0.90".into()]),
            ..DnsResourceParams::default()
        })
        .await
        .unwrap_err(),
    ));
    errors.push((
        "update_tag_nodes",
        u.update_tag_nodes("gpu", &["sm1aaa".to_string()], &[])
            .await
            .unwrap_err(),
    ));
    for (op, err) in errors {
        assert!(
            matches!(err, Error::Forbidden { .. }),
            "{op}: expected 403, got {err:?}"
        );
        assert_eq!(err.class(), ErrorClass::Permanent);
    }
}

#[tokio::test]
async fn not_found() {
    let env = env().await;
    let a = &env.admin;
    let cases: Vec<(Error, &str)> = vec![
        (
            a.read_machine("nosuch").await.unwrap_err(),
            "No Machine matches the given query.",
        ),
        (a.read_vm_host(9999).await.unwrap_err(), "Not Found"),
        (
            a.read_resource_pool(9999).await.unwrap_err(),
            "No ResourcePool matches the given query.",
        ),
        (
            a.read_zone("no-such-zone").await.unwrap_err(),
            "No Zone matches the given query.",
        ),
        (
            a.read_subnet(9999).await.unwrap_err(),
            "No Subnet matches the given query.",
        ),
        (
            a.read_domain(9999).await.unwrap_err(),
            "No Domain matches the given query.",
        ),
    ];
    for (err, text) in cases {
        match &err {
            Error::NotFound { message } => assert_eq!(message, text),
            other => panic!("expected 404 {text:?}, got {other:?}"),
        }
        assert_eq!(err.class(), ErrorClass::Permanent);
    }
}

#[tokio::test]
async fn no_machine_available_versus_conflict() {
    let env = env().await;
    let err = env
        .admin
        .allocate(&AllocateParams::new().mem(999_999).zone("zone-a"))
        .await
        .unwrap_err();
    match &err {
        Error::NoMachineAvailable { message } => assert_eq!(
            message,
            "No available machine matches constraints: [('mem', ['999999']), ('zone', ['zone-a'])] \
             (resolved to \"mem=999999.0 zone=zone-a\")"
        ),
        other => panic!("expected NoMachineAvailable, got {other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::Capacity);

    // Take every Ready machine. In zone-b no VM host can compose one either.
    for _ in 0..4 {
        env.admin.allocate(&AllocateParams::new()).await.unwrap();
    }
    let err = env
        .admin
        .allocate(&AllocateParams::new().zone("zone-b"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoMachineAvailable { .. }), "{err:?}");

    // A state violation is a Conflict (Permanent), not a capacity problem.
    let err = env
        .admin
        .deploy("dep1gg", &DeployParams::new())
        .await
        .unwrap_err();
    match &err {
        Error::Conflict { message } => assert_eq!(
            message,
            "Can't deploy a machine that is in the 'Deployed' state"
        ),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::Permanent);
}

#[tokio::test]
async fn lock_page_is_busy_and_retried_until_it_succeeds() {
    let env = env().await;
    // Without retries the lock page surfaces as Busy, with MAAS's Retry-After.
    env.ctl().add_scripted_fault(ScriptedFault::LockPage {
        op: "allocate".into(),
        count: 1,
    });
    let err = env
        .admin
        .allocate(&AllocateParams::new())
        .await
        .unwrap_err();
    match &err {
        Error::Busy {
            status,
            retry_after,
            ..
        } => {
            assert_eq!(*status, 409);
            assert_eq!(*retry_after, Some(Duration::from_secs(5)));
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(
        env.ctl()
            .machines()
            .iter()
            .all(|m| m.hostname != "small-1" || m.owner.is_none()),
        "the lock page means MAAS did nothing"
    );

    // With retries, a non-idempotent allocate is repeated (MAAS rolled back) and succeeds.
    env.ctl().clear_requests();
    env.ctl().add_scripted_fault(ScriptedFault::LockPage {
        op: "allocate".into(),
        count: 2,
    });
    let retrying = env.client_with(env.sim.admin_api_key(), fast_retries(5));
    let m = retrying
        .allocate(&AllocateParams::new().agent_name("after-lock"))
        .await
        .unwrap();
    assert_eq!(m.hostname, "small-1");
    let statuses: Vec<u16> = env
        .ctl()
        .requests()
        .iter()
        .filter(|r| r.op.as_deref() == Some("allocate"))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [409, 409, 200]);
    let owned: Vec<_> = env
        .ctl()
        .machines()
        .into_iter()
        .filter(|m| m.agent_name == "after-lock")
        .collect();
    assert_eq!(owned.len(), 1);
}

#[tokio::test]
async fn validation_errors_map_fields() {
    let env = env().await;
    let err = env
        .admin
        .list_machines(&MachineFilter::new().zone("nowhere"))
        .await
        .unwrap_err();
    match &err {
        Error::Validation { fields } => {
            assert_eq!(fields["zone"], ["No such zone(s): nowhere."]);
        }
        other => panic!("expected Validation, got {other:?}"),
    }
    let err = env
        .admin
        .allocate(&AllocateParams::new().tag("no-such-tag"))
        .await
        .unwrap_err();
    match &err {
        Error::Validation { fields } => {
            assert_eq!(fields["tags"], ["No such tag(s): 'no-such-tag'."]);
        }
        other => panic!("expected Validation, got {other:?}"),
    }
    let err = env.admin.create_zone("zone-a", None).await.unwrap_err();
    match &err {
        Error::Validation { fields } => {
            assert_eq!(
                fields["name"],
                ["Physical zone with this Name already exists."]
            );
        }
        other => panic!("expected Validation, got {other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::Permanent);
}

#[tokio::test]
async fn service_unavailable_is_busy_and_exhaustion_is_capacity() {
    let env = env().await;
    env.ctl().add_fault(OpFault {
        op: "MachinesHandler.read".into(),
        error_rate: 1.0,
        status: 503,
        body: None,
        latency_ms: 0,
    });
    let err = env
        .admin
        .list_machines(&MachineFilter::new())
        .await
        .unwrap_err();
    match &err {
        Error::Busy {
            status,
            retry_after,
            ..
        } => {
            assert_eq!(*status, 503);
            assert_eq!(*retry_after, Some(Duration::from_secs(10)));
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::Transient);
    env.ctl().clear_faults();

    // Over-committing a VM host is MAAS's 503 "Unable to compose": capacity.
    let host = env
        .admin
        .list_vm_hosts()
        .await
        .unwrap()
        .into_iter()
        .find(|h| h.name == "kvm-01")
        .unwrap();
    let twenty = ComposeParams {
        cores: Some(20),
        ..ComposeParams::default()
    };
    env.admin.compose(host.id, &twenty).await.unwrap();
    let err = env.admin.compose(host.id, &twenty).await.unwrap_err();
    match &err {
        Error::Exhausted {
            status, message, ..
        } => {
            assert_eq!(*status, 503);
            assert!(
                message.starts_with("Unable to compose KVM instance in 'kvm-01'."),
                "{message}"
            );
        }
        other => panic!("expected Exhausted, got {other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::Capacity);
}
