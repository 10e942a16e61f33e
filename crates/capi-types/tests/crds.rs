//! The committed CRD YAML is current, and the CRDs have the shape CAPI needs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use capi_types::crds;

fn crd_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/crd")
}

#[test]
fn committed_crds_are_current() {
    let dir = crd_dir();
    if std::env::var_os("UPDATE_CRDS").is_some() {
        crds::write_all(&dir).unwrap();
    }
    let mut stale = Vec::new();
    for (name, yaml) in crds::render_all().unwrap() {
        let path = dir.join(&name);
        match std::fs::read_to_string(&path) {
            Ok(on_disk) if on_disk == yaml => {}
            Ok(_) => stale.push(format!("{name} differs")),
            Err(e) => stale.push(format!("{name}: {e}")),
        }
    }
    let expected: Vec<String> = crds::render_all()
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".yaml") && !expected.contains(&name) {
            stale.push(format!("{name} is not generated any more; delete it"));
        }
    }
    assert!(
        stale.is_empty(),
        "config/crd is stale ({}). Regenerate with `make crds` \
         (or `UPDATE_CRDS=1 cargo test -p capi-types --test crds`) and commit the result.",
        stale.join("; ")
    );
}

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray,
};

fn by_kind(kind: &str) -> CustomResourceDefinition {
    crds::all()
        .unwrap()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap()
}

fn schema(crd: &CustomResourceDefinition) -> &JSONSchemaProps {
    crd.spec.versions[0]
        .schema
        .as_ref()
        .unwrap()
        .open_api_v3_schema
        .as_ref()
        .unwrap()
}

fn at<'a>(root: &'a JSONSchemaProps, path: &[&str]) -> &'a JSONSchemaProps {
    path.iter().fold(root, |node, seg| {
        node.properties
            .as_ref()
            .and_then(|p| p.get(*seg))
            .unwrap_or_else(|| panic!("no {seg} in {path:?}"))
    })
}

fn props(node: &JSONSchemaProps) -> Vec<&str> {
    node.properties
        .as_ref()
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// Visits every schema node with its dotted path.
fn walk<'a>(node: &'a JSONSchemaProps, path: String, f: &mut dyn FnMut(&str, &'a JSONSchemaProps)) {
    f(&path, node);
    for (k, v) in node.properties.iter().flatten() {
        walk(v, format!("{path}.{k}"), f);
    }
    if let Some(JSONSchemaPropsOrArray::Schema(items)) = &node.items {
        walk(items, format!("{path}[]"), f);
    }
}

#[test]
fn every_crd_meets_the_capi_contract() {
    let expected = [
        ("MaasCluster", "maasclusters", "mc", true),
        ("MaasClusterTemplate", "maasclustertemplates", "mct", false),
        ("MaasMachine", "maasmachines", "mm", true),
        ("MaasMachineTemplate", "maasmachinetemplates", "mmt", true),
    ];
    let all = crds::all().unwrap();
    assert_eq!(all.len(), expected.len());
    for (kind, plural, short, has_status) in expected {
        let crd = by_kind(kind);
        let group = "infrastructure.cluster.x-k8s.io";
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some(format!("{plural}.{group}").as_str()),
            "CRD name = contract.CalculateCRDName"
        );
        assert_eq!(crd.spec.group, group);
        assert_eq!(crd.spec.names.plural, plural);
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(
            crd.spec.names.short_names.as_deref(),
            Some(&[short.to_owned()][..])
        );
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["cluster-api".to_owned()][..])
        );
        let labels = crd.metadata.labels.clone().unwrap();
        assert_eq!(
            labels.get("cluster.x-k8s.io/v1beta2").map(String::as_str),
            Some("v1beta1"),
            "{kind}"
        );
        assert_eq!(
            labels
                .get("clusterctl.cluster.x-k8s.io")
                .map(String::as_str),
            Some(""),
            "{kind}"
        );
        assert_eq!(crd.spec.versions.len(), 1);
        let v = &crd.spec.versions[0];
        assert_eq!(
            (v.name.as_str(), v.served, v.storage),
            ("v1beta1", true, true)
        );
        assert_eq!(
            v.subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            has_status,
            "{kind}"
        );
        assert_eq!(crds::file_name(&crd), format!("{group}_{plural}.yaml"));
    }
}

#[test]
fn printer_columns_show_what_people_want() {
    let cols = |kind: &str| -> Vec<(String, String)> {
        by_kind(kind).spec.versions[0]
            .additional_printer_columns
            .clone()
            .unwrap()
            .into_iter()
            .map(|c| (c.name, c.json_path))
            .collect()
    };
    let mm = cols("MaasMachine");
    for (name, path) in [
        (
            "Cluster",
            ".metadata.labels['cluster\\.x-k8s\\.io/cluster-name']",
        ),
        ("State", ".status.machineState"),
        ("System-ID", ".spec.systemID"),
        ("Provider-ID", ".spec.providerID"),
        ("Ready", ".status.conditions[?(@.type==\"Ready\")].status"),
        ("Age", ".metadata.creationTimestamp"),
    ] {
        assert!(
            mm.contains(&(name.to_owned(), path.to_owned())),
            "MaasMachine lacks {name}: {mm:?}"
        );
    }
    let mc = cols("MaasCluster");
    for name in ["Cluster", "Endpoint", "Ready", "Age"] {
        assert!(
            mc.iter().any(|(n, _)| n == name),
            "MaasCluster lacks {name}"
        );
    }
}

