//! Property test: any sequence of operations keeps the state's invariants.

use crate::domain::inventory::Inventory;
use crate::domain::params::Params;
use crate::domain::state::{State, Timings};
use crate::domain::vmhost::SimulatedDiscovery;
use crate::model::keys::ApiKey;
use crate::model::version::MaasVersion;
use crate::model::*;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const INVENTORY: &str = r#"
zones: [{name: z1}]
tags: [{name: fast}]
machines:
  - {hostname: host1, cpu_count: 16, memory: 65536, status: deployed, interfaces: [{name: br0, mode: static, ip: 10.0.1.10}]}
vm_hosts:
  - {name: lxd1, power_address: 10.0.1.10, host: host1, cores: 8, memory: 16384}
"#;

#[derive(Debug, Clone)]
enum Op {
    Allocate {
        admin: bool,
        tags: bool,
        mem: u64,
    },
    Deploy {
        m: usize,
        admin: bool,
        ephemeral: bool,
    },
    Release {
        m: usize,
        admin: bool,
        erase: bool,
        force: bool,
    },
    ReleaseBatch {
        a: usize,
        b: usize,
    },
    Broken {
        m: usize,
        admin: bool,
    },
    Fixed {
        m: usize,
    },
    Abort {
        m: usize,
    },
    PowerOn {
        m: usize,
    },
    PowerOff {
        m: usize,
    },
    Lock {
        m: usize,
        lock: bool,
    },
    Link {
        m: usize,
    },
    Reserve {
        admin: bool,
    },
    Compose {
        cores: u64,
    },
    Delete {
        m: usize,
        force: bool,
    },
    Advance {
        ms: u64,
    },
    Complete,
    FailNext,
}

