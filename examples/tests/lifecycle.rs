//! The lifecycle flow against an in-process maas-sim.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use maas_api::{ClientConfig, MaasClient, RetryPolicy};
use maas_examples::lifecycle::{self, LifecycleError, Options};
use maas_sim::{MaasVersion, MachineSpec, NodeStatus, RunningSimulator, Simulator};
use tokio_util::sync::CancellationToken;

fn spec(host: &str, mem: u64) -> MachineSpec {
    MachineSpec {
        hostname: Some(host.into()),
        cpu_count: Some(4),
        memory: Some(mem),
        ..Default::default()
    }
}

async fn sim(version: MaasVersion) -> RunningSimulator {
    Simulator::builder()
        .inventory(maas_sim::Inventory {
            machines: vec![spec("small", 8192), spec("big", 32768)],
            ..Default::default()
        })
        .maas_version(version)
        .deploy_duration(Duration::from_millis(800))
        .release_duration(Duration::from_millis(200))
        .power_delay(Duration::from_millis(50))
        .ticker(Duration::from_millis(20))
        .start("127.0.0.1:0")
        .await
        .unwrap()
}

fn client(sim: &RunningSimulator) -> MaasClient {
    MaasClient::new(
        ClientConfig::new(&sim.endpoint(), sim.admin_api_key())
            .unwrap()
            .with_retry(RetryPolicy::none()),
    )
    .unwrap()
}

fn opts() -> Options {
    Options {
        agent_name: "lifecycle-test".into(),
        poll_interval: Duration::from_millis(50),
        timeout: Duration::from_secs(30),
        ..Options::default()
    }
}

/// Collects printed lines.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn sink(&self) -> impl FnMut(&str) + Send + use<> {
        let lines = self.0.clone();
        move |l: &str| lines.lock().unwrap().push(l.to_owned())
    }
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

fn all_ready_and_free(sim: &RunningSimulator) {
    for m in sim.control().machines() {
        assert_eq!(m.status, NodeStatus::Ready, "{m:?}");
        assert_eq!(m.owner, None, "{m:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocates_deploys_one_in_memory_and_releases() {
    let sim = sim(MaasVersion::V3_6).await;
    let maas = client(&sim);
    let lines = Lines::default();
    // While Deployed, MAAS itself says which machine runs in memory.
    let control = sim.control();
    let maas_says = Arc::new(Mutex::new(Vec::new()));
    let (mut record, says) = (lines.sink(), maas_says.clone());
    let mut sink = move |l: &str| {
        record(l);
        if l.contains(") deployed ") {
            let id = l.split_whitespace().nth(1).unwrap();
            let m = control.machine(id).unwrap();
            says.lock().unwrap().push((m.hostname, m.ephemeral_deploy));
        }
    };
    let summary = lifecycle::run(&maas, &opts(), &mut sink, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        *maas_says.lock().unwrap(),
        vec![("small".to_owned(), false), ("big".to_owned(), true)]
    );
    assert_eq!(summary.maas_version, "3.6.5");
    assert_eq!(summary.machines.len(), 2);
    let disk = &summary.machines[0];
    let mem = &summary.machines[1];
    assert_eq!((disk.hostname.as_str(), disk.in_memory), ("small", false));
    assert_eq!(
        (mem.hostname.as_str(), mem.in_memory),
        ("big", true),
        "the in-memory machine is the one with >= 16 GiB"
    );
    assert!(!disk.ip_addresses.is_empty());
    // Progress: MAAS's status messages changed while deploying, and each
    // change was printed once.
    assert!(
        disk.deploy_progress.len() >= 4,
        "{:?}",
        disk.deploy_progress
    );
    assert_eq!(
        disk.deploy_progress.last().map(String::as_str),
        Some("Deployed")
    );
    // Exactly one line per change, in order, until it is Deployed.
    let printed = lines.all();
    let prefix = format!("] {} (small): ", disk.system_id);
    let shown: Vec<&str> = printed
        .iter()
        .filter_map(|l| l.split_once(&prefix).map(|(_, state)| state))
        .take_while(|state| !state.starts_with("Releasing"))
        .collect();
    assert_eq!(shown, disk.deploy_progress, "{printed:#?}");
    assert!(shown.contains(&"Deploying - Installing OS"), "{shown:?}");
    let line = summary.line();
    assert!(
        line.starts_with(
            "lifecycle: 2 machines allocated, deployed (1 in memory) and released in "
        ) && line.ends_with('s'),
        "{line}"
    );
    all_ready_and_free(&sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maas_3_4_deploys_both_to_disk() {
    let sim = sim(MaasVersion::V3_4).await;
    let maas = client(&sim);
    let mut sink = |_: &str| {};
    let summary = lifecycle::run(&maas, &opts(), &mut sink, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(summary.machines.len(), 2);
    assert!(summary.machines.iter().all(|m| !m.in_memory));
    all_ready_and_free(&sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_deployment_is_reported_and_everything_released() {
    let sim = sim(MaasVersion::V3_6).await;
    sim.control()
        .add_scripted_fault(maas_sim::ScriptedFault::FailDeploys { count: 1 });
    let maas = client(&sim);
    let lines = Lines::default();
    let mut sink = lines.sink();
    let err = lifecycle::run(&maas, &opts(), &mut sink, CancellationToken::new())
        .await
        .unwrap_err();
    let LifecycleError::MachineFailed { status, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(status.to_string(), "Failed deployment");
    assert_eq!(
        lines
            .all()
            .iter()
            .filter(|l| l.starts_with("lifecycle: cleanup: released"))
            .count(),
        2,
        "{:#?}",
        lines.all()
    );
    // The releases complete on MAAS's side.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sim
        .control()
        .machines()
        .iter()
        .any(|m| m.status != NodeStatus::Ready)
    {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    all_ready_and_free(&sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_releases_what_was_allocated() {
    let sim = sim(MaasVersion::V3_6).await;
    let maas = client(&sim);
    let cancel = CancellationToken::new();
    let lines = Lines::default();
    let seen = lines.clone();
    let trigger = cancel.clone();
    let mut sink = move |l: &str| {
        seen.0.lock().unwrap().push(l.to_owned());
        if l.contains("deploying jammy") {
            trigger.cancel();
        }
    };
    let err = lifecycle::run(&maas, &opts(), &mut sink, cancel)
        .await
        .unwrap_err();
    assert!(matches!(err, LifecycleError::Interrupted), "{err:?}");
    assert!(
        lines
            .all()
            .iter()
            .any(|l| l.starts_with("lifecycle: cleanup: released")),
        "{:#?}",
        lines.all()
    );
    assert!(
        sim.control().machines().iter().all(|m| m.owner.is_none()),
        "nothing stays allocated"
    );
}