#[test]
fn json_names_follow_capi_spelling() {
    let crd = by_kind("MaasMachine");
    let spec = props(at(schema(&crd), &["spec"]));
    for name in [
        "providerID",
        "systemID",
        "failureDomain",
        "resourcePool",
        "minCPU",
        "minMemory",
        "minDiskSize",
        "tags",
        "notTags",
        "architecture",
        "image",
        "hweKernel",
        "ephemeral",
        "release",
    ] {
        assert!(spec.contains(&name), "spec.{name} missing: {spec:?}");
    }
    assert!(
        !spec.contains(&"providerId") && !spec.contains(&"systemId") && !spec.contains(&"minCpu")
    );
    let status = props(at(schema(&crd), &["status"]));
    for name in [
        "initialization",
        "ready",
        "addresses",
        "failureDomain",
        "machineState",
        "powerState",
        "hostname",
        "deployedInMemory",
        "conditions",
    ] {
        assert!(status.contains(&name), "status.{name} missing: {status:?}");
    }
    let cond = at(schema(&crd), &["status", "conditions"]);
    assert_eq!(cond.x_kubernetes_list_type.as_deref(), Some("map"));
    assert_eq!(
        cond.x_kubernetes_list_map_keys.as_deref(),
        Some(&["type".to_owned()][..])
    );
    let Some(JSONSchemaPropsOrArray::Schema(item)) = &cond.items else {
        panic!()
    };
    assert_eq!(
        props(item),
        vec![
            "lastTransitionTime",
            "message",
            "observedGeneration",
            "reason",
            "status",
            "type"
        ]
    );

    let cluster = by_kind("MaasCluster");
    let spec = props(at(schema(&cluster), &["spec"]));
    for name in [
        "dnsDomain",
        "controlPlaneEndpoint",
        "failureDomains",
        "credentialsRef",
    ] {
        assert!(spec.contains(&name), "MaasCluster spec.{name} missing");
    }
    let fds = at(schema(&cluster), &["status", "failureDomains"]);
    assert_eq!(fds.type_.as_deref(), Some("array"), "v1beta2 list form");
    assert_eq!(
        fds.x_kubernetes_list_map_keys.as_deref(),
        Some(&["name".to_owned()][..])
    );
    let Some(JSONSchemaPropsOrArray::Schema(fd)) = &fds.items else {
        panic!()
    };
    assert_eq!(props(fd), vec!["attributes", "controlPlane", "name"]);
    assert_eq!(
        props(at(schema(&cluster), &["status", "network"])),
        vec!["dnsName"]
    );

    let mmt = by_kind("MaasMachineTemplate");
    assert!(props(at(schema(&mmt), &["spec", "template"])).contains(&"metadata"));
    assert_eq!(
        props(at(schema(&mmt), &["status"])),
        vec!["capacity", "nodeInfo"]
    );
    assert!(
        props(at(
            schema(&by_kind("MaasClusterTemplate")),
            &["spec", "template", "spec"]
        ))
        .contains(&"dnsDomain")
    );
}

#[test]
fn rules_have_messages_bounds_and_no_transitions_on_templates() {
    for crd in crds::all().unwrap() {
        let kind = crd.spec.names.kind.clone();
        let mut transition_rules = 0;
        walk(schema(&crd), kind.clone(), &mut |path, node| {
            assert_eq!(node.nullable, None, "{path} is nullable");
            for rule in node.x_kubernetes_validations.iter().flatten() {
                assert!(
                    rule.message.as_deref().is_some_and(|m| m.len() > 10),
                    "{path}: {} has no message",
                    rule.rule
                );
                if rule.rule.contains("oldSelf") {
                    transition_rules += 1;
                }
                match node.type_.as_deref() {
                    Some("string") => assert!(
                        node.max_length.is_some(),
                        "{path}: string rule without maxLength"
                    ),
                    Some("array") => assert!(
                        node.max_items.is_some(),
                        "{path}: list rule without maxItems"
                    ),
                    _ => {}
                }
                // lists a rule iterates must be bounded, and so must their strings
                for (name, child) in node.properties.iter().flatten() {
                    if rule.rule.contains(&format!("self.{name}"))
                        && child.type_.as_deref() == Some("array")
                    {
                        assert!(
                            child.max_items.is_some(),
                            "{path}.{name}: iterated list without maxItems"
                        );
                        if let Some(JSONSchemaPropsOrArray::Schema(item)) = &child.items {
                            assert!(
                                item.max_length.is_some(),
                                "{path}.{name}[]: unbounded strings"
                            );
                        }
                    }
                }
            }
        });
        if kind.ends_with("Template") {
            assert_eq!(
                transition_rules, 0,
                "{kind}: templates must stay updatable for ClusterClass dry runs"
            );
        } else {
            assert!(
                transition_rules > 0,
                "{kind}: live objects enforce immutability"
            );
        }
    }
}

#[test]
fn yaml_is_stable_and_round_trips() {
    let first = crds::render_all().unwrap();
    let second = crds::render_all().unwrap();
    assert_eq!(first, second);
    for ((name, yaml), crd) in first.iter().zip(crds::all().unwrap()) {
        assert!(yaml.starts_with(crds::HEADER), "{name}");
        let back: CustomResourceDefinition = serde_saphyr::from_str(yaml).unwrap();
        assert_eq!(back, crd, "{name} does not parse back to the same CRD");
    }
}

#[test]
fn docs_list_every_validation_message() {
    let docs = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/crds.md"),
    )
    .unwrap();
    let mut missing = Vec::new();
    for (place, rules) in capi_types::validation::catalogue() {
        for rule in rules {
            // immutability messages of optional fields are summarised in one row
            let summarised = rule
                .message
                .contains(" is immutable; create a new MaasMachine to change")
                || rule
                    .message
                    .contains(" are immutable; create a new MaasMachine to change");
            if !summarised && !docs.contains(rule.message) {
                missing.push(format!("{place}: {}", rule.message));
            }
        }
    }
    assert!(missing.is_empty(), "docs/crds.md lacks: {missing:#?}");
}
