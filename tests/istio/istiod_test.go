package istio

// The istio side of the harness: istiod's own MCP client and validating store, connected exactly
// as pilot/pkg/bootstrap/configcontroller.go (initConfigSources, case XDS) does for a
// `meshConfig.configSources` `xds://` address, and the comparison with what regsync published.

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"istio.io/istio/pilot/pkg/config/memory"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pkg/adsc"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/schema/collections"
	"istio.io/istio/pkg/config/schema/gvk"
	"istio.io/istio/pkg/keepalive"
	"istio.io/istio/pkg/log"
)

// revision is the istiod revision the harness connects as (istiod's --revision).
const revision = "default"

func init() {
	// adsc logs every response at info; the harness reports what matters itself.
	for _, s := range log.Scopes() {
		s.SetOutputLevel(log.WarnLevel)
	}
}

// validatingStore is istiod's store for an xds:// config source, memory.NewController over
// memory.Make(collections.Pilot), which validates every Create and Update with istio's own
// rules. It records what validation refused: adsc only logs those and keeps the older copy.
type validatingStore struct {
	*memory.Controller
	mu       sync.Mutex
	rejected []string
}

func (s *validatingStore) Create(c config.Config) (string, error) {
	rev, err := s.Controller.Create(c)
	s.record("create", c, err)
	return rev, err
}

func (s *validatingStore) Update(c config.Config) (string, error) {
	rev, err := s.Controller.Update(c)
	s.record("update", c, err)
	return rev, err
}

func (s *validatingStore) record(op string, c config.Config, err error) {
	if err == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejected = append(s.rejected, fmt.Sprintf("%s %s/%s: %v", op, c.Namespace, c.Name, err))
}

func (s *validatingStore) rejections() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rejected)
}

// serviceEntries lists the ServiceEntries istiod holds, by namespace/name.
func (s *validatingStore) serviceEntries() map[string]config.Config {
	out := map[string]config.Config{}
	for _, c := range s.List(gvk.ServiceEntry, "") {
		out[c.Namespace+"/"+c.Name] = c
	}
	return out
}

// warnings counts istio's validation warnings over the entries it holds.
func (s *validatingStore) warnings() []string {
	schema, _ := collections.Pilot.FindByGroupVersionKind(gvk.ServiceEntry)
	var out []string
	for _, c := range s.List(gvk.ServiceEntry, "") {
		w, err := schema.ValidateConfig(c)
		if w != nil {
			out = append(out, fmt.Sprintf("%s/%s: %v", c.Namespace, c.Name, w))
		}
		if err != nil {
			out = append(out, fmt.Sprintf("%s/%s: error %v", c.Namespace, c.Name, err))
		}
	}
	return out
}

// istiod is one config-source connection as istiod makes it.
type istiod struct {
	t      testing.TB
	client *adsc.ADSC
	store  *validatingStore
}

// connectIstiod dials an xds:// config source the way initConfigSources does and waits until
// every requested type has been answered (istiod itself waits with no timeout).
func connectIstiod(t testing.TB, addr string) *istiod {
	t.Helper()
	client, err := adsc.New(addr, &adsc.ADSConfig{
		InitialDiscoveryRequests: adsc.ConfigInitialRequests(),
		Config: adsc.Config{
			Namespace: "istio-system",
			Workload:  "istiod-harness",
			Revision:  revision,
			Meta: model.NodeMetadata{
				Generator:     "api",
				IstioRevision: revision,
			}.ToStruct(),
			GrpcOpts: []grpc.DialOption{
				keepalive.DefaultOption().ConvertToClientOption(),
				grpc.WithTransportCredentials(insecure.NewCredentials()),
			},
		},
	})
	if err != nil {
		t.Fatalf("adsc.New(%s): %v", addr, err)
	}
	store := &validatingStore{Controller: memory.NewController(memory.Make(collections.Pilot))}
	store.RegisterHasSyncedHandler(client.HasSynced)
	client.Store = store
	if err := client.Run(); err != nil {
		t.Fatalf("adsc Run: %v", err)
	}
	t.Cleanup(client.Close)
	i := &istiod{t: t, client: client, store: store}
	i.waitFor("HasSynced", 30*time.Second, func() string {
		if store.HasSynced() {
			return ""
		}
		return "not every requested type answered yet"
	})
	return i
}

// waitFor polls cond until it returns "" and fails the test with its last answer otherwise.
func (i *istiod) waitFor(what string, timeout time.Duration, cond func() string) {
	i.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			i.t.Fatalf("istiod: %s not reached in %s: %s", what, timeout, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mismatch says how istio's store differs from what regsync published, "" when it holds exactly
// the published entries: same names and namespaces, version, labels, annotations and spec.
func (i *istiod) mismatch(published []config.Config) string {
	held := i.store.serviceEntries()
	var why []string
	want := map[string]bool{}
	for _, p := range published {
		key := p.Namespace + "/" + p.Name
		want[key] = true
		h, ok := held[key]
		if !ok {
			why = append(why, key+" missing")
			continue
		}
		version := p.Annotations["regsync.io/version"]
		if h.ResourceVersion != version {
			why = append(why, fmt.Sprintf("%s version %q, published %q", key, h.ResourceVersion, version))
		}
		if !maps.Equal(h.Labels, p.Labels) {
			why = append(why, fmt.Sprintf("%s labels %v, published %v", key, h.Labels, p.Labels))
		}
		// The YAML form carries the content version as an annotation (Kubernetes objects have no
		// other place for it); over MCP it is metadata.version, checked above.
		annotations := maps.Clone(p.Annotations)
		delete(annotations, "regsync.io/version")
		if !maps.Equal(h.Annotations, annotations) {
			why = append(why, fmt.Sprintf("%s annotations %v, published %v", key, h.Annotations, annotations))
		}
		if !proto.Equal(h.Spec.(proto.Message), p.Spec.(proto.Message)) {
			why = append(why, fmt.Sprintf("%s spec differs:\n istio:     %v\n published: %v", key, h.Spec, p.Spec))
		}
	}
	for key := range held {
		if !want[key] {
			why = append(why, key+" held but not published")
		}
	}
	sort.Strings(why)
	return strings.Join(why, "; ")
}

// syncedTo waits until istio's store holds exactly what the store publishes.
func (i *istiod) syncedTo(s *store) []config.Config {
	i.t.Helper()
	published := s.published()
	i.waitFor("the published generation", 20*time.Second, func() string { return i.mismatch(published) })
	return published
}
