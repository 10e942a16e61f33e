//! The simulator's state: every MAAS object, the indexes that keep the hot
//! paths off linear scans, the event log and the timeline engine that makes
//! machines progress lazily from timestamps.

use crate::model::names::{self, SimRng};
use crate::model::version::MaasVersion;
use crate::model::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

/// How long simulated operations take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Timings {
    /// Deploying → Deployed.
    #[serde(with = "ms")]
    pub deploy: Duration,
    /// Releasing → Ready (when the machine was powered on).
    #[serde(with = "ms")]
    pub release: Duration,
    /// Commissioning → Ready (composed VMs).
    #[serde(with = "ms")]
    pub commission: Duration,
    /// Disk erasing before the release proper.
    #[serde(with = "ms")]
    pub erase: Duration,
    /// Delay before a power change is observed.
    #[serde(with = "ms")]
    pub power: Duration,
    /// Deployments still running after this are marked failed
    /// (`None`: the version profile's node timeout).
    #[serde(default, with = "opt_ms")]
    pub deploy_timeout: Option<Duration>,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            deploy: Duration::from_secs(5),
            release: Duration::from_secs(1),
            commission: Duration::from_secs(3),
            erase: Duration::from_secs(2),
            power: Duration::from_millis(500),
            deploy_timeout: None,
        }
    }
}

mod ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

mod opt_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

pub(crate) const ADMIN_ID: u64 = 1;
pub(crate) const USER_ID: u64 = 2;
pub(crate) const DEFAULT_ZONE_ID: u64 = 1;
pub(crate) const DEFAULT_POOL_ID: u64 = 0;
pub(crate) const DEFAULT_DOMAIN_ID: u64 = 0;

/// All simulated MAAS objects.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) version: MaasVersion,
    pub(crate) timings: Timings,
    pub(crate) rng: SimRng,
    pub(crate) maas_name: String,
    pub(crate) users: BTreeMap<u64, User>,
    pub(crate) tokens: HashMap<String, Token>,
    pub(crate) zones: BTreeMap<u64, Zone>,
    pub(crate) pools: BTreeMap<u64, Pool>,
    pub(crate) tags: BTreeMap<String, Tag>,
    pub(crate) domains: BTreeMap<u64, Domain>,
    pub(crate) fabrics: BTreeMap<u64, Fabric>,
    pub(crate) vlans: BTreeMap<u64, Vlan>,
    pub(crate) subnets: BTreeMap<u64, Subnet>,
    pub(crate) ips: BTreeMap<u64, StaticIp>,
    pub(crate) ip_index: HashMap<IpAddr, u64>,
    pub(crate) interfaces: BTreeMap<u64, Interface>,
    pub(crate) machines: BTreeMap<u64, Machine>,
    pub(crate) by_system_id: HashMap<String, u64>,
    pub(crate) by_hostname: HashMap<String, u64>,
    /// Ready, unowned machines ordered by allocation cost.
    pub(crate) ready: BTreeSet<(u64, u64)>,
    /// (due time, machine id) of every machine's next timeline step.
    pub(crate) pending: BTreeSet<(u64, u64)>,
    pub(crate) vmhosts: BTreeMap<u64, VmHost>,
    pub(crate) dnsresources: BTreeMap<u64, DnsResource>,
    /// DNS resource records (`DNSData`), by id.
    pub(crate) dnsdata: BTreeMap<u64, DnsData>,
    pub(crate) events: Vec<Event>,
    /// Architectures with boot images (MAAS's usable architectures: only
    /// these pass `arch` constraints, whatever the machines are).
    pub(crate) usable_architectures: BTreeSet<String>,
    /// Deploys still to fail (fault injection).
    pub(crate) deploy_failures: u32,
    /// Unix ms of simulator time 0 (for event timestamps).
    pub(crate) epoch_ms: u64,
    pub(crate) now_ms: u64,
    next: Counters,
}

#[derive(Debug, Clone)]
struct Counters {
    machine: u64,
    interface: u64,
    ip: u64,
    block: u64,
    vmhost: u64,
    subnet: u64,
    vlan: u64,
    fabric: u64,
    zone: u64,
    pool: u64,
    domain: u64,
    dns: u64,
    dnsdata: u64,
    result: u64,
    vm: u64,
}

