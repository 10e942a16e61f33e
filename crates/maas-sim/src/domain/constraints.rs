//! MAAS's constraint forms (`AcquireNodeForm` for allocate, `ReadNodesForm`
//! for the machine list): strict parsing with MAAS's error texts, matching,
//! the cost ordering and the 409 texts of allocate.

use crate::domain::error::MaasError;
use crate::domain::machines::allocation_options;
use crate::domain::params::Params;
use crate::domain::state::State;
use crate::domain::validate;
use crate::model::pyfmt;
use crate::model::*;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// Which form parses the parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FormKind {
    /// `POST machines/?op=allocate`.
    Acquire,
    /// `GET machines/`.
    Read,
}

/// Parameters every form tolerates (MAAS's `IGNORED_FIELDS`).
const IGNORED: &[&str] = &[
    "comment",
    "bridge_all",
    "bridge_type",
    "bridge_stp",
    "bridge_fd",
    "dry_run",
    "verbose",
    "op",
    "agent_name",
];

const FILTER_FIELDS: &[&str] = &[
    "arch",
    "not_arch",
    "tags",
    "not_tags",
    "fabrics",
    "not_fabrics",
    "fabric_classes",
    "not_fabric_classes",
    "subnets",
    "not_subnets",
    "link_speed",
    "vlans",
    "not_vlans",
    "zone",
    "not_in_zone",
    "system_id",
    "pool",
    "not_in_pool",
    "storage",
    "interfaces",
    "devices",
    "cpu_count",
    "cpu_speed",
    "mem",
    "owner",
    "not_owner",
    "power_state",
    "not_power_state",
    "deployment_target",
    "not_deployment_target",
];

const POD_FIELDS: &[&str] = &["pod", "not_pod", "pod_type", "not_pod_type"];
const ACQUIRE_FIELDS: &[&str] = &["name"];
const READ_FIELDS: &[&str] = &[
    "id",
    "not_id",
    "hostname",
    "not_hostname",
    "mac_address",
    "domain",
    "not_domain",
    "agent_name",
    "not_agent_name",
    "status",
    "not_status",
    "simple_status",
    "not_simple_status",
];

const NETWORKING_CONSTRAINT_NAMES: &[&str] = &[
    "id",
    "not_id",
    "fabric",
    "not_fabric",
    "fabric_class",
    "not_fabric_class",
    "ip",
    "not_ip",
    "mode",
    "name",
    "not_name",
    "hostname",
    "not_hostname",
    "subnet",
    "not_subnet",
    "space",
    "not_space",
    "subnet_cidr",
    "not_subnet_cidr",
    "type",
    "vlan",
    "not_vlan",
    "vid",
    "not_vid",
    "tag",
    "not_tag",
    "link_speed",
];

const DEVICE_CONSTRAINT_NAMES: &[&str] = &[
    "vendor_id",
    "product_id",
    "vendor_name",
    "product_name",
    "commissioning_driver",
];

/// A parsed `label:key=value,…;label2:…` map (insertion-ordered).
pub(crate) type LabeledMap = Vec<(String, Vec<(String, Vec<String>)>)>;

/// Parse a labeled constraint map with MAAS's messages.
pub(crate) fn parse_labeled_map(value: &str) -> Result<LabeledMap, String> {
    let mut result: LabeledMap = Vec::new();
    if value.chars().count() <= 1 {
        return Ok(result);
    }
    for constraint in value.split(';') {
        let Some((label, rest)) = constraint.split_once(':') else {
            return Err(format!(
                "Malformed constraint: '{constraint}' (required format: '<label>:<key>=<value>[,<key2>=<value2>[,...]]')"
            ));
        };
        let valid_label = label
            .chars()
            .next()
            .map(|c| c.is_ascii_alphanumeric())
            .unwrap_or(false)
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_label {
            return Err(format!(
                "Invalid label name: '{label}' (Must begin with an alphanumeric character, and include only alphanumeric characters, dashes, and underscores.)"
            ));
        }
        if result.iter().any(|(l, _)| l == label) {
            return Err(format!(
                "Constraint label defined more than once: '{label}'"
            ));
        }
        let mut kvs: Vec<(String, Vec<String>)> = Vec::new();
        for kvp in rest.split(',') {
            let Some((k, v)) = kvp.split_once('=') else {
                return Err(format!("Malformed key/value pair in constraint: '{kvp}'"));
            };
            match kvs.iter_mut().find(|(key, _)| key == k) {
                Some((_, vals)) => vals.push(v.to_string()),
                None => kvs.push((k.to_string(), vec![v.to_string()])),
            }
        }
        result.push((label.to_string(), kvs));
    }
    Ok(result)
}

/// One storage constraint: label (may be empty), size in bytes, tags.
#[derive(Debug, Clone)]
pub(crate) struct StorageConstraint {
    pub(crate) label: String,
    pub(crate) size: u64,
    pub(crate) tags: Vec<String>,
}

