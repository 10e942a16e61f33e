//! The CRDs' validation, enforced by a real kube-apiserver (crates/kube-testenv):
//! invalid specs are rejected with the message that says what to fix, valid
//! ones are accepted, immutability holds on updates of live objects, and
//! templates stay freely updatable (ClusterClass dry runs).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use capi_types::crds;
use capi_types::{MaasCluster, MaasClusterTemplate, MaasMachine, MaasMachineTemplate};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

async fn env() -> &'static kube_testenv::TestEnv {
    let env = kube_testenv::shared()
        .await
        .expect("start the test control plane (see docs/testing.md)");
    env.install_crds(&crds::all().unwrap())
        .await
        .expect("our CRDs are accepted by kube-apiserver");
    env
}

/// Server-side apply `body` as `name`; the apiserver's message on rejection.
async fn apply<K>(api: &Api<K>, name: &str, body: Value) -> Result<K, String>
where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    api.patch(
        name,
        &PatchParams::apply("admission-test").force(),
        &Patch::Apply(body),
    )
    .await
    .map_err(|e| match e {
        kube::Error::Api(status) => status.message.clone(),
        other => panic!("unexpected client error: {other}"),
    })
}

fn machine(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasMachine",
           "metadata": {"name": name}, "spec": spec})
}

fn valid_machine_spec() -> Value {
    json!({"image": "ubuntu/jammy", "minCPU": 2, "minMemory": 4096, "minDiskSize": 40,
           "tags": ["k8s", "ssd"], "notTags": ["gpu"], "architecture": "amd64/generic",
           "hweKernel": "hwe-22.04", "resourcePool": "", "failureDomain": "az1",
           "release": {"erase": "quick"}})
}

fn with(mut spec: Value, key: &str, value: Value) -> Value {
    spec[key] = value;
    spec
}

fn without(mut spec: Value, key: &str) -> Value {
    spec.as_object_mut().unwrap().remove(key);
    spec
}

#[tokio::test]
async fn valid_machines_are_accepted_with_defaults() {
    let ns = env().await.namespace("mm-valid").await.unwrap();
    let api = ns.api::<MaasMachine>();
    let created = apply(&api, "full", machine("full", valid_machine_spec()))
        .await
        .unwrap();
    assert_eq!(created.spec.min_cpu, Some(2));
    assert!(!created.spec.ephemeral, "ephemeral defaults to false");
    for image in [
        "jammy",
        "ubuntu/22.04",
        "custom/k8s-1.33_v2",
        "rhel/rocky-92",
    ] {
        let name = format!("img-{}", image.replace(['/', '.', '_'], "-"));
        let spec = json!({"image": image, "ephemeral": true});
        apply(&api, &name, machine(&name, spec))
            .await
            .unwrap_or_else(|e| panic!("{image}: {e}"));
    }
    // pinned at creation
    apply(
        &api,
        "pinned",
        machine("pinned", json!({"image": "jammy", "systemID": "4y3h8a"})),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn invalid_machine_specs_are_rejected_with_what_to_fix() {
    let ns = env().await.namespace("mm-invalid").await.unwrap();
    let api = ns.api::<MaasMachine>();
    let base = valid_machine_spec;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "cpu",
            with(base(), "minCPU", json!(0)),
            "minCPU must be at least 1",
        ),
        (
            "mem",
            with(base(), "minMemory", json!(512)),
            "minMemory is in MiB and must be at least 1024",
        ),
        (
            "disk",
            with(base(), "minDiskSize", json!(0)),
            "minDiskSize is in GB and must be at least 1",
        ),
        (
            "tagspace",
            with(base(), "tags", json!(["a b"])),
            "each tag must be a non-empty MAAS tag name",
        ),
        (
            "tagcomma",
            with(base(), "tags", json!(["a,b"])),
            "without spaces or commas",
        ),
        (
            "tagempty",
            with(base(), "tags", json!([""])),
            "should be at least 1 chars long",
        ),
        (
            "tagdup",
            with(base(), "tags", json!(["a", "a"])),
            "duplicate entries",
        ),
        (
            "nottag",
            with(base(), "notTags", json!(["x y"])),
            "each notTags entry must be",
        ),
        (
            "both",
            with(base(), "notTags", json!(["ssd"])),
            "a tag cannot be in both tags and notTags",
        ),
        (
            "toomany",
            with(
                base(),
                "tags",
                json!((0..33).map(|i| format!("t{i}")).collect::<Vec<_>>()),
            ),
            "must have at most 32 items",
        ),
        (
            "arch",
            with(base(), "architecture", json!("AMD64")),
            "architecture must look like amd64",
        ),
        (
            "img1",
            with(base(), "image", json!("Ubuntu/jammy")),
            "image must be <series>",
        ),
        (
            "img2",
            with(base(), "image", json!("a/b/c")),
            "image must be <series>",
        ),
        (
            "img3",
            with(base(), "image", json!("")),
            "should be at least 1 chars long",
        ),
        (
            "noimg",
            without(base(), "image"),
            "spec.image: Required value",
        ),
        (
            "kernel",
            with(base(), "hweKernel", json!("HWE 22")),
            "hweKernel must be a MAAS kernel name",
        ),
        (
            "sysid",
            with(base(), "systemID", json!("ABC-1")),
            "systemID must be a MAAS system ID",
        ),
        (
            "provider",
            with(base(), "providerID", json!("aws:///x")),
            "providerID is set by the controller",
        ),
        (
            "erase",
            with(base(), "release", json!({"erase": "shred"})),
            "supported values: \"none\", \"quick\", \"secure\"",
        ),
    ];
    for (name, spec, expected) in cases {
        let err = apply(&api, name, machine(name, spec))
            .await
            .expect_err(name);
        assert!(
            err.contains(expected),
            "{name}: expected {expected:?} in {err:?}"
        );
    }
}

