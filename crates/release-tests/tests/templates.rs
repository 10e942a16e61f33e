//! The cluster templates, rendered by the real `clusterctl` (v1.14, built
//! from the Go module proxy) from the files and through a local provider
//! repository, and applied (server-side dry run) to a real kube-apiserver
//! with the Cluster API and capmaas CRDs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use common::{KUBERNETES_VERSION, REQUIRED_VARS, clusterctl, docs, of_kind, one};
use release_tests::apply::{Mode, apply_all};
use release_tests::components::{ComponentsOptions, PROVIDER_NAME};
use release_tests::{release, yaml};
use serde_json::{Value, json};

/// `(flavor, file)`; the empty flavor is `cluster-template.yaml`.
fn flavors() -> Vec<(String, String)> {
    let files = release::template_files(&common::root()).unwrap();
    let mut out = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_str().unwrap().to_owned();
        if let Some(rest) = name.strip_prefix("cluster-template") {
            let flavor = rest
                .trim_end_matches(".yaml")
                .trim_start_matches('-')
                .to_owned();
            out.push((flavor, format!("templates/{name}")));
        }
    }
    assert!(
        out.len() >= 5,
        "expected at least 5 templates, found {out:?}"
    );
    out
}

fn render_from(file: &str, cluster: &str, namespace: &str, vars: &[(&str, &str)]) -> String {
    clusterctl(
        &[
            "generate",
            "cluster",
            cluster,
            "--from",
            file,
            "--target-namespace",
            namespace,
            "--kubernetes-version",
            KUBERNETES_VERSION,
            "--control-plane-machine-count",
            "3",
            "--worker-machine-count",
            "2",
        ],
        vars,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn machine_template<'a>(docs: &'a [Value], name: &str) -> &'a Value {
    &one(docs, "MaasMachineTemplate", name)["spec"]["template"]["spec"]
}

