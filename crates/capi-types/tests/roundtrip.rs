//! Sample objects survive serialization; the CAPI shims read real v1beta2 objects.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use capi_types::capi::{Cluster, Machine};
use capi_types::*;
use proptest::prelude::*;
use serde_json::{Value, json};

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(v: &Value) -> Value {
    let typed: T = serde_json::from_value(v.clone()).unwrap();
    serde_json::to_value(&typed).unwrap()
}

#[test]
fn maas_machine_round_trips_with_capi_json_names() {
    let obj = json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasMachine",
        "metadata": {"name": "w-0", "namespace": "default", "labels": {"cluster.x-k8s.io/cluster-name": "c1"}},
        "spec": {"providerID": "maas:///az1/4y3h8a", "systemID": "4y3h8a", "failureDomain": "az1",
                 "resourcePool": "", "minCPU": 4, "minMemory": 8192, "minDiskSize": 100,
                 "tags": ["k8s"], "notTags": ["gpu"], "architecture": "amd64/generic",
                 "image": "ubuntu/jammy", "hweKernel": "hwe-22.04", "ephemeral": true,
                 "release": {"erase": "secure"}},
        "status": {"initialization": {"provisioned": true}, "ready": true,
                   "addresses": [{"type": "Hostname", "address": "w-0"}, {"type": "InternalIP", "address": "10.0.0.2"},
                                 {"type": "ExternalIP", "address": "203.0.114.2"}, {"type": "InternalDNS", "address": "w-0.maas"}],
                   "failureDomain": "az1", "machineState": "Deployed", "powerState": "on", "hostname": "w-0",
                   "deployedInMemory": true,
                   "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "",
                                   "lastTransitionTime": "2026-03-01T10:11:12Z", "observedGeneration": 2}],
                   "lifecycle": {"recordedSystemID": "4y3h8a", "deployFailures": 1, "avoidSystemIDs": ["aaaaaa"],
                                 "releasing": [{"systemID": "aaaaaa", "since": "2026-03-01T10:00:00Z"}],
                                 "failure": {"reason": "DeployFailed", "message": "x"}}}
    });
    assert_eq!(round_trip::<MaasMachine>(&obj), obj);
    let mm: MaasMachine = serde_json::from_value(obj).unwrap();
    assert_eq!(mm.spec.provider_id.as_deref(), Some("maas:///az1/4y3h8a"));
    assert_eq!(mm.spec.min_cpu, Some(4));
    assert_eq!(mm.spec.release.unwrap().erase, Some(EraseMode::Secure));
    let st = mm.status.unwrap();
    assert_eq!(st.addresses[2].type_, MachineAddressType::ExternalIp);
    assert_eq!(st.lifecycle.unwrap().releasing[0].system_id, "aaaaaa");
}

#[test]
fn minimal_objects_serialize_minimally() {
    let mm = MaasMachine::new(
        "m",
        MaasMachineSpec {
            image: "jammy".into(),
            ..MaasMachineSpec::default()
        },
    );
    let v = serde_json::to_value(&mm).unwrap();
    assert_eq!(v["spec"], json!({"image": "jammy", "ephemeral": false}));
    assert_eq!(v["apiVersion"], "infrastructure.cluster.x-k8s.io/v1beta1");
    let st = serde_json::to_value(MaasMachineStatus::default()).unwrap();
    assert_eq!(
        st,
        json!({"ready": false}),
        "empty fields are omitted, so SSA patches stay small"
    );
}

#[test]
fn maas_cluster_and_templates_round_trip() {
    let cluster = json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasCluster",
        "metadata": {"name": "c1"},
        "spec": {"dnsDomain": "maas", "controlPlaneEndpoint": {"host": "c1.maas", "port": 6443},
                 "failureDomains": ["az1"], "credentialsRef": {"name": "creds"}},
        "status": {"initialization": {"provisioned": true}, "ready": true,
                   "failureDomains": [{"name": "az1", "controlPlane": true, "attributes": {"pool": "p"}}],
                   "network": {"dnsName": "c1.maas"}}
    });
    assert_eq!(round_trip::<MaasCluster>(&cluster), cluster);
    let mmt = json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasMachineTemplate",
        "metadata": {"name": "t"},
        "spec": {"template": {"metadata": {"labels": {"a": "b"}}, "spec": {"image": "jammy", "ephemeral": false, "minCPU": 2}}},
        "status": {"capacity": {"cpu": "2", "memory": "4096Mi"}, "nodeInfo": {"architecture": "arm64", "operatingSystem": "linux"}}
    });
    assert_eq!(round_trip::<MaasMachineTemplate>(&mmt), mmt);
    let mct = json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "MaasClusterTemplate",
        "metadata": {"name": "t"}, "spec": {"template": {"spec": {"dnsDomain": "maas"}}}
    });
    assert_eq!(round_trip::<MaasClusterTemplate>(&mct), mct);
}

