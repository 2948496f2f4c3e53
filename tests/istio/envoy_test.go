package istio

// From istio's store to what a sidecar gets: istio's fake discovery server (pilot/test/xds, fake
// Kubernetes clients, no API server) generates the Envoy clusters and endpoints, which are
// compared with expectations written from the recordings.

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config"
)

// wantEndpoint is one endpoint a sidecar must get; istio sends weight 1 where none is set.
type wantEndpoint struct {
	addr     string
	port     uint32
	weight   uint32
	locality string // region/zone[/subzone] as Envoy carries it, "" for none
}

func (e wantEndpoint) String() string {
	s := fmt.Sprintf("%s:%d w=%d", e.addr, e.port, e.weight)
	if e.locality != "" {
		s += " @" + e.locality
	}
	return s
}

// wantCluster is one outbound cluster: `outbound|<port>|<subset>|<host>`.
type wantCluster struct {
	host      string
	port      uint32
	subset    string // a DestinationRule subset, "" for the service's own cluster
	protocol  string // "h2" (explicit HTTP/2 upstream) or "" (HTTP/1.1 or TCP: no HTTP options)
	dns       bool   // STRICT_DNS with its endpoints in the cluster, else EDS
	endpoints []wantEndpoint
}

func (c wantCluster) name() string {
	return fmt.Sprintf("outbound|%d|%s|%s", c.port, c.subset, c.host)
}

// envoyView is what a sidecar in namespace default gets for the given configs.
type envoyView struct {
	clusters  map[string]*cluster.Cluster
	endpoints map[string][]wantEndpoint // by cluster name, from EDS or the cluster's own assignment
}

func sidecarView(t *testing.T, configs []config.Config) envoyView {
	t.Helper()
	fds := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{Configs: configs})
	proxy := fds.SetupProxy(nil)
	view := envoyView{clusters: map[string]*cluster.Cluster{}, endpoints: map[string][]wantEndpoint{}}
	for _, c := range fds.Clusters(proxy) {
		view.clusters[c.Name] = c
		if c.LoadAssignment != nil {
			view.endpoints[c.Name] = flatten(c.LoadAssignment)
		}
	}
	for _, cla := range fds.Endpoints(proxy) {
		view.endpoints[cla.ClusterName] = flatten(cla)
	}
	return view
}

func flatten(cla *endpoint.ClusterLoadAssignment) []wantEndpoint {
	var out []wantEndpoint
	for _, group := range cla.Endpoints {
		loc := ""
		if l := group.Locality; l != nil {
			loc = strings.TrimRight(strings.Join([]string{l.Region, l.Zone, l.SubZone}, "/"), "/")
		}
		for _, lb := range group.LbEndpoints {
			ep := lb.GetEndpoint()
			sock := ep.GetAddress().GetSocketAddress()
			w := uint32(0)
			if lb.LoadBalancingWeight != nil {
				w = lb.LoadBalancingWeight.Value
			}
			out = append(out, wantEndpoint{addr: sock.GetAddress(), port: sock.GetPortValue(), weight: w, locality: loc})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// protocolOf says how Envoy talks to the upstream: "h2" when istio set explicit HTTP/2.
func protocolOf(c *cluster.Cluster) string {
	anyOpts, ok := c.TypedExtensionProtocolOptions["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
	if !ok {
		return ""
	}
	opts := &httpv3.HttpProtocolOptions{}
	if err := anyOpts.UnmarshalTo(opts); err != nil {
		return "unreadable: " + err.Error()
	}
	if opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil {
		return "h2"
	}
	if opts.GetUseDownstreamProtocolConfig() != nil {
		return "downstream"
	}
	return ""
}

// check compares one expected cluster with the view; "" when it matches.
func (v envoyView) check(w wantCluster) string {
	c, ok := v.clusters[w.name()]
	if !ok {
		return w.name() + " missing"
	}
	var why []string
	if got := protocolOf(c); got != w.protocol {
		why = append(why, fmt.Sprintf("upstream protocol %q, want %q", got, w.protocol))
	}
	dns := c.GetType() == cluster.Cluster_STRICT_DNS || c.GetType() == cluster.Cluster_LOGICAL_DNS
	if dns != w.dns {
		why = append(why, fmt.Sprintf("discovery type %v, want DNS=%v", c.GetType(), w.dns))
	}
	want := append([]wantEndpoint(nil), w.endpoints...)
	sort.Slice(want, func(i, j int) bool { return want[i].String() < want[j].String() })
	if got := v.endpoints[w.name()]; fmt.Sprint(got) != fmt.Sprint(want) {
		why = append(why, fmt.Sprintf("endpoints %v, want %v", got, want))
	}
	if len(why) == 0 {
		return ""
	}
	return w.name() + ": " + strings.Join(why, ", ")
}

// addresses lists every endpoint address of every outbound cluster of the given hosts.
func (v envoyView) addresses(hostSuffix string) map[string]bool {
	out := map[string]bool{}
	for name, eps := range v.endpoints {
		if !strings.HasPrefix(name, "outbound|") || !strings.HasSuffix(name, hostSuffix) {
			continue
		}
		for _, e := range eps {
			out[e.addr] = true
		}
	}
	return out
}
