//! MAAS echoes our secret in some error texts (its 401 for a bad PLAINTEXT
//! signature: "Expected signature base string: &<token secret>"). Whatever
//! the error class, no such text reaches a condition or an Event.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::events::v1::Event;
use maas_sim::{MaasVersion, ScriptedFault};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maas_texts_carrying_the_secret_never_reach_conditions_or_events() {
    let w = World::new("redact").await;
    let sim = sim(2, MaasVersion::V3_6, 300).await;
    let key = sim.admin_api_key();
    let secret = key.rsplit(':').next().unwrap().to_owned();
    assert!(secret.len() >= 8, "a realistic secret");
    let body = format!("Invalid signature. Expected signature base string: &{secret}");
    let respond =
        |op: &str, status: u16, content_type: Option<&str>, retry_after| ScriptedFault::Respond {
            op: op.into(),
            count: 1,
            status,
            body: body.clone(),
            content_type: content_type.map(str::to_owned),
            retry_after,
        };
    // Observation (the list by owner marker), then every class of allocate answer.
    let faults = [
        respond("MachinesHandler.read", 401, None, None),
        respond("MachinesHandler.read", 500, None, None),
        respond("allocate", 400, None, None),
        respond("allocate", 403, None, None),
        respond("allocate", 404, None, None),
        respond("allocate", 409, None, None),
        respond("allocate", 410, None, None),
        respond("allocate", 429, None, Some(1)),
        respond("allocate", 500, None, None),
        respond("allocate", 503, None, Some(1)),
        respond("allocate", 200, Some("application/json"), None),
    ];
    let n = faults.len();
    for f in faults {
        sim.control().add_scripted_fault(f);
    }
    let cluster = w.cluster("c1", true).await;
    w.maas_cluster(&cluster, json!({"dnsDomain": "maas"})).await;
    w.machine(
        "c1",
        "m",
        false,
        Some(b"#cloud-config\n"),
        json!({"image": "ubuntu/jammy"}),
    )
    .await;
    let history = w.record_mm("m");
    let mut cfg = config(&w.name(), Some(creds(&sim)));
    cfg.lifecycle.capacity_backoff = Duration::from_millis(500);
    cfg.lifecycle.capacity_backoff_max = Duration::from_secs(1);
    cfg.lifecycle.maas_retry_backoff = Duration::from_millis(500);
    cfg.lifecycle.allocation_settle_time = Duration::from_secs(1);
    let ctrl = w.controller_with(cfg);
    // Every fault consumed, then provisioned.
    w.wait_mm("m", 120, "provisioned after every fault", provisioned)
        .await;
    let (_, scripted) = sim.control().faults();
    assert!(
        scripted.is_empty(),
        "{} of {n} faults left: {scripted:?}",
        scripted.len()
    );

    let versions = history.versions();
    let mut messages: Vec<String> = versions
        .iter()
        .filter_map(|mm| mm.status.as_ref())
        .flat_map(|s| s.conditions.iter().map(|c| c.message.clone()))
        .collect();
    let events: kube::Api<Event> = w.api();
    messages.extend(
        events
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|e| e.note),
    );
    assert!(
        messages.iter().any(|m| m.contains("<redacted>")),
        "MAAS's texts were seen: {messages:#?}"
    );
    let leaked: Vec<&String> = messages.iter().filter(|m| m.contains(&secret)).collect();
    assert!(leaked.is_empty(), "the secret reached: {leaked:#?}");
    ctrl.shutdown().await;
}
