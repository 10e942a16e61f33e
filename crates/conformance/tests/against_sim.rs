//! The conformance suite against the `maas-sim` binary (the CI corner of
//! `make conformance`): every check passes, nothing outside the scope is
//! touched, and it refuses to start without a pool or tag.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use cli_support::testing::cargo_build;

fn suite_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_capmaas-conformance"))
}

fn bin_dir() -> PathBuf {
    suite_bin().parent().unwrap().to_owned()
}

/// maas-sim and capmaas-manager next to the suite's binary, built once.
fn children_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
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
        for bin in ["maas-sim", "capmaas-manager"] {
            assert!(
                bin_dir().join(bin).is_file(),
                "{bin} not in {}",
                bin_dir().display()
            );
        }
    });
}

/// In scope: pool `lab` + tag `capmaas-conformance`, two small machines and
/// one with 32 GiB. Decoys, cheaper than every machine in scope (MAAS
/// allocates the cheapest match, so a dropped constraint would take them):
/// in the pool without the tag, with the tag in another pool, neither.
const INVENTORY: &str = r#"
zones:
  - {name: az1}
  - {name: az2}
pools:
  - {name: lab}
  - {name: other}
tags:
  - {name: capmaas-conformance}
machines:
  - {hostname: conf-a, cpu_count: 4, memory: 8192, zone: az1, pool: lab, tags: [capmaas-conformance]}
  - {hostname: conf-b, cpu_count: 4, memory: 8192, zone: az2, pool: lab, tags: [capmaas-conformance]}
  - {hostname: conf-big, cpu_count: 8, memory: 32768, zone: az2, pool: lab, tags: [capmaas-conformance]}
  - {hostname: decoy-pool, cpu_count: 1, memory: 2048, zone: az1, pool: lab}
  - {hostname: decoy-tag, cpu_count: 1, memory: 2048, zone: az1, pool: other, tags: [capmaas-conformance]}
  - {hostname: decoy-none, cpu_count: 1, memory: 2048, zone: az1}
"#;

struct Sim {
    child: Child,
    endpoint: String,
    key: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sim(dir: &Path) -> Sim {
    let inventory = dir.join("inventory.yaml");
    std::fs::write(&inventory, INVENTORY).unwrap();
    let mut child = Command::new(bin_dir().join("maas-sim"))
        .args(["--listen", "127.0.0.1:0", "--maas-version", "3.6"])
        .args([
            "--deploy-seconds",
            "3",
            "--release-seconds",
            "1",
            "--seed",
            "3",
        ])
        .arg("--inventory")
        .arg(&inventory)
        .env_remove("MAAS_SIM_API_KEY")
        .env_remove("MAAS_SIM_USER_API_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("maas-sim.log")).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut key, mut endpoint) = (None, None);
    while key.is_none() || endpoint.is_none() {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("maas-sim stopped printing; see {}", dir.display()))
            .unwrap();
        if let Some(k) = line.strip_prefix("MAAS_API_KEY=") {
            key = Some(k.to_owned());
        } else if let Some(e) = line.strip_prefix("MAAS_ENDPOINT=") {
            endpoint = Some(e.to_owned());
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Sim {
        child,
        endpoint: endpoint.unwrap(),
        key: key.unwrap(),
    }
}

fn suite(sim: &Sim, tmp: &Path) -> Command {
    let mut cmd = Command::new(suite_bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("CONFORMANCE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("MAAS_ENDPOINT", &sim.endpoint)
        .env("MAAS_API_KEY", &sim.key)
        .env("CONFORMANCE_POOL", "lab")
        .env("CONFORMANCE_TAG", "capmaas-conformance")
        .env("CONFORMANCE_TIMEOUT", "120")
        .env("CONFORMANCE_POLL_INTERVAL", "1s")
        .env("CONFORMANCE_BIN_DIR", bin_dir())
        .env("TMPDIR", tmp)
        .stdin(Stdio::null());
    cmd
}

/// `GET machines/` of the simulator, through curl-free std: the suite's
/// own client is not used, so that this checks independently.
fn machines(sim: &Sim) -> Vec<serde_json::Value> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let maas = maas_api::MaasClient::new(
            maas_api::ClientConfig::new(&sim.endpoint, &sim.key).unwrap(),
        )
        .unwrap();
        let list = maas
            .list_machines(&maas_api::MachineFilter::new())
            .await
            .unwrap();
        list.into_iter()
            .map(|m| {
                serde_json::json!({
                    "hostname": m.hostname, "status": m.status_name, "owner": m.owner,
                    "annotations": m.workload_annotations.len(),
                })
            })
            .collect()
    })
}

#[test]
fn every_check_passes_against_maas_sim() {
    children_built();
    let tmp = tempfile::tempdir().unwrap();
    let sim = start_sim(tmp.path());
    let started = Instant::now();
    let out = suite(&sim, tmp.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "suite failed:\n{stdout}\n{stderr}"
    );
    for name in capmaas_conformance::PLAN {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("PASS") && l.contains(name)),
            "no PASS line for {name:?}:\n{stdout}"
        );
    }
    assert!(
        !stdout
            .lines()
            .any(|l| l.starts_with("FAIL") || l.starts_with("SKIP") || l.starts_with("----")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("conformance: PASSED (15 passed, 0 failed, 0 skipped, 0 not run)"),
        "{stdout}"
    );
    // The in-memory worker went to the big machine, the others to the
    // small ones in scope; the decoys were never taken.
    assert!(stdout.contains("worker-mem-0 on conf-big"), "{stdout}");
    for m in machines(&sim) {
        assert_eq!(m["status"], "Ready", "{m}");
        assert!(m["owner"].is_null(), "{m}");
        assert_eq!(m["annotations"], 0, "{m}");
    }
    assert!(
        !stdout.contains("decoy"),
        "a decoy outside the scope was used:\n{stdout}"
    );
    eprintln!(
        "conformance against maas-sim: {:.1}s\n{stdout}",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn refuses_to_start_without_a_pool_or_tag() {
    let out = Command::new(suite_bin())
        .env("MAAS_ENDPOINT", "http://127.0.0.1:9/MAAS")
        .env("MAAS_API_KEY", "a:b:c")
        .env_remove("CONFORMANCE_POOL")
        .env_remove("CONFORMANCE_TAG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("capmaas-conformance: error: ")
            && stderr.contains("CONFORMANCE_POOL or CONFORMANCE_TAG"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