/// Parse and validate `label:size(tags),…` (sizes in GB = 10^9 bytes).
pub(crate) fn parse_storage(value: &str) -> Result<Vec<StorageConstraint>, String> {
    let malformed = || format!("Malformed storage constraint, \"{value}\".");
    let mut out = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        let (label, after_label) = match rest.find(':') {
            Some(i) if rest[..i].chars().all(|c| c.is_ascii_alphanumeric()) && i > 0 => {
                (&rest[..i], &rest[i + 1..])
            }
            _ => ("", rest),
        };
        let size_len = after_label
            .char_indices()
            .take_while(|(_, c)| c.is_ascii_digit() || *c == '.')
            .count();
        if size_len == 0 {
            return Err(malformed());
        }
        let size_str = &after_label[..size_len];
        let mut tail = &after_label[size_len..];
        let mut tags = Vec::new();
        if let Some(t) = tail.strip_prefix('(') {
            let Some(close) = t.find(')') else {
                return Err(malformed());
            };
            let inner = &t[..close];
            if inner.is_empty() {
                return Err(malformed());
            }
            tags = inner.split(',').map(str::to_string).collect();
            tail = &t[close + 1..];
        }
        let size: f64 = size_str.parse().map_err(|_| malformed())?;
        out.push(StorageConstraint {
            label: label.to_string(),
            size: (size * 1e9) as u64,
            tags,
        });
        if tail.is_empty() {
            break;
        }
        match tail.strip_prefix(',') {
            Some(t) if !t.is_empty() => rest = t,
            _ => return Err(malformed()),
        }
    }
    if out.is_empty() {
        return Err(malformed());
    }
    Ok(out)
}

/// A parsed and validated constraint form.
#[derive(Debug, Default, Clone)]
pub(crate) struct Filter {
    kind: Option<FormKind>,
    multi: BTreeMap<String, Vec<String>>,
    arch: Option<Vec<String>>,
    tags: Option<BTreeSet<String>>,
    floats: BTreeMap<String, f64>,
    float_values: BTreeMap<String, Vec<f64>>,
    subnets: Option<Vec<u64>>,
    not_subnets: Option<Vec<u64>>,
    vlans: Option<Vec<u64>>,
    not_vlans: Option<Vec<u64>>,
    storage: Option<(String, Vec<StorageConstraint>)>,
    interfaces: Option<(String, LabeledMap)>,
    devices: Option<String>,
    statuses: Option<Vec<NodeStatus>>,
    not_statuses: Option<Vec<NodeStatus>>,
}

/// A constraint form being cleaned: the data, the fields the form has, the
/// filter built so far and the errors found so far.
struct FilterForm<'a> {
    st: &'a State,
    data: &'a Params,
    fields: Vec<&'static str>,
    errors: BTreeMap<String, Vec<String>>,
    f: Filter,
}

