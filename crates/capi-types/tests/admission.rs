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
    assert!(err.contains("minCPU must be between 1 and 65536"), "{err}");
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

/// Which of our kinds a table case is.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// MaasMachine (`spec` is the case's value).
    Mm,
    /// MaasMachineTemplate (`spec.template.spec`).
    Mmt,
    /// MaasCluster.
    Mc,
    /// MaasClusterTemplate.
    Mct,
}

/// One object tried at admission: accepted (`None`) or refused with a
/// message containing the text.
struct Case {
    kind: Kind,
    what: &'static str,
    spec: Value,
    refused: Option<&'static str>,
}

fn ok(kind: Kind, what: &'static str, spec: Value) -> Case {
    Case {
        kind,
        what,
        spec,
        refused: None,
    }
}

fn bad(kind: Kind, what: &'static str, spec: Value, message: &'static str) -> Case {
    Case {
        kind,
        what,
        spec,
        refused: Some(message),
    }
}

async fn try_case(ns: &kube_testenv::TestNamespace, name: &str, case: &Case) -> Result<(), String> {
    let meta = json!({"name": name});
    let api_version = "infrastructure.cluster.x-k8s.io/v1beta1";
    match case.kind {
        Kind::Mm => apply(
            &ns.api::<MaasMachine>(),
            name,
            json!({"apiVersion": api_version, "kind": "MaasMachine", "metadata": meta, "spec": case.spec}),
        )
        .await
        .map(drop),
        Kind::Mmt => apply(
            &ns.api::<MaasMachineTemplate>(),
            name,
            json!({"apiVersion": api_version, "kind": "MaasMachineTemplate", "metadata": meta,
                   "spec": {"template": {"spec": case.spec}}}),
        )
        .await
        .map(drop),
        Kind::Mc => apply(
            &ns.api::<MaasCluster>(),
            name,
            json!({"apiVersion": api_version, "kind": "MaasCluster", "metadata": meta, "spec": case.spec}),
        )
        .await
        .map(drop),
        Kind::Mct => apply(
            &ns.api::<MaasClusterTemplate>(),
            name,
            json!({"apiVersion": api_version, "kind": "MaasClusterTemplate", "metadata": meta,
                   "spec": {"template": {"spec": case.spec}}}),
        )
        .await
        .map(drop),
    }
}

fn ip(address: &str, subnet: Option<&str>) -> Value {
    let spec = valid_machine_spec();
    match subnet {
        Some(s) => with(spec, "staticIP", json!({"address": address, "subnet": s})),
        None => with(spec, "staticIP", json!({"address": address})),
    }
}