impl State {
    /// Users and keys plus MAAS's built-in defaults (zone `default`, pool
    /// `default`, domain `maas`).
    pub(crate) fn new(
        version: MaasVersion,
        timings: Timings,
        seed: u64,
        epoch_ms: u64,
        admin_key: &crate::model::keys::ApiKey,
        user_key: &crate::model::keys::ApiKey,
    ) -> State {
        let mut st = State {
            version,
            timings,
            rng: SimRng::new(seed),
            maas_name: "maas-sim".to_string(),
            users: BTreeMap::new(),
            tokens: HashMap::new(),
            zones: BTreeMap::new(),
            pools: BTreeMap::new(),
            tags: BTreeMap::new(),
            domains: BTreeMap::new(),
            fabrics: BTreeMap::new(),
            vlans: BTreeMap::new(),
            subnets: BTreeMap::new(),
            ips: BTreeMap::new(),
            ip_index: HashMap::new(),
            interfaces: BTreeMap::new(),
            machines: BTreeMap::new(),
            by_system_id: HashMap::new(),
            by_hostname: HashMap::new(),
            ready: BTreeSet::new(),
            pending: BTreeSet::new(),
            vmhosts: BTreeMap::new(),
            dnsresources: BTreeMap::new(),
            dnsdata: BTreeMap::new(),
            events: Vec::new(),
            usable_architectures: ["amd64/generic", "arm64/generic"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            deploy_failures: 0,
            epoch_ms,
            now_ms: 0,
            next: Counters {
                machine: 1,
                interface: 1,
                ip: 1,
                block: 1,
                vmhost: 1,
                subnet: 1,
                vlan: 5001,
                fabric: 0,
                zone: 1,
                pool: 0,
                domain: 0,
                dns: 1,
                dnsdata: 1,
                result: 1,
                vm: 1,
            },
        };
        st.users.insert(
            ADMIN_ID,
            User {
                id: ADMIN_ID,
                username: "admin".into(),
                email: "admin@example.com".into(),
                is_superuser: true,
            },
        );
        st.users.insert(
            USER_ID,
            User {
                id: USER_ID,
                username: "user".into(),
                email: "user@example.com".into(),
                is_superuser: false,
            },
        );
        for (key, user_id) in [(admin_key, ADMIN_ID), (user_key, USER_ID)] {
            st.tokens.insert(
                key.token_key.clone(),
                Token {
                    consumer_key: key.consumer_key.clone(),
                    token_key: key.token_key.clone(),
                    secret: key.token_secret().to_string(),
                    user_id,
                    name: "MAAS consumer".into(),
                },
            );
        }
        st.add_zone("default", "");
        st.add_pool("default", "Default pool");
        st.add_domain("maas", None, true);
        st
    }

    // ----- ids ---------------------------------------------------------

    pub(crate) fn next_interface_id(&mut self) -> u64 {
        let id = self.next.interface;
        self.next.interface += 1;
        id
    }

    pub(crate) fn next_ip_id(&mut self) -> u64 {
        let id = self.next.ip;
        self.next.ip += 1;
        id
    }

    pub(crate) fn next_block_id(&mut self) -> u64 {
        let id = self.next.block;
        self.next.block += 1;
        id
    }

    pub(crate) fn next_result_id(&mut self) -> u64 {
        let id = self.next.result;
        self.next.result += 1;
        id
    }

    pub(crate) fn next_vm_id(&mut self) -> u64 {
        let id = self.next.vm;
        self.next.vm += 1;
        id
    }

    pub(crate) fn next_vmhost_id(&mut self) -> u64 {
        let id = self.next.vmhost;
        self.next.vmhost += 1;
        id
    }

    pub(crate) fn next_dns_id(&mut self) -> u64 {
        let id = self.next.dns;
        self.next.dns += 1;
        id
    }

    pub(crate) fn next_dnsdata_id(&mut self) -> u64 {
        let id = self.next.dnsdata;
        self.next.dnsdata += 1;
        id
    }

    /// A system id not in use.
    pub(crate) fn fresh_system_id(&mut self) -> String {
        loop {
            let id = names::system_id(&mut self.rng);
            if !self.by_system_id.contains_key(&id) {
                return id;
            }
        }
    }

    /// A petname hostname not in use.
    pub(crate) fn fresh_hostname(&mut self) -> String {
        let taken = &self.by_hostname;
        names::unique_petname(&mut self.rng, |n| taken.contains_key(n))
    }

    // ----- simple objects ----------------------------------------------

    pub(crate) fn add_zone(&mut self, name: &str, description: &str) -> u64 {
        let id = self.next.zone;
        self.next.zone += 1;
        self.zones.insert(
            id,
            Zone {
                id,
                name: name.to_string(),
                description: description.to_string(),
            },
        );
        id
    }

    pub(crate) fn add_pool(&mut self, name: &str, description: &str) -> u64 {
        let id = self.next.pool;
        self.next.pool += 1;
        self.pools.insert(
            id,
            Pool {
                id,
                name: name.to_string(),
                description: description.to_string(),
            },
        );
        id
    }

    pub(crate) fn add_domain(&mut self, name: &str, ttl: Option<i64>, authoritative: bool) -> u64 {
        let id = self.next.domain;
        self.next.domain += 1;
        self.domains.insert(
            id,
            Domain {
                id,
                name: name.to_string(),
                ttl,
                authoritative,
            },
        );
        id
    }

    pub(crate) fn add_fabric(&mut self, name: Option<&str>) -> u64 {
        let id = self.next.fabric;
        self.next.fabric += 1;
        let name = name
            .map(str::to_string)
            .unwrap_or_else(|| format!("fabric-{id}"));
        self.fabrics.insert(
            id,
            Fabric {
                id,
                name,
                class_type: None,
            },
        );
        id
    }

    pub(crate) fn add_vlan(
        &mut self,
        fabric_id: u64,
        vid: u32,
        dhcp_on: bool,
        space: Option<String>,
    ) -> u64 {
        let id = self.next.vlan;
        self.next.vlan += 1;
        let name = if vid == 0 {
            "untagged".to_string()
        } else {
            vid.to_string()
        };
        self.vlans.insert(
            id,
            Vlan {
                id,
                vid,
                name,
                fabric_id,
                mtu: 1500,
                dhcp_on,
                space,
                primary_rack: if dhcp_on {
                    Some("sim4rk".to_string())
                } else {
                    None
                },
            },
        );
        id
    }

    pub(crate) fn next_subnet_id(&mut self) -> u64 {
        let id = self.next.subnet;
        self.next.subnet += 1;
        id
    }

    pub(crate) fn next_machine_id(&mut self) -> u64 {
        let id = self.next.machine;
        self.next.machine += 1;
        id
    }

    /// Find or create the VLAN `vid` on fabric `fabric` (by name).
    pub(crate) fn ensure_vlan(
        &mut self,
        fabric: Option<&str>,
        vid: u32,
        dhcp_on: bool,
        space: Option<String>,
    ) -> u64 {
        let fabric_id = match fabric {
            Some(name) => match self.fabrics.values().find(|f| f.name == name) {
                Some(f) => f.id,
                None => self.add_fabric(Some(name)),
            },
            None => match self.fabrics.keys().next() {
                Some(id) => *id,
                None => self.add_fabric(None),
            },
        };
        if let Some(v) = self
            .vlans
            .values_mut()
            .find(|v| v.fabric_id == fabric_id && v.vid == vid)
        {
            if dhcp_on && !v.dhcp_on {
                v.dhcp_on = true;
                v.primary_rack = Some("sim4rk".to_string());
            }
            return v.id;
        }
        // Every fabric has its untagged VLAN.
        if vid != 0
            && !self
                .vlans
                .values()
                .any(|v| v.fabric_id == fabric_id && v.vid == 0)
        {
            self.add_vlan(fabric_id, 0, false, None);
        }
        self.add_vlan(fabric_id, vid, dhcp_on, space)
    }

    pub(crate) fn zone_by_name(&self, name: &str) -> Option<&Zone> {
        self.zones.values().find(|z| z.name == name)
    }

    pub(crate) fn pool_by_name(&self, name: &str) -> Option<&Pool> {
        self.pools.values().find(|p| p.name == name)
    }

    pub(crate) fn domain_by_name(&self, name: &str) -> Option<&Domain> {
        self.domains.values().find(|d| d.name == name)
    }

    pub(crate) fn username(&self, user_id: Option<u64>) -> Option<&str> {
        user_id
            .and_then(|id| self.users.get(&id))
            .map(|u| u.username.as_str())
    }

    pub(crate) fn user_by_name(&self, name: &str) -> Option<&User> {
        self.users.values().find(|u| u.username == name)
    }

    pub(crate) fn machine_by_system_id(&self, system_id: &str) -> Option<&Machine> {
        self.by_system_id
            .get(system_id)
            .and_then(|id| self.machines.get(id))
    }

    pub(crate) fn fqdn(&self, m: &Machine) -> String {
        let domain = self
            .domains
            .get(&m.domain_id)
            .map(|d| d.name.as_str())
            .unwrap_or("maas");
        format!("{}.{}", m.hostname, domain)
    }

    // ----- indexes -------------------------------------------------------

    /// Keep the ready index in step with a machine's status and owner.
    pub(crate) fn reindex(&mut self, mid: u64) {
        if let Some(m) = self.machines.get(&mid) {
            let key = (m.cost_key(), mid);
            if m.status == NodeStatus::Ready && m.owner.is_none() {
                self.ready.insert(key);
            } else {
                self.ready.remove(&key);
            }
        }
    }

    /// Set a machine's status (remembering the previous one) and reindex.
    pub(crate) fn set_status(&mut self, mid: u64, status: NodeStatus) {
        if let Some(m) = self.machines.get_mut(&mid)
            && m.status != status
        {
            m.previous_status = m.status;
            m.status = status;
        }
        self.reindex(mid);
    }

    pub(crate) fn set_owner(&mut self, mid: u64, owner: Option<u64>) {
        if let Some(m) = self.machines.get_mut(&mid) {
            m.owner = owner;
        }
        self.reindex(mid);
    }

    /// Insert a fully built machine and index it.
    pub(crate) fn insert_machine(&mut self, m: Machine) {
        let id = m.id;
        self.by_system_id.insert(m.system_id.clone(), id);
        self.by_hostname.insert(m.hostname.clone(), id);
        self.machines.insert(id, m);
        self.reindex(id);
    }

    /// Remove a machine with its interfaces and addresses.
    pub(crate) fn remove_machine(&mut self, mid: u64) {
        self.unschedule(mid);
        let Some(m) = self.machines.remove(&mid) else {
            return;
        };
        self.ready.remove(&(m.cost_key(), mid));
        self.by_system_id.remove(&m.system_id);
        self.by_hostname.remove(&m.hostname);
        for iid in &m.interfaces {
            if let Some(iface) = self.interfaces.remove(iid) {
                for lid in iface.links {
                    self.delete_ip(lid);
                }
            }
        }
        for vh in self.vmhosts.values_mut() {
            if vh.host_machine == Some(mid) {
                vh.host_machine = None;
            }
        }
    }

    // ----- events --------------------------------------------------------

    /// Record an event for a machine; INFO and above become its status message.
    pub(crate) fn emit(
        &mut self,
        mid: u64,
        etype: EventType,
        description: impl Into<String>,
        user: Option<u64>,
    ) {
        let description = description.into();
        let username = self.username(user).unwrap_or("unknown").to_string();
        let Some(m) = self.machines.get_mut(&mid) else {
            return;
        };
        if etype.level >= Level::Info {
            m.status_message = Some(if description.is_empty() {
                etype.desc.to_string()
            } else {
                format!("{} - {}", etype.desc, description)
            });
        }
        let id = self.events.len() as u64 + 1;
        self.events.push(Event {
            id,
            machine_id: mid,
            system_id: m.system_id.clone(),
            hostname: m.hostname.clone(),
            username,
            etype,
            description,
            created_unix_ms: self.epoch_ms + self.now_ms,
        });
    }

    /// A user-request event: description `(user)` or `(user) - comment`.
    pub(crate) fn emit_request(
        &mut self,
        mid: u64,
        etype: EventType,
        user: Option<u64>,
        comment: Option<&str>,
    ) {
        let comment = comment.unwrap_or("");
        let description = match self.username(user) {
            Some(name) if comment.is_empty() => format!("({name})"),
            Some(name) => format!("({name}) - {comment}"),
            None => comment.to_string(),
        };
        self.emit(mid, etype, description, user);
    }

    // ----- timelines -----------------------------------------------------

    /// Replace a machine's timeline.
    pub(crate) fn schedule(&mut self, mid: u64, steps: Vec<Step>) {
        self.unschedule(mid);
        let mut steps = steps;
        steps.sort_by_key(|s| s.at_ms);
        if let Some(m) = self.machines.get_mut(&mid) {
            m.timeline = VecDeque::from(steps);
            if let Some(first) = m.timeline.front() {
                self.pending.insert((first.at_ms, mid));
            }
        }
    }

    /// Add steps to a machine's timeline, keeping it ordered.
    pub(crate) fn add_steps(&mut self, mid: u64, steps: Vec<Step>) {
        let mut all: Vec<Step> = self
            .machines
            .get(&mid)
            .map(|m| m.timeline.iter().cloned().collect())
            .unwrap_or_default();
        all.extend(steps);
        self.schedule(mid, all);
    }

    pub(crate) fn unschedule(&mut self, mid: u64) {
        if let Some(m) = self.machines.get_mut(&mid) {
            if let Some(first) = m.timeline.front() {
                self.pending.remove(&(first.at_ms, mid));
            }
            m.timeline.clear();
        }
    }

    /// Earliest pending step, if any.
    pub(crate) fn next_due(&self) -> Option<u64> {
        self.pending.first().map(|(at, _)| *at)
    }

    /// Apply every step due at or before `now`.
    pub(crate) fn settle(&mut self, now: u64) {
        self.now_ms = self.now_ms.max(now);
        let mut guard = 0usize;
        while let Some(&(at, mid)) = self.pending.first() {
            if at > now || guard > 1_000_000 {
                break;
            }
            guard += 1;
            self.pending.remove(&(at, mid));
            let step = match self.machines.get_mut(&mid) {
                Some(m) => m.timeline.pop_front(),
                None => None,
            };
            if let Some(step) = step {
                let saved = self.now_ms;
                self.now_ms = step.at_ms.min(saved);
                self.apply(mid, step.action);
                self.now_ms = saved;
            }
            if let Some(m) = self.machines.get(&mid)
                && let Some(next) = m.timeline.front()
            {
                self.pending.insert((next.at_ms, mid));
            }
        }
    }

    /// Complete every pending transition now (all remaining steps run,
    /// including steps that completing schedules).
    pub(crate) fn complete_all(&mut self) {
        let mut guard = 0usize;
        while let Some(&(at, mid)) = self.pending.first() {
            if guard > 10_000_000 {
                break;
            }
            guard += 1;
            self.pending.remove(&(at, mid));
            let step = match self.machines.get_mut(&mid) {
                Some(m) => m.timeline.pop_front(),
                None => None,
            };
            if let Some(step) = step {
                self.apply(mid, step.action);
            }
            if let Some(m) = self.machines.get(&mid)
                && let Some(next) = m.timeline.front()
            {
                self.pending.insert((next.at_ms, mid));
            }
        }
    }

    /// The deploy timeout for the profile, or the configured one.
    pub(crate) fn deploy_timeout(&self) -> Duration {
        self.timings
            .deploy_timeout
            .unwrap_or_else(|| Duration::from_secs(self.version.deploy_timeout_minutes() * 60))
    }

    /// Allocate an address in `subnet_id`: the requested one or the lowest
    /// free address outside the reserved and dynamic ranges.
    pub(crate) fn pick_free_ip(&mut self, subnet_id: u64) -> Option<IpAddr> {
        let subnet = self.subnets.get(&subnet_id)?;
        let ipnet::IpNet::V4(net) = subnet.cidr else {
            return None;
        };
        let base = u32::from(net.network());
        let size: u64 = 1u64 << (32 - u32::from(net.prefix_len()));
        if size < 4 {
            return None;
        }
        let usable = size - 2;
        let start = subnet.next_hint % usable;
        for i in 0..usable {
            let off = 1 + (start + i) % usable;
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(base.wrapping_add(off as u32)));
            if self.ip_index.contains_key(&ip)
                || subnet.gateway_ip == Some(ip)
                || in_ranges(subnet, ip)
            {
                continue;
            }
            if subnet.dns_servers.iter().any(|d| d == &ip.to_string()) {
                continue;
            }
            let hint = (start + i + 1) % usable;
            if let Some(s) = self.subnets.get_mut(&subnet_id) {
                s.next_hint = hint;
            }
            return Some(ip);
        }
        None
    }

