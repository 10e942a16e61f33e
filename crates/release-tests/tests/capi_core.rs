//! Conformance with the real Cluster API core manager: the `sigs.k8s.io/cluster-api`
//! v1.14 core manager (built from the Go module by `hack/release/tool.sh capi-manager`)
//! runs as a child process against a dedicated kube-apiserver, next to our controller
//! (in-process) and maas-sim (in-process). The test writes only what a user and a
//! bootstrap provider would write (Cluster, MaasCluster, Machine, MaasMachine, the
//! bootstrap Secret), never owner references or statuses, and checks what core does
//! with our objects, up to the deletion of the Cluster.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use capmaas_controller::{ControllerConfig, MaasCredentials, Manager};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams};
use kube::{Api, Client};
use kube_testenv::{Options, Supervision, TestEnv};
use maas_sim::{MaasVersion, NodeStatus, RunningSimulator, Simulator};
use machine_lifecycle::LifecycleConfig;
use release_tests::tools;
use serde_json::{Value, json};

const CLUSTER: &str = "c1";
const MACHINE: &str = "w0";
const USER_DATA: &[u8] = b"#cloud-config\nruncmd: [echo conformance]\n";

/// The cached core manager (`hack/release/tool.sh capi-manager`, or `$CAPI_MANAGER_BIN`).
fn capi_manager_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        tools::go_tool("capi-manager").unwrap_or_else(|e| {
            panic!(
                "{e}\nthe CAPI core manager is needed: run `hack/release/tool.sh capi-manager` \
                 (or `make test-release`, which exports CAPI_MANAGER_BIN)"
            )
        })
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The core manager under kube-testenv's supervisor: stopped (SIGTERM, then
/// SIGKILL) when dropped, or when the test process dies.
struct CoreManager {
    supervisor: Child,
    stdin: Option<ChildStdin>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl CoreManager {
    fn start(env: &TestEnv, namespace: &str) -> CoreManager {
        let bin = capi_manager_bin();
        let dir = tempfile::tempdir().unwrap();
        // The webhook server always starts; CAPI's webhooks are not registered with
        // the apiserver, so a self-signed pair on a free port is all it needs.
        let certs = dir.path().join("certs");
        std::fs::create_dir(&certs).unwrap();
        let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        std::fs::write(certs.join("tls.crt"), key.cert.pem()).unwrap();
        std::fs::write(certs.join("tls.key"), key.signing_key.serialize_pem()).unwrap();
        let log = dir.path().join("capi-manager.log");
        let args: Vec<String> = vec![
            format!("--kubeconfig={}", env.kubeconfig_path().display()),
            format!("--namespace={namespace}"),
            "--leader-elect=false".into(),
            format!("--webhook-port={}", free_port()),
            format!("--webhook-cert-dir={}", certs.display()),
            format!("--health-addr=127.0.0.1:{}", free_port()),
            format!("--diagnostics-address=127.0.0.1:{}", free_port()),
            "--insecure-diagnostics".into(),
            "--v=2".into(),
        ];
        let out = std::fs::File::create(&log).unwrap();
        let mut supervisor = kube_testenv::supervised_command(
            "capi-manager-supervisor",
            bin,
            &args,
            Supervision {
                report_pid: false,
                grace: Duration::from_secs(5),
            },
        )
        .stdin(Stdio::piped())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stdin = supervisor.stdin.take();
        CoreManager {
            supervisor,
            stdin,
            log,
            _dir: dir,
        }
    }

    fn log_tail(&self) -> String {
        kube_testenv::last_lines(&self.log, 60)
    }

    /// Panics with the log when the manager has exited.
    fn assert_running(&mut self) {
        if let Some(status) = self.supervisor.try_wait().unwrap() {
            panic!(
                "the CAPI core manager exited with {status}:\n{}",
                self.log_tail()
            );
        }
    }
}

impl Drop for CoreManager {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.supervisor.wait();
    }
}

fn api_resource(group: &str, version: &str, kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

fn dyn_api(
    client: &Client,
    ns: &str,
    group: &str,
    version: &str,
    kind: &str,
) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &api_resource(group, version, kind))
}

