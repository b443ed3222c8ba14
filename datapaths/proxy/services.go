package proxy

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
)

// Service is one entry of the service table.
type Service struct {
	// Name is the service's name, which is also its identity's name.
	Name string `json:"name"`
	// VIP and Port are the service's virtual address; a zero VIP means a
	// service reached only through its endpoints.
	VIP  netip.Addr `json:"vip"`
	Port uint16     `json:"port"`
	// Endpoints are the pods' addresses (pod IP and target port).
	Endpoints []netip.AddrPort `json:"endpoints"`
}

// servicesFile is the on-disk form of a service table.
type servicesFile struct {
	Services []Service `json:"services"`
}

// LoadServices reads a service table written by SaveServices, rejecting
// unknown fields and invalid entries.
func LoadServices(path string) ([]Service, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read services: %w", err)
	}
	services, err := decodeServices(data)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return services, nil
}

// decodeServices reads the form MarshalServices writes.
func decodeServices(data []byte) ([]Service, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f servicesFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode services: %w", err)
	}
	if err := validateServices(f.Services); err != nil {
		return nil, fmt.Errorf("check services: %w", err)
	}
	return f.Services, nil
}

// MarshalServices encodes a service table as the proxy's -services flag
// reads it.
func MarshalServices(services []Service) ([]byte, error) {
	if err := validateServices(services); err != nil {
		return nil, fmt.Errorf("check services: %w", err)
	}
	data, err := json.MarshalIndent(servicesFile{Services: services}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode services: %w", err)
	}
	return append(data, '\n'), nil
}

// SaveServices writes a service table for the proxy's -services flag.
func SaveServices(path string, services []Service) error {
	data, err := MarshalServices(services)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write services: %w", err)
	}
	return nil
}

func validateServices(services []Service) error {
	names := make(map[string]bool, len(services))
	vips := make(map[netip.AddrPort]string, len(services))
	for i, s := range services {
		if err := checkName(s.Name); err != nil {
			return fmt.Errorf("service %d: %w", i, err)
		}
		if names[s.Name] {
			return fmt.Errorf("service %q: listed twice", s.Name)
		}
		names[s.Name] = true
		if s.VIP.IsValid() {
			if !s.VIP.Is4() || s.Port == 0 {
				return fmt.Errorf("service %q: VIP needs an IPv4 address and a port, got %s port %d", s.Name, s.VIP, s.Port)
			}
			vip := netip.AddrPortFrom(s.VIP, s.Port)
			if other, ok := vips[vip]; ok {
				return fmt.Errorf("service %q: VIP %s already belongs to %q", s.Name, vip, other)
			}
			vips[vip] = s.Name
		}
		for _, ep := range s.Endpoints {
			if !ep.Addr().Is4() || ep.Port() == 0 {
				return fmt.Errorf("service %q: endpoint %s is not an IPv4 address and port", s.Name, ep)
			}
		}
	}
	return nil
}

// checkName accepts names usable in a SPIFFE path segment: lower-case
// letters, digits, '-' and '.'.
func checkName(name string) error {
	if name == "" {
		return errors.New("empty name")
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' && r != '.' {
			return fmt.Errorf("name %q: only lower-case letters, digits, '-' and '.' are allowed", name)
		}
	}
	return nil
}

// service is a live route: a VIP balanced round-robin over its endpoints.
type service struct {
	name      string
	endpoints []*endpoint
	next      atomic.Uint32
}

func (s *service) pick() *endpoint {
	n := s.next.Add(1) - 1
	return s.endpoints[n%uint32(len(s.endpoints))]
}

// endpoint is one upstream as reached by one hop, with what the proxy keeps
// per upstream: counters, the keep-alive pool and the TLS client settings.
type endpoint struct {
	addr netip.AddrPort
	hop  Hop
	// tls is the client configuration for the hop's peer; nil for plain hops.
	tls  *tls.Config
	pool pool
	h2   h2pool
	// transient endpoints are not in the route table (it was full): they
	// keep no idle connections, which nothing would ever close.
	transient bool

	conns, requests, errors atomic.Uint64
}

