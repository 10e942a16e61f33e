"""python-libmaas's `bones` layer: the whole API built from the simulator's `/describe/`."""

import base64

import pytest
from maas.client.bones import CallError, SessionAPI
from maas.client.utils.creds import Credentials


def session(sim, key=None):
    creds = None if key is None else Credentials.parse(key)
    return SessionAPI.fromURL(sim.endpoint + "/api/2.0/", credentials=creds)


def test_anonymous_session_sees_only_anonymous_handlers(sim):
    s = session(sim)
    assert s.is_anonymous
    names = {name for name, _ in s.handlers}
    # Anonymous handlers of MAAS: version and the enlistment side of machines.
    assert {"Version", "Machines"} <= names
    assert "Users" not in names
    version = s.Version.read()
    assert version["version"] == "3.6.5"
    assert "network-deployment-ubuntu" in version["capabilities"]
    assert s.Machines.is_registered(mac_address="52:54:00:00:00:01") is True
    assert s.Machines.is_registered(mac_address="52:54:00:99:99:99") is False


def test_authenticated_session_builds_every_described_handler(sim):
    s = session(sim, sim.admin_key)
    names = {name for name, _ in s.handlers}
    # libmaas derives names by dropping "Handler" (and "Anon"): MachinesHandler -> Machines.
    for expected in ["Account", "Machines", "Machine", "VmHosts", "VmHost", "Pods", "Pod",
                     "Subnets", "Subnet", "Fabrics", "Fabric", "Vlans", "Vlan", "IPAddresses",
                     "DNSResources", "DNSResource", "Domains", "Domain", "Zones", "Zone",
                     "ResourcePools", "ResourcePool", "Tags", "Tag", "Users", "Events",
                     "Interfaces", "Interface", "Version"]:
        assert expected in names, f"{expected} missing from {sorted(names)}"
    machine_actions = {name for name, _ in s.Machine.actions}
    assert {"read", "deploy", "release", "power_on", "power_off", "query_power_state",
            "mark_broken", "mark_fixed", "abort", "lock", "unlock",
            "set_workload_annotations", "delete"} <= machine_actions
    me = s.Users.whoami()
    assert me["username"] == "admin" and me["is_superuser"] is True


def test_connect_with_apikey_and_whoami_for_both_users(sim):
    _, admin = SessionAPI.connect(sim.endpoint, apikey=sim.admin_key)
    _, user = SessionAPI.connect(sim.endpoint, apikey=sim.user_key)
    assert admin.Users.whoami()["is_superuser"] is True
    me = user.Users.whoami()
    assert me["username"] == "user" and me["is_superuser"] is False


def test_machines_read_filters_and_single_read(sim):
    s = session(sim, sim.admin_key)
    everything = s.Machines.read()
    assert sorted(m["hostname"] for m in everything) == sorted(
        ["small-1", "small-2", "arm-1", "big-1", "new-1", "deployed-1", "kvm-host"])
    zone_a = s.Machines.read(zone="zone-a")
    assert sorted(m["hostname"] for m in zone_a) == ["big-1", "small-1"]
    tagged = s.Machines.read(tags=["ssd", "gpu"])
    assert [m["hostname"] for m in tagged] == ["big-1"]
    ready = s.Machines.read(status="ready")
    assert sorted(m["hostname"] for m in ready) == ["arm-1", "big-1", "small-1", "small-2"]
    one = s.Machine.read(system_id="sm2bbb")
    assert one["hostname"] == "small-2"
    assert one["pool"]["name"] == "pool-a"
    assert one["zone"]["name"] == "zone-b"
    assert {i["mac_address"] for i in one["interface_set"]} == {"52:54:00:00:00:02",
                                                                "52:54:00:00:00:12"}


def test_unknown_filter_is_a_400_form_error(sim):
    s = session(sim, sim.admin_key)
    with pytest.raises(CallError) as err:
        s.Machines.read(zone="no-such-zone")
    assert err.value.status == 400
    assert b"No such zone(s): no-such-zone." in err.value.content


def test_allocate_deploy_release_with_user_data(sim):
    s = session(sim, sim.admin_key)
    m = s.Machines.allocate(cpu_count="3", agent_name="bones-test", comment="from bones")
    # cheapest machine with >= 3 cores is small-2 (4 cores, 8 GiB).
    assert m["hostname"] == "small-2"
    assert m["status_name"] == "Allocated"
    assert sim.machine("sm2bbb")["agent_name"] == "bones-test"
    user_data = base64.b64encode(b"#cloud-config\nruncmd: [echo bones]\n").decode()
    d = s.Machine.deploy(system_id="sm2bbb", distro_series="jammy", user_data=user_data)
    assert d["status_name"] == "Deploying"
    assert d["distro_series"] == "jammy"
    assert sim.machine("sm2bbb")["has_user_data"] is True
    sim.complete()
    assert s.Machine.read(system_id="sm2bbb")["status_name"] == "Deployed"
    r = s.Machine.release(system_id="sm2bbb", comment="done", erase="true", quick_erase="true")
    assert r["status_name"] == "Disk erasing"
    sim.complete()
    after = s.Machine.read(system_id="sm2bbb")
    assert after["status_name"] == "Ready"
    assert after["owner"] is None