#[tokio::test]
async fn machine_constraints_and_image_are_immutable() {
    let ns = env().await.namespace("mm-immutable").await.unwrap();
    let api = ns.api::<MaasMachine>();
    apply(&api, "m", machine("m", valid_machine_spec()))
        .await
        .unwrap();
    let changes: Vec<(Value, &str)> = vec![
        (
            with(valid_machine_spec(), "image", json!("ubuntu/noble")),
            "image is immutable",
        ),
        (
            with(valid_machine_spec(), "ephemeral", json!(true)),
            "ephemeral is immutable",
        ),
        (
            with(valid_machine_spec(), "minCPU", json!(4)),
            "minCPU is immutable",
        ),
        (
            with(valid_machine_spec(), "minMemory", json!(8192)),
            "minMemory is immutable",
        ),
        (
            without(valid_machine_spec(), "minDiskSize"),
            "minDiskSize is immutable",
        ),
        (
            with(valid_machine_spec(), "tags", json!(["k8s"])),
            "tags are immutable",
        ),
        (
            with(valid_machine_spec(), "notTags", json!(["gpu", "arm"])),
            "notTags are immutable",
        ),
        (
            with(valid_machine_spec(), "architecture", json!("arm64")),
            "architecture is immutable",
        ),
        (
            with(valid_machine_spec(), "resourcePool", json!("other")),
            "resourcePool is immutable",
        ),
        (
            with(valid_machine_spec(), "failureDomain", json!("az2")),
            "failureDomain is immutable",
        ),
        (
            with(valid_machine_spec(), "hweKernel", json!("ga-22.04")),
            "hweKernel is immutable",
        ),
    ];
    for (spec, expected) in changes {
        let err = apply(&api, "m", machine("m", spec))
            .await
            .expect_err(expected);
        assert!(err.contains(expected), "expected {expected:?} in {err:?}");
    }
    // release options stay mutable
    let updated = apply(
        &api,
        "m",
        machine(
            "m",
            with(valid_machine_spec(), "release", json!({"erase": "secure"})),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        updated.spec.release.unwrap().erase,
        Some(capi_types::EraseMode::Secure)
    );
}

#[tokio::test]
async fn system_id_and_provider_id_transitions() {
    let ns = env().await.namespace("mm-ids").await.unwrap();
    let api = ns.api::<MaasMachine>();
    let spec = || json!({"image": "jammy"});
    apply(&api, "m", machine("m", spec())).await.unwrap();
    // empty -> set (recorded by the controller)
    apply(
        &api,
        "m",
        machine("m", with(spec(), "systemID", json!("aaa111"))),
    )
    .await
    .unwrap();
    // set -> other: rejected
    let err = apply(
        &api,
        "m",
        machine("m", with(spec(), "systemID", json!("bbb222"))),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("systemID cannot be changed from one machine to another"),
        "{err}"
    );
    // set -> cleared (the controller forgets a released machine): allowed
    apply(&api, "m", machine("m", spec())).await.unwrap();
    // record another, then provision
    apply(
        &api,
        "m",
        machine("m", with(spec(), "systemID", json!("ccc333"))),
    )
    .await
    .unwrap();
    let provisioned =
        json!({"image": "jammy", "systemID": "ccc333", "providerID": "maas:///az1/ccc333"});
    apply(&api, "m", machine("m", provisioned.clone()))
        .await
        .unwrap();
    // once providerID is set, systemID is frozen and providerID cannot change or go
    let err = apply(
        &api,
        "m",
        machine("m", without(provisioned.clone(), "systemID")),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("systemID cannot change once providerID is set"),
        "{err}"
    );
    let err = apply(
        &api,
        "m",
        machine(
            "m",
            with(
                provisioned.clone(),
                "providerID",
                json!("maas:///az2/ccc333"),
            ),
        ),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("providerID cannot be changed or removed once set"),
        "{err}"
    );
    let err = apply(&api, "m", machine("m", without(provisioned, "providerID")))
        .await
        .unwrap_err();
    assert!(
        err.contains("providerID cannot be changed or removed once set"),
        "{err}"
    );
}

#[tokio::test]
async fn machine_status_is_writable_through_the_subresource() {
    let ns = env().await.namespace("mm-status").await.unwrap();
    let api = ns.api::<MaasMachine>();
    apply(&api, "m", machine("m", json!({"image": "jammy"})))
        .await
        .unwrap();
    let status = json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasMachine",
        "status": {"ready": true, "initialization": {"provisioned": true},
                   "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}, {"type": "Hostname", "address": "h1"}],
                   "machineState": "Deployed", "powerState": "on", "deployedInMemory": false,
                   "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "",
                                   "lastTransitionTime": "2026-01-02T03:04:05Z", "observedGeneration": 1}],
                   "lifecycle": {"recordedSystemID": "aaa111", "deployFailures": 1,
                                 "releasing": [{"systemID": "bbb222", "since": "2026-01-02T03:04:05Z"}]}}});
    let patched = api
        .patch_status(
            "m",
            &PatchParams::apply("admission-test").force(),
            &Patch::Apply(status),
        )
        .await
        .unwrap();
    let st = patched.status.unwrap();
    assert_eq!(st.initialization.unwrap().provisioned, Some(true));
    assert_eq!(st.addresses.len(), 2);
    assert_eq!(st.lifecycle.unwrap().releasing[0].system_id, "bbb222");
}