/// What each flavor promises, checked on the default rendering.
fn check_flavor(flavor: &str, cluster: &str, d: &[Value]) {
    if flavor == "topology" {
        let c = one(d, "Cluster", cluster);
        let t = &c["spec"]["topology"];
        assert_eq!(t["classRef"]["name"], "maas");
        assert_eq!(t["controlPlane"]["replicas"], 3);
        assert_eq!(t["workers"]["machineDeployments"][0]["replicas"], 2);
        let vars: BTreeMap<&str, &Value> = t["variables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["name"].as_str().unwrap(), &v["value"]))
            .collect();
        assert_eq!(vars["dnsDomain"], "maas.example");
        assert_eq!(vars["controlPlaneTags"], &json!([]));
        assert_eq!(vars["controlPlaneResourcePool"], "");
        assert_eq!(vars["controlPlaneMinMemory"], 8192);
        assert_eq!(vars["workerEphemeral"], false);
        return;
    }
    let kcp = one(
        d,
        "KubeadmControlPlane",
        &format!("{cluster}-control-plane"),
    );
    assert_eq!(kcp["spec"]["replicas"], 3, "--control-plane-machine-count");
    assert_eq!(kcp["spec"]["version"], KUBERNETES_VERSION);
    let md = one(d, "MachineDeployment", &format!("{cluster}-md-0"));
    assert_eq!(
        md["spec"]["replicas"], 2,
        "--worker-machine-count is honoured"
    );
    assert_eq!(
        one(d, "MaasCluster", cluster)["spec"]["dnsDomain"],
        "maas.example"
    );
    let cp = machine_template(d, &format!("{cluster}-control-plane"));
    let w = machine_template(d, &format!("{cluster}-md-0"));
    assert_eq!(cp["image"], "custom/u-2204-k-1331");
    assert_eq!(w["resourcePool"], "", "an empty resource pool means none");
    assert_eq!(w["tags"], json!([]), "no tag by default");
    let (cp_eph, w_eph, cp_mem, w_mem) = match flavor {
        "" | "lxd" => (false, false, None, 8192),
        "ephemeral" => (true, true, Some(16384), 16384),
        "mixed" => (true, false, Some(16384), 8192),
        other => panic!("unknown flavor {other:?}: add its expectations here"),
    };
    assert_eq!(cp["ephemeral"], cp_eph, "{flavor}: control plane ephemeral");
    assert_eq!(w["ephemeral"], w_eph, "{flavor}: workers ephemeral");
    if let Some(m) = cp_mem {
        assert_eq!(cp["minMemory"], m);
    }
    assert_eq!(w["minMemory"], w_mem);
    if flavor == "lxd" {
        assert_eq!(cp["podType"], "lxd", "the control plane is LXD VMs");
        assert_eq!(cp["tags"], json!([]), "no tag by default");
        assert_eq!(cp["minDiskSize"], 40);
        assert_eq!(w["notTags"], json!(["virtual"]), "workers are bare metal");
    } else {
        assert_eq!(cp["tags"], json!([]));
        assert!(w.get("notTags").is_none());
    }
}

/// Objects of a rendering that must be applied first (ClusterClass and its
/// templates) come from clusterclass-maas.yaml for `--from` renderings.
fn clusterclass(namespace: &str) -> Vec<Value> {
    let text = clusterctl(
        &[
            "generate",
            "yaml",
            "--from",
            "templates/clusterclass-maas.yaml",
        ],
        &[("NAMESPACE", namespace)],
    )
    .unwrap();
    docs(&text, "clusterclass-maas.yaml")
        .into_iter()
        .map(|mut d| {
            d["metadata"]["namespace"] = namespace.into();
            d
        })
        .collect()
}

#[tokio::test]
async fn every_template_renders_with_documented_values_and_the_apiserver_accepts_it() {
    let env = common::apiserver().await;
    let ns = env.namespace("templates").await.unwrap();
    let client = ns.client();
    for (flavor, file) in flavors() {
        let cluster = format!(
            "c-{}",
            if flavor.is_empty() {
                "default"
            } else {
                &flavor
            }
        );
        let text = render_from(&file, &cluster, ns.name(), &REQUIRED_VARS);
        let d = docs(&text, &file);
        for doc in &d {
            assert_eq!(
                yaml::namespace(doc),
                Some(ns.name()),
                "{}",
                yaml::describe(doc)
            );
        }
        check_flavor(&flavor, &cluster, &d);
        let mut all = if flavor == "topology" {
            clusterclass(ns.name())
        } else {
            Vec::new()
        };
        all.extend(d);
        let applied = apply_all(&client, &all, ns.name(), Mode::DryRun)
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(applied.len(), all.len());
    }
}

#[tokio::test]
async fn templates_render_through_the_local_provider_repository() {
    let out = tempfile::tempdir().unwrap();
    let options = ComponentsOptions {
        image: "registry.example/capmaas".into(),
        version: "v0.1.0".into(),
    };
    let layout = release::write_release(&common::root(), out.path(), &options).unwrap();
    let config = layout.clusterctl_config.to_str().unwrap().to_owned();
    let provider = format!("{PROVIDER_NAME}:{}", options.version);
    let env = common::apiserver().await;
    let ns = env.namespace("repository").await.unwrap();
    let client = ns.client();
    for (flavor, file) in flavors() {
        let cluster = "c-repo";
        let mut args = vec![
            "generate",
            "cluster",
            cluster,
            "--infrastructure",
            &provider,
            "--config",
            &config,
            "--target-namespace",
            ns.name(),
            "--kubernetes-version",
            KUBERNETES_VERSION,
            "--control-plane-machine-count",
            "3",
            "--worker-machine-count",
            "2",
        ];
        if !flavor.is_empty() {
            args.extend(["--flavor", &flavor]);
        }
        let text = clusterctl(&args, &REQUIRED_VARS).unwrap_or_else(|e| panic!("{e}"));
        let from_repo = docs(&text, &format!("repository flavor {flavor:?}"));
        let from_file = docs(
            &render_from(&file, cluster, ns.name(), &REQUIRED_VARS),
            &file,
        );
        if flavor == "topology" {
            // clusterctl adds the ClusterClass the Cluster needs, first.
            assert_eq!(yaml::kind(&from_repo[0]), "ClusterClass");
            assert_eq!(of_kind(&from_repo, "ClusterClass").len(), 1);
            let classless: Vec<Value> = from_repo
                .iter()
                .filter(|d| yaml::kind(d) == "Cluster")
                .cloned()
                .collect();
            assert_eq!(classless, from_file);
        } else {
            assert_eq!(
                from_repo, from_file,
                "flavor {flavor:?}: repository and file differ"
            );
        }
        apply_all(&client, &from_repo, ns.name(), Mode::DryRun)
            .await
            .unwrap_or_else(|e| panic!("flavor {flavor:?}: {e}"));
    }
}

#[tokio::test]
async fn set_variables_reach_the_objects_and_bad_values_are_refused() {
    let env = common::apiserver().await;
    let ns = env.namespace("variables").await.unwrap();
    let vars = [
        ("MAAS_DNS_DOMAIN", "k8s.example.com"),
        ("CONTROL_PLANE_MACHINE_IMAGE", "custom/cp"),
        ("CONTROL_PLANE_MACHINE_MINCPU", "8"),
        ("CONTROL_PLANE_MACHINE_MINMEMORY", "32768"),
        ("CONTROL_PLANE_MACHINE_RESOURCEPOOL", "control"),
        ("CONTROL_PLANE_MACHINE_TAG", "cp,ssd"),
        ("WORKER_MACHINE_IMAGE", "ubuntu/jammy"),
        ("WORKER_MACHINE_MINCPU", "16"),
        ("WORKER_MACHINE_MINMEMORY", "65536"),
        ("WORKER_MACHINE_RESOURCEPOOL", "workers"),
        ("WORKER_MACHINE_TAG", "gpu"),
    ];
    let text = render_from(
        "templates/cluster-template-ephemeral.yaml",
        "vars",
        ns.name(),
        &vars,
    );
    let d = docs(&text, "ephemeral");
    let cp = machine_template(&d, "vars-control-plane");
    assert_eq!(
        cp,
        &json!({"image": "custom/cp", "minCPU": 8, "minMemory": 32768,
                "resourcePool": "control", "tags": ["cp", "ssd"], "ephemeral": true})
    );
    let w = machine_template(&d, "vars-md-0");
    assert_eq!(
        w,
        &json!({"image": "ubuntu/jammy", "minCPU": 16, "minMemory": 65536,
                "resourcePool": "workers", "tags": ["gpu"], "ephemeral": true})
    );
    assert_eq!(
        one(&d, "MaasCluster", "vars")["spec"]["dnsDomain"],
        "k8s.example.com"
    );
    apply_all(&ns.client(), &d, ns.name(), Mode::DryRun)
        .await
        .unwrap();

    // The dry run really validates: a value the CRD refuses fails the apply.
    let mut bad = vars.to_vec();
    bad.retain(|(k, _)| *k != "WORKER_MACHINE_MINMEMORY");
    bad.push(("WORKER_MACHINE_MINMEMORY", "512"));
    let d = docs(
        &render_from(
            "templates/cluster-template-ephemeral.yaml",
            "bad",
            ns.name(),
            &bad,
        ),
        "bad",
    );
    let err = apply_all(&ns.client(), &d, ns.name(), Mode::DryRun)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("minMemory is in MiB and must be between 1024"),
        "{err}"
    );
}