def test_allocate_nothing_matches_is_409(sim):
    s = session(sim, sim.admin_key)
    with pytest.raises(CallError) as err:
        s.Machines.allocate(mem="999999")
    assert err.value.status == 409
    assert err.value.content.startswith(b"No available machine matches constraints")


def test_dns_resources_crud(sim):
    s = session(sim, sim.admin_key)
    created = s.DNSResources.create(fqdn="api.lab.example", ip_addresses="10.10.0.50 10.10.0.51")
    assert created["fqdn"] == "api.lab.example"
    assert sorted(ip["ip"] for ip in created["ip_addresses"]) == ["10.10.0.50", "10.10.0.51"]
    listed = s.DNSResources.read(domain="lab.example")
    assert [r["fqdn"] for r in listed] == ["api.lab.example"]
    updated = s.DNSResource.update(id=created["id"], ip_addresses="10.10.0.52")
    assert [ip["ip"] for ip in updated["ip_addresses"]] == ["10.10.0.52"]
    s.DNSResource.delete(id=created["id"])
    with pytest.raises(CallError) as err:
        s.DNSResource.read(id=created["id"])
    assert err.value.status == 404


def test_ip_reserve_and_release(sim):
    s = session(sim, sim.admin_key)
    ip = s.IPAddresses.reserve(ip="10.10.0.77")
    assert ip["ip"] == "10.10.0.77"
    assert ip["alloc_type_name"] == "User reserved"
    with pytest.raises(CallError) as err:
        s.IPAddresses.reserve(ip="10.10.0.77")
    assert err.value.status == 404
    assert b"already in use" in err.value.content
    s.IPAddresses.release(ip="10.10.0.77")
    assert s.IPAddresses.reserve(ip="10.10.0.77")["ip"] == "10.10.0.77"


def test_tags_create_and_update_nodes(sim):
    s = session(sim, sim.admin_key)
    tag = s.Tags.create(name="capi", comment="cluster api")
    assert tag["name"] == "capi"
    result = s.Tag.update_nodes(name="capi", add=["sm1aaa", "arm1cc"])
    assert result["added"] == 2
    machines = s.Tag.machines(name="capi")
    assert sorted(m["hostname"] for m in machines) == ["arm-1", "small-1"]


def test_interface_link_and_unlink_static_subnet(sim):
    s = session(sim, sim.admin_key)
    machine = s.Machine.read(system_id="sm1aaa")
    iface = machine["interface_set"][0]
    subnet = s.Subnets.read()[0]
    assert subnet["cidr"] == "10.10.0.0/24"
    linked = s.Interface.link_subnet(system_id="sm1aaa", id=iface["id"], mode="STATIC",
                                     subnet=str(subnet["id"]), ip_address="10.10.0.60")
    link = [lk for lk in linked["links"] if lk.get("ip_address") == "10.10.0.60"]
    assert link and link[0]["mode"] == "static"
    unlinked = s.Interface.unlink_subnet(system_id="sm1aaa", id=iface["id"], _id=link[0]["id"])
    assert all(lk.get("ip_address") != "10.10.0.60" for lk in unlinked["links"])


def test_events_query_pages_with_next_uri(sim):
    s = session(sim, sim.admin_key)
    s.Machines.allocate(system_id="sm1aaa")
    s.Machine.deploy(system_id="sm1aaa")
    sim.complete()
    page = s.Events.query(id="sm1aaa", limit="2")
    assert page["count"] == 2
    newest = [e["id"] for e in page["events"]]
    assert newest == sorted(newest, reverse=True)
    older = s.Events.query(id="sm1aaa", limit="2", before=str(newest[-1]))
    assert older["events"] and all(e["id"] < newest[-1] for e in older["events"])
    assert page["prev_uri"].endswith(f"before={newest[-1]}")


def test_account_create_authorisation_token_gives_a_working_key(sim):
    s = session(sim, sim.user_key)
    token = s.Account.create_authorisation_token(name="extra")
    key = f"{token['consumer_key']}:{token['token_key']}:{token['token_secret']}"
    assert session(sim, key).Users.whoami()["username"] == "user"


def test_admin_only_operation_as_user_is_403(sim):
    s = session(sim, sim.user_key)
    with pytest.raises(CallError) as err:
        s.Zones.create(name="forbidden")
    assert err.value.status == 403


def test_wrong_secret_is_401(sim):
    consumer, token, _ = sim.admin_key.split(":")
    s = session(sim, f"{consumer}:{token}:notthesecret")
    with pytest.raises(CallError) as err:
        s.Users.whoami()
    assert err.value.status == 401
    assert b"notthesecret" not in err.value.content


def test_login_with_a_password_is_not_simulated(sim):
    # The simulator has no passwords, so MAAS's `POST /MAAS/accounts/authenticate/` (what
    # SessionAPI.login uses) is not served: login fails at once with the 404, and clients use
    # an API key (SessionAPI.connect / fromURL) instead. Known deviation, see docs/conformance.md.
    from maas.client.bones.helpers import RemoteError

    with pytest.raises(RemoteError) as err:
        SessionAPI.login(sim.endpoint, username="admin", password="secret")
    assert "accounts/authenticate/ -> 404" in str(err.value)
