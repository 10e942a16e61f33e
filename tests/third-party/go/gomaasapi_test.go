package conformance

import (
	"encoding/base64"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/juju/gomaasapi/v2"
)

func controller(t *testing.T, s *sim, key string) gomaasapi.Controller {
	t.Helper()
	// NewController reads version/, checks the 2.0 API and the capabilities it needs.
	c, err := gomaasapi.NewController(gomaasapi.ControllerArgs{BaseURL: s.endpoint, APIKey: key})
	must(t, err, "NewController")
	return c
}

func hostnames(ms []gomaasapi.Machine) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Hostname())
	}
	sort.Strings(out)
	return out
}

func TestControllerChecksVersionAndCapabilities(t *testing.T) {
	s := startSim(t)
	c := controller(t, s, s.adminKey)
	version, subversion, err := c.APIVersionInfo()
	must(t, err, "APIVersionInfo")
	eq(t, version, "3.6.5", "version")
	eq(t, subversion, "", "subversion")
	if !c.Capabilities().Contains("network-deployment-ubuntu") {
		t.Errorf("capabilities: %v", c.Capabilities().SortedValues())
	}
	// A wrong secret is refused when the controller is built (it reads users/?op=whoami).
	parts := strings.Split(s.adminKey, ":")
	_, err = gomaasapi.NewController(gomaasapi.ControllerArgs{
		BaseURL: s.endpoint, APIKey: parts[0] + ":" + parts[1] + ":WrongSecretWrongSecretWrongSecre"})
	if err == nil {
		t.Fatal("a wrong secret was accepted")
	}
	if !gomaasapi.IsPermissionError(err) {
		t.Errorf("wrong secret: want a permission error, got %v", err)
	}
}

func TestMachinesWithArgs(t *testing.T) {
	s := startSim(t)
	c := controller(t, s, s.adminKey)
	cases := []struct {
		args gomaasapi.MachinesArgs
		want string
	}{
		{gomaasapi.MachinesArgs{}, "arm-1 big-1 deployed-1 kvm-host new-1 small-1 small-2"},
		{gomaasapi.MachinesArgs{SystemIDs: []string{"sm1aaa", "arm1cc"}}, "arm-1 small-1"},
		{gomaasapi.MachinesArgs{Hostnames: []string{"big-1"}}, "big-1"},
		{gomaasapi.MachinesArgs{MACAddresses: []string{"52:54:00:00:00:12"}}, "small-2"},
		{gomaasapi.MachinesArgs{Zone: "zone-a"}, "big-1 small-1"},
		{gomaasapi.MachinesArgs{Pool: "pool-a"}, "small-2"},
		{gomaasapi.MachinesArgs{Domain: "lab.example"}, "arm-1"},
		// gomaasapi repeats `tags`; MAAS wants every tag.
		{gomaasapi.MachinesArgs{Tags: []string{"ssd", "gpu"}}, "big-1"},
	}
	for _, tc := range cases {
		ms, err := c.Machines(tc.args)
		must(t, err, "Machines")
		eq(t, strings.Join(hostnames(ms), " "), tc.want, "Machines "+strings.TrimSpace(strings.ReplaceAll(fmtArgs(tc.args), "  ", " ")))
	}

	ms, err := c.Machines(gomaasapi.MachinesArgs{SystemIDs: []string{"sm2bbb"}})
	must(t, err, "Machines by id")
	m := ms[0]
	eq(t, m.CPUCount(), 4, "cpu count")
	eq(t, m.Memory(), 8192, "memory")
	eq(t, m.Architecture(), "amd64/generic", "architecture")
	eq(t, m.StatusName(), "Ready", "status")
	eq(t, m.Zone().Name(), "zone-b", "zone")
	eq(t, m.Pool().Name(), "pool-a", "pool")
	eq(t, m.FQDN(), "small-2.maas", "fqdn")
	eq(t, len(m.InterfaceSet()), 2, "interfaces")
	eq(t, m.BootInterface().Name(), "eth0", "boot interface")
	eq(t, m.InterfaceSet()[1].VLAN().VID(), 20, "eth1 vid")
	eq(t, m.InterfaceSet()[1].MACAddress(), "52:54:00:00:00:12", "eth1 mac")
	if len(m.PhysicalBlockDevices()) == 0 || m.PhysicalBlockDevices()[0].Size() == 0 {
		t.Errorf("block devices: %v", m.PhysicalBlockDevices())
	}
	if m.HardwareInfo() == nil {
		t.Error("hardware_info missing")
	}
}