    /// The subnet whose CIDR contains `ip` (most specific first).
    pub(crate) fn subnet_for_ip(&self, ip: IpAddr) -> Option<u64> {
        self.subnets
            .values()
            .filter(|s| s.cidr.contains(&ip))
            .max_by_key(|s| s.cidr.prefix_len())
            .map(|s| s.id)
    }

    /// Create a StaticIPAddress row.
    pub(crate) fn create_ip(
        &mut self,
        alloc_type: AllocType,
        ip: Option<IpAddr>,
        subnet_id: Option<u64>,
        user_id: Option<u64>,
        interface_id: Option<u64>,
    ) -> u64 {
        let id = self.next_ip_id();
        if let Some(ip) = ip {
            self.ip_index.insert(ip, id);
        }
        self.ips.insert(
            id,
            StaticIp {
                id,
                alloc_type,
                ip,
                subnet_id,
                user_id,
                created_unix_ms: self.epoch_ms + self.now_ms,
                interface_id,
            },
        );
        id
    }

    /// Delete a StaticIPAddress row (and its DNS references).
    pub(crate) fn delete_ip(&mut self, id: u64) {
        if let Some(row) = self.ips.remove(&id) {
            if let Some(ip) = row.ip
                && self.ip_index.get(&ip) == Some(&id)
            {
                self.ip_index.remove(&ip);
            }
            if let Some(iid) = row.interface_id
                && let Some(iface) = self.interfaces.get_mut(&iid)
            {
                iface.links.retain(|l| *l != id);
            }
            for dns in self.dnsresources.values_mut() {
                dns.ip_ids.retain(|l| *l != id);
            }
        }
    }