fn op() -> impl Strategy<Value = Op> {
    let m = 0usize..12;
    prop_oneof![
        (any::<bool>(), any::<bool>(), 0u64..40000).prop_map(|(admin, tags, mem)| Op::Allocate {
            admin,
            tags,
            mem
        }),
        (m.clone(), any::<bool>(), any::<bool>()).prop_map(|(m, admin, ephemeral)| Op::Deploy {
            m,
            admin,
            ephemeral
        }),
        (m.clone(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(m, admin, erase, force)| Op::Release {
                m,
                admin,
                erase,
                force
            }
        ),
        (m.clone(), m.clone()).prop_map(|(a, b)| Op::ReleaseBatch { a, b }),
        (m.clone(), any::<bool>()).prop_map(|(m, admin)| Op::Broken { m, admin }),
        m.clone().prop_map(|m| Op::Fixed { m }),
        m.clone().prop_map(|m| Op::Abort { m }),
        m.clone().prop_map(|m| Op::PowerOn { m }),
        m.clone().prop_map(|m| Op::PowerOff { m }),
        (m.clone(), any::<bool>()).prop_map(|(m, lock)| Op::Lock { m, lock }),
        m.clone().prop_map(|m| Op::Link { m }),
        any::<bool>().prop_map(|admin| Op::Reserve { admin }),
        (1u64..6).prop_map(|cores| Op::Compose { cores }),
        (m, any::<bool>()).prop_map(|(m, force)| Op::Delete { m, force }),
        (0u64..3000).prop_map(|ms| Op::Advance { ms }),
        Just(Op::Complete),
        Just(Op::FailNext),
    ]
}

fn new_state() -> State {
    let admin = ApiKey::parse("a:b:c").unwrap();
    let user = ApiKey::parse("d:e:f").unwrap();
    let timings = Timings {
        deploy: Duration::from_millis(1000),
        release: Duration::from_millis(300),
        commission: Duration::from_millis(500),
        erase: Duration::from_millis(400),
        power: Duration::from_millis(50),
        deploy_timeout: Some(Duration::from_millis(5000)),
    };
    let mut st = State::new(MaasVersion::V3_6, timings, 11, 0, &admin, &user);
    let inv = Inventory::from_yaml(INVENTORY).unwrap();
    let disc = SimulatedDiscovery::permissive();
    st.apply_inventory(&inv, &disc).unwrap();
    st.generate_machines(8).unwrap();
    st
}

fn params(pairs: &[(&str, &str)]) -> Params {
    let mut p = Params::new();
    for (k, v) in pairs {
        p.push(*k, *v);
    }
    p
}

fn pick(st: &State, i: usize) -> Option<String> {
    let ids: Vec<&String> = st.machines.values().map(|m| &m.system_id).collect();
    if ids.is_empty() {
        None
    } else {
        Some(ids[i % ids.len()].clone())
    }
}

fn apply(st: &mut State, op: &Op) {
    let admin = st.users.get(&crate::domain::state::ADMIN_ID).cloned();
    let user = st.users.get(&crate::domain::state::USER_ID).cloned();
    let (Some(admin), Some(user)) = (admin, user) else {
        return;
    };
    let who = |is_admin: bool| {
        if is_admin {
            admin.clone()
        } else {
            user.clone()
        }
    };
    // Results are ignored: errors are legitimate outcomes; only the
    // invariants matter.
    match op {
        Op::Allocate { admin, tags, mem } => {
            let mem = mem.to_string();
            let mut p = vec![("mem", mem.as_str())];
            if *tags {
                p.push(("tags", "fast"));
            }
            // As the handler does: the candidate found under the read lock.
            let data = params(&p);
            let candidate = st.allocation_candidate(&data);
            let _ = st.allocate(&who(*admin), &data, candidate);
        }
        Op::Deploy {
            m,
            admin,
            ephemeral,
        } => {
            if let Some(id) = pick(st, *m) {
                let e = if *ephemeral { "true" } else { "false" };
                let _ = st.deploy(
                    &who(*admin),
                    &id,
                    &params(&[("ephemeral_deploy", e), ("user_data", "x")]),
                );
            }
        }
        Op::Release {
            m,
            admin,
            erase,
            force,
        } => {
            if let Some(id) = pick(st, *m) {
                let p = params(&[
                    ("erase", if *erase { "1" } else { "0" }),
                    ("force", if *force { "1" } else { "0" }),
                ]);
                let _ = st.release(&who(*admin), &id, &p);
            }
        }
        Op::ReleaseBatch { a, b } => {
            if let (Some(x), Some(y)) = (pick(st, *a), pick(st, *b)) {
                let _ = st.release_batch(
                    &admin,
                    &params(&[("machines", x.as_str()), ("machines", y.as_str())]),
                );
            }
        }
        Op::Broken { m, admin } => {
            if let Some(id) = pick(st, *m) {
                let _ = st.mark_broken(&who(*admin), &id, &params(&[("comment", "c")]));
            }
        }
        Op::Fixed { m } => {
            if let Some(id) = pick(st, *m) {
                let _ = st.mark_fixed(&admin, &id, &Params::new());
            }
        }
        Op::Abort { m } => {
            if let Some(id) = pick(st, *m) {
                let _ = st.abort(&admin, &id, &Params::new());
            }
        }
        Op::PowerOn { m } => {
            if let Some(id) = pick(st, *m) {
                let _ = st.power_on(&admin, &id, &Params::new());
            }
        }
        Op::PowerOff { m } => {
            if let Some(id) = pick(st, *m) {
                let _ = st.power_off(&admin, &id, &Params::new());
            }
        }
        Op::Lock { m, lock } => {
            if let Some(id) = pick(st, *m) {
                let _ = st.set_lock(&admin, &id, &Params::new(), *lock);
            }
        }
        Op::Link { m } => {
            if let Some(id) = pick(st, *m) {
                let iface = st
                    .machine_by_system_id(&id)
                    .and_then(|m| m.interfaces.first().copied())
                    .map(|i| i.to_string())
                    .unwrap_or_default();
                let _ = st.link_subnet(
                    &admin,
                    &id,
                    &iface,
                    &params(&[("mode", "static"), ("subnet", "10.0.0.0/16")]),
                );
            }
        }
        Op::Reserve { admin } => {
            let _ = st.reserve_ip(&who(*admin), &params(&[("subnet", "10.0.0.0/16")]));
        }
        Op::Compose { cores } => {
            if let Some(id) = st.vmhosts.keys().next().copied() {
                let c = cores.to_string();
                let _ = st.compose(
                    &admin,
                    id,
                    &params(&[("cores", c.as_str()), ("memory", "2048")]),
                    false,
                );
            }
        }
        Op::Delete { m, force } => {
            if let Some(id) = pick(st, *m) {
                let _ = st.delete_machine(&admin, &id, *force);
            }
        }
        Op::Advance { ms } => {
            let now = st.now_ms + ms;
            st.settle(now);
        }
        Op::Complete => st.complete_all(),
        Op::FailNext => st.deploy_failures += 1,
    }
}

fn check(st: &State) -> Result<(), String> {
    let mut seen_ips: HashMap<std::net::IpAddr, u64> = HashMap::new();
    let mut ip_machine: HashMap<std::net::IpAddr, u64> = HashMap::new();
    for m in st.machines.values() {
        let owned = matches!(
            m.status,
            NodeStatus::Allocated
                | NodeStatus::Deploying
                | NodeStatus::Deployed
                | NodeStatus::FailedDeployment
        );
        if owned && m.owner.is_none() {
            return Err(format!("{} is {} without an owner", m.system_id, m.status));
        }
        if m.status == NodeStatus::Ready && m.owner.is_some() {
            return Err(format!("{} is Ready with an owner", m.system_id));
        }
        let indexed = st.ready.contains(&(m.cost_key(), m.id));
        if indexed != (m.status == NodeStatus::Ready && m.owner.is_none()) {
            return Err(format!("{} ready index out of step", m.system_id));
        }
        if st.by_system_id.get(&m.system_id) != Some(&m.id)
            || st.by_hostname.get(&m.hostname) != Some(&m.id)
        {
            return Err(format!("{} name index out of step", m.system_id));
        }
        if let Some(front) = m.timeline.front()
            && !st.pending.contains(&(front.at_ms, m.id))
        {
            return Err(format!("{} timeline not pending", m.system_id));
        }
        for iid in &m.interfaces {
            let Some(i) = st.interfaces.get(iid) else {
                return Err(format!("{} has a dangling interface", m.system_id));
            };
            if i.machine_id != m.id {
                return Err("interface owned by another machine".into());
            }
            for l in &i.links {
                let Some(row) = st.ips.get(l) else {
                    return Err("dangling link".into());
                };
                if let Some(ip) = row.ip {
                    if let Some(other) = ip_machine.insert(ip, m.id)
                        && other != m.id
                    {
                        return Err(format!("{ip} on two machines"));
                    }
                    if row.alloc_type == AllocType::Auto
                        && matches!(
                            m.status,
                            NodeStatus::Ready | NodeStatus::New | NodeStatus::Broken
                        )
                    {
                        return Err(format!(
                            "{} keeps AUTO address {ip} while {}",
                            m.system_id, m.status
                        ));
                    }
                }
            }
        }
    }
    for row in st.ips.values() {
        if let Some(ip) = row.ip {
            if seen_ips.insert(ip, row.id).is_some() {
                return Err(format!("{ip} allocated twice"));
            }
            if st.ip_index.get(&ip) != Some(&row.id) {
                return Err(format!("{ip} missing from the index"));
            }
        }
    }
    if st.ip_index.len() != seen_ips.len() {
        return Err("stale address index entries".into());
    }
    let pending_machines: HashSet<u64> = st.pending.iter().map(|(_, m)| *m).collect();
    for mid in pending_machines {
        if !st.machines.contains_key(&mid) {
            return Err("pending entry for a removed machine".into());
        }
    }
    for h in st.vmhosts.values() {
        let (cores, mem, _) = st.vmhost_used(h.id);
        if cores as f64 > h.cores as f64 * h.cpu_over_commit_ratio
            || mem as f64 > h.memory as f64 * h.memory_over_commit_ratio
        {
            return Err(format!("VM host {} over-committed", h.name));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn operations_keep_invariants(ops in prop::collection::vec(op(), 1..60)) {
        let mut st = new_state();
        prop_assert_eq!(check(&st), Ok(()));
        for (i, o) in ops.iter().enumerate() {
            apply(&mut st, o);
            let r = check(&st);
            prop_assert!(r.is_ok(), "after op #{} {:?}: {:?}", i, o, r);
        }
        st.complete_all();
        prop_assert_eq!(check(&st), Ok(()));
        prop_assert!(st.pending.is_empty());
    }
}

#[test]
fn allocation_candidates_are_rechecked_under_the_write_lock() {
    let mut st = new_state();
    let admin = st
        .users
        .get(&crate::domain::state::ADMIN_ID)
        .cloned()
        .unwrap();
    let any = params(&[]);
    let first = st.allocation_candidate(&any).unwrap();
    // The candidate is what a scan under the write lock takes.
    let a = st.allocate(&admin, &any, Some(first)).unwrap();
    assert_eq!(a.machine_id, first);
    // A stale candidate (taken meanwhile) is ignored: another machine is taken.
    let b = st.allocate(&admin, &any, Some(first)).unwrap();
    assert_ne!(b.machine_id, first);
    assert_eq!(st.machines[&b.machine_id].status, NodeStatus::Allocated);
    // A candidate that does not meet the constraints is ignored too.
    let big = params(&[("mem", "999999999")]);
    assert_eq!(st.allocation_candidate(&big), None);
    let free = st.allocation_candidate(&any).unwrap();
    let Err(err) = st.allocate(&admin, &big, Some(free)) else {
        panic!("a machine matched an impossible constraint");
    };
    assert!(
        matches!(err, crate::domain::error::MaasError::Conflict(_)),
        "{err:?}"
    );
    assert_eq!(st.machines[&free].status, NodeStatus::Ready);
    // An invalid form has no candidate; allocate reports the error.
    assert_eq!(st.allocation_candidate(&params(&[("bogus", "1")])), None);
    assert!(
        st.allocate(&admin, &params(&[("bogus", "1")]), None)
            .is_err()
    );
    assert_eq!(check(&st), Ok(()));
}