impl<'a> FilterForm<'a> {
    fn new(st: &'a State, kind: FormKind, data: &'a Params) -> FilterForm<'a> {
        let mut fields: Vec<&'static str> = FILTER_FIELDS.to_vec();
        if st.version.has_vm_hosts() {
            fields.extend_from_slice(POD_FIELDS);
        }
        match kind {
            FormKind::Acquire => fields.extend_from_slice(ACQUIRE_FIELDS),
            FormKind::Read => fields.extend_from_slice(READ_FIELDS),
        }
        let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for key in data.keys() {
            if !fields.contains(&key) && !IGNORED.contains(&key) {
                errors.insert(key.to_string(), vec!["No such constraint.".to_string()]);
            }
        }
        FilterForm {
            st,
            data,
            fields,
            errors,
            f: Filter {
                kind: Some(kind),
                ..Filter::default()
            },
        }
    }

    fn err(&mut self, field: &str, msg: String) {
        self.errors.entry(field.to_string()).or_default().push(msg);
    }

    fn list(&self, key: &str) -> Vec<String> {
        self.data.get_list(key)
    }

    /// Plain string lists (no validation).
    fn strings(&mut self) {
        for key in [
            "not_arch",
            "not_tags",
            "fabrics",
            "not_fabrics",
            "fabric_classes",
            "not_fabric_classes",
            "system_id",
            "pod",
            "not_pod",
            "pod_type",
            "not_pod_type",
            "not_owner",
            "name",
            "id",
            "not_id",
            "hostname",
            "not_hostname",
            "domain",
            "not_domain",
            "agent_name",
            "not_agent_name",
        ] {
            if self.fields.contains(&key) {
                let v = self.list(key);
                if !v.is_empty() {
                    self.f.multi.insert(key.to_string(), v);
                }
            }
        }
    }

    /// `arch`: usable architectures, `arch` wildcards expanded (`clean_arch`).
    fn arch(&mut self) {
        let arch_values = self.list("arch");
        if !arch_values.is_empty() {
            let usable = &self.st.usable_architectures;
            let mut arches = Vec::new();
            let mut bad = false;
            for value in &arch_values {
                if usable.contains(value) {
                    arches.push(value.clone());
                } else {
                    let primary = if value == "arm" && !usable.iter().any(|a| a.starts_with("arm/"))
                    {
                        "armhf"
                    } else {
                        value.as_str()
                    };
                    let expanded: Vec<String> = usable
                        .iter()
                        .filter(|a| a.split('/').next() == Some(primary))
                        .cloned()
                        .collect();
                    if expanded.is_empty() {
                        bad = true;
                    } else {
                        arches.extend(expanded);
                    }
                }
            }
            if bad {
                self.err("arch", "Architecture not recognised.".into());
            } else {
                self.f.arch = Some(arches);
            }
        }
    }

    /// `tags`: legacy comma/space splitting; every tag must exist.
    fn tags(&mut self) {
        let tag_values = self.list("tags");
        if !tag_values.is_empty() {
            let names: BTreeSet<String> = tag_values
                .iter()
                .flat_map(|v| v.split(|c: char| c == ',' || c.is_whitespace()))
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            let unknown: Vec<&String> = names
                .iter()
                .filter(|n| !self.st.tags.contains_key(*n))
                .collect();
            if !unknown.is_empty() {
                let quoted: Vec<String> = unknown.iter().map(|t| format!("'{t}'")).collect();
                self.err("tags", format!("No such tag(s): {}.", quoted.join(", ")));
            } else if !names.is_empty() {
                self.f.tags = Some(names);
            }
        }
    }

    /// Zones and pools must exist.
    fn zones_and_pools(&mut self) {
        for (key, what) in [
            ("zone", "zone"),
            ("not_in_zone", "zone"),
            ("pool", "pool"),
            ("not_in_pool", "pool"),
        ] {
            let values = self.list(key);
            if values.is_empty() {
                continue;
            }
            let mut unknown: Vec<String> = values
                .iter()
                .filter(|v| {
                    if what == "zone" {
                        self.st.zone_by_name(v).is_none()
                    } else {
                        self.st.pool_by_name(v).is_none()
                    }
                })
                .cloned()
                .collect();
            unknown.sort();
            unknown.dedup();
            if unknown.is_empty() {
                self.f.multi.insert(key.to_string(), values);
            } else {
                self.err(key, format!("No such {what}(s): {}.", unknown.join(", ")));
            }
        }
    }

    /// The owner must exist.
    fn owner(&mut self) {
        let owners = self.list("owner");
        if !owners.is_empty() {
            let mut unknown: Vec<&String> = owners
                .iter()
                .filter(|o| self.st.user_by_name(o).is_none())
                .collect();
            unknown.sort();
            if let Some(first) = unknown.first() {
                self.err("owner", format!("No such owner: '{first}'."));
            } else {
                self.f.multi.insert("owner".into(), owners);
            }
        }
    }

    /// Numeric minimums.
    fn numbers(&mut self) {
        for (key, msg) in [
            ("cpu_count", "Invalid CPU count: number required."),
            ("cpu_speed", "Invalid CPU speed: number required."),
            ("mem", "Invalid memory: number of MiB required."),
            ("link_speed", "Invalid link speed: number required."),
        ] {
            let values = self.list(key);
            if values.is_empty() {
                continue;
            }
            let parsed: Result<Vec<f64>, ()> = values
                .iter()
                .map(|v| v.trim().parse::<f64>().map_err(|_| ()))
                .collect();
            match parsed {
                Ok(nums) => {
                    let min = nums.iter().copied().fold(f64::INFINITY, f64::min);
                    self.f.floats.insert(key.to_string(), min);
                    self.f.float_values.insert(key.to_string(), nums);
                }
                Err(()) => self.err(key, msg.to_string()),
            }
        }
    }

    /// Constrained choices: power states and deployment targets.
    fn choices(&mut self) {
        for key in ["power_state", "not_power_state"] {
            let values = self.list(key);
            for v in &values {
                let v = v.strip_prefix('=').unwrap_or(v);
                if PowerState::parse(v).is_none() {
                    self.err(
                        key,
                        format!("Select a valid choice. {v} is not one of the available choices."),
                    );
                }
            }
            if !values.is_empty() {
                self.f.multi.insert(
                    key.to_string(),
                    values
                        .iter()
                        .map(|v| v.strip_prefix('=').unwrap_or(v).to_string())
                        .collect(),
                );
            }
        }
        for key in ["deployment_target", "not_deployment_target"] {
            let values = self.list(key);
            for v in &values {
                let v = v.strip_prefix('=').unwrap_or(v);
                if v != "memory" && v != "disk" {
                    self.err(
                        key,
                        format!("Select a valid choice. {v} is not one of the available choices."),
                    );
                }
            }
            if !values.is_empty() {
                self.f.multi.insert(
                    key.to_string(),
                    values
                        .iter()
                        .map(|v| v.strip_prefix('=').unwrap_or(v).to_string())
                        .collect(),
                );
            }
        }
    }

    /// The read form's own fields: statuses and MAC addresses.
    fn read_only(&mut self) {
        for (key, simple) in [
            ("status", false),
            ("not_status", false),
            ("simple_status", true),
            ("not_simple_status", true),
        ] {
            let values = self.list(key);
            if values.is_empty() {
                continue;
            }
            let mut statuses = Vec::new();
            for v in &values {
                let v = v.strip_prefix('=').unwrap_or(v);
                let ok = if simple {
                    SIMPLE_STATUSES.contains(&v)
                } else {
                    NodeStatus::from_short(v).is_some()
                };
                if !ok {
                    self.err(
                        key,
                        format!("Select a valid choice. {v} is not one of the available choices."),
                    );
                    continue;
                }
                if simple {
                    statuses.extend(NodeStatus::ALL.iter().copied().filter(|s| s.simple() == v));
                } else if let Some(s) = NodeStatus::from_short(v) {
                    statuses.push(s);
                }
            }
            if key.starts_with("not_") {
                self.f
                    .not_statuses
                    .get_or_insert_with(Vec::new)
                    .extend(statuses);
            } else {
                // Two positive status filters are ANDed.
                self.f.statuses = Some(match self.f.statuses.take() {
                    Some(prev) => prev.into_iter().filter(|s| statuses.contains(s)).collect(),
                    None => statuses,
                });
            }
        }
        let macs = self.list("mac_address");
        for m in &macs {
            if !is_mac(m) {
                self.err("mac_address", format!("'{m}' is not a valid MAC address."));
            }
        }
        if !macs.is_empty() {
            self.f.multi.insert(
                "mac_address".into(),
                macs.iter().map(|m| m.to_ascii_lowercase()).collect(),
            );
        }
    }

    /// Subnet and VLAN specifiers.
    fn network(&mut self) {
        for key in ["subnets", "not_subnets", "vlans", "not_vlans"] {
            let values = self.list(key);
            if values.is_empty() {
                continue;
            }
            let mut ids = BTreeSet::new();
            for v in &values {
                if key.ends_with("subnets") {
                    ids.extend(self.st.subnets_matching(v).unwrap_or_default());
                } else {
                    ids.extend(vlans_matching(self.st, v));
                }
            }
            if ids.is_empty() {
                let what = if key.ends_with("subnets") {
                    "subnets"
                } else {
                    "VLANs"
                };
                self.err(key, format!("No matching {what} found."));
                continue;
            }
            let ids: Vec<u64> = ids.into_iter().collect();
            match key {
                "subnets" => self.f.subnets = Some(ids),
                "not_subnets" => self.f.not_subnets = Some(ids),
                "vlans" => self.f.vlans = Some(ids),
                _ => self.f.not_vlans = Some(ids),
            }
        }
    }

    /// `storage`: labelled disk constraints.
    fn storage(&mut self) {
        if let Some(s) = self.data.get("storage").filter(|s| !s.is_empty()) {
            match parse_storage(s) {
                Ok(c) => self.f.storage = Some((s.to_string(), c)),
                Err(e) => self.err("storage", e),
            }
        }
    }

    /// `interfaces`: labelled network constraints; an unknown space is an
    /// `Http404`, not a form error.
    fn interfaces(&mut self) -> Result<(), MaasError> {
        if let Some(s) = self.data.get("interfaces").filter(|s| !s.trim().is_empty()) {
            match parse_labeled_map(s) {
                Ok(map) => {
                    let unknown = map
                        .iter()
                        .flat_map(|(_, kvs)| kvs.iter().map(|(k, _)| k))
                        .find(|k| !NETWORKING_CONSTRAINT_NAMES.contains(&k.as_str()));
                    match unknown {
                        Some(k) => {
                            self.err("interfaces", format!("Unknown interfaces constraint: '{k}"))
                        }
                        None => {
                            // Spaces are looked up (`get_object_by_specifiers_or_raise`):
                            // an unknown one is an Http404, not a mismatch.
                            let unknown_space = map
                                .iter()
                                .flat_map(|(_, kvs)| kvs.iter())
                                .filter(|(k, _)| k == "space" || k == "not_space")
                                .flat_map(|(_, vs)| vs.iter())
                                .any(|v| {
                                    v != "undefined"
                                        && !self
                                            .st
                                            .vlans
                                            .values()
                                            .any(|x| x.space.as_deref() == Some(v))
                                });
                            if unknown_space {
                                return Err(MaasError::no_match("Space"));
                            }
                            self.f.interfaces = Some((s.to_string(), map));
                        }
                    }
                }
                Err(e) => self.err("interfaces", e),
            }
        }
        Ok(())
    }

    /// `devices`: known device constraint names only.
    fn devices(&mut self) {
        if let Some(s) = self.data.get("devices").filter(|s| !s.is_empty()) {
            let unknown = s
                .split(',')
                .map(|kv| kv.split('=').next().unwrap_or(""))
                .find(|k| !DEVICE_CONSTRAINT_NAMES.contains(k));
            match unknown {
                Some(k) => self.err("devices", format!("Unknown devices constraint: '{k}")),
                None => self.f.devices = Some(s.to_string()),
            }
        }
    }
}