fn machine_cases() -> Vec<Case> {
    use Kind::Mm;
    let base = valid_machine_spec;
    let s = |k: &str, v: Value| with(base(), k, v);
    let long = |n: usize| "a".repeat(n);
    vec![
        // --- accepted
        ok(Mm, "minimal", json!({"image": "jammy"})),
        ok(Mm, "full", base()),
        ok(
            Mm,
            "tags MAAS allows",
            s("tags", json!(["k8s_gpu-1", "UPPER", "0"])),
        ),
        ok(
            Mm,
            "zone with a space (MAAS allows)",
            s("failureDomain", json!("rack 1")),
        ),
        ok(
            Mm,
            "zone in Unicode (MAAS allows)",
            s("failureDomain", json!("zoneünï_2")),
        ),
        ok(
            Mm,
            "zone starting with _",
            s("failureDomain", json!("_z-1")),
        ),
        ok(Mm, "pool empty means any", s("resourcePool", json!(""))),
        ok(
            Mm,
            "pool with a space",
            s("resourcePool", json!("gpu pool")),
        ),
        ok(
            Mm,
            "VM host with a space and comma (MAAS allows)",
            s("pod", json!("vm host,1")),
        ),
        ok(
            Mm,
            "arch with subarch",
            s("architecture", json!("arm64/xgene-uboot")),
        ),
        ok(
            Mm,
            "arch with a dotted subarch",
            s("architecture", json!("amd64/hwe-22.04")),
        ),
        ok(
            Mm,
            "arch 31 chars",
            s("architecture", json!(format!("amd64/{}", long(25)))),
        ),
        ok(
            Mm,
            "kernel flavour",
            s("hweKernel", json!("hwe-22.04-lowlatency")),
        ),
        ok(
            Mm,
            "kernel 31 chars",
            s("hweKernel", json!(format!("hwe-{}", long(27)))),
        ),
        ok(Mm, "pinned", s("systemID", json!("4y3h8a"))),
        ok(
            Mm,
            "legacy node-uuid system ID (41 chars)",
            s(
                "systemID",
                json!("node-0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"),
            ),
        ),
        ok(
            Mm,
            "clusterctl move copies providerID with systemID",
            with(
                s("systemID", json!("4y3h8a")),
                "providerID",
                json!("maas:///az1/4y3h8a"),
            ),
        ),
        ok(
            Mm,
            "providerID without zone",
            with(
                s("systemID", json!("4y3h8a")),
                "providerID",
                json!("maas://4y3h8a"),
            ),
        ),
        ok(Mm, "largest minCPU", s("minCPU", json!(65536))),
        ok(
            Mm,
            "largest minMemory",
            s("minMemory", json!(4_294_967_296_i64)),
        ),
        ok(
            Mm,
            "largest minDiskSize",
            s("minDiskSize", json!(1_000_000)),
        ),
        ok(Mm, "custom image", s("image", json!("custom/k8s-1.33_v2"))),
        ok(Mm, "IPv4 host in /24", ip("10.0.0.20", Some("10.0.0.0/24"))),
        ok(Mm, "IPv4 without subnet", ip("10.0.0.20", None)),
        ok(Mm, "IPv4 with subnet id", ip("192.168.1.250", Some("3"))),
        ok(
            Mm,
            "x.x.x.255 inside a /23",
            ip("10.0.0.255", Some("10.0.0.0/23")),
        ),
        ok(
            Mm,
            "x.x.x.0 inside a /23",
            ip("10.0.1.0", Some("10.0.0.0/23")),
        ),
        ok(
            Mm,
            "both addresses of a /31",
            ip("10.0.0.0", Some("10.0.0.0/31")),
        ),
        ok(
            Mm,
            "the address of a /32",
            ip("10.0.0.7", Some("10.0.0.7/32")),
        ),
        ok(
            Mm,
            "subnet written with host bits",
            ip("10.0.0.20", Some("10.0.0.1/24")),
        ),
        ok(Mm, "IPv6 host", ip("fd00::20", Some("fd00::/64"))),
        ok(Mm, "IPv6 without subnet", ip("2001:db8:0:1::20", None)),
        ok(
            Mm,
            "IPv6 full form",
            ip("fd00:0:0:0:0:0:0:21", Some("FD00::/64")),
        ),
        ok(Mm, "IPv4-mapped IPv6", ip("::ffff:10.0.0.20", None)),
        // --- refused
        bad(
            Mm,
            "tag with a dot",
            s("tags", json!(["a.b"])),
            "each tag must be a MAAS tag name",
        ),
        bad(
            Mm,
            "tag with a space",
            s("tags", json!(["a b"])),
            "each tag must be a MAAS tag name",
        ),
        bad(
            Mm,
            "tag with a comma",
            s("tags", json!(["a,b"])),
            "each tag must be a MAAS tag name",
        ),
        bad(
            Mm,
            "tag in Unicode",
            s("tags", json!(["ü"])),
            "each tag must be a MAAS tag name",
        ),
        bad(
            Mm,
            "tag empty",
            s("tags", json!([""])),
            "should be at least 1 chars long",
        ),
        bad(
            Mm,
            "tag twice",
            s("tags", json!(["a", "a"])),
            "duplicate entries",
        ),
        bad(
            Mm,
            "tag 257 chars",
            s("tags", json!([long(257)])),
            "may not be more than 256",
        ),
        bad(
            Mm,
            "33 tags",
            s(
                "tags",
                json!((0..33).map(|i| format!("t{i}")).collect::<Vec<_>>()),
            ),
            "must have at most 32 items",
        ),
        bad(
            Mm,
            "notTag with a space",
            s("notTags", json!(["x y"])),
            "each notTags entry must be a MAAS tag name",
        ),
        bad(
            Mm,
            "notTag with a slash",
            s("notTags", json!(["x/y"])),
            "each notTags entry must be a MAAS tag name",
        ),
        bad(
            Mm,
            "tag in tags and notTags",
            s("notTags", json!(["ssd"])),
            "a tag cannot be in both tags and notTags",
        ),
        bad(
            Mm,
            "zone with a leading space",
            s("failureDomain", json!(" az1")),
            "failureDomain must be a MAAS zone name",
        ),
        bad(
            Mm,
            "zone with a trailing space",
            s("failureDomain", json!("az1 ")),
            "failureDomain must be a MAAS zone name",
        ),
        bad(
            Mm,
            "zone with a dot",
            s("failureDomain", json!("az.1")),
            "failureDomain must be a MAAS zone name",
        ),
        bad(
            Mm,
            "zone with a slash",
            s("failureDomain", json!("az/1")),
            "failureDomain must be a MAAS zone name",
        ),
        bad(
            Mm,
            "zone starting with -",
            s("failureDomain", json!("-az")),
            "failureDomain must be a MAAS zone name",
        ),
        bad(
            Mm,
            "zone with a tab",
            s("failureDomain", json!("a\tz")),
            "failureDomain must be a MAAS zone name",
        ),
        bad(
            Mm,
            "zone empty",
            s("failureDomain", json!("")),
            "should be at least 1 chars long",
        ),
        bad(
            Mm,
            "pool with a dot",
            s("resourcePool", json!("pool.a")),
            "resourcePool must be empty (any pool) or a MAAS resource pool name",
        ),
        bad(
            Mm,
            "pool with a leading space",
            s("resourcePool", json!(" pool")),
            "resourcePool must be empty",
        ),
        bad(
            Mm,
            "pool with a comma",
            s("resourcePool", json!("a,b")),
            "resourcePool must be empty",
        ),
        bad(
            Mm,
            "VM host with a leading space",
            s("pod", json!(" h1")),
            "pod must be a MAAS VM host name",
        ),
        bad(
            Mm,
            "VM host with a trailing space",
            s("pod", json!("h1 ")),
            "pod must be a MAAS VM host name",
        ),
        bad(
            Mm,
            "VM host 256 chars",
            s("pod", json!(long(256))),
            "may not be more than 255",
        ),
        bad(
            Mm,
            "notPods with a trailing space",
            s("notPods", json!(["h1 "])),
            "each notPods entry must be a MAAS VM host name",
        ),
        bad(
            Mm,
            "pod and notPods",
            with(s("pod", json!("h1")), "notPods", json!(["h1"])),
            "a VM host cannot be in both pod and notPods",
        ),
        bad(
            Mm,
            "podType kvm",
            s("podType", json!("kvm")),
            "podType must be lxd or virsh",
        ),
        bad(
            Mm,
            "notPodTypes vmware",
            s("notPodTypes", json!(["vmware"])),
            "each notPodTypes entry must be lxd or virsh",
        ),
        bad(
            Mm,
            "podType in notPodTypes",
            with(s("podType", json!("lxd")), "notPodTypes", json!(["lxd"])),
            "a VM host type cannot be in both podType and notPodTypes",
        ),
        bad(
            Mm,
            "arch upper-case",
            s("architecture", json!("AMD64")),
            "architecture must look like amd64",
        ),
        bad(
            Mm,
            "arch with a space",
            s("architecture", json!("amd 64")),
            "architecture must look like amd64",
        ),
        bad(
            Mm,
            "arch with empty subarch",
            s("architecture", json!("amd64/")),
            "architecture must look like amd64",
        ),
        bad(
            Mm,
            "arch 32 chars",
            s("architecture", json!(format!("amd64/{}", long(26)))),
            "may not be more than 31",
        ),
        bad(
            Mm,
            "image upper-case osystem",
            s("image", json!("Ubuntu/jammy")),
            "image must be <series>",
        ),
        bad(
            Mm,
            "image with two slashes",
            s("image", json!("a/b/c")),
            "image must be <series>",
        ),
        bad(
            Mm,
            "image with a space",
            s("image", json!("ubuntu/ jammy")),
            "image must be <series>",
        ),
        bad(
            Mm,
            "image with a !",
            s("image", json!("jammy!")),
            "image must be <series>",
        ),
        bad(
            Mm,
            "image empty",
            s("image", json!("")),
            "should be at least 1 chars long",
        ),
        bad(
            Mm,
            "image missing",
            without(base(), "image"),
            "spec.image: Required value",
        ),
        bad(
            Mm,
            "kernel with a space",
            s("hweKernel", json!("HWE 22")),
            "hweKernel must be a MAAS kernel name",
        ),
        bad(
            Mm,
            "kernel with a trailing space",
            s("hweKernel", json!("hwe-22.04 ")),
            "hweKernel must be a MAAS kernel name",
        ),
        bad(
            Mm,
            "kernel 32 chars",
            s("hweKernel", json!(format!("hwe-{}", long(28)))),
            "may not be more than 31",
        ),
        bad(
            Mm,
            "system ID upper-case",
            s("systemID", json!("ABC-1")),
            "systemID must be a MAAS system ID",
        ),
        bad(
            Mm,
            "system ID with _",
            s("systemID", json!("abc_1")),
            "systemID must be a MAAS system ID",
        ),
        bad(
            Mm,
            "system ID starting with -",
            s("systemID", json!("-abc")),
            "systemID must be a MAAS system ID",
        ),
        bad(
            Mm,
            "system ID 42 chars",
            s("systemID", json!(long(42))),
            "may not be more than 41",
        ),
        bad(
            Mm,
            "providerID of another provider",
            with(
                s("systemID", json!("4y3h8a")),
                "providerID",
                json!("aws:///x/4y3h8a"),
            ),
            "providerID is set by the controller, in the form maas:///<zone>/<system-id>",
        ),
        bad(
            Mm,
            "providerID without systemID",
            s("providerID", json!("maas:///az1/4y3h8a")),
            "providerID cannot be set without systemID: remove spec.providerID",
        ),
        bad(
            Mm,
            "providerID naming another machine",
            with(
                s("systemID", json!("4y3h8a")),
                "providerID",
                json!("maas:///az1/bbb222"),
            ),
            "providerID must end with /<systemID>",
        ),
        bad(
            Mm,
            "minCPU 0",
            s("minCPU", json!(0)),
            "minCPU must be between 1 and 65536",
        ),
        bad(
            Mm,
            "minCPU negative",
            s("minCPU", json!(-1)),
            "minCPU must be between 1 and 65536",
        ),
        bad(
            Mm,
            "minCPU 65537",
            s("minCPU", json!(65537)),
            "minCPU must be between 1 and 65536",
        ),
        bad(
            Mm,
            "minMemory 512",
            s("minMemory", json!(512)),
            "minMemory is in MiB and must be between 1024",
        ),
        bad(
            Mm,
            "minMemory 2^62",
            s("minMemory", json!(1_i64 << 62)),
            "minMemory is in MiB and must be between 1024",
        ),
        bad(
            Mm,
            "minDiskSize 0",
            s("minDiskSize", json!(0)),
            "minDiskSize is in GB and must be between 1 and 1000000",
        ),
        bad(
            Mm,
            "minDiskSize 10^6+1",
            s("minDiskSize", json!(1_000_001)),
            "minDiskSize is in GB and must be between 1 and 1000000",
        ),
        bad(
            Mm,
            "erase shred",
            s("release", json!({"erase": "shred"})),
            "supported values: \"none\", \"quick\", \"secure\"",
        ),
        bad(
            Mm,
            "IP :::::",
            ip(":::::", None),
            "staticIP.address must be an IPv4 or IPv6 address",
        ),
        bad(
            Mm,
            "IP :::",
            ip(":::", None),
            "staticIP.address must be an IPv4 or IPv6 address",
        ),
        bad(
            Mm,
            "IP octet 256",
            ip("10.0.0.256", None),
            "staticIP.address must be an IPv4 or IPv6 address",
        ),
        bad(
            Mm,
            "IP three octets",
            ip("10.0.0", None),
            "staticIP.address must be an IPv4 or IPv6 address",
        ),
        bad(
            Mm,
            "IP leading zero",
            ip("10.0.0.020", None),
            "staticIP.address must be an IPv4 or IPv6 address",
        ),
        bad(
            Mm,
            "IP a host name",
            ip("host.maas", None),
            "staticIP.address must be an IPv4 or IPv6 address",
        ),
        bad(
            Mm,
            "IP with a zone index",
            ip("fe80::1%eth0", None),
            "staticIP.address must be an IPv4 or IPv6 address",
        ),
        bad(
            Mm,
            "IP with a prefix",
            ip("10.0.0.20/24", None),
            "staticIP.address must be an IPv4 or IPv6 address",
        ),
        bad(
            Mm,
            "IP 0.0.0.0",
            ip("0.0.0.0", None),
            "staticIP.address must be a unicast host address",
        ),
        bad(
            Mm,
            "IP loopback",
            ip("127.0.0.1", None),
            "staticIP.address must be a unicast host address",
        ),
        bad(
            Mm,
            "IP multicast",
            ip("224.0.0.1", None),
            "staticIP.address must be a unicast host address",
        ),
        bad(
            Mm,
            "IP limited broadcast",
            ip("255.255.255.255", None),
            "staticIP.address must be a unicast host address",
        ),
        bad(
            Mm,
            "IP ::",
            ip("::", None),
            "staticIP.address must be a unicast host address",
        ),
        bad(
            Mm,
            "IP ::1",
            ip("::1", None),
            "staticIP.address must be a unicast host address",
        ),
        bad(
            Mm,
            "IP ff02::1",
            ip("ff02::1", None),
            "staticIP.address must be a unicast host address",
        ),
        bad(
            Mm,
            "IP network address of its /24",
            ip("10.0.0.0", Some("10.0.0.0/24")),
            "staticIP.address is the network address of staticIP.subnet",
        ),
        bad(
            Mm,
            "IP broadcast address of its /24",
            ip("10.0.0.255", Some("10.0.0.0/24")),
            "staticIP.address is the broadcast address of staticIP.subnet",
        ),
        bad(
            Mm,
            "IP network address of its /23",
            ip("10.0.0.0", Some("10.0.0.0/23")),
            "staticIP.address is the network address of staticIP.subnet",
        ),
        bad(
            Mm,
            "IP broadcast address of its /23",
            ip("10.0.1.255", Some("10.0.0.0/23")),
            "staticIP.address is the broadcast address of staticIP.subnet",
        ),
        bad(
            Mm,
            "IP broadcast address of a /30",
            ip("192.168.7.3", Some("192.168.7.0/30")),
            "staticIP.address is the broadcast address of staticIP.subnet",
        ),
        bad(
            Mm,
            "IP outside its subnet",
            ip("10.1.0.5", Some("10.0.0.0/24")),
            "staticIP.address must be inside staticIP.subnet",
        ),
        bad(
            Mm,
            "IP outside a /8",
            ip("11.0.0.5", Some("10.0.0.0/8")),
            "staticIP.address must be inside staticIP.subnet",
        ),
        bad(
            Mm,
            "IP network address of an IPv6 subnet",
            ip("fd00::", Some("fd00::/64")),
            "staticIP.address is the network address of staticIP.subnet",
        ),
        bad(
            Mm,
            "IPv6 address, IPv4 subnet",
            ip("fd00::20", Some("10.0.0.0/24")),
            "staticIP.address and staticIP.subnet must be of the same IP family",
        ),
        bad(
            Mm,
            "IPv4 address, IPv6 subnet",
            ip("10.0.0.20", Some("fd00::/64")),
            "staticIP.address and staticIP.subnet must be of the same IP family",
        ),
        bad(
            Mm,
            "subnet a name",
            ip("10.0.0.20", Some("lan")),
            "staticIP.subnet must be a MAAS subnet id",
        ),
        bad(
            Mm,
            "subnet /33",
            ip("10.0.0.20", Some("10.0.0.0/33")),
            "staticIP.subnet must be a MAAS subnet id",
        ),
        bad(
            Mm,
            "subnet octet 999",
            ip("10.0.0.20", Some("999.0.0.0/8")),
            "staticIP.subnet must be a MAAS subnet id",
        ),
        bad(
            Mm,
            "subnet /129",
            ip("fd00::20", Some("fd00::/129")),
            "staticIP.subnet must be a MAAS subnet id",
        ),
        bad(
            Mm,
            "subnet without prefix length",
            ip("10.0.0.20", Some("10.0.0.0/")),
            "staticIP.subnet must be a MAAS subnet id",
        ),
        bad(
            Mm,
            "subnet ::::/64",
            ip("fd00::20", Some(":::::/64")),
            "staticIP.subnet must be a MAAS subnet id",
        ),
        bad(
            Mm,
            "static IP without address",
            s("staticIP", json!({"subnet": "3"})),
            "address",
        ),
    ]
}