struct Apis {
    clusters: Api<DynamicObject>,
    machines: Api<DynamicObject>,
    maas_clusters: Api<DynamicObject>,
    maas_machines: Api<DynamicObject>,
}

impl Apis {
    fn new(client: &Client, ns: &str) -> Apis {
        Apis {
            clusters: dyn_api(client, ns, "cluster.x-k8s.io", "v1beta2", "Cluster"),
            machines: dyn_api(client, ns, "cluster.x-k8s.io", "v1beta2", "Machine"),
            maas_clusters: dyn_api(
                client,
                ns,
                "infrastructure.cluster.x-k8s.io",
                "v1beta1",
                "MaasCluster",
            ),
            maas_machines: dyn_api(
                client,
                ns,
                "infrastructure.cluster.x-k8s.io",
                "v1beta1",
                "MaasMachine",
            ),
        }
    }
}

async fn create(api: &Api<DynamicObject>, body: Value) -> DynamicObject {
    let obj: DynamicObject = serde_json::from_value(body).unwrap();
    api.create(&PostParams::default(), &obj).await.unwrap()
}

/// The object as JSON (`metadata` included), or `None` once it is gone.
async fn get(api: &Api<DynamicObject>, name: &str) -> Option<Value> {
    api.get_opt(name)
        .await
        .unwrap()
        .map(|o| serde_json::to_value(o).unwrap())
}

fn condition_status<'a>(obj: &'a Value, type_: &str) -> Option<&'a str> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)?["status"]
        .as_str()
}

fn owned_by(obj: &Value, kind: &str, owner: &Value) -> bool {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| {
            refs.iter().any(|r| {
                r["kind"] == kind
                    && r["apiVersion"] == "cluster.x-k8s.io/v1beta2"
                    && r["name"] == owner["metadata"]["name"]
                    && r["uid"] == owner["metadata"]["uid"]
            })
        })
}

