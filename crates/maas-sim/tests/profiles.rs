#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The MAAS version profiles, 3.0 to 3.8: what each one answers where MAAS
//! releases differ (read from the MAAS source of each release line).

mod common;

use common::*;
use maas_sim::{Inventory, MaasVersion, ScriptedFault};
use reqwest::StatusCode;

/// Profiles under test: `MAAS_SIM_PROFILES=3.0,3.6` narrows the list (make
/// test-matrix runs them all, one profile per run, as does `make test`).
fn profiles() -> Vec<MaasVersion> {
    match std::env::var("MAAS_SIM_PROFILES") {
        Ok(list) if !list.trim().is_empty() => list
            .split(',')
            .map(|v| {
                v.parse()
                    .unwrap_or_else(|e| panic!("MAAS_SIM_PROFILES: {e}"))
            })
            .collect(),
        _ => MaasVersion::ALL.to_vec(),
    }
}

#[tokio::test]
async fn version_answer_and_machine_fields() {
    for v in profiles() {
        let sim = start_version(2, v).await;
        let admin = Maas::admin(&sim);
        let version = Maas::anon(&sim).get("version/", &[]).await.ok();
        assert_eq!(version["version"], v.full(), "{v}");
        assert_eq!(version["subversion"], "", "{v}");
        // The same capability list on every 3.x release.
        assert_eq!(
            version["capabilities"].as_array().map(Vec::len),
            Some(9),
            "{v}"
        );
        let m = admin.allocate(&[]).await;
        let has = |k: &str| m.get(k).is_some();
        assert_eq!(has("parent"), v >= MaasVersion::V3_3, "{v}: parent");
        for k in ["last_sync", "sync_interval", "next_sync"] {
            assert_eq!(has(k), v >= MaasVersion::V3_2, "{v}: {k}");
        }
        assert_eq!(has("enable_hw_sync"), v >= MaasVersion::V3_4, "{v}");
        assert_eq!(has("ephemeral_deploy"), v >= MaasVersion::V3_5, "{v}");
        assert_eq!(has("error_description"), v >= MaasVersion::V3_5, "{v}");
        assert_eq!(has("pod"), v < MaasVersion::V3_8, "{v}: pod");
        assert_eq!(has("virtualmachine_id"), v < MaasVersion::V3_8, "{v}");
        for k in ["workload_annotations", "owner_data", "status_name", "zone"] {
            assert!(has(k), "{v}: {k}");
        }
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn lock_page_retry_after_from_3_2() {
    for v in profiles() {
        let sim = start_version(1, v).await;
        sim.control().add_scripted_fault(ScriptedFault::LockPage {
            op: "allocate".into(),
            count: 1,
        });
        let r = Maas::admin(&sim).post("machines/?op=allocate", &[]).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{v}");
        let expected = (v >= MaasVersion::V3_2).then(|| "5".to_string());
        assert_eq!(r.header("retry-after"), expected, "{v}");
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn enable_hw_sync_is_a_deploy_parameter_from_3_2() {
    for v in profiles() {
        let sim = start_version(1, v).await;
        let admin = Maas::admin(&sim);
        let m = admin.allocate(&[]).await;
        let r = admin
            .post(
                &format!("machines/{}/?op=deploy", sid(&m)),
                &[("enable_hw_sync", "maybe")],
            )
            .await;
        if v >= MaasVersion::V3_2 {
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{v}: {}", r.text);
        } else {
            // Not a parameter before 3.2: ignored like any unknown one.
            assert_eq!(r.status, StatusCode::OK, "{v}: {}", r.text);
        }
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn vm_host_and_in_memory_deploy_texts() {
    for v in profiles() {
        if !v.has_vm_hosts() {
            continue; // 3.8: register_vmhost itself is refused (vmhosts.rs)
        }
        let sim = start_version(2, v).await;
        let admin = Maas::admin(&sim);
        let deploy = |id: String| format!("machines/{id}/?op=deploy");
        let m = admin.allocate(&[]).await;
        let both = [("register_vmhost", "true"), ("ephemeral_deploy", "true")];
        let r = admin.post(&deploy(sid(&m)), &both).await;
        if v >= MaasVersion::V3_5 {
            // Judged on the request.
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{v}");
            assert_eq!(
                r.text, "A machine can not be a VM host if it is deployed to memory.",
                "{v}"
            );
        } else {
            // Judged on the machine, which has disks and was never deployed
            // in memory: accepted.
            assert_eq!(r.status, StatusCode::OK, "{v}: {}", r.text);
            // Another machine deployed in memory, released, then deployed
            // as a VM host: its last deploy was in memory, which is what
            // MAAS before 3.5 looks at.
            let other = admin.allocate(&[]).await;
            let id = sid(&other);
            admin
                .post(&deploy(id.clone()), &[("ephemeral_deploy", "true")])
                .await
                .ok();
            sim.control().complete_pending();
            admin
                .post(&format!("machines/{id}/?op=release"), &[])
                .await
                .ok();
            sim.control().complete_pending();
            admin.allocate(&[("system_id", &id)]).await;
            let r = admin
                .post(&deploy(id), &[("register_vmhost", "true")])
                .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{v}: {}", r.text);
            assert_eq!(
                r.text, "Cannot deploy as a VM host for ephemeral deployments.",
                "{v}"
            );
        }
        sim.shutdown().await;
    }
}

const VM_HOST_INVENTORY: &str = r#"
machines:
  - hostname: taken
    status: deployed
vm_hosts:
  - name: lxd1
    power_address: 10.0.1.10
    cores: 8
    memory: 16384
    storage_pools:
      - name: default
        size_gb: 200
"#;

/// Before 3.3, `allocate` with a `system_id` that is not available composes a
/// VM on a VM host instead of failing (fixed in 3.3).
#[tokio::test]
async fn allocate_with_an_unavailable_system_id() {
    for v in profiles() {
        let inv = Inventory::from_yaml(VM_HOST_INVENTORY).unwrap();
        let sim = start(builder().inventory(inv).maas_version(v)).await;
        let admin = Maas::admin(&sim);
        let taken = sim
            .control()
            .machines()
            .into_iter()
            .find(|m| m.hostname == "taken")
            .unwrap()
            .system_id;
        let r = admin
            .post("machines/?op=allocate", &[("system_id", &taken)])
            .await;
        if v >= MaasVersion::V3_3 {
            assert_eq!(r.status, StatusCode::CONFLICT, "{v}: {}", r.text);
            let expected = format!("No machine with system ID {taken} available.");
            assert_eq!(r.text, expected, "{v}");
        } else {
            let got = r.ok();
            assert_ne!(sid(&got), taken, "{v}: a new VM, not the pinned machine");
            assert_eq!(got["pod"]["name"], "lxd1", "{v}");
        }
        sim.shutdown().await;
    }
}

/// Without VM hosts, pre-3.3 MAAS gives the generic constraint message.
#[tokio::test]
async fn allocate_with_an_unavailable_system_id_without_vm_hosts() {
    for v in profiles() {
        let sim = start_version(0, v).await;
        let r = Maas::admin(&sim)
            .post("machines/?op=allocate", &[("system_id", "xyz123")])
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{v}: {}", r.text);
        if v >= MaasVersion::V3_3 {
            assert_eq!(r.text, "No machine with system ID xyz123 available.", "{v}");
        } else {
            assert!(
                r.text.starts_with(
                    "No available machine matches constraints: [('system_id', ['xyz123'])]"
                ),
                "{v}: {}",
                r.text
            );
        }
        sim.shutdown().await;
    }
}
