//! The benchmark's small corner in `make test`: N=3 in the debug profile,
//! with the real `maas-sim` and `capmaas-manager` binaries (built here if
//! needed) and a real etcd + kube-apiserver. Checks the report's shape and
//! sanity, not its speed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use capmaas_bench::{BenchConfig, Report, run};
use cli_support::testing::cargo_build;

fn bin_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_capmaas-bench"))
        .parent()
        .unwrap()
        .to_owned();
    cargo_build(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
        &[
            "-p",
            "maas-sim-bin",
            "--bin",
            "maas-sim",
            "-p",
            "capmaas-manager",
            "--bin",
            "capmaas-manager",
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_machines_are_provisioned_released_and_counted() {
    let cfg = BenchConfig {
        latency_profile: "region".into(),
        deploy_seconds: 1.0,
        release_seconds: 0.5,
        bin_dir: bin_dir(),
        timeout: Duration::from_secs(120),
    };
    let mut progress = Vec::new();
    let result = run(&cfg, 3, &mut progress).await;
    let progress = String::from_utf8_lossy(&progress);
    let r: Report = result.unwrap_or_else(|e| panic!("{e}\n{progress}"));
    assert!(progress.contains("all 3 provisioned"), "{progress}");
    assert!(progress.contains("all 3 released in MAAS"), "{progress}");

    assert_eq!(r.machines, 3);
    assert_eq!(r.latency_profile, "region");
    assert!(r.provisioned_seconds >= cfg.deploy_seconds, "{r:?}");
    assert!(r.released_seconds > 0.0, "{r:?}");
    // MAAS: every machine was allocated, deployed and released once at least.
    assert!(r.maas_requests > 0);
    assert!(r.maas_requests_provisioning > 0);
    assert!(r.maas_requests_provisioning < r.maas_requests);
    assert_eq!(
        r.maas_requests_by_operation.values().sum::<u64>(),
        r.maas_requests,
        "per-operation counts add up to the total"
    );
    assert_eq!(
        r.maas_answers_by_status.values().sum::<u64>(),
        r.maas_requests
    );
    for op in [
        "MachinesHandler.allocate",
        "MachineHandler.deploy",
        "MachineHandler.release",
    ] {
        assert!(
            r.maas_requests_by_operation.get(op).copied().unwrap_or(0) >= 3,
            "{op}: {:?}",
            r.maas_requests_by_operation
        );
    }
    assert!((r.maas_requests_per_machine - r.maas_requests as f64 / 3.0).abs() < 1e-9);
    // The manager's side.
    assert!(r.reconciles >= 3, "{r:?}");
    assert!(r.reconciles_all_kinds >= r.reconciles);
    assert!(r.poller_lists > 0, "{r:?}");
    assert!(
        r.kube_writes >= 3,
        "at least a finalizer per machine: {r:?}"
    );
    assert!(
        r.kube_requests_by_verb.get("patch").copied().unwrap_or(0) > 0,
        "{r:?}"
    );
    assert!(r.manager_cpu_seconds > 0.0, "{r:?}");
    assert!(r.manager_peak_rss_mib > 1.0, "{r:?}");

    let back: Report = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(back, r);
    assert!(r.table().contains("| MAAS requests / machine |"));
}