/// Polls `f` until it returns `Some`, checking that the core manager still runs;
/// on timeout panics with `what`, the last value seen and the manager's log.
async fn wait_for<T, F, Fut>(core: &mut CoreManager, secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let limit = kube_testenv::scaled(Duration::from_secs(secs));
    let deadline = tokio::time::Instant::now() + limit;
    let last = loop {
        core.assert_running();
        let seen = match f().await {
            Ok(v) => return v,
            Err(seen) => seen,
        };
        if tokio::time::Instant::now() >= deadline {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    panic!(
        "timed out after {limit:?} waiting for {what} (a slow machine may set {}); last seen:\n\
         {last}\n--- CAPI core manager log ---\n{}",
        kube_testenv::TIMEOUT_SCALE_ENV,
        core.log_tail()
    );
}

fn controller_config(ns: &str, sim: &RunningSimulator) -> ControllerConfig {
    ControllerConfig {
        namespace: Some(ns.to_owned()),
        default_credentials: Some(MaasCredentials::new(sim.endpoint(), sim.admin_api_key())),
        poll_interval: Duration::from_millis(200),
        error_backoff: Duration::from_millis(200),
        error_backoff_max: Duration::from_secs(2),
        cluster_delete_poll: Duration::from_millis(500),
        maas_request_timeout: Duration::from_secs(10),
        maas_retry: maas_api::RetryPolicy::none(),
        lifecycle: LifecycleConfig {
            deploy_poll_interval: Duration::from_secs(1),
            release_poll_interval: Duration::from_secs(1),
            steady_interval: Duration::from_secs(60),
            capacity_backoff: Duration::from_millis(500),
            capacity_backoff_max: Duration::from_secs(2),
            allocation_settle_time: Duration::from_secs(5),
            ..LifecycleConfig::default()
        },
        ..ControllerConfig::default()
    }
    .with_sync_period(Duration::from_secs(60))
}

async fn simulator() -> RunningSimulator {
    Simulator::builder()
        .inventory(maas_sim::Inventory {
            machines: (0..2)
                .map(|i| maas_sim::MachineSpec {
                    hostname: Some(format!("node-{i}")),
                    cpu_count: Some(4),
                    memory: Some(16384),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .seed(7)
        .maas_version(MaasVersion::V3_6)
        .deploy_duration(Duration::from_millis(500))
        .release_duration(Duration::from_millis(200))
        .erase_duration(Duration::from_millis(200))
        .power_delay(Duration::from_millis(50))
        .ticker(Duration::from_millis(20))
        .start("127.0.0.1:0")
        .await
        .expect("start maas-sim")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_capi_core_drives_our_objects_from_creation_to_deletion() {
    // Resolve (or build) the binary before starting anything else.
    capi_manager_bin();
    let env = TestEnv::start(Options::default()).await.unwrap();
    env.install_capi_crds().await.unwrap();
    env.install_crds(&capi_types::crds::all().unwrap())
        .await
        .unwrap();
    let ns_handle = env.namespace("capi-core").await.unwrap();
    let ns = ns_handle.name().to_owned();
    let client = ns_handle.client();
    let apis = Apis::new(&client, &ns);
    let sim = simulator().await;

    let mut core = CoreManager::start(&env, &ns);
    let ctrl = Manager::new(client.clone(), controller_config(&ns, &sim)).spawn();

    // What a user writes: a Cluster and its MaasCluster, complete (no webhook
    // defaults them), with no owner references and no labels.
    let cluster = create(
        &apis.clusters,
        json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
            "metadata": {"name": CLUSTER},
            "spec": {"infrastructureRef": {
                "apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "MaasCluster", "name": CLUSTER}}
        }),
    )
    .await;
    let cluster = serde_json::to_value(cluster).unwrap();
    create(
        &apis.maas_clusters,
        json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasCluster",
            "metadata": {"name": CLUSTER},
            "spec": {"dnsDomain": "maas", "controlPlaneEndpoint": {"host": "api.conformance.example", "port": 6443}}
        }),
    )
    .await;
    // What a bootstrap provider writes: the data Secret; the Machine names it.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "w0-bootstrap"},
        "type": "cluster.x-k8s.io/secret",
        "data": {
            "value": base64::engine::general_purpose::STANDARD.encode(USER_DATA),
            "format": base64::engine::general_purpose::STANDARD.encode("cloud-config"),
        }
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let machine = create(
        &apis.machines,
        json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Machine",
            "metadata": {"name": MACHINE},
            "spec": {
                "clusterName": CLUSTER,
                "bootstrap": {"dataSecretName": "w0-bootstrap"},
                "infrastructureRef": {
                    "apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "MaasMachine", "name": MACHINE}
            }
        }),
    )
    .await;
    let machine = serde_json::to_value(machine).unwrap();
    create(
        &apis.maas_machines,
        json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasMachine",
            "metadata": {"name": MACHINE},
            "spec": {"image": "ubuntu/jammy", "minCPU": 1, "minMemory": 1024, "release": {"erase": "quick"}}
        }),
    )
    .await;

    // Core adopts our objects: owner references and the cluster-name label.
    let mc = wait_for(&mut core, 60, "core to own the MaasCluster", || async {
        let mc = get(&apis.maas_clusters, CLUSTER).await.unwrap();
        if owned_by(&mc, "Cluster", &cluster) {
            Ok(mc)
        } else {
            Err(format!("{:#}", mc["metadata"]))
        }
    })
    .await;
    assert_eq!(
        mc["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"], CLUSTER,
        "{mc:#}"
    );
    let mm = wait_for(&mut core, 60, "core to own the MaasMachine", || async {
        let mm = get(&apis.maas_machines, MACHINE).await.unwrap();
        if owned_by(&mm, "Machine", &machine) {
            Ok(mm)
        } else {
            Err(format!("{:#}", mm["metadata"]))
        }
    })
    .await;
    assert_eq!(
        mm["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"], CLUSTER,
        "{mm:#}"
    );
    let m = get(&apis.machines, MACHINE).await.unwrap();
    assert!(owned_by(&m, "Cluster", &cluster), "{:#}", m["metadata"]);

    // The Cluster takes the MaasCluster's endpoint and provisioned state.
    let c = wait_for(
        &mut core,
        90,
        "the Cluster's infrastructure to be provisioned",
        || async {
            let c = get(&apis.clusters, CLUSTER).await.unwrap();
            if c["status"]["initialization"]["infrastructureProvisioned"] == true {
                Ok(c)
            } else {
                Err(format!("{:#}", c["status"]))
            }
        },
    )
    .await;
    assert_eq!(
        c["spec"]["controlPlaneEndpoint"],
        json!({"host": "api.conformance.example", "port": 6443}),
        "{c:#}"
    );
    let c = wait_for(
        &mut core,
        30,
        "Cluster InfrastructureReady=True",
        || async {
            let c = get(&apis.clusters, CLUSTER).await.unwrap();
            if condition_status(&c, "InfrastructureReady") == Some("True") {
                Ok(c)
            } else {
                Err(format!("{:#}", c["status"]))
            }
        },
    )
    .await;
    assert_eq!(c["status"]["phase"], "Provisioned", "{c:#}");

    // Our controller provisions the machine; core copies what the contract says.
    let m = wait_for(
        &mut core,
        120,
        "the Machine to reach phase Provisioned",
        || async {
            let m = get(&apis.machines, MACHINE).await.unwrap();
            if m["status"]["phase"] == "Provisioned"
                && m["status"]["initialization"]["infrastructureProvisioned"] == true
                && condition_status(&m, "InfrastructureReady") == Some("True")
            {
                Ok(m)
            } else {
                Err(format!("spec: {:#}\nstatus: {:#}", m["spec"], m["status"]))
            }
        },
    )
    .await;
    let mm = get(&apis.maas_machines, MACHINE).await.unwrap();
    let id = mm["spec"]["systemID"]
        .as_str()
        .unwrap_or_else(|| panic!("no systemID: {mm:#}"))
        .to_owned();
    let maas = sim.control().machine(&id).expect("machine in MAAS");
    assert_eq!(maas.status, NodeStatus::Deployed, "{maas:?}");
    let provider_id = format!("maas:///{}/{id}", maas.zone);
    assert_eq!(mm["spec"]["providerID"], provider_id.as_str(), "{mm:#}");
    assert_eq!(m["spec"]["providerID"], provider_id.as_str(), "{m:#}");
    assert_eq!(
        m["status"]["addresses"], mm["status"]["addresses"],
        "core copies the MaasMachine's addresses"
    );
    let addresses = m["status"]["addresses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        addresses
            .iter()
            .any(|a| a["type"] == "Hostname" && a["address"] == maas.hostname.as_str()),
        "{addresses:?}"
    );
    for ip in &maas.ip_addresses {
        assert!(
            addresses
                .iter()
                .any(|a| a["type"] == "InternalIP" && a["address"] == ip.as_str()),
            "{ip} missing from {addresses:?}"
        );
    }
    assert_eq!(
        sim.control().user_data(&id).map(|stored| {
            base64::engine::general_purpose::STANDARD
                .decode(stored)
                .unwrap()
        }),
        Some(USER_DATA.to_vec()),
        "the bootstrap Secret named by the Machine reaches MAAS"
    );
    assert!(
        std::fs::read_to_string(&core.log)
            .unwrap()
            .contains("v1.14.0"),
        "the core manager reports its version:\n{}",
        core.log_tail()
    );

    // Deleting the Cluster: core deletes the Machine, which deletes the
    // MaasMachine (our controller releases the machine), then the MaasCluster.
    apis.clusters
        .delete(CLUSTER, &DeleteParams::default())
        .await
        .unwrap();
    wait_for(&mut core, 120, "everything to be deleted", || async {
        let mut left = Vec::new();
        for (api, name, kind) in [
            (&apis.clusters, CLUSTER, "Cluster"),
            (&apis.machines, MACHINE, "Machine"),
            (&apis.maas_machines, MACHINE, "MaasMachine"),
            (&apis.maas_clusters, CLUSTER, "MaasCluster"),
        ] {
            if get(api, name).await.is_some() {
                left.push(kind);
            }
        }
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{left:?}"))
        }
    })
    .await;
    let maas = sim.control().machine(&id).unwrap();
    assert_eq!(maas.status, NodeStatus::Ready, "released: {maas:?}");
    assert_eq!(maas.owner, None, "released: {maas:?}");
    ctrl.shutdown().await;
    drop(core);
}
