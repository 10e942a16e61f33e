#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Fault injection and the control API (in-process and over HTTP).

mod common;

use common::*;
use maas_sim::{NodeStatus, OpFault, ScriptedFault};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[tokio::test]
async fn lock_page_respond_and_error_rate() {
    let sim = start(builder().machines(3)).await;
    let admin = Maas::admin(&sim);
    let ctl = sim.control();
    ctl.add_scripted_fault(ScriptedFault::LockPage {
        op: "allocate".into(),
        count: 1,
    });
    let r = admin.post("machines/?op=allocate", &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.header("retry-after").as_deref(), Some("5"));
    assert_eq!(r.content_type(), "text/html; charset=utf-8");
    assert!(
        r.text
            .contains("Conflict error. Try your request again, as it will most likely succeed.")
    );
    assert!(
        ctl.machines()
            .iter()
            .all(|m| m.status != NodeStatus::Allocated || m.owner.as_deref() == Some("user")),
    );
    let allocated_before = ctl
        .machines()
        .iter()
        .filter(|m| m.owner.as_deref() == Some("admin"))
        .count();
    // The retry succeeds.
    admin.allocate(&[]).await;
    let allocated_after = ctl
        .machines()
        .iter()
        .filter(|m| m.owner.as_deref() == Some("admin"))
        .count();
    assert_eq!(allocated_after, allocated_before + 1);

    ctl.add_scripted_fault(ScriptedFault::Respond {
        op: "MachinesHandler.read".into(),
        count: 2,
        status: 503,
        body: "Unable to connect to any rack controller; no connections available.".into(),
        content_type: None,
        retry_after: Some(10),
    });
    for _ in 0..2 {
        let r = admin.get("machines/", &[]).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.header("retry-after").as_deref(), Some("10"));
    }
    assert_eq!(admin.get("machines/", &[]).await.status, StatusCode::OK);

    ctl.add_fault(OpFault {
        op: "zones/read-not-a-match".into(),
        error_rate: 1.0,
        status: 500,
        body: None,
        latency_ms: 0,
    });
    assert_eq!(admin.get("zones/", &[]).await.status, StatusCode::OK);
    ctl.add_fault(OpFault {
        op: "ZonesHandler.read".into(),
        error_rate: 1.0,
        status: 500,
        body: Some("boom".into()),
        latency_ms: 50,
    });
    let t = Instant::now();
    let r = admin.get("zones/", &[]).await;
    assert!(t.elapsed() >= Duration::from_millis(50));
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.text, "boom");
    ctl.clear_faults();
    assert_eq!(admin.get("zones/", &[]).await.status, StatusCode::OK);
    sim.shutdown().await;
}

