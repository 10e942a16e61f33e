//! `infrastructure-components.yaml` and `metadata.yaml`: the clusterctl
//! provider contract, what the real `clusterctl` makes of them, what a real
//! apiserver accepts, and that the real manager binary runs with the
//! Deployment's arguments.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::io::Read as _;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{clusterctl, docs, of_kind, one};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use release_tests::apply::{Mode, apply_all};
use release_tests::components::{
    BINARY, CLUSTERCTL_LABEL_KEY, CONTAINER, CONTRACT, CREDENTIALS_SECRET, ComponentsOptions,
    DEPLOYMENT, NAMESPACE, PROVIDER_LABEL, PROVIDER_LABEL_KEY, PROVIDER_NAME, render_components,
};
use release_tests::{release, tools, yaml};
use serde_json::Value;

fn options() -> ComponentsOptions {
    ComponentsOptions {
        image: "registry.example/capmaas/manager".into(),
        version: "v0.1.0".into(),
    }
}

fn components() -> Vec<Value> {
    docs(
        &render_components(&common::root(), &options()).unwrap(),
        "components",
    )
}

fn manager_container(d: &[Value]) -> &Value {
    let dep = one(d, "Deployment", DEPLOYMENT);
    let containers = dep["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 1);
    &containers[0]
}

#[test]
fn one_namespace_everything_in_it_and_labelled_for_clusterctl() {
    let d = components();
    let namespaces = of_kind(&d, "Namespace");
    assert_eq!(namespaces.len(), 1, "exactly one Namespace");
    assert_eq!(yaml::name(namespaces[0]), NAMESPACE);
    let cluster_scoped: BTreeSet<&str> = [
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
    ]
    .into();
    for doc in &d {
        let what = yaml::describe(doc);
        assert_eq!(
            yaml::label(doc, PROVIDER_LABEL_KEY),
            Some(PROVIDER_LABEL),
            "{what}"
        );
        assert_eq!(yaml::label(doc, CLUSTERCTL_LABEL_KEY), Some(""), "{what}");
        if cluster_scoped.contains(yaml::kind(doc)) {
            assert_eq!(yaml::namespace(doc), None, "{what}");
        } else {
            assert_eq!(yaml::namespace(doc), Some(NAMESPACE), "{what}");
        }
    }
    let kinds: BTreeSet<&str> = d.iter().map(yaml::kind).collect();
    for k in [
        "CustomResourceDefinition",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Secret",
        "Deployment",
    ] {
        assert!(kinds.contains(k), "no {k}");
    }
    // Every CRD of capi-types, each carrying the contract label.
    let crds = of_kind(&d, "CustomResourceDefinition");
    assert_eq!(crds.len(), capi_types::crds::all().unwrap().len());
    for crd in crds {
        assert!(
            yaml::label(crd, &format!("cluster.x-k8s.io/{CONTRACT}")).is_some(),
            "{} lacks the {CONTRACT} contract label",
            yaml::name(crd)
        );
    }
    // RBAC rules are config/rbac's, untouched.
    let rbac = docs(
        &std::fs::read_to_string(common::root().join("config/rbac/role.yaml")).unwrap(),
        "role.yaml",
    );
    assert_eq!(
        one(&d, "ClusterRole", "capmaas-manager")["rules"],
        one(&rbac, "ClusterRole", "capmaas-manager")["rules"]
    );
    assert_eq!(
        one(&d, "ClusterRoleBinding", "capmaas-manager")["subjects"][0]["namespace"],
        NAMESPACE
    );
}

#[test]
fn the_deployment_follows_the_contract_and_is_locked_down() {
    let d = components();
    let dep = one(&d, "Deployment", DEPLOYMENT);
    let pod = &dep["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "capmaas-manager");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = manager_container(&d);
    assert_eq!(c["name"], CONTAINER);
    assert_eq!(c["image"], "registry.example/capmaas/manager:v0.1.0");
    assert_eq!(c["command"], serde_json::json!([BINARY]));
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for a in [
        "--namespace=$(CAPMAAS_WATCH_NAMESPACE)",
        "--watch-filter=$(CAPMAAS_WATCH_FILTER)",
        "--leader-elect",
    ] {
        assert!(args.contains(&a), "missing {a} in {args:?}");
    }
    let env: Vec<&str> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for v in [
        "CAPMAAS_WATCH_NAMESPACE",
        "CAPMAAS_WATCH_FILTER",
        "POD_NAMESPACE",
        "POD_NAME",
        "MAAS_ENDPOINT",
        "MAAS_API_KEY",
    ] {
        assert!(env.contains(&v), "no env {v}");
    }
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let ports: Vec<&str> = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(ports, vec!["healthz", "metrics"]);
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert!(c["resources"]["requests"]["memory"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());
    let secret = one(&d, "Secret", CREDENTIALS_SECRET);
    assert_eq!(secret["stringData"]["endpoint"], "${MAAS_ENDPOINT}");
    assert_eq!(secret["stringData"]["apiKey"], "${MAAS_API_KEY}");
    for key in ["endpoint", "apiKey"] {
        assert!(
            c["env"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["valueFrom"]["secretKeyRef"]
                    == serde_json::json!({"name": CREDENTIALS_SECRET, "key": key})),
            "env from secret key {key}"
        );
    }
}

#[test]
fn metadata_maps_this_release_series_to_the_crds_contract() {
    let meta = docs(
        &std::fs::read_to_string(common::root().join("metadata.yaml")).unwrap(),
        "metadata.yaml",
    );
    assert_eq!(meta.len(), 1);
    let m = &meta[0];
    assert_eq!(m["apiVersion"], "clusterctl.cluster.x-k8s.io/v1alpha3");
    assert_eq!(m["kind"], "Metadata");
    let version = env!("CARGO_PKG_VERSION");
    let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap());
    let (major, minor) = (parts.next().unwrap(), parts.next().unwrap());
    let series = m["releaseSeries"].as_array().unwrap();
    let this = series
        .iter()
        .find(|s| s["major"] == major && s["minor"] == minor)
        .unwrap_or_else(|| panic!("metadata.yaml has no series {major}.{minor}"));
    assert_eq!(this["contract"], CONTRACT);
}

/// The variables clusterctl finds in the components, and its view of them.
#[test]
fn clusterctl_reads_the_provider_from_a_local_repository() {
    let out = tempfile::tempdir().unwrap();
    let layout = release::write_release(&common::root(), out.path(), &options()).unwrap();
    for dir in [&layout.release_dir, &layout.version_dir] {
        for f in [
            "infrastructure-components.yaml",
            "metadata.yaml",
            "cluster-template.yaml",
            "clusterclass-maas.yaml",
        ] {
            assert!(dir.join(f).is_file(), "{} lacks {f}", dir.display());
        }
    }
    let config = layout.clusterctl_config.to_str().unwrap();
    let provider = format!("{PROVIDER_NAME}:v0.1.0");
    let described = clusterctl(
        &[
            "generate",
            "provider",
            "--infrastructure",
            &provider,
            "--config",
            config,
            "--describe",
        ],
        &[],
    )
    .unwrap();
    assert!(
        described.contains("TargetNamespace:    capmaas-system"),
        "{described}"
    );
    assert!(
        described.contains("registry.example/capmaas/manager:v0.1.0"),
        "{described}"
    );
    let vars: BTreeSet<&str> = described
        .lines()
        .skip_while(|l| !l.starts_with("Variables:"))
        .skip(1)
        .take_while(|l| l.starts_with("  - "))
        .map(|l| l.trim_start_matches("  - "))
        .collect();
    assert_eq!(
        vars,
        [
            "CAPMAAS_LOG_LEVEL",
            "CAPMAAS_WATCH_FILTER",
            "CAPMAAS_WATCH_NAMESPACE",
            "MAAS_API_KEY",
            "MAAS_ENDPOINT"
        ]
        .into()
    );
    // The credentials are required; everything else has a default.
    let err = clusterctl(
        &[
            "generate",
            "provider",
            "--infrastructure",
            &provider,
            "--config",
            config,
        ],
        &[],
    )
    .unwrap_err();
    assert!(
        err.contains("MAAS_API_KEY") && err.contains("MAAS_ENDPOINT"),
        "{err}"
    );
    assert!(!err.contains("CAPMAAS_WATCH_NAMESPACE"), "{err}");
}

#[tokio::test]
async fn the_apiserver_accepts_the_components_clusterctl_renders() {
    let out = tempfile::tempdir().unwrap();
    let layout = release::write_release(&common::root(), out.path(), &options()).unwrap();
    let text = clusterctl(
        &[
            "generate",
            "provider",
            "--infrastructure",
            &format!("{PROVIDER_NAME}:v0.1.0"),
            "--config",
            layout.clusterctl_config.to_str().unwrap(),
        ],
        &[
            ("MAAS_ENDPOINT", "http://maas.example:5240/MAAS"),
            ("MAAS_API_KEY", "ck:tk:ts"),
        ],
    )
    .unwrap();
    let d = docs(&text, "clusterctl generate provider");
    let secret = one(&d, "Secret", CREDENTIALS_SECRET);
    assert_eq!(secret["stringData"]["apiKey"], "ck:tk:ts");
    let c = manager_container(&d);
    let env_value = |name: &str| {
        c["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()["value"]
            .clone()
    };
    // clusterctl drops empty values; the variable is still defined (empty).
    for v in ["CAPMAAS_WATCH_NAMESPACE", "CAPMAAS_WATCH_FILTER"] {
        let value = env_value(v);
        assert!(
            value.is_null() || value == "",
            "{v}: all by default, got {value}"
        );
    }
    assert_eq!(env_value("CAPMAAS_LOG_LEVEL"), "info");

    let env = kube_testenv::shared().await.unwrap();
    let client = env.client().unwrap();
    // The Namespace for real first, then everything as a dry run.
    let (ns, rest): (Vec<Value>, Vec<Value>) =
        d.into_iter().partition(|x| yaml::kind(x) == "Namespace");
    apply_all(&client, &ns, "default", Mode::Persist)
        .await
        .unwrap();
    let applied = apply_all(&client, &rest, NAMESPACE, Mode::DryRun)
        .await
        .unwrap();
    assert_eq!(applied.len(), rest.len());
    let created = Api::<Namespace>::all(client).get(NAMESPACE).await.unwrap();
    assert_eq!(
        created
            .metadata
            .labels
            .unwrap()
            .get(PROVIDER_LABEL_KEY)
            .map(String::as_str),
        Some(PROVIDER_LABEL)
    );
}

/// Kills the child on drop, so a failing test leaves no process behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_status(port: u16, path: &str) -> Option<u16> {
    use std::io::Write as _;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test]
async fn the_manager_binary_runs_with_the_deployments_command_and_arguments() {
    let env = kube_testenv::shared().await.unwrap();
    env.install_capi_crds().await.unwrap();
    env.install_crds(&capi_types::crds::all().unwrap())
        .await
        .unwrap();
    let client = env.client().unwrap();
    let mut ns = Namespace::default();
    ns.metadata.name = Some(NAMESPACE.into());
    match Api::<Namespace>::all(client)
        .create(&PostParams::default(), &ns)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("{e}"),
    }

    let d = components();
    let c = manager_container(&d);
    assert_eq!(c["command"][0], BINARY);
    let manager = tools::cargo_bin("capmaas-manager", BINARY.trim_start_matches('/'), &[]).unwrap();
    // Expand $(VAR) as the kubelet does, with the clusterctl defaults.
    let defaults = [
        ("CAPMAAS_WATCH_NAMESPACE", ""),
        ("CAPMAAS_WATCH_FILTER", ""),
        ("CAPMAAS_LOG_LEVEL", "info"),
    ];
    let (health, metrics) = (free_port(), free_port());
    let args: Vec<String> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let mut a = a.as_str().unwrap().to_owned();
            for (k, v) in defaults {
                a = a.replace(&format!("$({k})"), v);
            }
            if a.starts_with("--health-addr=") {
                a = format!("--health-addr=127.0.0.1:{health}");
            }
            if a.starts_with("--metrics-addr=") {
                a = format!("--metrics-addr=127.0.0.1:{metrics}");
            }
            a
        })
        .collect();
    assert!(args.contains(&"--namespace=".to_owned()), "{args:?}");
    let log_dir = tempfile::tempdir().unwrap();
    let log_path = log_dir.path().join("manager.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new(&manager)
        .args(&args)
        .env_clear()
        .env("KUBECONFIG", env.kubeconfig_path())
        .env("POD_NAMESPACE", NAMESPACE)
        .env("POD_NAME", "capmaas-controller-manager-test")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            let err = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("capmaas-manager {args:?} exited with {status}:\n{err}");
        }
        if http_status(health, "/readyz") == Some(200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "capmaas-manager never became ready:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(http_status(health, "/healthz"), Some(200));
    assert_eq!(http_status(metrics, "/metrics"), Some(200));
    // SIGTERM: the pod's stop. The manager releases the Lease and exits 0.
    let pid = running.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(25);
    let status = loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "capmaas-manager did not exit within 25 s of SIGTERM:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(status.success(), "exit status {status}");
}
