package istio

// The scenarios: each fills a store with regsync from the recordings in events/, serves it with
// `regsync mcp serve` (one scenario: `regsync up`), connects istiod's own client and store, and
// checks istio's store against what regsync published and the Envoy output against expectations
// written from the recordings. Each prints one line:
//
//	istio: <scenario>: entries synced N/N, validation errors 0, warnings W, clusters C/C, endpoints E/E

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	networking "istio.io/api/networking/v1alpha3"

	"istio.io/istio/pkg/adsc"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/schema/gvk"
)

// expect is what one scenario step must produce in Envoy.
type expect struct {
	clusters []wantCluster
	absent   []string        // addresses that must not be an endpoint anywhere
	extra    []config.Config // Istio configs of the mesh beside regsync's (DestinationRules)
}

// verify checks istio's store and the Envoy output, and prints the scenario's line.
func verify(t *testing.T, name string, i *istiod, published []config.Config, want expect) {
	t.Helper()
	held := i.store.serviceEntries()
	synced := 0
	for _, p := range published {
		if _, ok := held[p.Namespace+"/"+p.Name]; ok {
			synced++
		}
	}
	rejected := i.store.rejections()
	for _, r := range rejected {
		t.Errorf("istio's validation refused an entry regsync served: %s", r)
	}
	warnings := i.store.warnings()
	for _, w := range warnings {
		t.Logf("istio validation warning: %s", w)
	}

	configs := append(i.store.List(gvk.ServiceEntry, ""), want.extra...)
	view := sidecarView(t, configs)
	clustersOK, endpointsOK, endpointsAll := 0, 0, 0
	wanted := map[string]bool{}
	for _, c := range want.clusters {
		wanted[c.name()] = true
		endpointsAll += len(c.endpoints)
		if why := view.check(c); why != "" {
			t.Errorf("envoy: %s", why)
		} else {
			clustersOK++
		}
		got := map[string]bool{}
		for _, e := range view.endpoints[c.name()] {
			got[e.String()] = true
		}
		for _, e := range c.endpoints {
			if got[e.String()] {
				endpointsOK++
			}
		}
	}
	// Every outbound cluster of a published host is expected: nothing extra reaches the sidecar.
	hosts := map[string]bool{}
	for _, p := range published {
		for _, h := range p.Spec.(*networking.ServiceEntry).Hosts {
			hosts[h] = true
		}
	}
	for n := range view.clusters {
		parts := strings.Split(n, "|")
		if len(parts) == 4 && parts[0] == "outbound" && hosts[parts[3]] && !wanted[n] {
			t.Errorf("envoy: unexpected cluster %s with endpoints %v", n, view.endpoints[n])
		}
	}
	for _, a := range want.absent {
		for n, eps := range view.endpoints {
			for _, e := range eps {
				if e.addr == a {
					t.Errorf("envoy: %s must not be an endpoint, but %s has %v", a, n, e)
				}
			}
		}
	}
	fmt.Printf("istio: %-34s entries synced %d/%d, validation errors %d, warnings %d, clusters %d/%d, endpoints %d/%d\n",
		name+":", synced, len(published), len(rejected), len(warnings), clustersOK, len(want.clusters), endpointsOK, endpointsAll)
}

// ep is an endpoint with the default weight (1, as istio sends it when none is set).
func ep(addr string, port uint32) wantEndpoint {
	return wantEndpoint{addr: addr, port: port, weight: 1}
}

// weighted is an endpoint with a load-balancing weight.
func weighted(addr string, port, weight uint32) wantEndpoint {
	return wantEndpoint{addr: addr, port: port, weight: weight}
}

func http1(host string, port uint32, eps ...wantEndpoint) wantCluster {
	return wantCluster{host: host, port: port, endpoints: eps}
}

func h2(host string, port uint32, eps ...wantEndpoint) wantCluster {
	return wantCluster{host: host, port: port, protocol: "h2", endpoints: eps}
}

// tcp clusters look like HTTP/1.1 ones (no HTTP options); the listeners differ.
var tcp = http1

func dns(c wantCluster) wantCluster { c.dns = true; return c }