#[test]
fn required_variables_are_refused_when_missing() {
    for (flavor, file) in flavors() {
        let err = clusterctl(
            &[
                "generate",
                "cluster",
                "c1",
                "--from",
                &file,
                "-n",
                "default",
                "--kubernetes-version",
                KUBERNETES_VERSION,
            ],
            &[],
        )
        .unwrap_err();
        for (var, _) in REQUIRED_VARS {
            assert!(
                err.contains(var),
                "flavor {flavor:?}: {var} should be required: {err}"
            );
        }
    }
}

/// Variables, their defaults and whether they are required, by template, as
/// `clusterctl generate cluster --list-variables` reports them.
fn list_variables(file: &str) -> BTreeMap<String, Option<String>> {
    let text = clusterctl(
        &[
            "generate",
            "cluster",
            "c1",
            "--from",
            file,
            "-n",
            "default",
            "--list-variables",
        ],
        &[],
    )
    .unwrap();
    common::parse_list_variables(&text)
}

#[test]
fn no_defaults_for_the_cluster_name_or_dns_domain_and_sensible_ones_elsewhere() {
    for (flavor, file) in flavors() {
        let text = std::fs::read_to_string(common::root().join(&file)).unwrap();
        for (i, _) in text.match_indices("${") {
            let name: String = text[i + 2..]
                .chars()
                .take_while(|c| !matches!(c, ':' | '=' | '-' | '}'))
                .collect();
            assert!(
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                "{file}: variable name {name:?} (no spaces inside the braces)"
            );
        }
        assert!(
            !text.contains("CLUSTER_NAME:"),
            "{file}: CLUSTER_NAME has a default"
        );
        assert!(
            !text.contains("MAAS_DNS_DOMAIN:"),
            "{file}: MAAS_DNS_DOMAIN has a default"
        );
        for line in text.lines().filter(|l| l.trim_start().starts_with('#')) {
            assert!(
                !line.contains("${"),
                "{file}: clusterctl reads variables in comments: {line}"
            );
        }
        let vars = list_variables(&file);
        assert_eq!(vars["MAAS_DNS_DOMAIN"], None, "{flavor}");
        assert_eq!(vars["KUBERNETES_VERSION"], None, "{flavor}");
        // Everything else that has a sensible default has one.
        let required: Vec<&String> = vars
            .iter()
            .filter(|(_, d)| d.is_none())
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            required,
            vec![
                "CONTROL_PLANE_MACHINE_IMAGE",
                "KUBERNETES_VERSION",
                "MAAS_DNS_DOMAIN",
                "WORKER_MACHINE_IMAGE"
            ],
            "{flavor}"
        );
    }
}