// routeKey names an endpoint: outbound traffic takes the Peer policy's hop,
// traffic that already arrived (inbound, tunnelled) goes direct.
type routeKey struct {
	addr   netip.AddrPort
	direct bool
}

// MaxExtraRoutes bounds the routes a proxy keeps for destinations outside
// its service table (passthrough traffic, seen as it comes). Any
// application can name as many destinations as it likes, so past the bound
// such a destination gets a route for its connection only, without a
// keep-alive pool or counters of its own; StatRoutesOverflow counts them.
const MaxExtraRoutes = 1024

// routes resolves destinations to endpoints. The service table's endpoints,
// both as outbound and as direct routes, are built once and never change;
// destinations outside it get up to MaxExtraRoutes routes as they are first
// seen.
type routes struct {
	vips     map[netip.AddrPort]*service
	services []*service
	table    map[routeKey]*endpoint
	// waypoints are the routes of outbound traffic to the VIPs of
	// services with a waypoint (Config.Waypoints), which goes to the
	// waypoint whole instead of to an endpoint.
	waypoints map[netip.AddrPort]*endpoint

	newEndpoint func(routeKey) *endpoint

	mu       sync.Mutex
	extra    map[routeKey]*endpoint
	overflow atomic.Uint64
}

func newRoutes(services []Service, newEndpoint func(routeKey) *endpoint) *routes {
	r := &routes{
		vips:        make(map[netip.AddrPort]*service, len(services)),
		services:    make([]*service, 0, len(services)),
		table:       make(map[routeKey]*endpoint),
		waypoints:   make(map[netip.AddrPort]*endpoint),
		newEndpoint: newEndpoint,
		extra:       make(map[routeKey]*endpoint),
	}
	for _, s := range services {
		svc := &service{name: s.Name, endpoints: make([]*endpoint, 0, len(s.Endpoints))}
		for _, addr := range s.Endpoints {
			for _, direct := range []bool{false, true} {
				k := routeKey{addr: addr, direct: direct}
				if r.table[k] == nil {
					r.table[k] = newEndpoint(k)
				}
			}
			svc.endpoints = append(svc.endpoints, r.table[routeKey{addr: addr}])
		}
		r.services = append(r.services, svc)
		if s.VIP.IsValid() {
			r.vips[netip.AddrPortFrom(s.VIP, s.Port)] = svc
		}
	}
	return r
}

// lookup returns the endpoint for traffic to dst, picking one of a service's
// endpoints when dst is its VIP, unless outbound traffic to that VIP goes
// to the service's waypoint.
func (r *routes) lookup(dst netip.AddrPort, direct bool) *endpoint {
	if ep, ok := r.waypoints[dst]; ok && !direct {
		return ep
	}
	if svc, ok := r.vips[dst]; ok && len(svc.endpoints) > 0 {
		dst = svc.pick().addr
	}
	k := routeKey{addr: dst, direct: direct}
	if ep, ok := r.table[k]; ok {
		return ep
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ep, ok := r.extra[k]
	if ok {
		return ep
	}
	ep = r.newEndpoint(k)
	if len(r.extra) >= MaxExtraRoutes {
		r.overflow.Add(1)
		ep.transient = true
		return ep
	}
	r.extra[k] = ep
	return ep
}

// isEndpoint reports whether dst is an endpoint of the service table: the
// only destinations a tunnel may reach.
func (r *routes) isEndpoint(dst netip.AddrPort) bool {
	_, ok := r.table[routeKey{addr: dst, direct: true}]
	return ok
}

// isVIP reports whether dst is the VIP of a service of the table.
func (r *routes) isVIP(dst netip.AddrPort) bool {
	_, ok := r.vips[dst]
	return ok
}

// each calls fn for every endpoint kept: the table's, the waypoints' and
// the extra ones.
func (r *routes) each(fn func(*endpoint)) {
	for _, ep := range r.table {
		fn(ep)
	}
	for _, ep := range r.waypoints {
		fn(ep)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ep := range r.extra {
		fn(ep)
	}
}
