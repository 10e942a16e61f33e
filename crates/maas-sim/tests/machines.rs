#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The machine state machine over HTTP: allocate, deploy, release, erase,
//! abort, broken/fixed, failed deployment, locks, power, annotations.

mod common;

use common::*;
use maas_sim::{Inventory, NodeStatus, ScriptedFault};
use reqwest::StatusCode;
use std::time::Duration;

const INVENTORY: &str = r#"
zones:
  - name: z1
  - name: z2
pools:
  - name: gpu
tags:
  - name: fast
  - name: gpu
machines:
  - hostname: small
    cpu_count: 2
    memory: 4096
    zone: z1
    tags: [fast]
    disks: [{size_gb: 100, tags: [ssd]}, {size_gb: 500}]
  - hostname: medium
    cpu_count: 8
    memory: 16384
    zone: z1
  - hostname: big
    cpu_count: 32
    memory: 131072
    zone: z2
    pool: gpu
    tags: [gpu, fast]
  - hostname: manualbox
    cpu_count: 4
    memory: 8192
    zone: z2
    power_type: manual
    status: new
"#;

async fn sim() -> maas_sim::RunningSimulator {
    start(builder().inventory(Inventory::from_yaml(INVENTORY).unwrap())).await
}

#[tokio::test]
async fn allocate_picks_cheapest_and_applies_constraints() {
    let sim = sim().await;
    let admin = Maas::admin(&sim);
    let m = admin.allocate(&[]).await;
    assert_eq!(
        m["hostname"], "small",
        "cost = cpu_count + memory/1024 orders candidates"
    );
    assert_eq!(m["status"], 10);
    assert_eq!(m["owner"], "admin");
    assert!(m["constraints_by_type"].is_object());

    let m = admin
        .allocate(&[("tags", "fast"), ("agent_name", "capi")])
        .await;
    assert_eq!(m["hostname"], "big");
    let full = admin.machine(&sid(&m)).await;
    assert!(full.get("constraints_by_type").is_none());

    // Storage constraint names map to block devices.
    let sim2 = self::sim().await;
    let a2 = Maas::admin(&sim2);
    let m = a2.allocate(&[("storage", "root:50(ssd),data:200")]).await;
    assert_eq!(m["hostname"], "small");
    let storage = &m["constraints_by_type"]["storage"];
    assert_eq!(storage["root"].as_array().unwrap().len(), 1);
    assert_eq!(storage["data"].as_array().unwrap().len(), 1);

    // Nothing left that matches.
    let r = a2
        .post("machines/?op=allocate", &[("zone", "z1"), ("tags", "gpu")])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.content_type(), "text/plain; charset=utf-8");
    assert_eq!(
        r.text,
        "No available machine matches constraints: [('zone', ['z1']), ('tags', ['gpu'])] (resolved to \"tags=gpu zone=z1\")"
    );
    let medium_free = sim2
        .control()
        .machines()
        .iter()
        .any(|m| m.hostname == "medium" && m.status == NodeStatus::Ready);
    assert!(medium_free);
    let r = a2
        .post("machines/?op=allocate", &[("zone", "z1"), ("mem", "20000")])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.text,
        "No available machine matches constraints: [('zone', ['z1']), ('mem', ['20000'])] (resolved to \"mem=20000.0 zone=z1\")"
    );
    let r = a2
        .post("machines/?op=allocate", &[("system_id", "nope42")])
        .await;
    assert_eq!(r.text, "No machine with system ID nope42 available.");
    sim.shutdown().await;
    sim2.shutdown().await;
}

