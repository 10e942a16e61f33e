//! The Helm chart `charts/capmaas`: the real `helm` (v3, built from the Go
//! module proxy) lints and renders it, its schema refuses bad values, and a
//! real apiserver accepts what it renders (server-side dry run).
//!
//! `UPDATE_CRDS=1 cargo test -p release-tests --test helm` (part of
//! `make crds`) rewrites `charts/capmaas/crds/` from capi-types.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{docs, helm, of_kind, one};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use release_tests::apply::{Mode, apply_all};
use release_tests::components::{
    BINARY, CONTAINER, ComponentsOptions, DEPLOYMENT, render_components,
};
use release_tests::yaml;
use serde_json::{Value, json};

const CHART: &str = "charts/capmaas";
const KUBE_VERSION: &str = "1.36.0";

fn template(namespace: &str, sets: &[&str]) -> Result<Vec<Value>, String> {
    let mut args = vec![
        "template",
        "capmaas",
        CHART,
        "--namespace",
        namespace,
        "--include-crds",
        "--kube-version",
        KUBE_VERSION,
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    helm(&args).map(|text| docs(&text, &format!("helm template {sets:?}")))
}

fn container(d: &[Value], name: &str) -> Value {
    one(d, "Deployment", name)["spec"]["template"]["spec"]["containers"][0].clone()
}

fn env_of(c: &Value, name: &str) -> Option<Value> {
    c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .cloned()
}

fn args_of(c: &Value) -> Vec<String> {
    c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn chart_crds_are_the_generated_crds() {
    let dir = common::root().join(CHART).join("crds");
    let fresh = capi_types::crds::render_all().unwrap();
    if std::env::var_os("UPDATE_CRDS").is_some() {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in &fresh {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    present.sort();
    let mut expected: Vec<String> = fresh.iter().map(|(n, _)| n.clone()).collect();
    expected.sort();
    assert_eq!(
        present, expected,
        "charts/capmaas/crds/ files; run `make crds`"
    );
    for (name, text) in fresh {
        assert_eq!(
            std::fs::read_to_string(dir.join(&name)).unwrap(),
            text,
            "charts/capmaas/crds/{name} is stale; run `make crds`"
        );
    }
}

#[test]
fn helm_lints_the_chart_strictly() {
    for sets in [
        vec![],
        vec!["maasSim.enabled=true", "serviceMonitor.enabled=true"],
        vec![
            "credentials.existingSecret=maas-admin",
            "credentials.caBundleKey=ca.crt",
        ],
    ] {
        let mut args = vec!["lint", "--strict", CHART, "--kube-version", KUBE_VERSION];
        for s in &sets {
            args.extend(["--set", s]);
        }
        let out = helm(&args).unwrap_or_else(|e| panic!("{e}"));
        assert!(out.contains("0 chart(s) failed"), "{out}");
    }
}

#[test]
fn the_values_schema_and_the_templates_refuse_bad_values() {
    for (set, why) in [
        ("replicas=two", "/replicas"),
        ("replicas=0", "/replicas"),
        ("logFormat=xml", "/logFormat"),
        ("unknownKey=1", "unknownKey"),
        ("maasSim.maasVersion=2.9", "/maasSim/maasVersion"),
        ("syncPeriod=ten", "/syncPeriod"),
        ("deployRetries=11", "/deployRetries"),
        ("ephemeralMinMemoryMiB=-1", "/ephemeralMinMemoryMiB"),
        ("dnsTTL=ten", "/dnsTTL"),
        ("maasSim.apiKey=nocolons", "/maasSim/apiKey"),
        ("maas.endpoint=maas:5240", "/maas/endpoint"),
    ] {
        let err = template("capmaas-system", &[set]).unwrap_err();
        assert!(
            err.contains(why),
            "--set {set}: expected a complaint about {why}: {err}"
        );
    }
    let err = template(
        "capmaas-system",
        &[
            "credentials.create=true",
            "credentials.endpoint=maas",
            "credentials.apiKey=a:b:c",
        ],
    )
    .unwrap_err();
    assert!(err.contains("/credentials/endpoint"), "{err}");
    let err = template(
        "capmaas-system",
        &["replicas=2", "leaderElection.enabled=false"],
    )
    .unwrap_err();
    assert!(
        err.contains("replicas > 1 needs leaderElection.enabled=true"),
        "{err}"
    );
}

#[test]
fn the_chart_matches_config_rbac_and_the_clusterctl_deployment() {
    let d = template("capmaas-system", &[]).unwrap();
    let rbac = docs(
        &std::fs::read_to_string(common::root().join("config/rbac/role.yaml")).unwrap(),
        "role.yaml",
    );
    for (kind, name) in [
        ("ClusterRole", "capmaas-manager"),
        ("Role", "capmaas-leader-election"),
    ] {
        assert_eq!(
            one(&d, kind, name)["rules"],
            one(&rbac, kind, name)["rules"],
            "{kind}/{name}"
        );
    }
    assert_eq!(
        one(&d, "ServiceAccount", "capmaas-manager")["metadata"]["namespace"],
        "capmaas-system"
    );
    let components = docs(
        &render_components(&common::root(), &ComponentsOptions::from_env()).unwrap(),
        "components",
    );
    let a = container(&d, DEPLOYMENT);
    let b = container(&components, DEPLOYMENT);
    assert_eq!(a["name"], CONTAINER);
    assert_eq!(a["command"], json!([BINARY]));
    for key in [
        "command",
        "securityContext",
        "livenessProbe",
        "readinessProbe",
        "ports",
    ] {
        assert_eq!(a[key], b[key], "chart and components differ in {key}");
    }
    let pod = |docs: &[Value]| {
        one(docs, "Deployment", DEPLOYMENT)["spec"]["template"]["spec"]["securityContext"].clone()
    };
    assert_eq!(pod(&d), pod(&components));
    // Chart and workspace versions move together.
    let chart: Value = docs(
        &std::fs::read_to_string(common::root().join(CHART).join("Chart.yaml")).unwrap(),
        "Chart.yaml",
    )
    .remove(0);
    assert_eq!(chart["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        chart["appVersion"],
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        a["image"],
        format!(
            "ghcr.io/capmaas/capmaas-manager:v{}",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn value_sets_shape_the_deployment() {
    // Defaults: one replica with leader election, no default credentials.
    let d = template("capmaas-system", &[]).unwrap();
    let c = container(&d, DEPLOYMENT);
    let args = args_of(&c);
    assert!(args.contains(&"--leader-elect".into()), "{args:?}");
    // The lifecycle tunables, at the manager's own defaults (bins/manager).
    for a in [
        "--deploy-timeout=90m",
        "--deploy-retries=2",
        "--ephemeral-min-memory-mib=16384",
        "--dns-ttl=10s",
        "--allocation-settle-time=2m",
        "--capacity-backoff=1m",
        "--capacity-backoff-max=10m",
    ] {
        assert!(args.contains(&a.to_owned()), "{a} missing: {args:?}");
    }
    assert!(
        !args.iter().any(|a| a.starts_with("--namespace")),
        "{args:?}"
    );
    assert!(env_of(&c, "MAAS_ENDPOINT").is_none());
    assert!(of_kind(&d, "ServiceMonitor").is_empty());
    assert!(of_kind(&d, "Secret").is_empty());
    assert_eq!(of_kind(&d, "CustomResourceDefinition").len(), 4);

    // An existing Secret (e.g. exported by a MAAS-in-Kubernetes deployment) with its own key names.
    let d = template(
        "capmaas-system",
        &[
            "credentials.existingSecret=maas-admin",
            "credentials.endpointKey=url",
            "credentials.apiKeyKey=api-key",
            "credentials.caBundleKey=ca.crt",
        ],
    )
    .unwrap();
    let c = container(&d, DEPLOYMENT);
    assert_eq!(
        env_of(&c, "MAAS_ENDPOINT").unwrap()["valueFrom"]["secretKeyRef"],
        json!({"name": "maas-admin", "key": "url"})
    );
    assert_eq!(
        env_of(&c, "MAAS_API_KEY").unwrap()["valueFrom"]["secretKeyRef"],
        json!({"name": "maas-admin", "key": "api-key"})
    );
    assert!(args_of(&c).contains(&"--maas-ca-bundle=/etc/capmaas/maas-ca/ca.crt".into()));
    let volume = &one(&d, "Deployment", DEPLOYMENT)["spec"]["template"]["spec"]["volumes"][0];
    assert_eq!(
        volume["secret"],
        json!({"secretName": "maas-admin", "items": [{"key": "ca.crt", "path": "ca.crt"}]})
    );
    assert!(
        of_kind(&d, "Secret").is_empty(),
        "an existing Secret is not created"
    );

    // The same Secret untouched, holding only an API key (as the MAAS chart exports it), the
    // endpoint from values: MAAS_ENDPOINT is a plain value, the key still comes from the Secret.
    let d = template(
        "capmaas-system",
        &[
            "credentials.existingSecret=maas-admin-key",
            "credentials.apiKeyKey=api-key",
            "maas.endpoint=http://maas-region.maas.svc:5240/MAAS",
        ],
    )
    .unwrap();
    let c = container(&d, DEPLOYMENT);
    assert_eq!(
        env_of(&c, "MAAS_ENDPOINT").unwrap(),
        json!({"name": "MAAS_ENDPOINT", "value": "http://maas-region.maas.svc:5240/MAAS"})
    );
    assert_eq!(
        env_of(&c, "MAAS_API_KEY").unwrap()["valueFrom"]["secretKeyRef"],
        json!({"name": "maas-admin-key", "key": "api-key"})
    );
    assert!(of_kind(&d, "Secret").is_empty());
    assert!(
        !args_of(&c)
            .iter()
            .any(|a| a.starts_with("--maas-ca-bundle")),
        "no CA bundle key, no CA bundle"
    );
    // With a created Secret, maas.endpoint stands in for credentials.endpoint.
    let d = template(
        "capmaas-system",
        &[
            "credentials.create=true",
            "maas.endpoint=http://maas:5240/MAAS",
            "credentials.apiKey=a:b:c",
        ],
    )
    .unwrap();
    assert_eq!(
        one(&d, "Secret", "capmaas-manager-credentials")["stringData"]["endpoint"],
        "http://maas:5240/MAAS"
    );

    // Created from values.
    let d = template(
        "capmaas-system",
        &[
            "credentials.create=true",
            "credentials.endpoint=http://maas:5240/MAAS",
            "credentials.apiKey=a:b:c",
        ],
    )
    .unwrap();
    let s = one(&d, "Secret", "capmaas-manager-credentials");
    assert_eq!(
        s["stringData"],
        json!({"endpoint": "http://maas:5240/MAAS", "apiKey": "a:b:c"})
    );

    // HA, one namespace, a filter.
    let d = template(
        "capmaas-system",
        &["replicas=3", "watchNamespace=team-a", "watchFilter=blue"],
    )
    .unwrap();
    assert_eq!(one(&d, "Deployment", DEPLOYMENT)["spec"]["replicas"], 3);
    let args = args_of(&container(&d, DEPLOYMENT));
    for a in [
        "--namespace=team-a",
        "--watch-filter=blue",
        "--leader-elect",
    ] {
        assert!(args.contains(&a.to_owned()), "{a} missing: {args:?}");
    }

    // maas-sim for trials: the manager talks to it, with the generated key kept in one Secret.
    let d = template(
        "capmaas-system",
        &["maasSim.enabled=true", "maasSim.machines=3"],
    )
    .unwrap();
    let sim = one(&d, "Secret", "capmaas-maas-sim");
    assert_eq!(
        sim["stringData"]["endpoint"],
        "http://capmaas-maas-sim.capmaas-system.svc:5240/MAAS"
    );
    let key = sim["stringData"]["apiKey"].as_str().unwrap();
    assert_eq!(
        key.split(':').map(str::len).collect::<Vec<_>>(),
        vec![18, 18, 32]
    );
    let c = container(&d, DEPLOYMENT);
    assert_eq!(
        env_of(&c, "MAAS_API_KEY").unwrap()["valueFrom"]["secretKeyRef"],
        json!({"name": "capmaas-maas-sim", "key": "apiKey"})
    );
    let sc = container(&d, "capmaas-maas-sim");
    assert_eq!(sc["command"], json!(["/maas-sim"]));
    assert!(args_of(&sc).contains(&"--machines=3".into()));
    assert_eq!(
        one(&d, "Service", "capmaas-maas-sim")["spec"]["ports"][0]["port"],
        5240
    );
}

#[tokio::test]
async fn the_apiserver_accepts_every_rendering() {
    let env = kube_testenv::shared().await.unwrap();
    let fixture =
        common::root().join("crates/release-tests/tests/fixtures/servicemonitor-crd.yaml");
    env.install_crds_from_path(&fixture).await.unwrap();
    let fixture =
        common::root().join("crates/release-tests/tests/fixtures/prometheusrule-crd.yaml");
    env.install_crds_from_path(&fixture).await.unwrap();
    let client = env.client().unwrap();
    for (i, sets) in [
        vec![],
        vec![
            "maasSim.enabled=true",
            "serviceMonitor.enabled=true",
            "serviceMonitor.labels.release=prom",
            "prometheusRule.enabled=true",
            "grafanaDashboard.enabled=true",
        ],
        vec![
            "credentials.existingSecret=maas-admin",
            "credentials.endpointKey=url",
            "credentials.caBundleKey=ca.crt",
        ],
        vec![
            "credentials.existingSecret=maas-admin-key",
            "credentials.apiKeyKey=api-key",
            "maas.endpoint=http://maas-region.maas.svc:5240/MAAS",
        ],
        vec![
            "credentials.create=true",
            "credentials.endpoint=https://maas:5443/MAAS",
            "credentials.apiKey=a:b:c",
            "replicas=2",
            "metrics.service.enabled=true",
        ],
    ]
    .into_iter()
    .enumerate()
    {
        let namespace = format!("capmaas-chart-{i}");
        let mut ns = Namespace::default();
        ns.metadata.name = Some(namespace.clone());
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
        let d = template(&namespace, &sets).unwrap();
        for doc in &d {
            if ![
                "CustomResourceDefinition",
                "ClusterRole",
                "ClusterRoleBinding",
            ]
            .contains(&yaml::kind(doc))
            {
                assert_eq!(
                    yaml::namespace(doc),
                    Some(namespace.as_str()),
                    "{}",
                    yaml::describe(doc)
                );
            }
        }
        let applied = apply_all(&client, &d, &namespace, Mode::DryRun)
            .await
            .unwrap_or_else(|e| panic!("values {sets:?}: {e}"));
        assert_eq!(applied.len(), d.len());
    }
}