#[test]
fn template_status_is_derived_from_constraints() {
    let spec = MaasMachineSpec {
        image: "jammy".into(),
        min_cpu: Some(8),
        min_memory: Some(16384),
        architecture: Some("arm64/generic".into()),
        ..MaasMachineSpec::default()
    };
    let st = MaasMachineTemplateStatus::from_spec(&spec);
    assert_eq!(st.capacity["cpu"].0, "8");
    assert_eq!(st.capacity["memory"].0, "16384Mi");
    let info = st.node_info.unwrap();
    assert_eq!(info.architecture, Some(NodeArchitecture::Arm64));
    assert_eq!(info.operating_system, Some(NodeOperatingSystem::Linux));
    let requested = MaasMachineTemplateStatus::from_spec_requesting(&spec, Some(32768));
    assert_eq!(requested.capacity["memory"].0, "32768Mi");
    assert_eq!(requested.capacity["cpu"].0, "8");
    let bare = MaasMachineTemplateStatus::from_spec(&MaasMachineSpec {
        image: "jammy".into(),
        ..Default::default()
    });
    assert!(bare.capacity.is_empty());
    assert_eq!(
        bare.node_info.unwrap().architecture,
        Some(NodeArchitecture::Amd64)
    );
    let odd = MaasMachineSpec {
        architecture: Some("riscv64".into()),
        ..Default::default()
    };
    assert_eq!(
        MaasMachineTemplateStatus::from_spec(&odd)
            .node_info
            .unwrap()
            .architecture,
        None
    );
}

#[test]
fn capi_machine_shim_reads_a_v1beta2_machine_and_ignores_the_rest() {
    let m: Machine = serde_json::from_value(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Machine",
        "metadata": {"name": "w-0", "namespace": "default", "labels": {"cluster.x-k8s.io/control-plane": ""}},
        "spec": {"clusterName": "c1",
                 "bootstrap": {"configRef": {"apiGroup": "bootstrap.cluster.x-k8s.io", "kind": "KubeadmConfig", "name": "w-0"},
                               "dataSecretName": "w-0-bootstrap"},
                 "infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "MaasMachine", "name": "w-0"},
                 "failureDomain": "az1", "providerID": "maas:///az1/4y3h8a", "version": "v1.33.1",
                 "readinessGates": [{"conditionType": "X"}], "deletion": {"nodeDrainTimeoutSeconds": 10}},
        "status": {"initialization": {"infrastructureProvisioned": true, "bootstrapDataSecretCreated": true},
                   "nodeRef": {"name": "w-0"}, "phase": "Running", "unknownField": {"a": 1},
                   "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "",
                                   "lastTransitionTime": "2026-03-01T10:11:12Z"}]}
    }))
    .unwrap();
    assert_eq!(m.bootstrap_data_secret(), Some("w-0-bootstrap"));
    assert!(m.is_control_plane());
    assert_eq!(
        m.spec.infrastructure_ref.as_ref().unwrap().kind,
        "MaasMachine"
    );
    assert_eq!(m.spec.provider_id.as_deref(), Some("maas:///az1/4y3h8a"));
    assert_eq!(
        m.status.as_ref().unwrap().node_ref.as_ref().unwrap().name,
        "w-0"
    );

    let waiting: Machine = serde_json::from_value(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Machine", "metadata": {"name": "w-1"},
        "spec": {"clusterName": "c1", "bootstrap": {"dataSecretName": ""}}
    }))
    .unwrap();
    assert_eq!(waiting.bootstrap_data_secret(), None);
    assert!(!waiting.is_control_plane());
}

#[test]
fn capi_cluster_shim_reads_paused_and_initialization() {
    let c: Cluster = serde_json::from_value(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster", "metadata": {"name": "c1"},
        "spec": {"paused": true, "controlPlaneEndpoint": {"host": "c1.maas", "port": 6443},
                 "infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "MaasCluster", "name": "c1"},
                 "topology": {"classRef": {"name": "cc"}}, "clusterNetwork": {"pods": {"cidrBlocks": ["10.0.0.0/16"]}}},
        "status": {"initialization": {"infrastructureProvisioned": true, "controlPlaneInitialized": false}}
    }))
    .unwrap();
    assert!(c.is_paused());
    assert!(c.infrastructure_provisioned());
    let fresh: Cluster = serde_json::from_value(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster", "metadata": {"name": "c2"}, "spec": {}
    }))
    .unwrap();
    assert!(!fresh.is_paused());
    assert!(!fresh.infrastructure_provisioned());
}

prop_compose! {
    fn spec()(
        image in "[a-z]{1,8}(/[a-z0-9]{1,8})?",
        system_id in proptest::option::of("[a-z0-9]{6}"),
        min_cpu in proptest::option::of(1i32..256),
        min_memory in proptest::option::of(1024i64..1_048_576),
        tags in proptest::collection::vec("[a-z]{1,6}", 0..4),
        ephemeral in any::<bool>(),
        erase in proptest::option::of(prop_oneof![Just(EraseMode::None), Just(EraseMode::Quick), Just(EraseMode::Secure)]),
    ) -> MaasMachineSpec {
        MaasMachineSpec {
            image, system_id, min_cpu, min_memory, tags, ephemeral,
            release: erase.map(|e| ReleaseOptions { erase: Some(e) }),
            ..MaasMachineSpec::default()
        }
    }
}

proptest! {
    #[test]
    fn any_spec_round_trips(s in spec()) {
        let json = serde_json::to_value(&s).unwrap();
        let back: MaasMachineSpec = serde_json::from_value(json).unwrap();
        prop_assert_eq!(back, s);
    }
}
