//! Names shared with Cluster API core: API groups, labels, annotations, finalizers.

/// Our API group.
pub const GROUP: &str = "infrastructure.cluster.x-k8s.io";
/// Our (only) served and stored version.
pub const VERSION: &str = "v1beta1";
/// Cluster API core group.
pub const CAPI_GROUP: &str = "cluster.x-k8s.io";
/// The Cluster API core version we read.
pub const CAPI_VERSION: &str = "v1beta2";

/// CRD label declaring which of our versions implement the CAPI v1beta2 contract.
pub const CONTRACT_LABEL: &str = "cluster.x-k8s.io/v1beta2";
/// Value of [`CONTRACT_LABEL`]: our versions joined by `_`.
pub const CONTRACT_LABEL_VALUE: &str = "v1beta1";
/// CRD label that makes `clusterctl move` discover our kinds.
pub const CLUSTERCTL_LABEL: &str = "clusterctl.cluster.x-k8s.io";
/// CRD category: `kubectl get cluster-api`.
pub const CATEGORY: &str = "cluster-api";

/// Label naming the Cluster an object belongs to.
pub const CLUSTER_NAME_LABEL: &str = "cluster.x-k8s.io/cluster-name";
/// Label present (empty value) on control-plane Machines.
pub const CONTROL_PLANE_LABEL: &str = "cluster.x-k8s.io/control-plane";
/// Label naming the MachineDeployment of a Machine.
pub const DEPLOYMENT_NAME_LABEL: &str = "cluster.x-k8s.io/deployment-name";
/// Label naming the MachineSet of a Machine.
pub const MACHINE_SET_NAME_LABEL: &str = "cluster.x-k8s.io/set-name";
/// Label clusterctl puts on provider components (`infrastructure-<name>`).
pub const PROVIDER_LABEL: &str = "cluster.x-k8s.io/provider";
/// Label on objects managed by a ClusterClass topology.
pub const TOPOLOGY_OWNED_LABEL: &str = "topology.cluster.x-k8s.io/owned";
/// Label (or annotation) asking `clusterctl move` to move an object.
pub const CLUSTERCTL_MOVE_LABEL: &str = "clusterctl.cluster.x-k8s.io/move";

/// Annotation pausing reconciliation of one object.
pub const PAUSED_ANNOTATION: &str = "cluster.x-k8s.io/paused";
/// Annotation marking an infrastructure cluster as externally managed
/// (checked as an annotation by CAPI core, although documented as a label).
pub const MANAGED_BY_ANNOTATION: &str = "cluster.x-k8s.io/managed-by";
/// Annotation CAPI's topology controller sets on server-side-apply dry runs.
pub const TOPOLOGY_DRY_RUN_ANNOTATION: &str = "topology.cluster.x-k8s.io/dry-run";
/// Annotation blocking `clusterctl move`.
pub const BLOCK_MOVE_ANNOTATION: &str = "clusterctl.cluster.x-k8s.io/block-move";
/// Annotation marking a Machine for deletion first on scale-down.
pub const DELETE_MACHINE_ANNOTATION: &str = "cluster.x-k8s.io/delete-machine";

/// Finalizer on MaasMachines.
pub const MAAS_MACHINE_FINALIZER: &str = "maasmachine.infrastructure.cluster.x-k8s.io";
/// Finalizer on MaasClusters.
pub const MAAS_CLUSTER_FINALIZER: &str = "maascluster.infrastructure.cluster.x-k8s.io";

/// Key of the bootstrap data in the bootstrap Secret (CAPI contract).
pub const BOOTSTRAP_DATA_KEY: &str = "value";
/// Optional key naming the bootstrap format (`cloud-config` when absent).
pub const BOOTSTRAP_FORMAT_KEY: &str = "format";

/// Key of the MAAS endpoint in a `credentialsRef` Secret.
pub const CREDENTIALS_ENDPOINT_KEY: &str = "endpoint";
/// Key of the MAAS API key in a `credentialsRef` Secret.
pub const CREDENTIALS_API_KEY_KEY: &str = "apiKey";
/// Optional key of a PEM CA bundle in a `credentialsRef` Secret.
pub const CREDENTIALS_CA_BUNDLE_KEY: &str = "caBundle";