impl Filter {
    /// Parse `data` with the given form, MAAS-strict: every field's errors
    /// are collected, as Django does, and answered together.
    pub(crate) fn parse(st: &State, kind: FormKind, data: &Params) -> Result<Filter, MaasError> {
        let mut form = FilterForm::new(st, kind, data);
        form.strings();
        form.arch();
        form.tags();
        form.zones_and_pools();
        form.owner();
        form.numbers();
        form.choices();
        if kind == FormKind::Read {
            form.read_only();
        }
        form.network();
        form.storage();
        form.interfaces()?;
        form.devices();
        if !form.errors.is_empty() {
            return Err(MaasError::form(form.errors));
        }
        Ok(form.f)
    }

    fn list(&self, key: &str) -> Option<&Vec<String>> {
        self.multi.get(key).filter(|v| !v.is_empty())
    }

    /// Whether the form carries the `interfaces` constraint.
    pub(crate) fn interfaces(&self) -> Option<&LabeledMap> {
        self.interfaces.as_ref().map(|(_, m)| m)
    }

    /// Whether machine `m` satisfies every constraint (storage and
    /// interfaces excepted; see [`Filter::storage_map`] and
    /// [`Filter::interface_map`]).
    pub(crate) fn matches(&self, st: &State, m: &Machine) -> bool {
        if let Some(arch) = &self.arch
            && !arch.contains(&m.architecture)
        {
            return false;
        }
        if let Some(v) = self.list("not_arch")
            && v.contains(&m.architecture)
        {
            return false;
        }
        if let Some(tags) = &self.tags
            && !tags.iter().all(|t| m.tags.contains(t))
        {
            return false;
        }
        if let Some(v) = self.list("not_tags")
            && v.iter().any(|t| m.tags.contains(t))
        {
            return false;
        }
        let zone = st
            .zones
            .get(&m.zone_id)
            .map(|z| z.name.as_str())
            .unwrap_or("");
        let pool = st
            .pools
            .get(&m.pool_id)
            .map(|p| p.name.as_str())
            .unwrap_or("");
        if !in_list(self.list("zone"), zone, true)
            || !in_list(self.list("not_in_zone"), zone, false)
        {
            return false;
        }
        if !in_list(self.list("pool"), pool, true)
            || !in_list(self.list("not_in_pool"), pool, false)
        {
            return false;
        }
        if let Some(min) = self.floats.get("cpu_count")
            && f64::from(m.cpu_count) < *min
        {
            return false;
        }
        if let Some(min) = self.floats.get("mem")
            && (m.memory as f64) < *min
        {
            return false;
        }
        if let Some(min) = self.floats.get("cpu_speed")
            && f64::from(m.cpu_speed) < *min
        {
            return false;
        }
        if !in_list(self.list("system_id"), &m.system_id, true) {
            return false;
        }
        if let Some(names) = self.list("name") {
            let domain = st
                .domains
                .get(&m.domain_id)
                .map(|d| d.name.as_str())
                .unwrap_or("");
            for n in names {
                let (host, dom) = match n.split_once('.') {
                    Some((h, d)) => (h, Some(d)),
                    None => (n.as_str(), None),
                };
                if m.hostname != host || dom.map(|d| d != domain).unwrap_or(false) {
                    return false;
                }
            }
        }
        let pod_name = m
            .pod_id
            .and_then(|p| st.vmhosts.get(&p))
            .map(|v| v.name.as_str());
        if let Some(v) = self.list("pod")
            && !pod_name.map(|p| v.iter().any(|x| x == p)).unwrap_or(false)
        {
            return false;
        }
        if let Some(v) = self.list("not_pod")
            && pod_name.map(|p| v.iter().any(|x| x == p)).unwrap_or(false)
        {
            return false;
        }
        if !in_list(self.list("pod_type"), &m.power_type, true)
            || !in_list(self.list("not_pod_type"), &m.power_type, false)
        {
            return false;
        }
        let owner = st.username(m.owner);
        if let Some(v) = self.list("owner")
            && !owner.map(|o| v.iter().any(|x| x == o)).unwrap_or(false)
        {
            return false;
        }
        if let Some(v) = self.list("not_owner")
            && owner.map(|o| v.iter().any(|x| x == o)).unwrap_or(false)
        {
            return false;
        }
        if !in_list(self.list("power_state"), m.power_state.as_str(), true)
            || !in_list(self.list("not_power_state"), m.power_state.as_str(), false)
        {
            return false;
        }
        let target = if m.ephemeral_deploy { "memory" } else { "disk" };
        if !in_list(self.list("deployment_target"), target, true)
            || !in_list(self.list("not_deployment_target"), target, false)
        {
            return false;
        }
        if self.has_network_constraints() && !self.matches_network(st, m) {
            return false;
        }
        // The simulator models no PCI/USB devices: a device constraint
        // matches nothing.
        if self.devices.is_some() {
            return false;
        }
        // Read-form filters.
        if !in_list(self.list("id"), &m.system_id, true)
            || !in_list(self.list("not_id"), &m.system_id, false)
        {
            return false;
        }
        if !in_list(self.list("hostname"), &m.hostname, true)
            || !in_list(self.list("not_hostname"), &m.hostname, false)
        {
            return false;
        }
        let domain = st
            .domains
            .get(&m.domain_id)
            .map(|d| d.name.as_str())
            .unwrap_or("");
        if !in_list(self.list("domain"), domain, true)
            || !in_list(self.list("not_domain"), domain, false)
        {
            return false;
        }
        if !in_list(self.list("agent_name"), &m.agent_name, true)
            || !in_list(self.list("not_agent_name"), &m.agent_name, false)
        {
            return false;
        }
        if let Some(macs) = self.list("mac_address")
            && !m
                .interfaces
                .iter()
                .filter_map(|i| st.interfaces.get(i))
                .any(|i| macs.contains(&i.mac.to_ascii_lowercase()))
        {
            return false;
        }
        if let Some(s) = &self.statuses
            && !s.contains(&m.status)
        {
            return false;
        }
        if let Some(s) = &self.not_statuses
            && s.contains(&m.status)
        {
            return false;
        }
        if self.storage_map(m).is_none() {
            return false;
        }
        if let Some(map) = self.interfaces()
            && interface_map(st, m, map).is_none()
        {
            return false;
        }
        true
    }

