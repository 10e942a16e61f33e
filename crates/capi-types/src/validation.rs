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

// Patterns shared by the rules and their tests. They use `[.]` rather than
// `\.` so that the same text is a CEL string literal and an RE2 (apiserver)
// and Rust `regex` pattern. They are unanchored; the rules add `^...$`. Only
// `matches()` and the strings library of every Kubernetes since 1.25 are
// used: no IP/CIDR library (1.30+ in new rules), no format library.

/// One IPv4 octet, without leading zeros (as Go's `net.ParseIP` and
/// Rust's `Ipv4Addr` want).
macro_rules! octet {
    () => {
        "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
    };
}
/// A dotted-quad IPv4 address.
macro_rules! ipv4 {
    () => {
        concat!(octet!(), "([.]", octet!(), "){3}")
    };
}
/// 16 bits of an IPv6 address.
macro_rules! h16 {
    () => {
        "[0-9a-fA-F]{1,4}"
    };
}
/// The low 32 bits of an IPv6 address: two groups or an IPv4 address.
macro_rules! ls32 {
    () => {
        concat!("(", h16!(), ":", h16!(), "|", ipv4!(), ")")
    };
}
/// An IPv6 address in RFC 4291 text form (RFC 3986 `IPv6address`
/// grammar: `::` compression, an embedded IPv4 tail; no zone index).
macro_rules! ipv6 {
    () => {
        concat!(
            "(",
            "(",
            h16!(),
            ":){6}",
            ls32!(),
            "|::(",
            h16!(),
            ":){5}",
            ls32!(),
            "|(",
            h16!(),
            ")?::(",
            h16!(),
            ":){4}",
            ls32!(),
            "|((",
            h16!(),
            ":){0,1}",
            h16!(),
            ")?::(",
            h16!(),
            ":){3}",
            ls32!(),
            "|((",
            h16!(),
            ":){0,2}",
            h16!(),
            ")?::(",
            h16!(),
            ":){2}",
            ls32!(),
            "|((",
            h16!(),
            ":){0,3}",
            h16!(),
            ")?::",
            h16!(),
            ":",
            ls32!(),
            "|((",
            h16!(),
            ":){0,4}",
            h16!(),
            ")?::",
            ls32!(),
            "|((",
            h16!(),
            ":){0,5}",
            h16!(),
            ")?::",
            h16!(),
            "|((",
            h16!(),
            ":){0,6}",
            h16!(),
            ")?::",
            ")"
        )
    };
}
/// A DNS label (RFC 1123: 1-63 letters, digits, `-`, no `-` at either end).
macro_rules! label {
    () => {
        "[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?"
    };
}
/// A lower-case DNS label.
macro_rules! lower_label {
    () => {
        "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
    };
}
/// A MAAS zone or resource pool name: MAAS's `MODEL_NAME_VALIDATOR`
/// (`^\w[ \w-]*$`, Python's Unicode `\w` = letters, numbers and `_`),
/// without the trailing space MAAS's forms strip before saving.
macro_rules! model_name {
    () => {
        r"[\\p{L}\\p{N}_]([ \\p{L}\\p{N}_-]*[\\p{L}\\p{N}_-])?"
    };
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

/// `self` (a string) is an IPv4 or IPv6 address.
macro_rules! is_ip {
    ($s:literal) => {
        concat!(
            $s,
            ".matches('^",
            ipv4!(),
            "$') || ",
            $s,
            ".matches('^",
            ipv6!(),
            "$')"
        )
    };
}

/// The IPv4 address `$s` (a CEL string expression) as an int.
macro_rules! v4_int {
    ($s:literal) => {
        concat!(
            "(int(",
            $s,
            ".split('.')[0]) * 16777216 + int(",
            $s,
            ".split('.')[1]) * 65536 + int(",
            $s,
            ".split('.')[2]) * 256 + int(",
            $s,
            ".split('.')[3]))"
        )
    };
}

/// The number of addresses in the IPv4 `staticIP.subnet` (2^(32-prefix)).
macro_rules! v4_size {
    () => {
        "[4294967296, 2147483648, 1073741824, 536870912, 268435456, 134217728, 67108864, \
         33554432, 16777216, 8388608, 4194304, 2097152, 1048576, 524288, 262144, 131072, 65536, \
         32768, 16384, 8192, 4096, 2048, 1024, 512, 256, 128, 64, 32, 16, 8, 4, 2, 1]\
         [int(self.subnet.split('/')[1])]"
    };
}

/// Guards of the IPv4 arithmetic rules: they only speak when the address
/// and the subnet are IPv4 and well formed (the format rules speak otherwise).
macro_rules! unless_v4_pair {
    ($check:expr) => {
        concat!(
            "!has(self.subnet) || !self.subnet.matches('^[0-9]{1,3}([.][0-9]{1,3}){3}/[0-9]{1,2}$') \
             || !self.address.matches('^[0-9]{1,3}([.][0-9]{1,3}){3}$') \
             || int(self.subnet.split('/')[1]) > 32 || ",
            $check
        )
    };
}

/// Format rules of a MaasMachine spec (MaasMachine `spec` and MaasMachineTemplate
/// `spec.template.spec`).
///
/// Names passed to MAAS follow MAAS 3.6's own validators
/// (`maasserver/models/tag.py`, `fields.py` `MODEL_NAME_VALIDATOR` for zones
/// and pools, `models/node.py` field lengths, `models/bmc.py` for VM hosts):
/// a name MAAS could never have is refused here instead of being sent to
/// MAAS again and again.
pub const MACHINE_SPEC_RULES: &[Rule] = &[
    Rule {
        path: &["systemID"],
        rule: "self.matches('^[a-z0-9]+(-[a-z0-9]+)*$')",
        message: "systemID must be a MAAS system ID: lower-case letters and digits, e.g. 4y3h8a \
                  (or node-<uuid> on old installations)",
    },
    Rule {
        path: &["providerID"],
        rule: "self.startsWith('maas://')",
        message: "providerID is set by the controller, in the form maas:///<zone>/<system-id>",
    },
    Rule {
        path: &["minCPU"],
        rule: "self >= 1 && self <= 65536",
        message: "minCPU must be between 1 and 65536 (CPU cores)",
    },
    Rule {
        path: &["minMemory"],
        rule: "self >= 1024 && self <= 4294967296",
        message: "minMemory is in MiB and must be between 1024 (1 GiB) and 4294967296 (4 PiB, more \
                  than any machine can address)",
    },
    Rule {
        path: &["minDiskSize"],
        rule: "self >= 1 && self <= 1000000",
        message: "minDiskSize is in GB and must be between 1 and 1000000 (1 PB)",
    },
    Rule {
        path: &["tags", "[]"],
        rule: "self.matches('^[a-zA-Z0-9_-]+$')",
        message: "each tag must be a MAAS tag name: letters, digits, '_' and '-' only (MAAS allows \
                  no other character, not even spaces, commas or dots)",
    },
    Rule {
        path: &["notTags", "[]"],
        rule: "self.matches('^[a-zA-Z0-9_-]+$')",
        message: "each notTags entry must be a MAAS tag name: letters, digits, '_' and '-' only",
    },
    Rule {
        path: &[],
        rule: "!has(self.tags) || !has(self.notTags) || !self.tags.exists(t, t in self.notTags)",
        message: "a tag cannot be in both tags and notTags",
    },
    Rule {
        path: &["failureDomain"],
        rule: concat!("self.matches('^", model_name!(), "$')"),
        message: "failureDomain must be a MAAS zone name: a letter, digit or '_' first, then \
                  letters, digits, '_', '-' or spaces, not ending in a space",
    },
    Rule {
        path: &["resourcePool"],
        rule: concat!("self == '' || self.matches('^", model_name!(), "$')"),
        message: "resourcePool must be empty (any pool) or a MAAS resource pool name: a letter, \
                  digit or '_' first, then letters, digits, '_', '-' or spaces, not ending in a space",
    },
    Rule {
        path: &["architecture"],
        rule: "self.matches('^[a-z0-9]+(/[a-z0-9._-]+)?$')",
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
        rule: r"!self.matches('^\\s|\\s$')",
        message: "pod must be a MAAS VM host name, without leading or trailing spaces (MAAS strips \
                  them from names, so no VM host has them)",
    },
    Rule {
        path: &["notPods", "[]"],
        rule: r"!self.matches('^\\s|\\s$')",
        message: "each notPods entry must be a MAAS VM host name, without leading or trailing spaces",
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
        rule: is_ip!("self"),
        message: "staticIP.address must be an IPv4 or IPv6 address such as 10.0.0.20 or fd00::20",
    },
    Rule {
        path: &["staticIP", "address"],
        rule: "!(self.matches('^(0|127|22[4-9]|2[3-5][0-9])[.]') || self.matches('^[0:]+$') \
               || self.matches('^[0:]*:0*1$') || self.matches('^[fF][fF]'))",
        message: "staticIP.address must be a unicast host address: not 0.x.x.x or :: (unspecified), \
                  127.x.x.x or ::1 (loopback), 224.0.0.0 and above (multicast, reserved, broadcast) \
                  or ff00::/8 (multicast)",
    },
    Rule {
        path: &["staticIP", "subnet"],
        rule: concat!(
            "self.matches('^[0-9]{1,10}$') || self.matches('^",
            ipv4!(),
            "/(3[0-2]|[12]?[0-9])$') || self.matches('^",
            ipv6!(),
            "/(12[0-8]|1[01][0-9]|[1-9]?[0-9])$')"
        ),
        message: "staticIP.subnet must be a MAAS subnet id (e.g. 3) or CIDR (e.g. 10.0.0.0/24 or fd00::/64)",
    },
    Rule {
        path: &["staticIP"],
        rule: "!has(self.subnet) || !self.subnet.contains('/') \
               || self.address.contains(':') == self.subnet.contains(':')",
        message: "staticIP.address and staticIP.subnet must be of the same IP family (both IPv4 or both IPv6)",
    },
    Rule {
        path: &["staticIP"],
        rule: unless_v4_pair!(concat!(
            v4_int!("self.address"),
            " - ",
            v4_int!("self.address"),
            " % ",
            v4_size!(),
            " == ",
            v4_int!("self.subnet.split('/')[0]"),
            " - ",
            v4_int!("self.subnet.split('/')[0]"),
            " % ",
            v4_size!()
        )),
        message: "staticIP.address must be inside staticIP.subnet (e.g. 10.0.0.20 in 10.0.0.0/24); \
                  fix the address or the subnet",
    },
    Rule {
        path: &["staticIP"],
        rule: unless_v4_pair!(concat!(
            "int(self.subnet.split('/')[1]) >= 31 || ",
            v4_int!("self.address"),
            " % ",
            v4_size!(),
            " != 0"
        )),
        message: "staticIP.address is the network address of staticIP.subnet (all host bits 0); \
                  pick a host address inside the subnet",
    },
    Rule {
        path: &["staticIP"],
        rule: "!has(self.subnet) || !self.subnet.contains(':') || !self.subnet.contains('/') \
               || int(self.subnet.split('/')[1]) >= 127 \
               || self.address.lowerAscii() != self.subnet.split('/')[0].lowerAscii()",
        message: "staticIP.address is the network address of staticIP.subnet (all host bits 0); \
                  pick a host address inside the subnet",
    },
    Rule {
        path: &["staticIP"],
        rule: unless_v4_pair!(concat!(
            "int(self.subnet.split('/')[1]) >= 31 || ",
            v4_int!("self.address"),
            " % ",
            v4_size!(),
            " != ",
            v4_size!(),
            " - 1"
        )),
        message: "staticIP.address is the broadcast address of staticIP.subnet (all host bits 1); \
                  pick a host address inside the subnet",
    },
];

/// Rules of a MaasMachine `spec` only (not templates), on create and update.
pub const MACHINE_ONLY_SPEC_RULES: &[Rule] = &[
    Rule {
        path: &[],
        rule: "!has(self.providerID) || has(self.systemID)",
        message: "providerID cannot be set without systemID: remove spec.providerID (the controller \
                  sets it once the machine is deployed), or also set spec.systemID to the MAAS \
                  machine it names, as clusterctl move does",
    },
    Rule {
        path: &[],
        rule: "!has(self.providerID) || !has(self.systemID) || self.providerID.endsWith('/' + self.systemID)",
        message: "providerID must end with /<systemID> (maas:///<zone>/<system-id>): providerID and \
                  systemID name different machines; fix the one that is wrong",
    },
];

/// Rules of a MaasMachineTemplate's `spec.template.spec` only.
pub const MACHINE_TEMPLATE_SPEC_RULES: &[Rule] = &[
    Rule {
        path: &[],
        rule: "!has(self.staticIP)",
        message: "staticIP cannot be set in a MaasMachineTemplate: every machine made from it would ask \
                  for the same address. Give each MaasMachine its own staticIP instead (see docs/static-ips.md)",
    },
    Rule {
        path: &[],
        rule: "!has(self.systemID)",
        message: "systemID cannot be set in a MaasMachineTemplate: every machine made from it would pin \
                  the same MAAS machine. Pin machines on single MaasMachines instead",
    },
    Rule {
        path: &[],
        rule: "!has(self.providerID)",
        message: "providerID cannot be set in a MaasMachineTemplate: the controller sets it on each MaasMachine",
    },
];

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
        // A MaasMachine with providerID and no systemID (refused on create
        // since this rule set; older objects may have one) may get the
        // systemID its providerID names.
        rule: "!has(oldSelf.providerID) || !has(oldSelf.systemID) || (has(self.systemID) && self.systemID == oldSelf.systemID)",
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
        rule: concat!(
            "self.matches('^(",
            lower_label!(),
            "[.])*",
            lower_label!(),
            "$')"
        ),
        message: "dnsDomain must be a lower-case DNS name such as maas or k8s.example.com: labels of \
                  1 to 63 letters, digits and '-' (not first or last), separated by single dots",
    },
    Rule {
        path: &["dnsDomain"],
        rule: "size(self) <= 189",
        message: "dnsDomain must be at most 189 characters: the control-plane endpoint is named \
                  <cluster-name>.<dnsDomain> (cluster names up to 63), and a DNS name has at most 253",
    },
    Rule {
        path: &["controlPlaneEndpoint", "host"],
        rule: concat!(
            is_ip!("self"),
            " || (size(self) <= 253 && self.matches('^(",
            label!(),
            "[.])*",
            label!(),
            "$') && !self.matches('(^|[.])[0-9]+$'))"
        ),
        message: "controlPlaneEndpoint.host must be a DNS name (e.g. cp.k8s.example.com: labels of \
                  letters, digits and '-', the last not all digits) or an IP address (e.g. 10.0.0.10 or fd00::10)",
    },
    Rule {
        path: &["controlPlaneEndpoint", "port"],
        rule: "self >= 1 && self <= 65535",
        message: "controlPlaneEndpoint.port must be between 1 and 65535",
    },
    Rule {
        path: &["failureDomains", "[]"],
        rule: concat!("self.matches('^", model_name!(), "$')"),
        message: "each failure domain must be a MAAS zone name: a letter, digit or '_' first, then \
                  letters, digits, '_', '-' or spaces, not ending in a space",
    },
    Rule {
        path: &["credentialsRef", "name"],
        rule: concat!(
            "self.matches('^(",
            lower_label!(),
            "[.])*",
            lower_label!(),
            "$')"
        ),
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
        "MaasMachine.spec (not templates)",
        MACHINE_ONLY_SPEC_RULES.to_vec(),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::net::{Ipv4Addr, Ipv6Addr};

    use regex::Regex;

    use super::*;

    fn anchored(p: &str) -> Regex {
        // CEL string-literal escapes (`\\p`) back to the regex text.
        Regex::new(&format!("^(?:{})$", p.replace(r"\\", r"\"))).unwrap()
    }

    /// splitmix64: deterministic cases, no seed to record.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn string(&mut self, alphabet: &[u8], max: u64) -> String {
            let len = self.below(max + 1);
            (0..len)
                .map(|_| char::from(alphabet[self.below(alphabet.len() as u64) as usize]))
                .collect()
        }
    }

    #[test]
    fn the_ipv4_pattern_is_std_s_parser() {
        let re = anchored(ipv4!());
        let mut rng = Rng(1);
        for _ in 0..20_000 {
            let ip = Ipv4Addr::from(rng.next() as u32);
            assert!(re.is_match(&ip.to_string()), "{ip}");
        }
        for _ in 0..50_000 {
            let s = rng.string(b"0123456789.", 17);
            assert_eq!(re.is_match(&s), s.parse::<Ipv4Addr>().is_ok(), "{s:?}");
        }
        for s in ["010.0.0.1", "1.2.3", "1.2.3.4.5", "256.1.1.1", " 1.2.3.4"] {
            assert!(!re.is_match(s), "{s}");
        }
    }

    fn ipv6_text(rng: &mut Rng) -> String {
        let groups: Vec<u16> = (0..8)
            .map(|_| {
                // many zeros, so that `::` forms are common
                if rng.below(3) == 0 {
                    0
                } else {
                    rng.next() as u16
                }
            })
            .collect();
        let hex = |g: u16, rng: &mut Rng| match rng.below(3) {
            0 => format!("{g:x}"),
            1 => format!("{g:X}"),
            _ => format!("{g:04x}"),
        };
        let v4_tail = rng.below(4) == 0;
        let n = if v4_tail { 6 } else { 8 };
        let mut parts: Vec<String> = groups[..n].iter().map(|g| hex(*g, rng)).collect();
        if v4_tail {
            parts.push(Ipv4Addr::from(rng.next() as u32).to_string());
        }
        if rng.below(2) == 0 {
            // compress a run [a, b) of groups into `::`
            let a = rng.below(n as u64 + 1) as usize;
            let b = a + rng.below((n - a) as u64 + 1) as usize;
            if b > a {
                let head = parts[..a].join(":");
                let tail = parts[b..].join(":");
                return format!("{head}::{tail}");
            }
        }
        parts.join(":")
    }

    #[test]
    fn the_ipv6_pattern_is_std_s_parser() {
        let re = anchored(ipv6!());
        let mut rng = Rng(2);
        for _ in 0..20_000 {
            let ip = Ipv6Addr::from((u128::from(rng.next()) << 64) | u128::from(rng.next()));
            assert!(re.is_match(&ip.to_string()), "{ip}");
            let s = ipv6_text(&mut rng);
            assert_eq!(re.is_match(&s), s.parse::<Ipv6Addr>().is_ok(), "{s:?}");
        }
        for _ in 0..100_000 {
            let s = rng.string(b"0123456789abcdefABCDEF:.", 24);
            assert_eq!(re.is_match(&s), s.parse::<Ipv6Addr>().is_ok(), "{s:?}");
        }
        for s in [
            ":::::",
            ":::",
            "1:::2",
            "::ffff:1.2.3.4",
            "fd00::20",
            "::",
            "::1",
            "1::",
        ] {
            assert_eq!(re.is_match(s), s.parse::<Ipv6Addr>().is_ok(), "{s}");
        }
        assert!(!re.is_match(":::::"));
        assert!(!re.is_match("fe80::1%eth0"), "no zone index");
    }

    /// RFC 1123 names, written out the long way.
    fn dns_name(s: &str, lower: bool) -> bool {
        s.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| {
                    c.is_ascii_digit()
                        || c == '-'
                        || if lower {
                            c.is_ascii_lowercase()
                        } else {
                            c.is_ascii_alphabetic()
                        }
                })
        })
    }

    #[test]
    fn the_dns_patterns_are_rfc_1123_names() {
        let name = anchored(concat!("(", label!(), "[.])*", label!()));
        let lower = anchored(concat!("(", lower_label!(), "[.])*", lower_label!()));
        let mut rng = Rng(3);
        for _ in 0..50_000 {
            let s = rng.string(b"aZ09-._ ", 12);
            assert_eq!(name.is_match(&s), dns_name(&s, false), "{s:?}");
            assert_eq!(lower.is_match(&s), dns_name(&s, true), "{s:?}");
        }
        let long = "a".repeat(63);
        assert!(lower.is_match(&format!("{long}.maas")));
        assert!(
            !lower.is_match(&format!("{long}a.maas")),
            "a 64-character label"
        );
        assert!(!name.is_match("not a host!"));
    }

    #[test]
    fn zone_and_pool_names_follow_maas_model_name_validator() {
        let re = anchored(model_name!());
        for ok in [
            "az1", "default", "rack 1", "z_1-a", "_x", "ünï", "١٢", "a b-c_d",
        ] {
            assert!(re.is_match(ok), "{ok:?}");
        }
        for bad in ["", " a", "a ", "-a", "a.b", "a,b", "a/b", "a\tb", "a\nb"] {
            assert!(!re.is_match(bad), "{bad:?}");
        }
    }

    #[test]
    fn tag_names_follow_maas() {
        let re = Regex::new(r"^[a-zA-Z0-9_-]+$").unwrap();
        for rule in MACHINE_SPEC_RULES
            .iter()
            .filter(|r| r.path.first() == Some(&"tags"))
        {
            assert!(rule.rule.contains("^[a-zA-Z0-9_-]+$"), "{}", rule.rule);
        }
        assert!(re.is_match("k8s_gpu-1"));
        for bad in ["a.b", "a b", "a,b", "ü"] {
            assert!(!re.is_match(bad), "{bad}");
        }
    }

    /// CEL of every rule must compile on Kubernetes 1.29, whose apiserver
    /// checks new rules against the 1.28 library set: core CEL, the
    /// strings library v0, lists, regex, URLs, quantity. The IP/CIDR
    /// libraries (1.30/1.31), format (1.31), sets (1.29 stored only),
    /// two-variable comprehensions (1.32) and semver/image (1.33) are out.
    #[test]
    fn rules_use_only_what_kubernetes_1_29_compiles() {
        let newer = [
            "ip(", "cidr(", "isIP(", "isCIDR(", ".format(", "quote(", "reverse(", "sets.",
            "semver", "isSemver", "image(", ".join(", "cel.bind", "optional", "?.",
        ];
        for rules in catalogue().values() {
            for rule in rules {
                for f in newer {
                    // `matches('...ip(...')` never occurs: patterns have no such text.
                    assert!(!rule.rule.contains(f), "{f} in {}", rule.rule);
                }
            }
        }
    }

    #[test]
    fn every_rule_pattern_compiles() {
        let lit = Regex::new(r"matches\('((?:[^'\\]|\\.)*)'\)").unwrap();
        for rules in catalogue().values() {
            for rule in rules {
                for cap in lit.captures_iter(rule.rule) {
                    let text = cap[1].replace(r"\\", r"\");
                    Regex::new(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
                }
            }
        }
    }
}