func fmtArgs(a gomaasapi.MachinesArgs) string {
	return strings.Join(append(append(append(a.SystemIDs, a.Hostnames...), a.MACAddresses...),
		a.Zone, a.Pool, a.Domain, strings.Join(a.Tags, ",")), " ")
}

func TestAllocateStartRelease(t *testing.T) {
	s := startSim(t)
	c := controller(t, s, s.userKey)

	// Dry run: chosen, not acquired.
	m, _, err := c.AllocateMachine(gomaasapi.AllocateMachineArgs{Zone: "zone-b", DryRun: true})
	must(t, err, "dry-run allocate")
	eq(t, m.Hostname(), "small-2", "dry-run choice")
	eq(t, s.machine("sm2bbb").Status, "ready", "after dry run")

	m, matches, err := c.AllocateMachine(gomaasapi.AllocateMachineArgs{
		MinCPUCount: 3,
		MinMemory:   4096,
		Tags:        []string{"ssd"},
		NotInZone:   []string{"zone-b"},
		AgentName:   "juju-model-1",
		Comment:     "from gomaasapi",
		Storage:     []gomaasapi.StorageSpec{{Label: "root", Size: 50}},
	})
	must(t, err, "allocate")
	eq(t, m.Hostname(), "big-1", "allocated")
	eq(t, m.StatusName(), "Allocated", "status")
	eq(t, len(matches.Storage["root"]), 1, "storage match for label root")
	state := s.machine("big1dd")
	eq(t, state.Owner, "user", "owner")
	eq(t, state.AgentName, "juju-model-1", "agent_name")

	// Interfaces by space: only small-2 has an interface on the storage space.
	m2, matches2, err := c.AllocateMachine(gomaasapi.AllocateMachineArgs{
		Interfaces: []gomaasapi.InterfaceSpec{{Label: "stor", Space: "storage"}},
	})
	must(t, err, "allocate by space")
	eq(t, m2.Hostname(), "small-2", "allocated by space")
	if got := matches2.Interfaces["stor"]; len(got) != 1 || got[0].Name() != "eth1" {
		t.Errorf("interface matches: %v", got)
	}

	// No match is a NoMatchError.
	_, _, err = c.AllocateMachine(gomaasapi.AllocateMachineArgs{MinMemory: 999999})
	if !gomaasapi.IsNoMatchError(err) {
		t.Errorf("want NoMatchError, got %v", err)
	}

	// Start = deploy, with base64 user data and a series.
	userData := base64.StdEncoding.EncodeToString([]byte("#cloud-config\nruncmd: [echo go]\n"))
	must(t, m.Start(gomaasapi.StartArgs{UserData: userData, DistroSeries: "jammy", Comment: "go"}),
		"Start")
	eq(t, m.StatusName(), "Deploying", "status after Start")
	eq(t, m.DistroSeries(), "jammy", "series")
	state = s.machine("big1dd")
	eq(t, state.HasUserData, true, "user data stored")
	s.complete()
	ms, err := c.Machines(gomaasapi.MachinesArgs{AgentName: "juju-model-1"})
	must(t, err, "Machines by agent_name")
	eq(t, strings.Join(hostnames(ms), " "), "big-1", "by agent_name")
	eq(t, ms[0].StatusName(), "Deployed", "deployed")
	eq(t, ms[0].PowerState(), "on", "power")
	if len(ms[0].IPAddresses()) == 0 {
		t.Error("no IP address after deploy")
	}

	// Owner data (gomaasapi uses MAAS's deprecated op=set_owner_data).
	owned := ms[0].(gomaasapi.OwnerDataHolder)
	must(t, owned.SetOwnerData(map[string]string{"juju-model": "m1"}), "SetOwnerData")
	eq(t, owned.OwnerData()["juju-model"], "m1", "owner data")
	ms, err = c.Machines(gomaasapi.MachinesArgs{OwnerData: map[string]string{"juju-model": "m1"}})
	must(t, err, "Machines by owner data")
	eq(t, strings.Join(hostnames(ms), " "), "big-1", "by owner data")

	must(t, c.ReleaseMachines(gomaasapi.ReleaseMachinesArgs{
		SystemIDs: []string{"big1dd", "sm2bbb"}, Comment: "done"}), "ReleaseMachines")
	s.complete()
	eq(t, s.machine("big1dd").Status, "ready", "big-1 released")
	eq(t, s.machine("sm2bbb").Status, "ready", "small-2 released")
	eq(t, s.machine("big1dd").AgentName, "", "agent cleared")

	// Releasing a machine in the wrong state is a CannotCompleteError (409).
	err = c.ReleaseMachines(gomaasapi.ReleaseMachinesArgs{SystemIDs: []string{"new1ee"}})
	if !gomaasapi.IsCannotCompleteError(err) {
		t.Errorf("release of a New machine: want CannotCompleteError, got %v", err)
	}
}