fn template_cases() -> Vec<Case> {
    use Kind::Mmt;
    let s = |k: &str, v: Value| with(valid_machine_spec(), k, v);
    vec![
        ok(Mmt, "template", valid_machine_spec()),
        ok(
            Mmt,
            "template with a VM host type",
            s("podType", json!("lxd")),
        ),
        bad(
            Mmt,
            "template pinning a machine",
            s("systemID", json!("4y3h8a")),
            "systemID cannot be set in a MaasMachineTemplate",
        ),
        bad(
            Mmt,
            "template with a providerID",
            s("providerID", json!("maas:///az1/4y3h8a")),
            "providerID cannot be set in a MaasMachineTemplate",
        ),
        bad(
            Mmt,
            "template with a static IP",
            s("staticIP", json!({"address": "10.0.0.20"})),
            "staticIP cannot be set in a MaasMachineTemplate",
        ),
        bad(
            Mmt,
            "template tag with a dot",
            s("tags", json!(["a.b"])),
            "each tag must be a MAAS tag name",
        ),
        bad(
            Mmt,
            "template zone with a trailing space",
            s("failureDomain", json!("az1 ")),
            "failureDomain must be a MAAS zone name",
        ),
        bad(
            Mmt,
            "template minCPU 0",
            s("minCPU", json!(0)),
            "minCPU must be between 1 and 65536",
        ),
    ]
}

