// Package conformance drives a maas-sim binary with juju's gomaasapi v2, a MAAS client we did not
// write. Every test starts its own simulator the way a user does (`maas-sim --listen
// 127.0.0.1:0 ...`) and reads the endpoint and keys from its stdout.
package conformance

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sim is one running maas-sim process.
type sim struct {
	t        *testing.T
	cmd      *exec.Cmd
	endpoint string
	adminKey string
	userKey  string
	control  string
}

func startSim(t *testing.T, extra ...string) *sim {
	t.Helper()
	bin := os.Getenv("MAAS_SIM_BIN")
	if bin == "" {
		t.Fatal("MAAS_SIM_BIN is not set: run `make test-clients` (it builds maas-sim)")
	}
	inventory, err := filepath.Abs(filepath.Join("..", "inventory.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Steps last ten minutes: nothing moves until a test calls complete().
	args := []string{"--listen", "127.0.0.1:0", "--inventory", inventory, "--seed", "5",
		"--log-level", "warn", "--deploy-seconds", "600", "--release-seconds", "600",
		"--erase-seconds", "600", "--commission-seconds", "600", "--power-seconds", "600"}
	cmd := exec.Command(bin, append(args, extra...)...)
	cmd.Stderr = io.Discard
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start %s: %v", bin, err)
	}
	s := &sim{t: t, cmd: cmd}
	t.Cleanup(s.stop)
	values := map[string]string{}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	deadline := time.After(20 * time.Second)
	for len(values) < 4 {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("maas-sim exited after printing only %v", values)
			}
			k, v, _ := strings.Cut(line, "=")
			values[k] = v
		case <-deadline:
			t.Fatalf("maas-sim printed only %v within 20 s", values)
		}
	}
	s.endpoint = values["MAAS_ENDPOINT"]
	s.adminKey = values["MAAS_API_KEY"]
	s.userKey = values["MAAS_USER_API_KEY"]
	s.control = values["MAAS_SIM_CONTROL"]
	return s
}

func (s *sim) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			s.t.Errorf("maas-sim did not exit cleanly on SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
		s.t.Error("maas-sim did not stop on SIGTERM")
	}
}

// ctl calls the simulator's control API.
func (s *sim) ctl(method, path string, out interface{}) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.control+path, strings.NewReader("{}"))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		s.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			s.t.Fatalf("%s %s: %v (%s)", method, path, err, body)
		}
	}
}

// machineState is the part of the control API's MachineState the tests read.
type machineState struct {
	SystemID     string `json:"system_id"`
	Hostname     string `json:"hostname"`
	Status       string `json:"status"`
	Owner        string `json:"owner"`
	AgentName    string `json:"agent_name"`
	HasUserData  bool   `json:"has_user_data"`
	DistroSeries string `json:"distro_series"`
}

func (s *sim) machine(id string) machineState {
	var m machineState
	s.ctl("GET", "/machines/"+id, &m)
	return m
}

func (s *sim) complete() { s.ctl("POST", "/complete", nil) }

func fail(t *testing.T, format string, args ...interface{}) {
	t.Helper()
	t.Fatalf(format, args...)
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		fail(t, "%s: %v", what, err)
	}
}

func eq(t *testing.T, got, want interface{}, what string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}