#[tokio::test]
async fn machine_templates_accept_changes_and_dry_runs() {
    let ns = env().await.namespace("mmt").await.unwrap();
    let api = ns.api::<MaasMachineTemplate>();
    let tpl = |spec: Value| {
        json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasMachineTemplate",
               "metadata": {"name": "t"}, "spec": {"template": {"metadata": {"labels": {"a": "b"}}, "spec": spec}}})
    };
    apply(&api, "t", tpl(valid_machine_spec())).await.unwrap();
    // Format rules still apply to templates.
    let err = apply(
        &api,
        "t",
        tpl(with(valid_machine_spec(), "minCPU", json!(0))),
    )
    .await
    .unwrap_err();
    assert!(err.contains("minCPU must be at least 1"), "{err}");
    // ClusterClass computes diffs with server-side-apply dry runs carrying changes: accepted.
    let changed = tpl(with(
        with(valid_machine_spec(), "image", json!("ubuntu/noble")),
        "minCPU",
        json!(8),
    ));
    let mut dry = PatchParams::apply("capi-topology").force();
    dry.dry_run = true;
    let preview = api
        .patch("t", &dry, &Patch::Apply(changed.clone()))
        .await
        .unwrap();
    assert_eq!(preview.spec.template.spec.image, "ubuntu/noble");
    // ...and real updates too (templates carry no immutability rules).
    let updated = apply(&api, "t", changed).await.unwrap();
    assert_eq!(updated.spec.template.spec.min_cpu, Some(8));
}

fn cluster(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasCluster",
           "metadata": {"name": name}, "spec": spec})
}