func TestZonesFabricsDomainsTags(t *testing.T) {
	s := startSim(t)
	c := controller(t, s, s.adminKey)

	zones, err := c.Zones()
	must(t, err, "Zones")
	var zoneNames []string
	for _, z := range zones {
		zoneNames = append(zoneNames, z.Name()+"="+z.Description())
	}
	eq(t, strings.Join(zoneNames, ","), "default=,zone-a=first zone,zone-b=", "zones")

	fabrics, err := c.Fabrics()
	must(t, err, "Fabrics")
	eq(t, len(fabrics), 2, "fabrics")
	vids := map[string][]int{}
	for _, f := range fabrics {
		for _, v := range f.VLANs() {
			vids[f.Name()] = append(vids[f.Name()], v.VID())
		}
	}
	eq(t, vids["fabric-1"], []int{0, 20}, "fabric-1 VLANs")

	domains, err := c.Domains()
	must(t, err, "Domains")
	var domainNames []string
	for _, d := range domains {
		domainNames = append(domainNames, d.Name())
	}
	sort.Strings(domainNames)
	eq(t, strings.Join(domainNames, ","), "lab.example,maas", "domains")

	tags, err := c.Tags()
	must(t, err, "Tags")
	var tagNames []string
	for _, tag := range tags {
		tagNames = append(tagNames, tag.Name())
	}
	eq(t, strings.Join(tagNames, ","), "gpu,pod-console-logging,ssd", "tags")

	// gomaasapi v2 reads pools from `pools/`, a URL MAAS never had (MAAS serves
	// `resourcepools/`): against MAAS and the simulator alike it fails with a 404.
	_, err = c.Pools()
	if err == nil {
		t.Fatal("Pools() unexpectedly worked: gomaasapi reads pools/, which MAAS does not serve")
	}
	if !strings.Contains(err.Error(), "404") {
		t.Errorf("Pools(): want a 404, got %v", err)
	}
}

func TestUnsupportedEndpointsAnswerMAASs404(t *testing.T) {
	s := startSim(t)
	c := controller(t, s, s.adminKey)
	// Spaces, static routes, files and devices are not simulated: MAAS's catch-all 404.
	_, err := c.Spaces()
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("Spaces(): want 404, got %v", err)
	}
	resp, err := http.Get(s.endpoint + "/api/2.0/spaces/")
	must(t, err, "GET spaces/")
	resp.Body.Close()
	eq(t, resp.StatusCode, 404, "spaces/ status")
}
