//! The soak's corner in `make test`: one run, 4 MaasMachines, 6 kill -9 of
//! the real `capmaas-manager` binary (2 of them while the machines are being
//! deleted), connections dropped after MAAS acted, a fixed seed; a real
//! etcd + kube-apiserver and the real `maas-sim` binary. It fails when any
//! invariant breaks (double allocation, second deploy, leak, stuck
//! finalizer, a wave not provisioned, a panic). `make soak` is the long form.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use capmaas_soak::variant::Variant;
use capmaas_soak::{SoakConfig, soak};
use cli_support::testing::cargo_build;

fn bin_dir() -> PathBuf {
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
    PathBuf::from(env!("CARGO_BIN_EXE_capmaas-soak"))
        .parent()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_dropped_answers_keeps_every_invariant() {
    let dir = bin_dir().to_string_lossy().into_owned();
    let knobs = [
        ("SOAK_RUNS", "1"),
        ("SOAK_MACHINES", "4"),
        ("SOAK_KILLS", "6"),
        ("SOAK_SEED", "20261204"),
        ("SOAK_VARIANTS", "drop"),
        ("SOAK_TIMEOUT", "120"),
        ("SOAK_BIN_DIR", dir.as_str()),
    ];
    let cfg = SoakConfig::from_lookup(|k| {
        knobs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    assert_eq!(cfg.variants, [Variant::Dropped]);
    let mut lines = Vec::new();
    let summary = soak(&cfg, |l| {
        eprintln!("{l}");
        lines.push(l.to_owned());
    })
    .await
    .unwrap();
    let run = &summary.runs[0];
    assert!(summary.clean(), "{}", lines.join("\n"));
    assert!(run.kills >= 6 && run.kills_deleting >= 2, "{}", run.line());
    assert!(
        run.faults > 0,
        "the variant dropped no answer: {}",
        run.line()
    );
    assert!(run.samples > 10 && run.waves >= 1, "{}", run.line());
    assert_eq!(
        summary.line(),
        format!(
            "soak: 1/1 runs clean, {} kills, {} faults, leaks 0, doubles 0",
            run.kills, run.faults
        )
    );
}