#[tokio::test]
async fn cluster_validation() {
    let ns = env().await.namespace("mc").await.unwrap();
    let api = ns.api::<MaasCluster>();
    let good = json!({"dnsDomain": "k8s.example.com", "failureDomains": ["az1", "az2"],
                      "credentialsRef": {"name": "maas-creds"}});
    apply(&api, "good", cluster("good", good.clone()))
        .await
        .unwrap();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "dns",
            with(good.clone(), "dnsDomain", json!("K8S.example")),
            "dnsDomain must be a lower-case DNS name",
        ),
        (
            "dns2",
            with(good.clone(), "dnsDomain", json!("a..b")),
            "dnsDomain must be a lower-case DNS name",
        ),
        (
            "nodns",
            without(good.clone(), "dnsDomain"),
            "spec.dnsDomain: Required value",
        ),
        (
            "port0",
            with(
                good.clone(),
                "controlPlaneEndpoint",
                json!({"host": "10.0.0.1", "port": 0}),
            ),
            "port must be between 1 and 65535",
        ),
        (
            "porthi",
            with(
                good.clone(),
                "controlPlaneEndpoint",
                json!({"host": "10.0.0.1", "port": 70000}),
            ),
            "port must be between 1 and 65535",
        ),
        (
            "fd",
            with(good.clone(), "failureDomains", json!(["az 1"])),
            "each failure domain must be a MAAS zone name",
        ),
        (
            "cred",
            with(
                good.clone(),
                "credentialsRef",
                json!({"name": "Maas_Creds"}),
            ),
            "credentialsRef.name must be the name of a Secret",
        ),
    ];
    for (name, spec, expected) in cases {
        let err = apply(&api, name, cluster(name, spec))
            .await
            .expect_err(name);
        assert!(
            err.contains(expected),
            "{name}: expected {expected:?} in {err:?}"
        );
    }
    // immutability on the live object
    let err = apply(
        &api,
        "good",
        cluster("good", with(good.clone(), "dnsDomain", json!("maas"))),
    )
    .await
    .unwrap_err();
    assert!(err.contains("dnsDomain is immutable"), "{err}");
    let endpoint = with(
        good.clone(),
        "controlPlaneEndpoint",
        json!({"host": "cp.k8s.example.com", "port": 6443}),
    );
    apply(&api, "good", cluster("good", endpoint.clone()))
        .await
        .unwrap();
    let err = apply(
        &api,
        "good",
        cluster(
            "good",
            with(
                good.clone(),
                "controlPlaneEndpoint",
                json!({"host": "x", "port": 6443}),
            ),
        ),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("controlPlaneEndpoint cannot be changed or removed once set"),
        "{err}"
    );
    // failure domains and credentials may change
    apply(
        &api,
        "good",
        cluster("good", with(endpoint, "failureDomains", json!(["az3"]))),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn cluster_templates_accept_changes() {
    let ns = env().await.namespace("mct").await.unwrap();
    let api = ns.api::<MaasClusterTemplate>();
    let tpl = |domain: &str| {
        json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasClusterTemplate",
               "metadata": {"name": "t"}, "spec": {"template": {"spec": {"dnsDomain": domain}}}})
    };
    apply(&api, "t", tpl("maas")).await.unwrap();
    let updated = apply(&api, "t", tpl("other.maas")).await.unwrap();
    assert_eq!(updated.spec.template.spec.dns_domain, "other.maas");
    let err = apply(&api, "t", tpl("Bad_Domain")).await.unwrap_err();
    assert!(
        err.contains("dnsDomain must be a lower-case DNS name"),
        "{err}"
    );
}

fn vm_machine_spec() -> Value {
    let mut spec = valid_machine_spec();
    spec["podType"] = json!("lxd");
    spec["notPods"] = json!(["old-host"]);
    spec["notPodTypes"] = json!(["virsh"]);
    spec["staticIP"] = json!({"address": "10.0.0.20", "subnet": "10.0.0.0/24"});
    spec
}

