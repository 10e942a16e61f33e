#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The checker against maas-sim on both sides, for every MAAS version profile: the corpus runs
//! whole (every fixture found, every wait reached), two simulators of one profile answer
//! identically although their ids differ (so normalisation works), and two profiles that
//! differ are told apart (so the comparison can fail).

use std::time::Duration;

use maas_differential::{Body, Corpus, EndpointConfig, Report, RunOptions, run};
use maas_sim::{Inventory, MaasVersion, RunningSimulator, Simulator};

const PREFIX: &str = "dfc";

async fn sim(version: MaasVersion, seed: u64) -> RunningSimulator {
    let corpus = Corpus::default_corpus().unwrap();
    let inventory = Inventory::from_yaml(&corpus.sim_inventory_for(PREFIX)).unwrap();
    Simulator::builder()
        .seed(seed)
        .maas_version(version)
        .inventory(inventory)
        .deploy_duration(Duration::from_millis(600))
        .release_duration(Duration::from_millis(200))
        .commission_duration(Duration::from_millis(200))
        .erase_duration(Duration::from_millis(200))
        .power_delay(Duration::from_millis(100))
        .start("127.0.0.1:0")
        .await
        .unwrap()
}

fn config(label: &str, s: &RunningSimulator) -> EndpointConfig {
    EndpointConfig {
        label: label.into(),
        url: s.endpoint(),
        api_key: s.admin_api_key().into(),
        ready_command: None,
        insecure: false,
    }
}

async fn compare(a: MaasVersion, b: MaasVersion) -> Report {
    let corpus = Corpus::default_corpus().unwrap();
    let (sa, sb) = (sim(a, 1).await, sim(b, 2).await);
    let options = RunOptions {
        prefix: PREFIX.into(),
        wait_timeout: Duration::from_secs(30),
        ..RunOptions::default()
    };
    let report = run(&corpus, &config("A", &sa), &config("B", &sb), &options)
        .await
        .unwrap();
    assert!(report.problems.is_empty(), "{}", report.text());
    assert_eq!(report.cases.len(), corpus.cases.len());
    report
}

async fn same_profile(version: MaasVersion) {
    let report = compare(version, version).await;
    let score = report.score();
    assert_eq!(score.identical, score.total, "{}", report.text());
    for c in &report.cases {
        for answer in [&c.a, &c.b] {
            assert!(
                !matches!(answer.body, Body::Failed(_)),
                "{}: no answer: {}",
                c.name,
                answer.summary(300)
            );
        }
    }
    // The default traffic is signed HMAC-SHA1, as maas-api signs: the simulator takes it.
    let hmac = report
        .cases
        .iter()
        .find(|c| c.name == "whoami: HMAC-SHA1")
        .unwrap();
    assert_eq!(
        (hmac.a.status, hmac.b.status),
        (200, 200),
        "{}",
        hmac.a.summary(300)
    );
}

#[tokio::test]
async fn maas_3_4_against_itself() {
    same_profile(MaasVersion::V3_4).await;
}

#[tokio::test]
async fn maas_3_5_against_itself() {
    same_profile(MaasVersion::V3_5).await;
}

#[tokio::test]
async fn maas_3_6_against_itself() {
    same_profile(MaasVersion::V3_6).await;
}

#[tokio::test]
async fn maas_3_7_against_itself() {
    same_profile(MaasVersion::V3_7).await;
}

#[tokio::test]
async fn maas_3_8_against_itself() {
    same_profile(MaasVersion::V3_8).await;
}

/// MAAS main (3.8) removed VM hosts: the checker reports it, case by case.
#[tokio::test]
async fn a_real_difference_is_reported() {
    let report = compare(MaasVersion::V3_6, MaasVersion::V3_8).await;
    let vm_hosts = report
        .cases
        .iter()
        .find(|c| c.name == "vm-hosts: list")
        .unwrap();
    assert!(!vm_hosts.comparison.identical());
    assert_eq!((vm_hosts.a.status, vm_hosts.b.status), (200, 410));
    assert!(report.score().identical < report.score().total);
    let text = report.text();
    assert!(text.contains("DIFF vm-hosts: list"), "{text}");
    assert!(text.contains("status: A 200 vs B 410"), "{text}");
}
