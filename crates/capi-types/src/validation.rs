//! Admission-time validation without a webhook: CEL rules
//! (`x-kubernetes-validations`) injected into the generated schemas.
//!
//! The rules live in tables so that each has one message that says what to
//! fix, so that they are documented in one place (`docs/crds.md`), and so
//! that transition (immutability) rules are attached to the live kinds only:
//! templates carry format rules but no `oldSelf` rules, so ClusterClass
//! server-side-apply dry runs on templates keep working.
//!
//! Every string and list the rules touch has a `maxLength`/`maxItems`, which
//! keeps the apiserver's estimated CEL cost bounded.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, ValidationRule,
};

use crate::crds::CrdError;

/// One CEL rule at a path inside a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Property names from the base object; `"[]"` steps into list items.
    pub path: &'static [&'static str],
    /// The CEL expression (`self` is the value at `path`).
    pub rule: &'static str,
    /// Shown to the user when the rule fails.
    pub message: &'static str,
}

macro_rules! immutable_optional {
    ($field:literal, $message:literal) => {
        Rule {
            path: &[],
            rule: concat!(
                "has(self.",
                $field,
                ") == has(oldSelf.",
                $field,
                ") && (!has(self.",
                $field,
                ") || self.",
                $field,
                " == oldSelf.",
                $field,
                ")"
            ),
            message: $message,
        }
    };
}

/// Format rules of a MaasMachine spec (MaasMachine `spec` and MaasMachineTemplate
/// `spec.template.spec`).
pub const MACHINE_SPEC_RULES: &[Rule] = &[
    Rule {
        path: &["systemID"],
        rule: "self.matches('^[a-z0-9]+$')",
        message: "systemID must be a MAAS system ID: lower-case letters and digits, e.g. 4y3h8a",
    },
    Rule {
        path: &["providerID"],
        rule: "self.startsWith('maas://')",
        message: "providerID is set by the controller, in the form maas:///<zone>/<system-id>",
    },
    Rule {
        path: &["minCPU"],
        rule: "self >= 1",
        message: "minCPU must be at least 1 (CPU cores)",
    },
    Rule {
        path: &["minMemory"],
        rule: "self >= 1024",
        message: "minMemory is in MiB and must be at least 1024 (1 GiB)",
    },
    Rule {
        path: &["minDiskSize"],
        rule: "self >= 1",
        message: "minDiskSize is in GB and must be at least 1",
    },
    Rule {
        path: &["tags", "[]"],
        rule: r"self.matches('^[^\\s,]+$')",
        message: "each tag must be a non-empty MAAS tag name without spaces or commas",
    },
    Rule {
        path: &["notTags", "[]"],
        rule: r"self.matches('^[^\\s,]+$')",
        message: "each notTags entry must be a non-empty MAAS tag name without spaces or commas",
    },
    Rule {
        path: &[],
        rule: "!has(self.tags) || !has(self.notTags) || !self.tags.exists(t, t in self.notTags)",
        message: "a tag cannot be in both tags and notTags",
    },
    Rule {
        path: &["architecture"],
        rule: "self.matches('^[a-z0-9]+(/[a-z0-9_-]+)?$')",
        message: "architecture must look like amd64, arm64 or amd64/generic",
    },
    Rule {
        path: &["image"],
        rule: "self.matches('^([a-z][a-z0-9-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*$')",
        message: "image must be <series> (e.g. jammy), <osystem>/<series> (e.g. ubuntu/jammy) or custom/<name>",
    },
    Rule {
        path: &["hweKernel"],
        rule: "self.matches('^[a-z0-9][a-z0-9._-]*$')",
        message: "hweKernel must be a MAAS kernel name such as ga-22.04 or hwe-22.04",
    },
    Rule {
        path: &["pod"],
        rule: r"self.matches('^[^\\s,]+$')",
        message: "pod must be a MAAS VM host name without spaces or commas",
    },
    Rule {
        path: &["notPods", "[]"],
        rule: r"self.matches('^[^\\s,]+$')",
        message: "each notPods entry must be a MAAS VM host name without spaces or commas",
    },
    Rule {
        path: &[],
        rule: "!has(self.pod) || !has(self.notPods) || !(self.pod in self.notPods)",
        message: "a VM host cannot be in both pod and notPods",
    },
    Rule {
        path: &["podType"],
        rule: "self in ['lxd', 'virsh']",
        message: "podType must be lxd or virsh (the MAAS VM host types)",
    },
    Rule {
        path: &["notPodTypes", "[]"],
        rule: "self in ['lxd', 'virsh']",
        message: "each notPodTypes entry must be lxd or virsh (the MAAS VM host types)",
    },
    Rule {
        path: &[],
        rule: "!has(self.podType) || !has(self.notPodTypes) || !(self.podType in self.notPodTypes)",
        message: "a VM host type cannot be in both podType and notPodTypes",
    },
    Rule {
        path: &["staticIP", "address"],
        rule: r"self.matches('^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$') || (self.contains(':') && self.matches('^[0-9a-fA-F:.]+$'))",
        message: "staticIP.address must be an IPv4 or IPv6 address such as 10.0.0.20",
    },
    Rule {
        path: &["staticIP", "subnet"],
        rule: r"self.matches('^[0-9]+$') || self.matches('^[0-9.]+/[0-9]{1,2}$') || self.matches('^[0-9a-fA-F:.]+/[0-9]{1,3}$')",
        message: "staticIP.subnet must be a MAAS subnet id (e.g. 3) or CIDR (e.g. 10.0.0.0/24)",
    },
];