#[tokio::test]
async fn drop_connection_after_processing() {
    let sim = start(builder().machines(2)).await;
    let admin = Maas::admin(&sim);
    let ctl = sim.control();
    ctl.add_scripted_fault(ScriptedFault::DropConnection {
        op: "allocate".into(),
        count: 1,
    });
    let url = format!("{}machines/?op=allocate", admin.base);
    let err = admin
        .http
        .post(&url)
        .header(
            "Authorization",
            oauth_header(sim.admin_api_key(), &fresh_nonce(), now_secs()),
        )
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await;
    assert!(
        err.is_err(),
        "the connection closes without an answer: {err:?}"
    );
    // …but the allocation happened.
    assert_eq!(
        ctl.machines()
            .iter()
            .filter(|m| m.owner.as_deref() == Some("admin"))
            .count(),
        1
    );
    let log = ctl.requests();
    let last = log
        .iter()
        .rev()
        .find(|r| r.op.as_deref() == Some("allocate"))
        .unwrap();
    assert_eq!(last.status, 0);
    assert_eq!(ctl.counters().dropped_connections, 1);
    // Later requests are answered normally.
    admin.allocate(&[]).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn control_api_over_http() {
    let sim = start(builder().machines(4).seed(3)).await;
    let http = http();
    let base = format!("http://{}/_sim", sim.addr());
    let get = |path: &str| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let r = http.get(url).send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, machines) = get("/machines").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(machines.as_array().unwrap().len(), 4);
    let r = http
        .post(format!("{base}/machines"))
        .json(&json!({"count": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let added: Value = r.json().await.unwrap();
    assert_eq!(added["system_ids"].as_array().unwrap().len(), 2);
    let r = http
        .post(format!("{base}/machines"))
        .json(&json!({"hostname": "special", "cpu_count": 96, "memory": 1048576, "tags": ["huge"]}))
        .send()
        .await
        .unwrap();
    let added: Value = r.json().await.unwrap();
    let special = added["system_ids"][0].as_str().unwrap().to_string();
    let (_, m) = get(&format!("/machines/{special}")).await;
    assert_eq!(m["hostname"], "special");
    assert_eq!(m["status"], "ready");

    // Timings and clock control.
    let r = http
        .put(format!("{base}/timings"))
        .json(&json!({"deploy": 60000, "release": 1000, "commission": 1000, "erase": 1000, "power": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let admin = Maas::admin(&sim);
    admin.allocate(&[("name", "special")]).await;
    admin
        .post(&format!("machines/{special}/?op=deploy"), &[])
        .await
        .ok();
    let r = http
        .post(format!("{base}/advance"))
        .json(&json!({"seconds": 30}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (_, m) = get(&format!("/machines/{special}")).await;
    assert_eq!(m["status"], "deploying");
    assert_eq!(m["power_state"], "on");
    http.post(format!("{base}/advance"))
        .json(&json!({"ms": 31000}))
        .send()
        .await
        .unwrap();
    let (_, m) = get(&format!("/machines/{special}")).await;
    assert_eq!(m["status"], "deployed");

    // Skipping simulated time does not expire the clients' OAuth timestamps.
    http.post(format!("{base}/advance"))
        .json(&json!({"seconds": 7200}))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.get("zones/", &[]).await.status, StatusCode::OK);

    // Faults over HTTP.
    let r = http
        .post(format!("{base}/faults/scripted"))
        .json(&json!({"kind": "lock_page", "op": "allocate"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (_, f) = get("/faults").await;
    assert_eq!(f["scripted"][0]["kind"], "lock_page");
    assert_eq!(
        admin.post("machines/?op=allocate", &[]).await.status,
        StatusCode::CONFLICT
    );
    http.delete(format!("{base}/faults")).send().await.unwrap();

    // Request log and counters.
    let (_, log) = get("/requests").await;
    let entries = log.as_array().unwrap();
    let deploy = entries.iter().find(|e| e["op"] == "deploy").unwrap();
    assert_eq!(deploy["method"], "POST");
    assert_eq!(deploy["path"], format!("/MAAS/api/2.0/machines/{special}/"));
    assert_eq!(deploy["status"], 200);
    assert_eq!(deploy["user"], "admin");
    let (_, counters) = get("/counters").await;
    assert_eq!(counters["by_action"]["MachineHandler.deploy"], 1);
    assert!(counters["by_status"]["409"].as_u64().unwrap() >= 1);

    // Snapshot, keys, complete, reset.
    let (_, snap) = get("/snapshot").await;
    assert_eq!(snap["maas_version"], "3.6");
    assert_eq!(snap["machines"].as_array().unwrap().len(), 7);
    let (_, keys) = get("/keys").await;
    assert_eq!(keys["admin"], sim.admin_api_key());
    assert_eq!(keys["user"], sim.user_api_key());
    let r = http.post(format!("{base}/complete")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = http.post(format!("{base}/reset")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (_, after) = get("/machines").await;
    assert_eq!(
        after, machines,
        "reset rebuilds the same starting inventory"
    );
    let (_, log) = get("/requests").await;
    assert!(log.as_array().unwrap().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn many_simulators_in_one_process() {
    let mut sims = Vec::new();
    for i in 0..8 {
        sims.push(start(builder().machines(5).seed(i)).await);
    }
    for s in &sims {
        let m = Maas::admin(s).allocate(&[]).await;
        assert_eq!(m["owner"], "admin");
    }
    let ports: std::collections::HashSet<u16> = sims.iter().map(|s| s.addr().port()).collect();
    assert_eq!(ports.len(), 8);
    for s in sims {
        s.shutdown().await;
    }
}

#[tokio::test]
async fn respond_after_running_acts_then_answers_the_canned_body() {
    let sim = start(builder().machines(2)).await;
    let admin = Maas::admin(&sim);
    let ctl = sim.control();
    ctl.add_scripted_fault(ScriptedFault::RespondAfterRunning {
        op: "allocate".into(),
        count: 1,
        status: 200,
        body: "<html><body>proxy says hi</body></html>".into(),
        content_type: Some("text/html".into()),
    });
    let r = admin.post("machines/?op=allocate", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type(), "text/html; charset=utf-8");
    assert_eq!(r.text, "<html><body>proxy says hi</body></html>");
    // MAAS acted: the machine is allocated although the answer was garbage.
    let ours: Vec<_> = ctl
        .machines()
        .into_iter()
        .filter(|m| m.owner.as_deref() == Some("admin"))
        .collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].status, NodeStatus::Allocated);
    // Consumed: the next allocate answers JSON.
    let next = admin.post("machines/?op=allocate", &[]).await;
    assert_eq!(next.status, StatusCode::OK);
    assert!(next.json()["system_id"].is_string());

    // Over HTTP, with MAAS's JSON shape.
    let http = http();
    let r = http
        .post(format!("http://{}/_sim/faults/scripted", sim.addr()))
        .json(&json!({"kind": "respond_after_running", "op": "deploy", "status": 200, "body": "garbage"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (_, scripted) = ctl.faults();
    assert_eq!(
        scripted,
        vec![ScriptedFault::RespondAfterRunning {
            op: "deploy".into(),
            count: 1,
            status: 200,
            body: "garbage".into(),
            content_type: None,
        }]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn request_log_has_seq_fault_and_reads_incrementally() {
    let sim = start(builder().machines(3)).await;
    let admin = Maas::admin(&sim);
    let ctl = sim.control();
    admin.get("machines/", &[]).await;
    ctl.add_scripted_fault(ScriptedFault::LockPage {
        op: "allocate".into(),
        count: 1,
    });
    ctl.add_scripted_fault(ScriptedFault::RespondAfterRunning {
        op: "MachinesHandler.read".into(),
        count: 1,
        status: 200,
        body: "not json".into(),
        content_type: None,
    });
    admin.post("machines/?op=allocate", &[]).await;
    admin.get("machines/", &[]).await;
    admin.allocate(&[]).await;

    let all = ctl.requests();
    let seqs: Vec<u64> = all.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    let faults: Vec<_> = all.iter().map(|r| r.fault).collect();
    use maas_sim::FaultKind;
    assert_eq!(
        faults,
        [
            None,
            Some(FaultKind::LockPage),
            Some(FaultKind::RespondAfterRunning),
            None
        ]
    );
    assert!(!FaultKind::LockPage.ran() && FaultKind::RespondAfterRunning.ran());
    assert!(FaultKind::DropConnection.ran() && !FaultKind::ErrorRate.ran());
    assert_eq!(ctl.requests_since(2), all[2..].to_vec());

    // Over HTTP: `since` reads on from the last seq seen; no `since` is the whole log.
    let http = http();
    let get = |q: &'static str| {
        let http = http.clone();
        let url = format!("http://{}/_sim/requests{q}", sim.addr());
        async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<Vec<Value>>()
                .await
                .unwrap()
        }
    };
    let since = get("?since=2").await;
    assert_eq!(since.len(), 2);
    assert_eq!(since[0]["seq"], 3);
    assert_eq!(since[0]["fault"], "respond_after_running");
    assert_eq!(since[1]["seq"], 4);
    assert_eq!(since[1]["fault"], Value::Null);
    assert!(get("?since=4").await.is_empty());
    assert_eq!(get("").await.len(), 4);
    // A clear forgets the records, not the numbering.
    ctl.clear_requests();
    admin.get("machines/", &[]).await;
    let after = get("?since=4").await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["seq"], 5);
    sim.shutdown().await;
}