#[tokio::test]
async fn no_machine_available_and_strict_constraints() {
    let sim = start(builder()).await;
    let admin = Maas::admin(&sim);
    let r = admin.post("machines/?op=allocate", &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.text, "No machine available.");
    // Options alone do not count as constraints.
    let r = admin
        .post(
            "machines/?op=allocate",
            &[("agent_name", "x"), ("comment", "c")],
        )
        .await;
    assert_eq!(r.text, "No machine available.");

    let r = admin
        .post("machines/?op=allocate", &[("colour", "blue")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.content_type(), "application/json; charset=utf-8");
    assert_eq!(r.text, r#"{"colour": ["No such constraint."]}"#);
    let r = admin
        .post("machines/?op=allocate", &[("tags", "nosuch")])
        .await;
    assert_eq!(r.text, r#"{"tags": ["No such tag(s): 'nosuch'."]}"#);
    let r = admin
        .post("machines/?op=allocate", &[("zone", "nowhere")])
        .await;
    assert_eq!(r.text, r#"{"zone": ["No such zone(s): nowhere."]}"#);
    let r = admin
        .post("machines/?op=allocate", &[("pool", "nopool")])
        .await;
    assert_eq!(r.text, r#"{"pool": ["No such pool(s): nopool."]}"#);
    let r = admin
        .post("machines/?op=allocate", &[("mem", "lots")])
        .await;
    assert_eq!(
        r.text,
        r#"{"mem": ["Invalid memory: number of MiB required."]}"#
    );
    let r = admin
        .post("machines/?op=allocate", &[("arch", "sparc")])
        .await;
    assert_eq!(r.text, r#"{"arch": ["Architecture not recognised."]}"#);

    let r = admin
        .get("machines/", &[("hostname", "x"), ("foo", "1")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.text, r#"{"foo": ["No such constraint."]}"#);
    let r = admin.get("machines/", &[("status", "sleeping")]).await;
    assert_eq!(
        r.text,
        r#"{"status": ["Select a valid choice. sleeping is not one of the available choices."]}"#
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn deploy_goes_through_maas_messages_and_power() {
    let sim = sim().await;
    let admin = Maas::admin(&sim);
    let ctl = sim.control();
    let m = admin.allocate(&[("name", "medium")]).await;
    let id = sid(&m);
    // Reads are cached between writes; a write must never leave them stale.
    assert_eq!(admin.machine(&id).await["status_name"], "Allocated");
    assert_eq!(admin.machine(&id).await["status_name"], "Allocated");
    let d = admin
        .post(
            &format!("machines/{id}/?op=deploy"),
            &[
                ("distro_series", "ubuntu/22.04"),
                ("user_data", "I2Nsb3VkLWNvbmZpZw=="),
            ],
        )
        .await
        .ok();
    assert_eq!(d["status"], 9);
    assert_eq!(d["status_name"], "Deploying");
    assert_eq!(d["status_message"], "Deploying");
    assert_eq!(d["distro_series"], "jammy");
    assert_eq!(d["osystem"], "ubuntu");
    assert_eq!(d["netboot"], true);
    assert_eq!(d["power_state"], "off", "power changes asynchronously");
    let ips = d["ip_addresses"].as_array().unwrap();
    assert_eq!(
        ips.len(),
        1,
        "AUTO address assigned on the boot interface at deploy"
    );
    assert_eq!(ctl.user_data(&id).unwrap(), b"I2Nsb3VkLWNvbmZpZw==");

    let mut messages = vec![d["status_message"].as_str().unwrap().to_string()];
    for _ in 0..40 {
        ctl.advance(Duration::from_millis(20));
        let st = ctl.machine(&id).unwrap();
        let msg = st.status_message.clone().unwrap_or_default();
        if messages.last() != Some(&msg) {
            messages.push(msg);
        }
        if st.status == NodeStatus::Deployed {
            break;
        }
    }
    let expected = [
        "Deploying",
        "Performing PXE boot",
        "Loading ephemeral",
        "Configuring storage",
        "Installing OS",
        "Configuring OS",
        "Rebooting",
        "Performing PXE boot",
        "Deployed",
    ];
    assert_eq!(messages, expected);
    let m = admin.machine(&id).await;
    assert_eq!(m["status_name"], "Deployed");
    assert_eq!(m["power_state"], "on");
    ctl.add_machines(1).unwrap();
    let again = admin.machine(&id).await;
    assert_eq!(again, m, "an unrelated write re-renders the same JSON");
    assert_eq!(m["netboot"], false);
    // Deploying a deployed machine is a conflict.
    let r = admin.post(&format!("machines/{id}/?op=deploy"), &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.text,
        "Can't deploy a machine that is in the 'Deployed' state"
    );

    // Release: Releasing now, Ready once powered off; AUTO address freed.
    let r = admin
        .post(
            &format!("machines/{id}/?op=release"),
            &[("comment", "done")],
        )
        .await
        .ok();
    assert_eq!(r["status_name"], "Releasing");
    assert_eq!(r["status_message"], "Releasing");
    assert_eq!(r["distro_series"], "");
    assert_eq!(r["owner"], "admin", "owner cleared only at the end");
    // Releasing again is a no-op 200.
    let again = admin.post(&format!("machines/{id}/?op=release"), &[]).await;
    assert_eq!(again.status, StatusCode::OK);
    ctl.complete_pending();
    let m = admin.machine(&id).await;
    assert_eq!(m["status_name"], "Ready");
    assert_eq!(m["status_message"], "Released");
    assert!(m["owner"].is_null());
    assert_eq!(m["power_state"], "off");
    assert_eq!(m["ip_addresses"].as_array().unwrap().len(), 0);
    let r = admin.post(&format!("machines/{id}/?op=release"), &[]).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "releasing a Ready machine is a no-op"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn deploy_ready_machine_allocates_it_and_invalid_series() {
    let sim = sim().await;
    let user = Maas::user(&sim);
    let id = sim
        .control()
        .machines()
        .iter()
        .find(|m| m.hostname == "medium")
        .unwrap()
        .system_id
        .clone();
    let r = user
        .post(
            &format!("machines/{id}/?op=deploy"),
            &[("distro_series", "warty")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.text,
        r#"{"distro_series": ["'warty' is not a valid distro_series.  It should be one of: '', 'ubuntu/focal', 'ubuntu/jammy', 'ubuntu/noble'."]}"#
    );
    assert_eq!(
        sim.control().machine(&id).unwrap().status,
        NodeStatus::Ready,
        "rolled back"
    );
    let d = user
        .post(
            &format!("machines/{id}/?op=deploy"),
            &[("agent_name", "a1")],
        )
        .await
        .ok();
    assert_eq!(d["owner"], "user");
    assert_eq!(d["status_name"], "Deploying");
    // The admin may not mark another user's machine broken.
    let admin = Maas::admin(&sim);
    let r = admin
        .post(&format!("machines/{id}/?op=mark_broken"), &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.text, "");
    // Non-admins can't see others' machines.
    let r = admin.allocate(&[("name", "small")]).await;
    let other = sid(&r);
    let r = user.get(&format!("machines/{other}/"), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let listed = user.get("machines/", &[]).await.ok();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["system_id"] != other.as_str())
    );
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["system_id"] == id.as_str())
    );
    let r = user.get("machines/nosuch/", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.text, "No Machine matches the given query.");
    // Admin-only ops.
    let r = user
        .post(
            &format!("machines/{id}/?op=deploy"),
            &[("register_vmhost", "true")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    sim.shutdown().await;
}

#[tokio::test]
async fn erase_abort_broken_fixed_lock_power() {
    // Deploys only finish when the test says so (`complete_pending`): with
    // the usual 400 ms a loaded machine finished the deploy before the abort.
    let sim = start(
        builder()
            .deploy_duration(Duration::from_secs(300))
            .inventory(Inventory::from_yaml(INVENTORY).unwrap()),
    )
    .await;
    let admin = Maas::admin(&sim);
    let ctl = sim.control();
    let id = sid(&admin.allocate(&[("name", "medium")]).await);

    // Abort a deployment: back to Allocated.
    admin
        .post(&format!("machines/{id}/?op=deploy"), &[])
        .await
        .ok();
    let r = admin
        .post(&format!("machines/{id}/?op=abort"), &[("comment", "stop")])
        .await
        .ok();
    assert_eq!(r["status_name"], "Allocated");
    assert_eq!(r["status_message"], "Aborted deployment");
    let r = admin.post(&format!("machines/{id}/?op=abort"), &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.text,
        format!("Cannot abort in current state: node {id} is in state Allocated.")
    );

    // Lock requires Deployed/Deploying.
    let r = admin.post(&format!("machines/{id}/?op=lock"), &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.text, "Can't lock, node is not deployed or deploying");
    admin
        .post(&format!("machines/{id}/?op=deploy"), &[])
        .await
        .ok();
    ctl.complete_pending();
    admin
        .post(&format!("machines/{id}/?op=lock"), &[])
        .await
        .ok();
    let r = admin.post(&format!("machines/{id}/?op=lock"), &[]).await;
    assert_eq!(r.text, "Machine is already locked");
    let r = admin.post(&format!("machines/{id}/?op=release"), &[]).await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "a locked machine can't be edited"
    );
    admin
        .post(&format!("machines/{id}/?op=unlock"), &[])
        .await
        .ok();
    let r = admin.post(&format!("machines/{id}/?op=unlock"), &[]).await;
    assert_eq!(r.text, "Machine is not locked");

    // Workload annotations.
    let m = admin
        .post(
            &format!("machines/{id}/?op=set_workload_annotations"),
            &[("cluster", "c1"), ("role", "cp")],
        )
        .await
        .ok();
    assert_eq!(m["workload_annotations"]["cluster"], "c1");
    let m = admin
        .post(
            &format!("machines/{id}/?op=set_workload_annotations"),
            &[("role", "")],
        )
        .await
        .ok();
    assert!(m["workload_annotations"].get("role").is_none());
    // The deprecated alias `set_owner_data` (MAAS's MachineHandler keeps it) does the same.
    let m = admin
        .post(
            &format!("machines/{id}/?op=set_owner_data"),
            &[("juju-model", "m1"), ("cluster", "")],
        )
        .await
        .ok();
    assert_eq!(m["owner_data"], serde_json::json!({"juju-model": "m1"}));
    assert_eq!(
        m["workload_annotations"],
        serde_json::json!({"juju-model": "m1"})
    );

    // Power operations are asynchronous.
    let m = admin
        .post(&format!("machines/{id}/?op=power_off"), &[])
        .await
        .ok();
    assert_eq!(m["power_state"], "on");
    ctl.advance(Duration::from_millis(50));
    let q = admin
        .get(&format!("machines/{id}/"), &[("op", "query_power_state")])
        .await
        .ok();
    assert_eq!(q, serde_json::json!({"state": "off"}));

    // Erase on release: Disk erasing → Ready.
    let r = admin
        .post(&format!("machines/{id}/?op=release"), &[("erase", "true")])
        .await
        .ok();
    assert_eq!(r["status_name"], "Disk erasing");
    ctl.complete_pending();
    assert_eq!(ctl.machine(&id).unwrap().status, NodeStatus::Ready);

    // Broken / fixed.
    let id2 = sid(&admin.allocate(&[("name", "medium")]).await);
    let m = admin
        .post(
            &format!("machines/{id2}/?op=mark_broken"),
            &[("comment", "bad disk")],
        )
        .await
        .ok();
    assert_eq!(m["status_name"], "Broken");
    assert_eq!(m["error_description"], "bad disk");
    assert!(m["owner"].is_null());
    let user = Maas::user(&sim);
    let r = user
        .post(&format!("machines/{id2}/?op=mark_fixed"), &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let m = admin
        .post(&format!("machines/{id2}/?op=mark_fixed"), &[])
        .await
        .ok();
    assert_eq!(m["status_name"], "Ready");
    let r = admin
        .post(&format!("machines/{id2}/?op=mark_fixed"), &[])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.text, "Can't mark a non-broken node as 'Ready'.");

    // Power on needs an owner.
    let r = admin
        .post(&format!("machines/{id2}/?op=power_on"), &[])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.text, "Can't start node: it hasn't been allocated.");
    // Manual power: power_off answers null.
    let manual = ctl
        .machines()
        .into_iter()
        .find(|m| m.hostname == "manualbox")
        .unwrap();
    let r = admin
        .post(&format!("machines/{}/?op=power_off", manual.system_id), &[])
        .await
        .ok();
    assert!(r.is_null());
    // Releasing a New machine is a conflict.
    let r = admin
        .post(&format!("machines/{}/?op=release", manual.system_id), &[])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.text,
        "Machine cannot be released in its current state ('New')."
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn failed_deployment_by_fault_and_batch_release() {
    let sim = sim().await;
    let admin = Maas::admin(&sim);
    let ctl = sim.control();
    ctl.add_scripted_fault(ScriptedFault::FailDeploys { count: 1 });
    let id = sid(&admin.allocate(&[("name", "medium")]).await);
    admin
        .post(&format!("machines/{id}/?op=deploy"), &[])
        .await
        .ok();
    ctl.complete_pending();
    let m = admin.machine(&id).await;
    assert_eq!(m["status_name"], "Failed deployment");
    assert_eq!(
        m["status_message"],
        "Marking node failed - Installation failed (refer to the installation log for more information)."
    );
    let r = admin.post(&format!("machines/{id}/?op=deploy"), &[]).await;
    assert_eq!(
        r.text,
        "Can't deploy a machine that is in the 'Failed deployment' state"
    );

    // Batch release: one Failed deployment, one Ready (skipped), one New (refused).
    let ready = ctl
        .machines()
        .into_iter()
        .find(|m| m.hostname == "small")
        .unwrap()
        .system_id;
    let new = ctl
        .machines()
        .into_iter()
        .find(|m| m.hostname == "manualbox")
        .unwrap()
        .system_id;
    let r = admin
        .post(
            "machines/?op=release",
            &[
                ("machines", id.as_str()),
                ("machines", ready.as_str()),
                ("machines", new.as_str()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.text,
        format!("Machine(s) cannot be released in their current state: {new} ('New').")
    );
    assert_eq!(
        ctl.machine(&id).unwrap().status,
        NodeStatus::FailedDeployment,
        "nothing released"
    );
    let r = admin
        .post(
            "machines/?op=release",
            &[("machines", id.as_str()), ("machines", ready.as_str())],
        )
        .await
        .ok();
    assert_eq!(r, serde_json::json!([id]));
    let r = admin
        .post("machines/?op=release", &[("machines", "zzzzzz")])
        .await;
    assert_eq!(r.text, "Unknown machine(s): zzzzzz.");

    // A deploy that outlives the timeout fails with MAAS's timeout text.
    let sim2 = start(
        builder()
            .inventory(Inventory::from_yaml(INVENTORY).unwrap())
            .deploy_timeout(Duration::from_millis(100)),
    )
    .await;
    let a2 = Maas::admin(&sim2);
    let id = sid(&a2.allocate(&[]).await);
    a2.post(&format!("machines/{id}/?op=deploy"), &[])
        .await
        .ok();
    sim2.control().complete_pending();
    let m = a2.machine(&id).await;
    assert_eq!(m["status_name"], "Failed deployment");
    assert_eq!(
        m["error_description"],
        "Node operation 'Deploying' timed out after 0 minutes."
    );
    sim.shutdown().await;
    sim2.shutdown().await;
}

#[tokio::test]
async fn ephemeral_deploy_field_by_version() {
    for (version, shown) in [
        (maas_sim::MaasVersion::V3_4, false),
        (maas_sim::MaasVersion::V3_5, true),
        (maas_sim::MaasVersion::V3_8, true),
    ] {
        let sim = start_version(2, version).await;
        let admin = Maas::admin(&sim);
        let v = admin.get("version/", &[]).await.ok();
        assert_eq!(v["version"], version.full());
        let m = admin.allocate(&[]).await;
        assert_eq!(m.get("ephemeral_deploy").is_some(), shown, "{version}");
        assert_eq!(m.get("pod").is_some(), version.has_vm_hosts(), "{version}");
        assert_eq!(
            m.get("virtualmachine_id").is_some(),
            version.has_vm_hosts(),
            "{version}"
        );
        if shown {
            let d = admin
                .post(
                    &format!("machines/{}/?op=deploy", sid(&m)),
                    &[("ephemeral_deploy", "true")],
                )
                .await
                .ok();
            assert_eq!(d["ephemeral_deploy"], true);
        }
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn deterministic_from_seed() {
    let a = start(builder().machines(15).seed(99)).await;
    let b = start(builder().machines(15).seed(99)).await;
    let c = start(builder().machines(15).seed(100)).await;
    let key = |s: &maas_sim::RunningSimulator| -> Vec<(String, String, u32, u64, NodeStatus)> {
        s.control()
            .machines()
            .into_iter()
            .map(|m| (m.system_id, m.hostname, m.cpu_count, m.memory, m.status))
            .collect()
    };
    assert_eq!(key(&a), key(&b));
    assert_ne!(key(&a), key(&c));
    assert_eq!(key(&a).len(), 15);
    let hostnames: Vec<String> = key(&a).into_iter().map(|k| k.1).collect();
    assert!(
        hostnames.iter().all(|h| h.split('-').count() >= 2),
        "{hostnames:?}"
    );
    a.shutdown().await;
    b.shutdown().await;
    c.shutdown().await;
}