/// Rules of a MaasMachineTemplate's `spec.template.spec` only.
pub const MACHINE_TEMPLATE_SPEC_RULES: &[Rule] = &[Rule {
    path: &[],
    rule: "!has(self.staticIP)",
    message: "staticIP cannot be set in a MaasMachineTemplate: every machine made from it would ask \
              for the same address. Give each MaasMachine its own staticIP instead (see docs/static-ips.md)",
}];

/// Transition rules of a MaasMachine `spec` (not applied to templates).
pub const MACHINE_SPEC_TRANSITION_RULES: &[Rule] = &[
    Rule {
        path: &[],
        rule: "!has(oldSelf.providerID) || (has(self.providerID) && self.providerID == oldSelf.providerID)",
        message: "providerID cannot be changed or removed once set",
    },
    Rule {
        path: &[],
        rule: "!has(oldSelf.systemID) || !has(self.systemID) || self.systemID == oldSelf.systemID",
        message: "systemID cannot be changed from one machine to another; create a new MaasMachine to use a different machine",
    },
    Rule {
        path: &[],
        rule: "!has(oldSelf.providerID) || (has(self.systemID) == has(oldSelf.systemID) && (!has(self.systemID) || self.systemID == oldSelf.systemID))",
        message: "systemID cannot change once providerID is set",
    },
    Rule {
        path: &[],
        rule: "self.image == oldSelf.image",
        message: "image is immutable; create a new MaasMachine (roll out a new MaasMachineTemplate) to change it",
    },
    Rule {
        path: &[],
        rule: "self.ephemeral == oldSelf.ephemeral",
        message: "ephemeral is immutable; create a new MaasMachine (roll out a new MaasMachineTemplate) to change it",
    },
    immutable_optional!(
        "hweKernel",
        "hweKernel is immutable; create a new MaasMachine to change it"
    ),
    immutable_optional!(
        "minCPU",
        "minCPU is immutable; create a new MaasMachine to change constraints"
    ),
    immutable_optional!(
        "minMemory",
        "minMemory is immutable; create a new MaasMachine to change constraints"
    ),
    immutable_optional!(
        "minDiskSize",
        "minDiskSize is immutable; create a new MaasMachine to change constraints"
    ),
    immutable_optional!(
        "tags",
        "tags are immutable; create a new MaasMachine to change constraints"
    ),
    immutable_optional!(
        "notTags",
        "notTags are immutable; create a new MaasMachine to change constraints"
    ),
    immutable_optional!(
        "architecture",
        "architecture is immutable; create a new MaasMachine to change constraints"
    ),
    immutable_optional!(
        "resourcePool",
        "resourcePool is immutable; create a new MaasMachine to change constraints"
    ),
    immutable_optional!(
        "failureDomain",
        "failureDomain is immutable; create a new MaasMachine to change it"
    ),
    immutable_optional!(
        "pod",
        "pod is immutable; create a new MaasMachine to change constraints"
    ),
    immutable_optional!(
        "notPods",
        "notPods is immutable; create a new MaasMachine to change constraints"
    ),
    immutable_optional!(
        "podType",
        "podType is immutable; create a new MaasMachine to change constraints"
    ),
    immutable_optional!(
        "notPodTypes",
        "notPodTypes is immutable; create a new MaasMachine to change constraints"
    ),
    immutable_optional!(
        "staticIP",
        "staticIP is immutable; create a new MaasMachine to use another address"
    ),
];