    /// Lower bound of `Machine::cost_key` for machines meeting the
    /// `cpu_count` and `mem` minimums.
    pub(crate) fn min_cost_key(&self) -> u64 {
        let cpu = self
            .floats
            .get("cpu_count")
            .map(|c| c.max(0.0).ceil() as u64)
            .unwrap_or(0);
        let mem = self
            .floats
            .get("mem")
            .map(|m| m.max(0.0).ceil() as u64)
            .unwrap_or(0);
        cpu.saturating_mul(1024).saturating_add(mem)
    }

    /// Whether any subnet/VLAN/fabric/link-speed constraint is present.
    fn has_network_constraints(&self) -> bool {
        self.subnets.is_some()
            || self.not_subnets.is_some()
            || self.vlans.is_some()
            || self.not_vlans.is_some()
            || self.floats.contains_key("link_speed")
            || [
                "fabrics",
                "not_fabrics",
                "fabric_classes",
                "not_fabric_classes",
            ]
            .iter()
            .any(|k| self.list(k).is_some())
    }

    fn matches_network(&self, st: &State, m: &Machine) -> bool {
        let ifaces: Vec<&Interface> = m
            .interfaces
            .iter()
            .filter_map(|i| st.interfaces.get(i))
            .collect();
        let link_subnets: BTreeSet<u64> = ifaces
            .iter()
            .flat_map(|i| i.links.iter())
            .filter_map(|l| st.ips.get(l))
            .filter_map(|r| r.subnet_id)
            .collect();
        if let Some(subnets) = &self.subnets
            && !subnets.iter().all(|s| link_subnets.contains(s))
        {
            return false;
        }
        if let Some(subnets) = &self.not_subnets
            && subnets.iter().any(|s| link_subnets.contains(s))
        {
            return false;
        }
        let vlan_ids: BTreeSet<u64> = ifaces.iter().filter_map(|i| i.vlan_id).collect();
        if !any_of_and_none_of(self.vlans.as_deref(), self.not_vlans.as_deref(), |x| {
            vlan_ids.contains(x)
        }) {
            return false;
        }
        let machine_fabrics: Vec<_> = vlan_ids
            .iter()
            .filter_map(|v| st.vlans.get(v))
            .filter_map(|v| st.fabrics.get(&v.fabric_id))
            .collect();
        let fabrics: BTreeSet<&str> = machine_fabrics.iter().map(|f| f.name.as_str()).collect();
        if !any_of_and_none_of(
            self.list("fabrics").map(Vec::as_slice),
            self.list("not_fabrics").map(Vec::as_slice),
            |x| fabrics.contains(x.as_str()),
        ) {
            return false;
        }
        let classes: BTreeSet<&str> = machine_fabrics
            .iter()
            .filter_map(|f| f.class_type.as_deref())
            .collect();
        if !any_of_and_none_of(
            self.list("fabric_classes").map(Vec::as_slice),
            self.list("not_fabric_classes").map(Vec::as_slice),
            |x| classes.contains(x.as_str()),
        ) {
            return false;
        }
        if let Some(min) = self.floats.get("link_speed")
            && !ifaces.iter().any(|i| i.link_speed as f64 >= *min)
        {
            return false;
        }
        true
    }