fn cluster_cases() -> Vec<Case> {
    use Kind::{Mc, Mct};
    let base = || {
        json!({"dnsDomain": "k8s.example.com", "failureDomains": ["az1", "az2"],
                         "credentialsRef": {"name": "maas-creds"}})
    };
    let s = |k: &str, v: Value| with(base(), k, v);
    let host = |h: &str| s("controlPlaneEndpoint", json!({"host": h, "port": 6443}));
    let label63 = "a".repeat(63);
    let domain = |n: usize| {
        // n characters of 9-character labels (the last may be shorter)
        let mut d = String::new();
        while d.len() < n {
            if !d.is_empty() {
                d.push('.');
            }
            let take = (n - d.len()).min(9);
            d.push_str(&"b".repeat(take));
        }
        d
    };
    vec![
        ok(Mc, "cluster", base()),
        ok(Mc, "dnsDomain maas", s("dnsDomain", json!("maas"))),
        ok(
            Mc,
            "dnsDomain with a 63-character label",
            s("dnsDomain", json!(format!("{label63}.maas"))),
        ),
        ok(
            Mc,
            "dnsDomain of 189 characters",
            s("dnsDomain", json!(domain(189))),
        ),
        ok(
            Mc,
            "dnsDomain with digits",
            s("dnsDomain", json!("k8s-1.0maas.example")),
        ),
        ok(Mc, "endpoint a DNS name", host("cp.k8s.example.com")),
        ok(Mc, "endpoint in capitals", host("CP.Example.COM")),
        ok(Mc, "endpoint one label", host("localhost")),
        ok(Mc, "endpoint IPv4", host("10.0.0.10")),
        ok(Mc, "endpoint IPv6", host("fd00::10")),
        ok(Mc, "endpoint digit-led labels", host("1a.2b.example")),
        ok(
            Mc,
            "zone with a space",
            s("failureDomains", json!(["rack 1", "az1"])),
        ),
        ok(
            Mc,
            "credentials with dots",
            s("credentialsRef", json!({"name": "maas.creds-1"})),
        ),
        bad(
            Mc,
            "dnsDomain with a 64-character label",
            s("dnsDomain", json!(format!("{label63}a.maas"))),
            "dnsDomain must be a lower-case DNS name",
        ),
        bad(
            Mc,
            "dnsDomain upper-case",
            s("dnsDomain", json!("K8S.example")),
            "dnsDomain must be a lower-case DNS name",
        ),
        bad(
            Mc,
            "dnsDomain empty label",
            s("dnsDomain", json!("a..b")),
            "dnsDomain must be a lower-case DNS name",
        ),
        bad(
            Mc,
            "dnsDomain label starting with -",
            s("dnsDomain", json!("-a.maas")),
            "dnsDomain must be a lower-case DNS name",
        ),
        bad(
            Mc,
            "dnsDomain label ending with -",
            s("dnsDomain", json!("a-.maas")),
            "dnsDomain must be a lower-case DNS name",
        ),
        bad(
            Mc,
            "dnsDomain trailing dot",
            s("dnsDomain", json!("maas.")),
            "dnsDomain must be a lower-case DNS name",
        ),
        bad(
            Mc,
            "dnsDomain with _",
            s("dnsDomain", json!("a_b.maas")),
            "dnsDomain must be a lower-case DNS name",
        ),
        bad(
            Mc,
            "dnsDomain with a space",
            s("dnsDomain", json!("a b")),
            "dnsDomain must be a lower-case DNS name",
        ),
        bad(
            Mc,
            "dnsDomain of 190 characters",
            s("dnsDomain", json!(domain(190))),
            "dnsDomain must be at most 189 characters",
        ),
        bad(
            Mc,
            "dnsDomain empty",
            s("dnsDomain", json!("")),
            "should be at least 1 chars long",
        ),
        bad(
            Mc,
            "dnsDomain missing",
            without(base(), "dnsDomain"),
            "spec.dnsDomain: Required value",
        ),
        bad(
            Mc,
            "endpoint not a host!",
            host("not a host!"),
            "controlPlaneEndpoint.host must be a DNS name",
        ),
        bad(
            Mc,
            "endpoint octet 256",
            host("10.0.0.256"),
            "controlPlaneEndpoint.host must be a DNS name",
        ),
        bad(
            Mc,
            "endpoint three octets",
            host("10.0.1"),
            "controlPlaneEndpoint.host must be a DNS name",
        ),
        bad(
            Mc,
            "endpoint all-numeric last label",
            host("cp.123"),
            "controlPlaneEndpoint.host must be a DNS name",
        ),
        bad(
            Mc,
            "endpoint :::::",
            host(":::::"),
            "controlPlaneEndpoint.host must be a DNS name",
        ),
        bad(
            Mc,
            "endpoint empty label",
            host("cp..example"),
            "controlPlaneEndpoint.host must be a DNS name",
        ),
        bad(
            Mc,
            "endpoint with _",
            host("cp_1.example"),
            "controlPlaneEndpoint.host must be a DNS name",
        ),
        bad(
            Mc,
            "endpoint with a port",
            host("cp.example:6443"),
            "controlPlaneEndpoint.host must be a DNS name",
        ),
        bad(
            Mc,
            "endpoint a URL",
            host("https://cp.example"),
            "controlPlaneEndpoint.host must be a DNS name",
        ),
        bad(
            Mc,
            "endpoint IPv6 in brackets",
            host("[fd00::10]"),
            "controlPlaneEndpoint.host must be a DNS name",
        ),
        bad(
            Mc,
            "endpoint 64-character label",
            host(&format!("{label63}a.example")),
            "controlPlaneEndpoint.host must be a DNS name",
        ),
        bad(
            Mc,
            "endpoint of 254 characters",
            host(&domain(254)),
            "controlPlaneEndpoint.host must be a DNS name",
        ),
        bad(
            Mc,
            "endpoint empty",
            host(""),
            "should be at least 1 chars long",
        ),
        bad(
            Mc,
            "endpoint port 0",
            s(
                "controlPlaneEndpoint",
                json!({"host": "10.0.0.1", "port": 0}),
            ),
            "controlPlaneEndpoint.port must be between 1 and 65535",
        ),
        bad(
            Mc,
            "endpoint port 70000",
            s(
                "controlPlaneEndpoint",
                json!({"host": "10.0.0.1", "port": 70000}),
            ),
            "controlPlaneEndpoint.port must be between 1 and 65535",
        ),
        bad(
            Mc,
            "zone with a dot",
            s("failureDomains", json!(["az.1"])),
            "each failure domain must be a MAAS zone name",
        ),
        bad(
            Mc,
            "zone with a trailing space",
            s("failureDomains", json!(["az1 "])),
            "each failure domain must be a MAAS zone name",
        ),
        bad(
            Mc,
            "zone twice",
            s("failureDomains", json!(["az1", "az1"])),
            "duplicate entries",
        ),
        bad(
            Mc,
            "credentials name with _",
            s("credentialsRef", json!({"name": "Maas_Creds"})),
            "credentialsRef.name must be the name of a Secret",
        ),
        bad(
            Mc,
            "credentials name with ..",
            s("credentialsRef", json!({"name": "a..b"})),
            "credentialsRef.name must be the name of a Secret",
        ),
        ok(Mct, "cluster template", base()),
        bad(
            Mct,
            "template dnsDomain with a 64-character label",
            s("dnsDomain", json!(format!("{label63}a"))),
            "dnsDomain must be a lower-case DNS name",
        ),
        bad(
            Mct,
            "template endpoint not a host",
            host("not a host!"),
            "controlPlaneEndpoint.host must be a DNS name",
        ),
    ]
}