/// Format rules of a MaasCluster spec (MaasCluster `spec` and MaasClusterTemplate
/// `spec.template.spec`).
pub const CLUSTER_SPEC_RULES: &[Rule] = &[
    Rule {
        path: &["dnsDomain"],
        rule: r"self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",
        message: "dnsDomain must be a lower-case DNS name such as maas or k8s.example.com",
    },
    Rule {
        path: &["controlPlaneEndpoint", "port"],
        rule: "self >= 1 && self <= 65535",
        message: "controlPlaneEndpoint.port must be between 1 and 65535",
    },
    Rule {
        path: &["failureDomains", "[]"],
        rule: r"self.matches('^[^\\s]+$')",
        message: "each failure domain must be a MAAS zone name without spaces",
    },
    Rule {
        path: &["credentialsRef", "name"],
        rule: r"self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",
        message: "credentialsRef.name must be the name of a Secret in this namespace (a lower-case DNS name)",
    },
];

/// Transition rules of a MaasCluster `spec` (not applied to templates).
pub const CLUSTER_SPEC_TRANSITION_RULES: &[Rule] = &[
    Rule {
        path: &[],
        rule: "self.dnsDomain == oldSelf.dnsDomain",
        message: "dnsDomain is immutable; create a new cluster to change it",
    },
    Rule {
        path: &[],
        rule: "!has(oldSelf.controlPlaneEndpoint) || (has(self.controlPlaneEndpoint) && self.controlPlaneEndpoint == oldSelf.controlPlaneEndpoint)",
        message: "controlPlaneEndpoint cannot be changed or removed once set",
    },
];

fn step<'a>(props: &'a mut JSONSchemaProps, segment: &str) -> Option<&'a mut JSONSchemaProps> {
    if segment == "[]" {
        match props.items.as_mut()? {
            JSONSchemaPropsOrArray::Schema(inner) => Some(inner.as_mut()),
            JSONSchemaPropsOrArray::Schemas(_) => None,
        }
    } else {
        props.properties.as_mut()?.get_mut(segment)
    }
}

/// Adds `rules`, relative to the object at `base`, to `root`.
///
/// # Errors
/// [`CrdError::MissingPath`] when a path does not exist in the schema (the
/// tables and the types disagree).
pub fn apply(
    kind: &str,
    root: &mut JSONSchemaProps,
    base: &[&str],
    rules: &[Rule],
) -> Result<(), CrdError> {
    for rule in rules {
        let mut node = &mut *root;
        for segment in base.iter().chain(rule.path.iter()) {
            node = step(node, segment).ok_or_else(|| CrdError::MissingPath {
                kind: kind.to_owned(),
                path: base
                    .iter()
                    .chain(rule.path.iter())
                    .copied()
                    .collect::<Vec<_>>()
                    .join("."),
            })?;
        }
        node.x_kubernetes_validations
            .get_or_insert_with(Vec::new)
            .push(ValidationRule {
                rule: rule.rule.to_owned(),
                message: Some(rule.message.to_owned()),
                ..ValidationRule::default()
            });
    }
    Ok(())
}

/// All rules by the schema location they are attached to, for documentation.
#[must_use]
pub fn catalogue() -> BTreeMap<&'static str, Vec<Rule>> {
    let mut out = BTreeMap::new();
    out.insert(
        "MaasMachine.spec (and MaasMachineTemplate.spec.template.spec)",
        MACHINE_SPEC_RULES.to_vec(),
    );
    out.insert(
        "MaasMachineTemplate.spec.template.spec",
        MACHINE_TEMPLATE_SPEC_RULES.to_vec(),
    );
    out.insert(
        "MaasMachine.spec (updates only)",
        MACHINE_SPEC_TRANSITION_RULES.to_vec(),
    );
    out.insert(
        "MaasCluster.spec (and MaasClusterTemplate.spec.template.spec)",
        CLUSTER_SPEC_RULES.to_vec(),
    );
    out.insert(
        "MaasCluster.spec (updates only)",
        CLUSTER_SPEC_TRANSITION_RULES.to_vec(),
    );
    out
}