    /// `{label: [block device ids]}` for the storage constraint (named
    /// constraints only); `None` when the machine does not satisfy it.
    pub(crate) fn storage_map(&self, m: &Machine) -> Option<BTreeMap<String, Vec<u64>>> {
        let Some((_, constraints)) = &self.storage else {
            return Some(BTreeMap::new());
        };
        let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        let (head, tail) = constraints.split_first()?;
        let mut tail: Vec<&StorageConstraint> = tail.iter().collect();
        tail.sort_by_key(|c| std::cmp::Reverse(c.tags.len()));
        let root = m.block_devices.first()?;
        let tags_ok = |need: &[String], have: &[String]| {
            need.iter()
                .filter(|t| *t != "partition")
                .all(|t| have.contains(t))
        };
        if root.size < head.size || !tags_ok(&head.tags, &root.tags) {
            return None;
        }
        if !head.label.is_empty() {
            out.entry(head.label.clone()).or_default().push(root.id);
        }
        let mut used = vec![root.id];
        for c in tail {
            let mut candidates: Vec<&BlockDevice> = m
                .block_devices
                .iter()
                .filter(|b| !used.contains(&b.id) && b.size >= c.size && tags_ok(&c.tags, &b.tags))
                .collect();
            candidates.sort_by_key(|b| b.size);
            let dev = candidates.first()?;
            used.push(dev.id);
            if !c.label.is_empty() {
                out.entry(c.label.clone()).or_default().push(dev.id);
            }
        }
        Some(out)
    }