// serveAndCheck is the common shape: fill, serve, connect, compare, check Envoy.
func serveAndCheck(t *testing.T, name string, fill func(s *store), want expect) {
	s := newStore(t)
	fill(s)
	srv := s.serve()
	i := connectIstiod(t, srv.xds)
	verify(t, name, i, i.syncedTo(s), want)
}

// The recorded stories, one per scenario: every shape the Eureka servers and Dubbo registries
// in events/recordings emit.
func TestRecordings(t *testing.T) {
	bar, biz := "foo-bar-local.eureka", "foo-biz-local.eureka"
	cases := []struct {
		name string
		dir  string
		want expect
	}{
		{"eureka-istio-pilot-testdata", "eureka-events/istio-pilot-testdata", expect{clusters: []wantCluster{
			// FOO_BAR_LOCAL's instances serve different ports: 10.0.0.1 on 5000 (and securePort
			// 5443), 10.0.0.2 on 6000. istio sends a port's traffic to every endpoint, so the
			// entry has one HTTP port that each instance serves on its own number, and no HTTPS
			// port, which 10.0.0.2 does not serve. foo.biz.local says HTTP2 in its metadata.
			http1(bar, 5000, ep("10.0.0.1", 5000), ep("10.0.0.2", 6000)),
			h2(biz, 8080, ep("10.0.0.3", 8080)),
		}}},
		{"eureka-karyon-xml", "eureka-events/karyon-xml", expect{clusters: []wantCluster{
			http1("blah.eureka", 80, wantEndpoint{addr: "10.10.10.10", port: 80, weight: 1, locality: "us-east-1/us-east-1e"}),
			http1("karyon-eureka-test.eureka", 80, wantEndpoint{addr: "10.10.10.10", port: 80, weight: 1, locality: "us-east-1/us-east-1e"}),
		}}},
		{"eureka-legacy-xstream", "eureka-events/legacy-xstream-single-object", expect{clusters: []wantCluster{
			http1("testeng.metricsd.eureka", 7101, ep("192.168.40.94", 7101)),
		}}},
		{"eureka-spring-cloud-jackson", "eureka-events/spring-cloud-jackson", expect{clusters: []wantCluster{
			// securePort 443 is disabled: no HTTPS port.
			http1("eurekaconsumer.eureka", 9002, ep("10.8.30.55", 9002)),
		}}},
		{"eureka-steeltoe-delta", "eureka-events/steeltoe-add-then-modify", expect{clusters: []wantCluster{
			http1("foo.eureka", 8080, ep("192.168.56.1", 8080)),
		}}},
		{"eureka-two-apps-mixed-shapes", "eureka-events/two-apps-mixed-shapes", expect{clusters: []wantCluster{
			http1("testeng.lsm.eureka", 7100, ep("192.168.191.150", 7100), ep("192.168.191.235", 7100)),
			http1("testeng.metricsd.eureka", 7101, ep("192.168.40.94", 7101)),
		}}},
		{"eureka-single-app-secure-port", "eureka-events/single-app", expect{clusters: []wantCluster{
			http1("mymicroservice2.eureka", 8080, ep("10.8.30.55", 8080)),
			tcp("mymicroservice2.eureka", 8443, ep("10.8.30.55", 8443)),
		}}},
		{"dubbo2-providers-group-version", "dubbo-zk/dubbo27-providers", expect{clusters: []wantCluster{
			tcp("org.apache.dubbo.samples.basic.api.complexservice-product-2-0-0.dubbo", 20880, ep("172.20.0.69", 20880)),
			tcp("org.apache.dubbo.samples.basic.api.demoservice.dubbo", 20880,
				ep("172.18.0.9", 20880), ep("172.20.0.28", 20880), ep("172.20.0.29", 20880)),
		}}},
		{"dubbo2-disabled-and-weighted", "dubbo-zk/disabled-and-weighted", expect{
			// A configurator disables 172.20.0.29 and sets 172.20.0.28's weight to 200; the
			// provider URL of 172.18.0.9 says weight=50.
			clusters: []wantCluster{tcp("org.apache.dubbo.samples.basic.api.demoservice.dubbo", 20880,
				weighted("172.18.0.9", 20880, 50), weighted("172.20.0.28", 20880, 200))},
			absent: []string{"172.20.0.29"},
		}},
		{"dubbo3-tri-and-app-level", "dubbo-zk/dubbo3-tri-and-app-level", expect{
			clusters: []wantCluster{
				tcp("org.apache.dubbo.samples.api.greetingsservice.dubbo", 20880, ep("30.221.146.35", 20880)),
				h2("org.apache.dubbo.springboot.demo.demoservice.dubbo", 50052, ep("10.224.1.29", 50052)),
				// The provider URL's application=..., as a label a DestinationRule subset selects.
				{host: "org.apache.dubbo.springboot.demo.demoservice.dubbo", port: 50052, subset: "demo",
					protocol: "h2", endpoints: []wantEndpoint{ep("10.224.1.29", 50052)}},
			},
			extra: []config.Config{destinationRule("org.apache.dubbo.springboot.demo.demoservice.dubbo", "demo",
				map[string]string{"application": "dubbo-springboot-demo-provider"})},
		}},
		{"dubbo3-application-level-only", "dubbo-zk/app-level-only", expect{
			// Scaled up to .35 and .36, then .35 left; TimeService maps to the same application.
			clusters: []wantCluster{
				tcp("org.apache.dubbo.samples.api.greetingsservice.dubbo", 20880, ep("30.221.146.36", 20880)),
				tcp("org.apache.dubbo.samples.api.timeservice.dubbo", 20880, ep("30.221.146.36", 20880)),
			},
			absent: []string{"30.221.146.35"},
		}},
		{"dubbo3-real-providers", "dubbo-zk/dubbo-3.3", expect{
			// Recorded from real Dubbo 3.3.6 providers (scripts/record-zookeeper.sh): shop in
			// mode all, dubbo and tri from one process, after a Dubbo Admin override weight=25
			// on its dubbo port (one endpoint, the lower weight); group blue / version 2.0.0
			// with weight 50. stock (instance level, EchoService) stopped: no endpoint.
			clusters: []wantCluster{
				tcp("io.regsync.peers.dubbo.provider.greetingservice.dubbo", 20880, weighted("192.0.2.2", 20880, 25)),
				h2("io.regsync.peers.dubbo.provider.greetingservice.dubbo", 50051, weighted("192.0.2.2", 50051, 25)),
				tcp("io.regsync.peers.dubbo.provider.greetingservice-blue-2-0-0.dubbo", 20880, weighted("192.0.2.2", 20880, 50)),
				h2("io.regsync.peers.dubbo.provider.greetingservice-blue-2-0-0.dubbo", 50051, weighted("192.0.2.2", 50051, 50)),
			},
		}},
		{"curator-spring-cloud-zookeeper", "dubbo-zk/spring-cloud-zookeeper", expect{
			// Curator service discovery: a Spring Cloud Zookeeper application with no Dubbo
			// mapping; instance 2 stopped, instance 1 back UP after OUT_OF_SERVICE.
			clusters: []wantCluster{http1("orders.zookeeper", 41345, ep("127.0.0.61", 41345))},
			absent:   []string{"127.0.0.62"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			serveAndCheck(t, c.name, func(s *store) { s.replay(recording(t, c.dir)) }, c.want)
		})
	}
}

// instances edits the instance list of a recorded Eureka applications/application event.
func instances(ev map[string]any) []any {
	data := ev["data"].(map[string]any)
	var apps []any
	if a, ok := data["applications"]; ok {
		switch v := a.(map[string]any)["application"].(type) {
		case []any:
			apps = v
		default:
			apps = []any{v}
		}
	} else {
		apps = []any{data["application"]}
	}
	var out []any
	for _, app := range apps {
		switch v := app.(map[string]any)["instance"].(type) {
		case []any:
			out = append(out, v...)
		default:
			out = append(out, v)
		}
	}
	return out
}

func withIP(ip string, f func(inst map[string]any)) func(ev map[string]any) {
	return func(ev map[string]any) {
		for _, i := range instances(ev) {
			inst := i.(map[string]any)
			if inst["ipAddr"] == ip {
				f(inst)
			}
		}
	}
}

// A DOWN instance and an OUT_OF_SERVICE override never become endpoints (istio's recorded
// testdata with two of its instances' states changed).
func TestStatusFilter(t *testing.T) {
	src := recordings(t, "eureka-events/istio-pilot-testdata")[0]
	ev := derive(t, src, "down.json", func(ev map[string]any) {
		withIP("10.0.0.2", func(i map[string]any) { i["status"] = "DOWN" })(ev)
		withIP("10.0.0.3", func(i map[string]any) { i["overriddenStatus"] = "OUT_OF_SERVICE" })(ev)
	})
	bar := "foo-bar-local.eureka"
	serveAndCheck(t, "eureka-down-and-out-of-service", func(s *store) { s.apply(ev) }, expect{
		clusters: []wantCluster{http1(bar, 5000, ep("10.0.0.1", 5000)), tcp(bar, 5443, ep("10.0.0.1", 5443))},
		absent:   []string{"10.0.0.2", "10.0.0.3"},
	})
}

// An instance registered by hostName only (no ipAddr) makes the entry DNS-resolved: Envoy gets
// STRICT_DNS clusters carrying the name.
func TestHostNameGivesDNS(t *testing.T) {
	src := recordings(t, "eureka-events/istio-pilot-testdata")[0]
	ev := derive(t, src, "hostname.json", withIP("10.0.0.1", func(i map[string]any) { i["ipAddr"] = "" }))
	bar := "foo-bar-local.eureka"
	serveAndCheck(t, "eureka-hostname-dns", func(s *store) { s.apply(ev) }, expect{clusters: []wantCluster{
		dns(http1(bar, 5000, ep("foo.bar.local", 5000), ep("10.0.0.2", 6000))),
		h2("foo-biz-local.eureka", 8080, ep("10.0.0.3", 8080)),
	}})
}

// secondRegistry is a recorded Eureka event as a second Eureka registry (`eureka-dr`) would
// publish it, its instances moved to other addresses.
func secondRegistry(t *testing.T, src, name string, addr map[string]string) string {
	return derive(t, src, name, func(ev map[string]any) {
		ev["registry"] = "eureka-dr"
		ev["id"] = fmt.Sprint(ev["id"], "-dr")
		ev["source"] = "http://eureka-dr:8761/eureka"
		for _, i := range instances(ev) {
			inst := i.(map[string]any)
			ip := addr[inst["ipAddr"].(string)]
			inst["ipAddr"], inst["hostName"] = ip, ip
			inst["instanceId"] = fmt.Sprint(inst["instanceId"], "-dr")
		}
	})
}

// One host fed by two registries: one entry with both registries' endpoints, each labelled with
// its registry; a DestinationRule subset on that label selects one registry's endpoints.
func TestTwoRegistriesOneHost(t *testing.T) {
	src := recordings(t, "eureka-events/single-app")[0]
	dr := secondRegistry(t, src, "dr.json", map[string]string{"10.8.30.55": "10.8.31.55"})
	host := "mymicroservice2.eureka"
	rule := destinationRule(host, "dr", map[string]string{"registry": "eureka-dr"})
	serveAndCheck(t, "two-registries-one-host", func(s *store) { s.apply(src, dr) }, expect{
		clusters: []wantCluster{
			http1(host, 8080, ep("10.8.30.55", 8080), ep("10.8.31.55", 8080)),
			tcp(host, 8443, ep("10.8.30.55", 8443), ep("10.8.31.55", 8443)),
			{host: host, port: 8080, subset: "dr", endpoints: []wantEndpoint{ep("10.8.31.55", 8080)}},
			{host: host, port: 8443, subset: "dr", endpoints: []wantEndpoint{ep("10.8.31.55", 8443)}},
		},
		extra: []config.Config{rule},
	})
}

// destinationRule is a user's DestinationRule in namespace default with one label subset.
func destinationRule(host, subset string, labels map[string]string) config.Config {
	return config.Config{
		Meta: config.Meta{GroupVersionKind: gvk.DestinationRule, Name: subset + "-" + strings.Split(host, ".")[0], Namespace: "default"},
		Spec: &networking.DestinationRule{Host: host, Subsets: []*networking.Subset{{Name: subset, Labels: labels}}},
	}
}

// An instance added, then removed: istio's store changes version and Envoy's EDS follows.
func TestUpdateAddThenRemove(t *testing.T) {
	app := recordings(t, "eureka-events/single-app")[0]
	lifecycle := recordings(t, "eureka-events/instance-lifecycle")
	second := func(src, name string, later int64) string {
		return derive(t, src, name, func(ev map[string]any) {
			ev["id"] = fmt.Sprint(ev["id"], "-second")
			ev["sourceversion"] = fmt.Sprint(1606976861357 + later)
			data := ev["data"].(map[string]any)
			inst := data
			if i, ok := data["instance"]; ok {
				inst = i.(map[string]any)
			}
			inst["instanceId"] = "10.8.30.56:myMicroservice2:second"
			inst["ipAddr"], inst["hostName"] = "10.8.30.56", "10.8.30.56"
			inst["lastUpdatedTimestamp"] = fmt.Sprint(1606976861357 + later)
		})
	}
	added := second(lifecycle[0], "added.json", 1000)
	deleted := second(lifecycle[2], "deleted.json", 2000)
	host := "mymicroservice2.eureka"
	key := "eureka/" + host

	s := newStore(t)
	s.apply(app)
	srv := s.serve()
	i := connectIstiod(t, srv.xds)
	one := expect{clusters: []wantCluster{http1(host, 8080, ep("10.8.30.55", 8080)), tcp(host, 8443, ep("10.8.30.55", 8443))}}
	verify(t, "update-1-one-instance", i, i.syncedTo(s), one)
	v1 := i.store.serviceEntries()[key].ResourceVersion

	s.apply(added)
	verify(t, "update-2-instance-added", i, i.syncedTo(s), expect{clusters: []wantCluster{
		http1(host, 8080, ep("10.8.30.55", 8080), ep("10.8.30.56", 8080)),
		tcp(host, 8443, ep("10.8.30.55", 8443), ep("10.8.30.56", 8443)),
	}})
	v2 := i.store.serviceEntries()[key].ResourceVersion
	if v2 == v1 {
		t.Errorf("istio's copy kept version %s after an instance was added", v1)
	}

	s.apply(deleted)
	verify(t, "update-3-instance-removed", i, i.syncedTo(s), one)
	if v3 := i.store.serviceEntries()[key].ResourceVersion; v3 != v1 {
		t.Errorf("the entry is back to its first content, so its version should be %s again, got %s", v1, v3)
	}
}

// A service whose last instance goes DOWN disappears from istio's store (the guard is off here:
// it is the only service of its registry, so this is a 100% loss).
func TestRemovedService(t *testing.T) {
	lifecycle := recordings(t, "eureka-events/instance-lifecycle")
	s := newStore(t)
	s.apply(lifecycle[0])
	srv := s.serve("--guard-max-loss", "100")
	i := connectIstiod(t, srv.xds)
	host := "mymicroservice2.eureka"
	verify(t, "removed-1-registered", i, i.syncedTo(s), expect{clusters: []wantCluster{
		http1(host, 8080, ep("10.8.30.55", 8080)), tcp(host, 8443, ep("10.8.30.55", 8443)),
	}})
	s.apply(lifecycle[1])
	published := i.syncedTo(s)
	if len(published) != 0 || len(i.store.serviceEntries()) != 0 {
		t.Errorf("after the instance went DOWN: published %d entries, istio holds %d", len(published), len(i.store.serviceEntries()))
	}
	verify(t, "removed-2-instance-down", i, published, expect{absent: []string{"10.8.30.55"}})
}

// The MCP server restarts while a generation is published: istiod's client reconnects by itself
// (adsc's backoff, as in istiod) and syncs to the new state.
func TestServerRestart(t *testing.T) {
	s := newStore(t)
	s.replay(recording(t, "dubbo-zk/dubbo27-providers"))
	srv := s.serve()
	i := connectIstiod(t, srv.xds)
	demo := "org.apache.dubbo.samples.basic.api.demoservice.dubbo"
	verify(t, "restart-1-before", i, i.syncedTo(s), expect{clusters: []wantCluster{
		tcp("org.apache.dubbo.samples.basic.api.complexservice-product-2-0-0.dubbo", 20880, ep("172.20.0.69", 20880)),
		tcp(demo, 20880, ep("172.18.0.9", 20880), ep("172.20.0.28", 20880), ep("172.20.0.29", 20880)),
	}})
	srv.restart(func() {
		// While the server is down, a configurator disables one provider and weights another.
		s.apply(recordings(t, "dubbo-zk/disabled-and-weighted")[1])
	})
	verify(t, "restart-2-after-reconnect", i, i.syncedTo(s), expect{
		clusters: []wantCluster{
			tcp("org.apache.dubbo.samples.basic.api.complexservice-product-2-0-0.dubbo", 20880, ep("172.20.0.69", 20880)),
			// The configurator weights 172.20.0.28; 172.18.0.9's URL here has no weight, so it
			// gets Dubbo's default 100 (istio's default 1 would give it 1/201 of the traffic).
			tcp(demo, 20880, weighted("172.18.0.9", 20880, 100), weighted("172.20.0.28", 20880, 200)),
		},
		absent: []string{"172.20.0.29"},
	})
}

// A mass deregistration (every provider of the registry gone at once) is held by the guard:
// istio keeps routing to the last good endpoints until an operator releases the generation.
func TestGuardHoldsMassDeregistration(t *testing.T) {
	steps := recordings(t, "dubbo-zk/scale-down")
	s := newStore(t)
	s.apply(steps[0])
	srv := s.serve("--guard-max-loss", "50", "--guard-window", "10m")
	i := connectIstiod(t, srv.xds)
	demo := "org.apache.dubbo.samples.basic.api.demoservice.dubbo"
	both := expect{clusters: []wantCluster{tcp(demo, 20880, ep("172.20.0.28", 20880), ep("172.20.0.29", 20880))}}
	before := i.syncedTo(s)
	verify(t, "guard-1-two-providers", i, before, both)

	s.apply(steps[2]) // the last provider leaves: 100% of the registry's endpoints
	i.waitFor("the guard holding generation 2", 20*time.Second, func() string {
		st := srv.status()
		if held := fmt.Sprint(st["snapshot"].(map[string]any)["held"]); held == "<nil>" || held == "map[]" {
			return "nothing held: " + fmt.Sprint(st["snapshot"])
		}
		return ""
	})
	if why := i.mismatch(before); why != "" {
		t.Errorf("while held, istio must keep the last good entries: %s", why)
	}
	verify(t, "guard-2-held", i, before, both)

	run(t, "mcp", "release", "--store", s.url, "--admin", srv.admin)
	published := i.syncedTo(s)
	if len(published) != 0 {
		t.Errorf("after the release the store publishes %d entries, want none", len(published))
	}
	verify(t, "guard-3-released", i, published, expect{absent: []string{"172.20.0.28", "172.20.0.29"}})
}

// `regsync up`, as the README's first command runs it: its demo reaches istio whole.
func TestRegsyncUp(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	up := start(t, upListening, "up", "--data-dir", data,
		"--mcp-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--webhook-listen", "127.0.0.1:0")
	s := &store{t: t, url: "file://" + filepath.Join(data, "store")}
	i := connectIstiod(t, up.xds)
	bar := "foo-bar-local.eureka"
	demo := "org.apache.dubbo.samples.basic.api.demoservice.dubbo"
	verify(t, "regsync-up-demo", i, i.syncedTo(s), expect{clusters: []wantCluster{
		http1(bar, 5000, ep("10.0.0.1", 5000), ep("10.0.0.2", 6000)),
		h2("foo-biz-local.eureka", 8080, ep("10.0.0.3", 8080)),
		http1("mymicroservice2.eureka", 8080, ep("10.8.30.55", 8080)),
		tcp("mymicroservice2.eureka", 8443, ep("10.8.30.55", 8443)),
		tcp("org.apache.dubbo.samples.basic.api.complexservice-product-2-0-0.dubbo", 20880, ep("172.20.0.69", 20880)),
		tcp(demo, 20880, ep("172.18.0.9", 20880), ep("172.20.0.28", 20880), ep("172.20.0.29", 20880)),
		tcp("org.apache.dubbo.samples.api.greetingsservice.dubbo", 20880, ep("30.221.146.35", 20880)),
		h2("org.apache.dubbo.springboot.demo.demoservice.dubbo", 50052, ep("10.224.1.29", 50052)),
	}})
}

// An entry istio would refuse is never served: regsync leaves it out (and says why), because
// istio does not delete on a refused update, it keeps the older copy (stale). Both halves are
// shown: regsync's refusal through the whole path, and istio's stale copy in its own store.
func TestInvalidEntryNeverServed(t *testing.T) {
	src := recordings(t, "eureka-events/single-app")[0]
	long := "MY" + strings.Repeat("X", 70) // a 72-character DNS label: not a valid host
	bad := derive(t, src, "long-name.json", func(ev map[string]any) {
		ev["subject"] = long
		ev["id"] = fmt.Sprint(ev["id"], "-long")
		app := ev["data"].(map[string]any)["application"].(map[string]any)
		app["name"] = long
		for _, i := range instances(ev) {
			i.(map[string]any)["app"] = long
		}
	})
	s := newStore(t)
	s.apply(src, bad)
	srv := s.serve()
	i := connectIstiod(t, srv.xds)
	host := "mymicroservice2.eureka"
	published := i.syncedTo(s)
	verify(t, "invalid-entry-left-out", i, published, expect{clusters: []wantCluster{
		http1(host, 8080, ep("10.8.30.55", 8080)), tcp(host, 8443, ep("10.8.30.55", 8443)),
	}})
	if len(published) != 1 {
		t.Fatalf("published %d entries, want only %s", len(published), host)
	}

	// What istio does with the entry regsync refused, had it been served as an update of the
	// good one: its validation refuses it and the older copy stays.
	good := i.store.serviceEntries()["eureka/"+host]
	stale := good.DeepCopy()
	stale.Spec.(*networking.ServiceEntry).Hosts = []string{strings.ToLower(long) + ".eureka"}
	stale.ResourceVersion = ""
	if _, err := i.store.Controller.Update(stale); err == nil {
		t.Fatalf("istio accepted host %s: the refusal rule in regsync is stricter than istio", long)
	} else {
		t.Logf("istio refuses the update: %v", err)
	}
	after := i.store.serviceEntries()["eureka/"+host]
	if after.ResourceVersion != good.ResourceVersion || after.Spec.(*networking.ServiceEntry).Hosts[0] != host {
		t.Errorf("istio should keep the older copy after a refused update, has %v", after)
	}
}

// The request set regsync's Rust tests replay as istiod 1.30 (crates/mcp/src/types.rs) is
// what this istio's own client sends, type for type and in order.
func TestRequestSetMatchesRustTests(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "crates/mcp/src/types.rs"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)pub const ISTIOD_1_30_TYPES: \[&str; \d+\] = \[(.*?)\];`).FindSubmatch(src)
	if block == nil {
		t.Fatal("ISTIOD_1_30_TYPES not found in crates/mcp/src/types.rs")
	}
	consts := map[string]string{}
	for _, m := range regexp.MustCompile(`pub const (\w+): &str = "([^"]+)";`).FindAllSubmatch(src, -1) {
		consts[string(m[1])] = string(m[2])
	}
	var rust []string
	for _, item := range strings.Split(string(block[1]), ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if v, ok := consts[item]; ok {
			rust = append(rust, v)
		} else {
			rust = append(rust, strings.Trim(item, `"`))
		}
	}
	var istio []string
	for _, r := range adsc.ConfigInitialRequests() {
		istio = append(istio, r.TypeUrl)
	}
	if !slices.Equal(rust, istio) {
		t.Errorf("istio's ConfigInitialRequests:\n  %v\nregsync's ISTIOD_1_30_TYPES:\n  %v", istio, rust)
	}
	fmt.Printf("istio: %-34s %d types, same order as ISTIOD_1_30_TYPES\n", "request-set:", len(istio))
}