/// The variables table of a guide: rows `| `NAME` | default | ... |` between
/// the `<!-- variables:begin -->` and `<!-- variables:end -->` markers.
fn documented_variables(page: &str) -> BTreeMap<String, Option<String>> {
    let text = std::fs::read_to_string(common::root().join(page)).unwrap();
    let begin = text
        .find("<!-- variables:begin -->")
        .unwrap_or_else(|| panic!("{page}: no variables:begin marker"));
    let end = text
        .find("<!-- variables:end -->")
        .unwrap_or_else(|| panic!("{page}: no variables:end marker"));
    let mut out = BTreeMap::new();
    for line in text[begin..end].lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        let name = cells[0].trim_matches('`').to_owned();
        let default = cells[1];
        let default = if default == "required" {
            None
        } else {
            // The first code span is clusterctl's rendering of the default.
            let start = default
                .find('`')
                .unwrap_or_else(|| panic!("{page}: {line}"));
            let rest = &default[start + 1..];
            Some(rest[..rest.find('`').unwrap()].to_owned())
        };
        assert!(
            out.insert(name.clone(), default).is_none(),
            "{page}: {name} twice"
        );
    }
    assert!(!out.is_empty(), "{page}: empty variables table");
    out
}

#[test]
fn the_ephemeral_guide_documents_exactly_the_ephemeral_templates_variables() {
    let listed = list_variables("templates/cluster-template-ephemeral.yaml");
    let documented = documented_variables("docs/ephemeral.md");
    // clusterctl prints the cluster name given on the command line.
    let mut listed = listed;
    listed.insert("CLUSTER_NAME".into(), None);
    assert_eq!(
        documented, listed,
        "docs/ephemeral.md variables table vs clusterctl --list-variables"
    );
    let mixed = list_variables("templates/cluster-template-mixed.yaml");
    assert_eq!(
        mixed.keys().collect::<Vec<_>>(),
        listed.keys().collect::<Vec<_>>(),
        "the mixed flavor takes the same variables"
    );
}

#[test]
fn the_getting_started_guide_documents_every_template_variable() {
    let documented = documented_variables("docs/getting-started.md");
    for (flavor, file) in flavors() {
        for name in list_variables(&file).keys() {
            assert!(
                documented.contains_key(name),
                "{name} ({flavor:?}) is missing from docs/getting-started.md"
            );
        }
    }
    let listed = list_variables("templates/cluster-template.yaml");
    for (name, default) in &listed {
        if name != "CLUSTER_NAME" {
            assert_eq!(
                documented.get(name),
                Some(default),
                "{name}: default differs"
            );
        }
    }
}
