//! The client's retries against the simulator's faults: what is repeated, and what must not be.

use maas_api::{AllocateParams, Error, MachineFilter, TransportKind};
use maas_sim::{NodeStatus, OpFault, ScriptedFault};

use crate::common::*;

fn statuses(env: &Env, op: Option<&str>, action: &str) -> Vec<u16> {
    env.ctl()
        .requests()
        .iter()
        .filter(|r| {
            r.op.as_deref() == op && r.action.as_deref().is_some_and(|a| a.ends_with(action))
        })
        .map(|r| r.status)
        .collect()
}

#[tokio::test]
async fn allocate_dropped_after_processing_is_not_retried() {
    let env = env().await;
    env.ctl().add_scripted_fault(ScriptedFault::DropConnection {
        op: "allocate".into(),
        count: 1,
    });
    let retrying = env.client_with(env.sim.admin_api_key(), fast_retries(5));
    let err = retrying
        .allocate(&AllocateParams::new().agent_name("dropped"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::Io | TransportKind::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
    // MAAS acted once: exactly one machine was allocated, and the client sent one request.
    let taken: Vec<_> = env
        .ctl()
        .machines()
        .into_iter()
        .filter(|m| m.status == NodeStatus::Allocated)
        .collect();
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(taken[0].agent_name, "dropped");
    assert_eq!(statuses(&env, Some("allocate"), "allocate"), [0]);
    // The caller re-observes by agent_name, as the docs say.
    let found = env
        .admin
        .list_machines(&MachineFilter::new().agent_name("dropped"))
        .await
        .unwrap();
    assert_eq!(hostnames(&found), [taken[0].hostname.clone()]);
}

#[tokio::test]
async fn idempotent_calls_are_retried_after_a_dropped_connection() {
    let env = env().await;
    let retrying = env.client_with(env.sim.admin_api_key(), fast_retries(5));
    let id = retrying
        .allocate(&AllocateParams::new())
        .await
        .unwrap()
        .system_id;
    env.ctl().clear_requests();
    env.ctl().add_scripted_fault(ScriptedFault::DropConnection {
        op: "power_on".into(),
        count: 1,
    });
    retrying.power_on(&id, None).await.unwrap();
    assert_eq!(statuses(&env, Some("power_on"), "power_on"), [0, 200]);

    // A dry-run allocate acquires nothing, so it is repeated too.
    env.ctl().add_scripted_fault(ScriptedFault::DropConnection {
        op: "allocate".into(),
        count: 1,
    });
    let dry = AllocateParams {
        dry_run: true,
        ..AllocateParams::new()
    };
    retrying.allocate(&dry).await.unwrap();
    assert_eq!(statuses(&env, Some("allocate"), "allocate"), [0, 200]);

    // Reads are repeated after a 500.
    env.ctl().add_scripted_fault(ScriptedFault::Respond {
        op: "MachineHandler.read".into(),
        count: 2,
        status: 500,
        body: "boom".into(),
        content_type: None,
        retry_after: None,
    });
    let m = retrying.read_machine(&id).await.unwrap();
    assert_eq!(m.system_id, id);
    assert_eq!(statuses(&env, None, "MachineHandler.read"), [500, 500, 200]);
}

#[tokio::test]
async fn refused_allocate_is_retried_until_attempts_run_out() {
    let env = env().await;
    // 503 + Retry-After: MAAS refused the work, so even allocate may be repeated.
    env.ctl().add_fault(OpFault {
        op: "allocate".into(),
        error_rate: 1.0,
        status: 503,
        body: None,
        latency_ms: 0,
    });
    let retrying = env.client_with(env.sim.admin_api_key(), fast_retries(3));
    let err = retrying.allocate(&AllocateParams::new()).await.unwrap_err();
    assert!(matches!(err, Error::Busy { status: 503, .. }), "{err:?}");
    assert_eq!(
        statuses(&env, Some("allocate"), "allocate"),
        [503, 503, 503]
    );
    assert!(
        env.ctl()
            .machines()
            .iter()
            .all(|m| m.status != NodeStatus::Allocated),
        "nothing was allocated"
    );

    // A 500 after a non-idempotent request is not repeated: MAAS may have acted.
    env.ctl().clear_faults();
    env.ctl().clear_requests();
    env.ctl().add_scripted_fault(ScriptedFault::Respond {
        op: "allocate".into(),
        count: 1,
        status: 500,
        body: "Internal error".into(),
        content_type: None,
        retry_after: None,
    });
    let err = retrying.allocate(&AllocateParams::new()).await.unwrap_err();
    assert!(matches!(err, Error::Server { status: 500, .. }), "{err:?}");
    assert_eq!(statuses(&env, Some("allocate"), "allocate"), [500]);
}