    /// MAAS's `describe_constraints()`: `name=value` pairs sorted by name.
    pub(crate) fn describe(&self) -> String {
        let mut parts: BTreeMap<&str, String> = BTreeMap::new();
        for (k, v) in &self.multi {
            if v.is_empty()
                || (self.kind == Some(FormKind::Read) && READ_FIELDS.contains(&k.as_str()))
            {
                continue;
            }
            let rendered = match k.as_str() {
                "deployment_target" | "not_deployment_target" => v
                    .iter()
                    .map(|x| {
                        if x == "memory" {
                            "True".to_string()
                        } else {
                            "False".to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                _ => v.join(","),
            };
            parts.insert(k.as_str(), rendered);
        }
        if let Some(a) = &self.arch {
            parts.insert("arch", a.join(","));
        }
        if let Some(t) = &self.tags {
            parts.insert("tags", t.iter().cloned().collect::<Vec<_>>().join(","));
        }
        for (k, values) in &self.float_values {
            parts.insert(
                k.as_str(),
                values
                    .iter()
                    .map(|v| pyfmt::py_float(*v))
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        for (k, ids) in [
            ("subnets", &self.subnets),
            ("not_subnets", &self.not_subnets),
            ("vlans", &self.vlans),
            ("not_vlans", &self.not_vlans),
        ] {
            if let Some(ids) = ids {
                parts.insert(
                    k,
                    ids.iter()
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                );
            }
        }
        if let Some((raw, _)) = &self.storage {
            parts.insert("storage", raw.clone());
        }
        if let Some((raw, _)) = &self.interfaces {
            parts.insert("interfaces", raw.clone());
        }
        if let Some(raw) = &self.devices {
            parts.insert("devices", raw.clone());
        }
        parts
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn in_list(list: Option<&Vec<String>>, value: &str, positive: bool) -> bool {
    match list {
        None => true,
        Some(l) => l.iter().any(|x| x == value) == positive,
    }
}

fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// VLAN ids matching a specifier (`<id>`, `id:`, `vid:`, `fabric:`, `name:`).
pub(crate) fn vlans_matching(st: &State, spec: &str) -> Vec<u64> {
    let (kind, value) = spec.split_once(':').unwrap_or(("", spec));
    st.vlans
        .values()
        .filter(|v| match kind {
            "" | "id" => v.id.to_string() == value,
            "vid" => v.vid.to_string() == value,
            "name" => v.name == value,
            "fabric" => st
                .fabrics
                .get(&v.fabric_id)
                .map(|f| f.name == value || f.id.to_string() == value)
                .unwrap_or(false),
            "space" => v.space.as_deref().unwrap_or("undefined") == value,
            _ => false,
        })
        .map(|v| v.id)
        .collect()
}

/// Whether interface `i` of machine `m` meets one label's constraints.
fn interface_matches(
    st: &State,
    m: &Machine,
    i: &Interface,
    constraints: &[(String, Vec<String>)],
) -> bool {
    let vlan = i.vlan_id.and_then(|v| st.vlans.get(&v));
    let fabric = vlan.and_then(|v| st.fabrics.get(&v.fabric_id));
    let links: Vec<&StaticIp> = i.links.iter().filter_map(|l| st.ips.get(l)).collect();
    let subnets: Vec<u64> = links.iter().filter_map(|r| r.subnet_id).collect();
    for (key, values) in constraints {
        let (negate, name) = match key.strip_prefix("not_") {
            Some(n) => (true, n),
            None => (false, key.as_str()),
        };
        let hit = values.iter().any(|v| match name {
            "id" => i.id.to_string() == *v,
            "name" => i.name == *v,
            "hostname" => m.hostname == *v,
            "type" => i.iftype == *v,
            "tag" => i.tags.contains(v),
            "fabric" => fabric
                .map(|f| f.name == *v || f.id.to_string() == *v)
                .unwrap_or(false),
            "fabric_class" => fabric.and_then(|f| f.class_type.as_deref()) == Some(v.as_str()),
            "vlan" => vlan
                .map(|x| vlans_matching(st, v).contains(&x.id))
                .unwrap_or(false),
            "vid" => vlan.map(|x| x.vid.to_string() == *v).unwrap_or(false),
            "space" => vlan
                .map(|x| x.space.as_deref().unwrap_or("undefined") == v)
                .unwrap_or(false),
            "subnet" => {
                let ids = st.subnets_matching(v).unwrap_or_default();
                subnets.iter().any(|s| ids.contains(s))
            }
            "subnet_cidr" => subnets
                .iter()
                .filter_map(|s| st.subnets.get(s))
                .any(|s| s.cidr.to_string() == *v),
            "ip" => v
                .parse::<IpAddr>()
                .map(|ip| links.iter().any(|r| r.ip == Some(ip)))
                .unwrap_or(false),
            "mode" => links.iter().any(|r| r.mode() == v.to_ascii_lowercase()),
            "link_speed" => v
                .parse::<f64>()
                .map(|s| i.link_speed as f64 >= s)
                .unwrap_or(false),
            _ => false,
        });
        if name == "link_speed" || name == "mode" {
            if !hit {
                return false;
            }
            continue;
        }
        if hit == negate {
            return false;
        }
    }
    true
}

/// `{label: [interface ids]}` for the machine, or `None` when a label has no
/// matching interface.
pub(crate) fn interface_map(
    st: &State,
    m: &Machine,
    map: &LabeledMap,
) -> Option<BTreeMap<String, Vec<u64>>> {
    let mut out = BTreeMap::new();
    for (label, constraints) in map {
        let ids: Vec<u64> = m
            .interfaces
            .iter()
            .filter_map(|i| st.interfaces.get(i))
            .filter(|i| interface_matches(st, m, i, constraints))
            .map(|i| i.id)
            .collect();
        if ids.is_empty() {
            return None;
        }
        out.insert(label.clone(), ids);
    }
    Some(out)
}

/// Result of a successful allocate.
#[derive(Debug, Clone)]
pub(crate) struct Allocation {
    pub(crate) machine_id: u64,
    pub(crate) constraints_by_type: Value,
}

/// `Node.agent_name`'s `max_length`.
const AGENT_NAME_MAX: usize = 255;

impl State {
    /// The Ready machine an allocation with `data` would take now, found
    /// without changing anything, so under the read lock (allocations scan in
    /// parallel); `None` when the form is invalid or nothing matches.
    /// [`State::allocate`] re-checks it under the write lock.
    pub(crate) fn allocation_candidate(&self, data: &Params) -> Option<u64> {
        let filter = Filter::parse(self, FormKind::Acquire, data).ok()?;
        self.first_ready_match(&filter)
    }

    /// The cheapest Ready, unowned machine matching `filter`.
    fn first_ready_match(&self, filter: &Filter) -> Option<u64> {
        // cost = cpu_count*1024 + memory: machines cheaper than the minimums
        // cannot match, so the scan starts at that cost.
        let start = filter.min_cost_key();
        self.ready.range((start, 0)..).find_map(|&(_, mid)| {
            self.machines
                .get(&mid)
                .filter(|m| filter.matches(self, m))
                .map(|_| mid)
        })
    }

    /// `mid` is still Ready, unowned and matching `filter`.
    fn still_ready_match(&self, mid: u64, filter: &Filter) -> bool {
        self.machines
            .get(&mid)
            .is_some_and(|m| self.ready.contains(&(m.cost_key(), mid)) && filter.matches(self, m))
    }

    /// `POST machines/?op=allocate`, taking `candidate` (from
    /// [`State::allocation_candidate`]) when it still matches; otherwise the
    /// scan runs again here. (A machine that became Ready in between may be
    /// cheaper than the candidate; MAAS does not promise the cheapest
    /// machine to concurrent allocations either.)
    pub(crate) fn allocate(
        &mut self,
        user: &User,
        data: &Params,
        candidate: Option<u64>,
    ) -> Result<Allocation, MaasError> {
        let input: Vec<(String, Vec<String>)> = data
            .lists()
            .into_iter()
            .filter(|(k, _)| k != "op")
            .collect();
        let options = allocation_options(data, self.version)?;
        let verbose = data.bool_or("verbose", false)?;
        let dry_run = data.bool_or("dry_run", false)?;
        let zone = data.get("zone").map(str::to_string);
        let filter = Filter::parse(self, FormKind::Acquire, data)?;
        let system_id = data.get("system_id").map(str::to_string);

        // `Node.agent_name` is a CharField(max_length=255): `acquire`'s save
        // fails full_clean (400, model validation) once a machine was found.
        let agent_len = validate::py_len(&options.agent_name);
        let agent_error = (!dry_run && agent_len > AGENT_NAME_MAX).then(|| {
            MaasError::model_validation(
                "agent_name",
                validate::max_length_text(AGENT_NAME_MAX, agent_len),
            )
        });
        let mut chosen = candidate
            .filter(|mid| self.still_ready_match(*mid, &filter))
            .or_else(|| self.first_ready_match(&filter));
        // Before 3.3 a `system_id` that matched nothing did not stop MAAS
        // from composing a VM that ignores it (Launchpad bug 1990289).
        let honours_system_id = self.version.allocate_honours_system_id();
        if chosen.is_none()
            && (system_id.is_none() || !honours_system_id)
            && self.version.has_vm_hosts()
        {
            // MAAS composes, then fails the save and rolls the VM back; the
            // simulator refuses before composing.
            if let Some(e) = &agent_error {
                return Err(e.clone());
            }
            chosen = self.compose_for_allocation(user, &filter, &input, zone.as_deref());
        }
        if chosen.is_some()
            && let Some(e) = agent_error
        {
            return Err(e);
        }
        let Some(mid) = chosen else {
            let described = filter.describe();
            let msg = if described.is_empty() {
                "No machine available.".to_string()
            } else if let Some(sid) = system_id.filter(|_| honours_system_id) {
                format!("No machine with system ID {sid} available.")
            } else {
                let items: Vec<String> = input
                    .iter()
                    .map(|(k, v)| format!("({}, {})", pyfmt::repr_str(k), pyfmt::repr_str_list(v)))
                    .collect();
                format!(
                    "No available machine matches constraints: [{}] (resolved to \"{}\")",
                    items.join(", "),
                    described
                )
            };
            return Err(MaasError::conflict(msg));
        };
        if !dry_run {
            self.acquire(mid, user, &options.agent_name, options.comment.as_deref());
        }
        let m = self
            .machines
            .get(&mid)
            .ok_or_else(|| MaasError::no_match("Machine"))?;
        let mut cbt = Map::new();
        let storage = filter.storage_map(m).unwrap_or_default();
        if !storage.is_empty() {
            cbt.insert("storage".into(), json!(storage));
        }
        let interfaces = filter
            .interfaces()
            .and_then(|map| interface_map(self, m, map))
            .unwrap_or_default();
        if filter.interfaces().is_some() {
            cbt.insert("interfaces".into(), json!(interfaces));
        }
        if verbose {
            let mut vs = Map::new();
            let mut per_dev = Map::new();
            for (label, ids) in &storage {
                for id in ids {
                    per_dev.insert(id.to_string(), json!(label));
                }
            }
            vs.insert(m.id.to_string(), Value::Object(per_dev));
            cbt.insert("verbose_storage".into(), Value::Object(vs));
            let mut vi = Map::new();
            for (label, ids) in &interfaces {
                vi.insert(label.clone(), json!({ m.id.to_string(): ids }));
            }
            cbt.insert("verbose_interfaces".into(), Value::Object(vi));
        }
        Ok(Allocation {
            machine_id: mid,
            constraints_by_type: Value::Object(cbt),
        })
    }

    /// The machines visible to `user` that pass the read form, by id.
    pub(crate) fn list_machines(&self, user: &User, query: &Params) -> Result<Vec<u64>, MaasError> {
        let filter = Filter::parse(self, FormKind::Read, query)?;
        Ok(self
            .machines
            .values()
            .filter(|m| self.can_view(user, m) && filter.matches(self, m))
            .map(|m| m.id)
            .collect())
    }
}

/// MAAS's pair of set constraints (`fabrics`/`not_fabrics`, `vlans`/...):
/// when `wanted` is given the machine `has` at least one of it, and it has
/// none of `unwanted`.
fn any_of_and_none_of<T>(
    wanted: Option<&[T]>,
    unwanted: Option<&[T]>,
    has: impl Fn(&T) -> bool,
) -> bool {
    wanted.is_none_or(|w| w.iter().any(&has)) && !unwanted.is_some_and(|u| u.iter().any(&has))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labeled_map_parsing_and_errors() {
        let m = parse_labeled_map("eth0:fabric=f1,vid=10;eth1:ip=10.0.0.5").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].1[0], ("fabric".to_string(), vec!["f1".to_string()]));
        assert!(
            parse_labeled_map("noval")
                .unwrap_err()
                .starts_with("Malformed constraint: 'noval'")
        );
        assert_eq!(
            parse_labeled_map("a:x=1;a:y=2").unwrap_err(),
            "Constraint label defined more than once: 'a'"
        );
        assert_eq!(
            parse_labeled_map("a:x").unwrap_err(),
            "Malformed key/value pair in constraint: 'x'"
        );
    }

    #[test]
    fn storage_parsing() {
        let c = parse_storage("root:80(ssd),data:400(ssd,rotary),300").unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].label, "root");
        assert_eq!(c[0].size, 80_000_000_000);
        assert_eq!(c[1].tags, vec!["ssd", "rotary"]);
        assert_eq!(c[2].label, "");
        assert_eq!(
            parse_storage("root:x").unwrap_err(),
            "Malformed storage constraint, \"root:x\"."
        );
        assert!(parse_storage("10,").is_err());
    }
}
