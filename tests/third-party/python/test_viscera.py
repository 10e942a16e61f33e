"""python-libmaas's `viscera` layer (`maas.client.connect`): the object API a Python user writes."""

import pytest
from maas.client.bones import CallError
from maas.client.enum import NodeStatus, PowerState


def test_version_and_whoami(client, user_client):
    version = client.version.get()
    assert version.version == "3.6.5"
    assert "network-deployment-ubuntu" in version.capabilities
    assert client.users.whoami().username == "admin"
    assert client.users.whoami().is_admin is True
    assert user_client.users.whoami().username == "user"
    assert user_client.users.whoami().is_admin is False


def test_machines_list_and_get(client):
    machines = client.machines.list()
    assert sorted(m.hostname for m in machines) == sorted(
        ["small-1", "small-2", "arm-1", "big-1", "new-1", "deployed-1", "kvm-host"])
    m = client.machines.get("arm1cc")
    assert m.hostname == "arm-1"
    assert m.architecture == "arm64/generic"
    assert m.cpus == 8
    assert m.memory == 16384
    assert m.status == NodeStatus.READY
    assert m.zone.name == "zone-b"
    assert m.pool.name == "default"
    assert m.domain.name == "lab.example"
    assert m.fqdn == "arm-1.lab.example"
    some = client.machines.list(hostnames=["small-1", "big-1"])
    assert sorted(x.hostname for x in some) == ["big-1", "small-1"]
    two = client.machines.get("sm2bbb")
    assert [i.mac_address for i in two.interfaces] == ["52:54:00:00:00:02", "52:54:00:00:00:12"]
    assert two.interfaces[1].vlan.vid == 20
    assert two.boot_interface.name == "eth0"


def test_allocate_deploy_release(client, sim):
    m = client.machines.allocate(cpus=3, tags=["ssd"], agent_name="viscera", comment="test")
    assert m.hostname == "big-1"
    assert m.status == NodeStatus.ALLOCATED
    assert m.owner.username == "admin"
    assert sim.machine("big1dd")["agent_name"] == "viscera"
    dry = client.machines.allocate(zone="zone-b", dry_run=True)
    assert dry.hostname == "small-2"
    assert sim.machine("sm2bbb")["status"] == "ready"

    # bytes are base64-encoded by libmaas and sent as a multipart part.
    m.deploy(user_data=b"#cloud-config\nruncmd: [echo viscera]\n", distro_series="jammy",
             comment="deploy it")
    assert m.status == NodeStatus.DEPLOYING
    assert m.distro_series == "jammy"
    state = sim.machine("big1dd")
    assert state["has_user_data"] is True
    assert state["status"] == "deploying"
    sim.complete()
    m.refresh()
    assert m.status == NodeStatus.DEPLOYED
    assert m.power_state == PowerState.ON
    assert m.ip_addresses, "an AUTO address was assigned at deploy"

    m.release(comment="done", erase=True, secure_erase=True)
    assert m.status == NodeStatus.DISK_ERASING
    sim.complete()
    m.refresh()
    assert m.status == NodeStatus.READY
    assert m.owner is None


def test_allocate_without_a_match_raises_machine_not_found(client):
    from maas.client.viscera.machines import MachineNotFound

    # libmaas turns MAAS's 409 into MachineNotFound and keeps the CallError as its cause.
    with pytest.raises(MachineNotFound) as err:
        client.machines.allocate(memory=999999, zone="zone-b")
    cause = err.value.__cause__ or err.value.__context__
    assert isinstance(cause, CallError)
    assert cause.status == 409
    assert cause.content.startswith(b"No available machine matches constraints")


def test_power_broken_fixed_abort_lock(client, sim):
    m = client.machines.allocate()
    assert m.hostname == "small-1"
    assert m.query_power_state() == PowerState.OFF
    m.power_on(comment="on")
    sim.complete()
    assert m.query_power_state() == PowerState.ON
    m.power_off(comment="off")
    sim.complete()
    assert m.query_power_state() == PowerState.OFF

    m.mark_broken(comment="smoke")
    assert m.status == NodeStatus.BROKEN
    m.mark_fixed(comment="fixed")
    assert m.status == NodeStatus.READY

    m = client.machines.allocate()
    m.deploy()
    assert m.status == NodeStatus.DEPLOYING
    m.abort(comment="stop")
    assert m.status == NodeStatus.ALLOCATED

    d = client.machines.get("dep1gg")
    d.lock(comment="keep")
    assert d.locked is True
    d.unlock()
    assert d.locked is False