    /// Set or clear the address of an existing row, keeping the index right.
    pub(crate) fn set_ip(&mut self, id: u64, ip: Option<IpAddr>) {
        if let Some(row) = self.ips.get_mut(&id) {
            if let Some(old) = row.ip.take()
                && self.ip_index.get(&old) == Some(&id)
            {
                self.ip_index.remove(&old);
            }
            row.ip = ip;
            if let Some(new) = ip {
                self.ip_index.insert(new, id);
            }
        }
    }
}

/// Whether `ip` lies in one of the subnet's reserved or dynamic ranges.
pub(crate) fn in_ranges(subnet: &Subnet, ip: IpAddr) -> bool {
    subnet.ranges.iter().any(|r| ip_in(r.start, r.end, ip))
}

pub(crate) fn dynamic_range_for(subnet: &Subnet, ip: IpAddr) -> Option<&IpRange> {
    subnet
        .ranges
        .iter()
        .find(|r| r.kind == RangeKind::Dynamic && ip_in(r.start, r.end, ip))
}

pub(crate) fn ip_in(start: IpAddr, end: IpAddr, ip: IpAddr) -> bool {
    match (start, end, ip) {
        (IpAddr::V4(s), IpAddr::V4(e), IpAddr::V4(i)) => {
            u32::from(s) <= u32::from(i) && u32::from(i) <= u32::from(e)
        }
        (IpAddr::V6(s), IpAddr::V6(e), IpAddr::V6(i)) => {
            u128::from(s) <= u128::from(i) && u128::from(i) <= u128::from(e)
        }
        _ => false,
    }
}