/// `e` is the apiserver's refusal `m`. A string over its `maxLength` is the
/// apiserver's own text, whose words changed: "may not be more than N bytes"
/// on Kubernetes 1.33 and 1.36, "may not be longer than N" on 1.29 and 1.31.
fn says(e: &str, m: &str) -> bool {
    e.contains(m)
        || m.strip_prefix("may not be more than ")
            .is_some_and(|n| e.contains(&format!("may not be longer than {n}")))
}

/// Good and bad objects of every kind, each tried on its own: the good ones
/// are accepted, the bad ones refused with the message that says what to fix.
#[tokio::test]
async fn admission_table() {
    let ns = env().await.namespace("table").await.unwrap();
    let cases: Vec<Case> = machine_cases()
        .into_iter()
        .chain(template_cases())
        .chain(cluster_cases())
        .collect();
    assert!(cases.len() >= 119, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let name = format!("c{i}");
        match (try_case(&ns, &name, case).await, case.refused) {
            (Ok(()), None) => {}
            (Err(e), Some(m)) if says(&e, m) => {}
            (Ok(()), Some(m)) => failures.push(format!(
                "{:?} {}: accepted, expected {m:?}",
                case.kind, case.what
            )),
            (Err(e), None) => failures.push(format!("{:?} {}: refused: {e}", case.kind, case.what)),
            (Err(e), Some(m)) => failures.push(format!(
                "{:?} {}: expected {m:?} in {e:?}",
                case.kind, case.what
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