#[tokio::test]
async fn vm_placement_and_static_ip_are_validated() {
    let ns = env().await.namespace("mm-vm").await.unwrap();
    let api = ns.api::<MaasMachine>();
    let created = apply(&api, "vm", machine("vm", vm_machine_spec()))
        .await
        .unwrap();
    assert_eq!(created.spec.pod_type.as_deref(), Some("lxd"));
    let ip = created.spec.static_ip.clone().unwrap();
    assert_eq!(
        (ip.address.as_str(), ip.subnet.as_deref()),
        ("10.0.0.20", Some("10.0.0.0/24"))
    );
    for (name, ip) in [
        ("v6", json!({"address": "fd00::20"})),
        ("byid", json!({"address": "192.168.1.250", "subnet": "3"})),
        (
            "v6cidr",
            json!({"address": "fd00::21", "subnet": "fd00::/64"}),
        ),
    ] {
        let spec = with(valid_machine_spec(), "staticIP", ip);
        apply(&api, name, machine(name, spec)).await.unwrap();
    }
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "podtype",
            with(valid_machine_spec(), "podType", json!("kvm")),
            "podType must be lxd or virsh",
        ),
        (
            "notpodtype",
            with(valid_machine_spec(), "notPodTypes", json!(["vmware"])),
            "each notPodTypes entry must be lxd or virsh",
        ),
        (
            "podboth",
            with(
                with(valid_machine_spec(), "podType", json!("lxd")),
                "notPodTypes",
                json!(["lxd"]),
            ),
            "a VM host type cannot be in both podType and notPodTypes",
        ),
        (
            "podname",
            with(valid_machine_spec(), "pod", json!("a b")),
            "pod must be a MAAS VM host name",
        ),
        (
            "podsame",
            with(
                with(valid_machine_spec(), "pod", json!("h1")),
                "notPods",
                json!(["h1"]),
            ),
            "a VM host cannot be in both pod and notPods",
        ),
        (
            "ipbad",
            with(
                valid_machine_spec(),
                "staticIP",
                json!({"address": "10.0.0.256"}),
            ),
            "staticIP.address must be an IPv4 or IPv6 address",
        ),
        (
            "ipname",
            with(
                valid_machine_spec(),
                "staticIP",
                json!({"address": "host.maas"}),
            ),
            "staticIP.address must be an IPv4 or IPv6 address",
        ),
        (
            "subnetbad",
            with(
                valid_machine_spec(),
                "staticIP",
                json!({"address": "10.0.0.20", "subnet": "lan"}),
            ),
            "staticIP.subnet must be a MAAS subnet id",
        ),
        (
            "ipmissing",
            with(valid_machine_spec(), "staticIP", json!({"subnet": "3"})),
            "address",
        ),
    ];
    for (name, spec, expected) in cases {
        let err = apply(&api, name, machine(name, spec))
            .await
            .expect_err(name);
        assert!(
            err.contains(expected),
            "{name}: expected {expected:?} in {err:?}"
        );
    }
    // Immutable like the other constraints.
    let changes: Vec<(Value, &str)> = vec![
        (
            with(vm_machine_spec(), "podType", json!("virsh")),
            "podType is immutable",
        ),
        (
            without(vm_machine_spec(), "notPods"),
            "notPods is immutable",
        ),
        (
            with(vm_machine_spec(), "pod", json!("h2")),
            "pod is immutable",
        ),
        (
            with(vm_machine_spec(), "notPodTypes", json!([])),
            "notPodTypes is immutable",
        ),
        (
            with(
                vm_machine_spec(),
                "staticIP",
                json!({"address": "10.0.0.21", "subnet": "10.0.0.0/24"}),
            ),
            "staticIP is immutable",
        ),
        (
            without(vm_machine_spec(), "staticIP"),
            "staticIP is immutable",
        ),
    ];
    for (spec, expected) in changes {
        let err = apply(&api, "vm", machine("vm", spec))
            .await
            .expect_err(expected);
        assert!(err.contains(expected), "expected {expected:?} in {err:?}");
    }
}

#[tokio::test]
async fn templates_take_pod_constraints_but_not_a_static_ip() {
    let ns = env().await.namespace("mmt-vm").await.unwrap();
    let api = ns.api::<MaasMachineTemplate>();
    let tpl = |spec: Value| {
        json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasMachineTemplate",
               "metadata": {"name": "t"}, "spec": {"template": {"spec": spec}}})
    };
    let created = apply(
        &api,
        "t",
        tpl(with(valid_machine_spec(), "podType", json!("lxd"))),
    )
    .await
    .unwrap();
    assert_eq!(created.spec.template.spec.pod_type.as_deref(), Some("lxd"));
    let err = apply(&api, "t", tpl(vm_machine_spec())).await.unwrap_err();
    assert!(
        err.contains("staticIP cannot be set in a MaasMachineTemplate"),
        "{err}"
    );
}
