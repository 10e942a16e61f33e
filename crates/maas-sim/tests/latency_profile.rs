#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `--latency-profile region`: answers are delayed as a real region's, and
//! the request log's `duration_us` includes the delay.

mod common;

use common::*;
use maas_sim::LatencyProfile;
use reqwest::StatusCode;

fn duration_us(sim: &maas_sim::RunningSimulator, action: &str) -> u64 {
    sim.control()
        .requests()
        .iter()
        .find(|r| r.action.as_deref() == Some(action))
        .unwrap_or_else(|| panic!("no {action} in the request log"))
        .duration_us
}

#[tokio::test]
async fn region_profile_delays_each_answer_and_lists_per_machine() {
    let sim = start(
        builder()
            .machines(5)
            .latency_profile(LatencyProfile::Region),
    )
    .await;
    let admin = Maas::admin(&sim);
    let list = admin.get("machines/", &[]).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json().as_array().unwrap().len(), 5);
    let id = list.json()[0]["system_id"].as_str().unwrap().to_owned();
    assert_eq!(
        admin.get(&format!("machines/{id}/"), &[]).await.status,
        StatusCode::OK
    );
    // Lower bounds only: a sleep never ends early, a loaded machine may add.
    assert!(duration_us(&sim, "MachinesHandler.read") >= (30 + 5 * 8) * 1000);
    assert!(duration_us(&sim, "MachineHandler.read") >= 40 * 1000);
}