def test_zones_pools_tags(client):
    zones = client.zones.list()
    assert sorted(z.name for z in zones) == ["default", "zone-a", "zone-b"]
    assert client.zones.get("zone-a").description == "first zone"
    created = client.zones.create(name="zone-c", description="third")
    assert created.name == "zone-c"
    assert client.zones.get("zone-c").description == "third"

    pools = client.resource_pools.list()
    assert sorted(p.name for p in pools) == ["default", "pool-a"]
    pool = client.resource_pools.create(name="pool-b", description="B")
    assert client.resource_pools.get(pool.id).name == "pool-b"

    tags = client.tags.list()
    assert sorted(t.name for t in tags) == ["gpu", "pod-console-logging", "ssd"]
    tag = client.tags.create(name="k8s", comment="nodes")
    assert tag.name == "k8s"
    assert client.tags.get("k8s").comment == "nodes"


def test_subnets_fabrics_vlans(client):
    subnets = client.subnets.list()
    assert [s.cidr for s in subnets] == ["10.10.0.0/24", "10.20.0.0/24"]
    pxe = client.subnets.get(subnets[0].id)
    assert pxe.name == "pxe"
    assert pxe.gateway_ip == "10.10.0.1"
    assert pxe.vlan.vid == 0
    assert subnets[1].vlan.vid == 20
    fabrics = client.fabrics.list()
    assert sorted(f.name for f in fabrics) == ["fabric-0", "fabric-1"]
    fabric1 = [f for f in fabrics if f.name == "fabric-1"][0]
    assert 20 in [v.vid for v in fabric1.vlans]
    assert client.fabrics.get(fabric1.id).name == "fabric-1"


def test_domains(client):
    domains = client.domains.list()
    assert sorted(d.name for d in domains) == ["lab.example", "maas"]
    lab = [d for d in domains if d.name == "lab.example"][0]
    assert lab.ttl == 300
    assert client.domains.get(lab.id).name == "lab.example"


def test_pods(client, sim):
    pods = client.pods.list()
    assert [p.name for p in pods] == ["kvm-01"]
    pod = client.pods.get(pods[0].id)
    assert pod.type == "lxd"
    assert pod.total["cores"] == 32  # libmaas keeps these as plain dicts
    params = pod.parameters()
    assert params["power_address"] == "https://10.10.0.21:8443"
    # libmaas 0.6.8 documents a Machine but returns MAAS's raw answer {system_id, resource_uri}.
    composed = pod.compose(cores=2, memory=2048, hostname="vm-py")
    assert composed["resource_uri"] == f"/MAAS/api/2.0/machines/{composed['system_id']}/"
    machine = client.machines.get(composed["system_id"])
    assert machine.hostname == "vm-py"
    assert machine.cpus == 2
    assert machine.status == NodeStatus.COMMISSIONING
    sim.complete()
    assert client.machines.get(machine.system_id).status == NodeStatus.READY
    pod.refresh()
    assert client.pods.get(pod.id).used["cores"] == 2
    created = client.pods.create(type="lxd", power_address="10.10.0.31", name="lxd-py")
    assert created.name == "lxd-py"
    created.delete()
    assert [p.name for p in client.pods.list()] == ["kvm-01"]


def test_pods_are_gone_on_maas_main(sim_38):
    from maas.client import connect

    client = connect(sim_38.endpoint, apikey=sim_38.admin_key)
    with pytest.raises(CallError) as err:
        client.pods.list()
    assert err.value.status == 410
    assert err.value.content == b"VM host (KVM) support has been removed from MAAS."


def test_events_query_and_paging(client, sim):
    m = client.machines.allocate()
    m.deploy()
    sim.complete()
    events = client.events.query(system_ids=[m.system_id])
    types = [e.event_type for e in events]
    assert types[0] == "Deployed"
    assert "Deploying" in types
    ids = [e.event_id for e in events]
    assert ids == sorted(ids, reverse=True)
    first = client.events.query(system_ids=[m.system_id], limit=2)
    assert len(first) == 2
    older = first.prev()
    assert older and all(e.event_id < first[-1].event_id for e in older)


def test_non_admin_cannot_create_zones(user_client):
    with pytest.raises(CallError) as err:
        user_client.zones.create(name="nope")
    assert err.value.status == 403
