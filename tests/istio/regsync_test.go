package istio

// The regsync side of the harness: the binary, stores filled by regsync itself from the
// recordings in events/, and the `regsync mcp serve` / `regsync up` processes istio connects to.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pkg/config"
)

// repoRoot is the regsync checkout this module lives in (tests/istio).
func repoRoot(t testing.TB) string {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// regsyncBin is the binary under test: $REGSYNC_BIN, else the workspace's debug build.
func regsyncBin(t testing.TB) string {
	bin := os.Getenv("REGSYNC_BIN")
	if bin == "" {
		bin = filepath.Join(repoRoot(t), "target/debug/regsync")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("regsync binary %s: %v (build it with `cargo build -p regsync`, or set REGSYNC_BIN)", bin, err)
	}
	return bin
}

// recording is a path under events/recordings.
func recording(t testing.TB, rel string) string {
	p := filepath.Join(repoRoot(t), "events/recordings", rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("recording %s: %v", rel, err)
	}
	return p
}

// recordings lists the event files of one recorded story, in order.
func recordings(t testing.TB, dir string) []string {
	files, err := filepath.Glob(filepath.Join(recording(t, dir), "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no events in %s: %v", dir, err)
	}
	return files
}

// derive writes a variant of a recorded event: the same real-format payload with `edit` applied
// to its decoded JSON (the CloudEvent, `data` included). Used where the recordings lack a case
// (a DOWN instance beside UP ones, a hostName-only instance, a second registry).
func derive(t testing.TB, src string, name string, edit func(ev map[string]any)) string {
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	edit(ev)
	out, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// store is a file:// snapshot store that regsync itself writes.
type store struct {
	t   testing.TB
	url string
}

func newStore(t testing.TB) *store {
	return &store{t: t, url: "file://" + filepath.Join(t.TempDir(), "store")}
}

// run runs a regsync subcommand and returns its stdout; a failure stops the test with stderr.
func run(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(regsyncBin(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("regsync %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// apply publishes one generation from event files, as `regsync snapshot apply` does.
func (s *store) apply(files ...string) {
	s.t.Helper()
	run(s.t, append([]string{"snapshot", "apply", "--store", s.url}, files...)...)
}

// replay folds a recording (file or directory) into the store, as `regsync replay` does.
func (s *store) replay(sources ...string) {
	s.t.Helper()
	run(s.t, append([]string{"replay", "--store", s.url}, sources...)...)
}

// published is what regsync says the latest generation holds: `regsync snapshot get` (the
// Kubernetes YAML a user would `kubectl apply`), parsed by istio's own CRD decoder.
func (s *store) published() []config.Config {
	s.t.Helper()
	return parsePublished(s.t, run(s.t, "snapshot", "get", "--store", s.url))
}

func parsePublished(t testing.TB, yaml string) []config.Config {
	t.Helper()
	if strings.TrimSpace(yaml) == "" {
		return nil
	}
	configs, unknown, err := crd.ParseInputs(yaml)
	if err != nil {
		t.Fatalf("istio cannot parse what regsync prints: %v\n%s", err, yaml)
	}
	if len(unknown) > 0 {
		t.Fatalf("istio does not know the kinds %v regsync prints", unknown)
	}
	return configs
}

// mcpServer is a running `regsync mcp serve` (or `regsync up`).
type mcpServer struct {
	t     testing.TB
	cmd   *exec.Cmd
	xds   string // host:port istiod dials
	admin string // host:port of /status, /readyz
	log   *bytes.Buffer
	args  []string
	ready *regexp.Regexp
	done  chan struct{}
}

var (
	listening   = regexp.MustCompile(`xDS on (\S+) .*on http://([^/]+)/`)
	upListening = regexp.MustCompile(`(?s)MCP \(xDS\)\s+(\S+).*status\s+http://([^/]+)/status.*\ntry:`)
)

// serve starts `regsync mcp serve` over the store on free ports; it stops with the test.
func (s *store) serve(extra ...string) *mcpServer {
	s.t.Helper()
	args := append([]string{
		"mcp", "serve", "--store", s.url,
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--poll-interval", "100ms", "--debounce", "20ms", "--gc-interval", "0s",
	}, extra...)
	return start(s.t, listening, args...)
}

func start(t testing.TB, ready *regexp.Regexp, args ...string) *mcpServer {
	t.Helper()
	m := &mcpServer{t: t, log: &bytes.Buffer{}, args: args, ready: ready}
	m.launch(ready)
	t.Cleanup(m.stop)
	return m
}

func (m *mcpServer) launch(ready *regexp.Regexp) {
	m.t.Helper()
	cmd := exec.Command(regsyncBin(m.t), m.args...)
	cmd.Dir = repoRoot(m.t) // `regsync up` loads its demo from events/recordings
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		m.t.Fatal(err)
	}
	cmd.Stderr = &lockedWriter{w: m.log}
	if err := cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	m.cmd = cmd
	m.done = make(chan struct{})
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		var seen strings.Builder
		for sc.Scan() {
			if sent {
				continue
			}
			seen.WriteString(sc.Text() + "\n")
			if g := ready.FindStringSubmatch(seen.String()); g != nil {
				found <- g[1:]
				sent = true
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(m.done)
	}()
	select {
	case g := <-found:
		m.xds, m.admin = g[0], g[1]
	case <-m.done:
		m.t.Fatalf("regsync %s exited before listening:\n%s", strings.Join(m.args, " "), m.log.String())
	case <-time.After(60 * time.Second):
		m.t.Fatalf("regsync %s did not say where it listens in 60 s:\n%s", strings.Join(m.args, " "), m.log.String())
	}
}

// stop ends the server with SIGTERM, as a rollout does.
func (m *mcpServer) stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
	m.cmd = nil
}

// restart stops the server and starts it again on the same gRPC address.
func (m *mcpServer) restart(between func()) {
	m.t.Helper()
	m.stop()
	between()
	for i, a := range m.args {
		if a == "--listen" {
			m.args[i+1] = m.xds
		}
	}
	m.launch(m.ready)
}

// status is the server's /status document.
func (m *mcpServer) status() map[string]any {
	m.t.Helper()
	resp, err := http.Get("http://" + m.admin + "/status")
	if err != nil {
		m.t.Fatalf("GET /status: %v", err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		m.t.Fatalf("/status: %v", err)
	}
	return doc
}

// logMu guards the servers' captured stderr, written by exec's copier and read by tests.
var logMu sync.Mutex

type lockedWriter struct {
	w *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	return l.w.Write(p)
}

func (m *mcpServer) String() string {
	logMu.Lock()
	defer logMu.Unlock()
	return fmt.Sprintf("regsync %s\n%s", strings.Join(m.args, " "), m.log.String())
}
