package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// TrustDomain is the SPIFFE trust domain of every meshbench identity.
const TrustDomain = "meshbench.local"

// caValidity outlives any run; a run generates its own CA.
const caValidity = 7 * 24 * time.Hour

// SPIFFEID is the identity of a service in a run's namespace:
// spiffe://meshbench.local/ns/<namespace>/sa/<service>.
func SPIFFEID(namespace, service string) string {
	return "spiffe://" + TrustDomain + "/ns/" + namespace + "/sa/" + service
}

// CA is a run's certificate authority.
type CA struct {
	// Namespace is the run the CA issues identities in.
	Namespace string
	cert      *x509.Certificate
	key       *ecdsa.PrivateKey
}

// GenerateCA creates a CA for the run namespace (normally the run id).
func GenerateCA(namespace string) (*CA, error) {
	if err := checkName(namespace); err != nil {
		return nil, fmt.Errorf("generate CA: namespace: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"meshbench"}, CommonName: "meshbench CA " + namespace},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		URIs:                  []*url.URL{{Scheme: "spiffe", Host: TrustDomain}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	return &CA{Namespace: namespace, cert: cert, key: key}, nil
}

// CertPEM is the CA certificate in PEM, what peers trust.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

// WriteCert writes the CA certificate (not its key) for the -ca flag.
func (ca *CA) WriteCert(path string) error {
	if err := os.WriteFile(path, ca.CertPEM(), 0o644); err != nil {
		return fmt.Errorf("write CA certificate: %w", err)
	}
	return nil
}

// Identity is a service's certificate and key.
type Identity struct {
	// Service is the name the identity was issued to; ID its SPIFFE ID.
	Service string
	ID      string
	cert    tls.Certificate
}

// IssueIdentity issues a certificate for service with the URI SAN
// SPIFFEID(ca.Namespace, service), usable as client and server. It is valid
// from a minute ago for validity from now; a negative validity issues an
// already expired certificate.
func IssueIdentity(ca *CA, service string, validity time.Duration) (*Identity, error) {
	if err := checkName(service); err != nil {
		return nil, fmt.Errorf("issue identity: %w", err)
	}
	id := SPIFFEID(ca.Namespace, service)
	uri, err := url.Parse(id)
	if err != nil {
		return nil, fmt.Errorf("issue identity: parse %s: %w", id, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key for %s: %w", service, err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	notAfter := now.Add(validity)
	notBefore := now.Add(-time.Minute)
	if !notBefore.Before(notAfter) {
		notBefore = notAfter.Add(-time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"meshbench"}, CommonName: service},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{uri},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("create certificate for %s: %w", service, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate for %s: %w", service, err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	return &Identity{Service: service, ID: id, cert: cert}, nil
}

// CertPEM is the identity's certificate in PEM.
func (id *Identity) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.cert.Certificate[0]})
}

// KeyPEM is the identity's private key in PEM (PKCS #8).
func (id *Identity) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(id.cert.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("encode key of %s: %w", id.Service, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// WriteFiles writes the certificate and key (mode 0600) for the -cert and
// -key flags.
func (id *Identity) WriteFiles(certPath, keyPath string) error {
	key, err := id.KeyPEM()
	if err != nil {
		return err
	}
	if err := os.WriteFile(certPath, id.CertPEM(), 0o644); err != nil {
		return fmt.Errorf("write certificate of %s: %w", id.Service, err)
	}
	if err := os.WriteFile(keyPath, key, 0o600); err != nil {
		return fmt.Errorf("write key of %s: %w", id.Service, err)
	}
	return nil
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return n, nil
}

// TLSConfig is a proxy's mTLS material.
type TLSConfig struct {
	// Roots holds the run's CA.
	Roots *x509.CertPool
	// Certificate is the proxy's own identity; its SPIFFE ID also names the
	// namespace in which peers' service names are resolved.
	Certificate tls.Certificate
	// AllowedPeers are the service names whose identities may open tunnels
	// to this proxy and may answer hops that name no identity. Empty allows
	// any identity the CA issued.
	AllowedPeers []string
}

// TLSConfig returns the mTLS material of a proxy holding id.
func (ca *CA) TLSConfig(id *Identity, allowedPeers ...string) *TLSConfig {
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	return &TLSConfig{Roots: roots, Certificate: id.cert, AllowedPeers: allowedPeers}
}

// LoadTLS reads the PEM files written by CA.WriteCert and
// Identity.WriteFiles.
func LoadTLS(caFile, certFile, keyFile string, allowedPeers []string) (*TLSConfig, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("read CA %s: no PEM certificate", caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	return &TLSConfig{Roots: roots, Certificate: cert, AllowedPeers: allowedPeers}, nil
}

// mtls turns a TLSConfig into the proxy's live TLS configurations: one for
// the tunnel listener and one client configuration, with its session cache,
// per expected peer identity.
type mtls struct {
	namespace string
	roots     *x509.CertPool
	cert      tls.Certificate
	allowed   map[string]bool // SPIFFE IDs
	server    *tls.Config

	mu      sync.Mutex
	clients map[string]*tls.Config // by service name; "" for the allowed list
}

func newMTLS(c *TLSConfig) (*mtls, error) {
	leaf := c.Certificate.Leaf
	if leaf == nil {
		if len(c.Certificate.Certificate) == 0 {
			return nil, errors.New("set up mTLS: no certificate")
		}
		var err error
		if leaf, err = x509.ParseCertificate(c.Certificate.Certificate[0]); err != nil {
			return nil, fmt.Errorf("set up mTLS: parse own certificate: %w", err)
		}
	}
	own, err := spiffeID(leaf)
	if err != nil {
		return nil, fmt.Errorf("set up mTLS: own certificate: %w", err)
	}
	namespace, _, ok := parseSPIFFEID(own)
	if !ok {
		return nil, fmt.Errorf("set up mTLS: own identity %s is not spiffe://%s/ns/<namespace>/sa/<service>", own, TrustDomain)
	}
	m := &mtls{namespace: namespace, roots: c.Roots, cert: c.Certificate, clients: make(map[string]*tls.Config)}
	if len(c.AllowedPeers) > 0 {
		m.allowed = make(map[string]bool, len(c.AllowedPeers))
		for _, name := range c.AllowedPeers {
			if err := checkName(name); err != nil {
				return nil, fmt.Errorf("set up mTLS: allowed peer: %w", err)
			}
			m.allowed[SPIFFEID(namespace, name)] = true
		}
	}
	m.server = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{c.Certificate},
		// Verification happens in VerifyConnection, against the run's CA,
		// for the identity check that crypto/tls does not do.
		ClientAuth:       tls.RequireAnyClientCert,
		VerifyConnection: m.verify(x509.ExtKeyUsageClientAuth, m.allowedPeer),
	}
	return m, nil
}

func (m *mtls) allowedPeer(id string) bool { return m.allowed == nil || m.allowed[id] }

// client returns the configuration for dialling a peer that must present
// service's identity (or, for "", one of the allowed peers).
func (m *mtls) client(service string) *tls.Config {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.clients[service]; ok {
		return c
	}
	accept := m.allowedPeer
	if service != "" {
		want := SPIFFEID(m.namespace, service)
		accept = func(id string) bool { return id == want }
	}
	c := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{m.cert},
		// Peers carry SPIFFE URIs, not host names: VerifyConnection checks
		// the chain against the run's CA and the URI against the expected
		// identity instead of crypto/tls's host name check.
		InsecureSkipVerify: true,
		VerifyConnection:   m.verify(x509.ExtKeyUsageServerAuth, accept),
		ClientSessionCache: tls.NewLRUClientSessionCache(64),
	}
	m.clients[service] = c
	return c
}

// verify checks a peer's chain against the run's CA (validity period
// included, also on resumed sessions) and its SPIFFE ID with accept.
func (m *mtls) verify(usage x509.ExtKeyUsage, accept func(id string) bool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("peer sent no certificate")
		}
		leaf := cs.PeerCertificates[0]
		intermediates := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			intermediates.AddCert(c)
		}
		opts := x509.VerifyOptions{Roots: m.roots, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{usage}}
		if _, err := leaf.Verify(opts); err != nil {
			return fmt.Errorf("verify peer certificate: %w", err)
		}
		id, err := spiffeID(leaf)
		if err != nil {
			return fmt.Errorf("verify peer certificate: %w", err)
		}
		if !accept(id) {
			return fmt.Errorf("peer identity %s is not allowed", id)
		}
		return nil
	}
}

// spiffeID returns the certificate's one spiffe:// URI SAN.
func spiffeID(cert *x509.Certificate) (string, error) {
	var ids []string
	for _, u := range cert.URIs {
		if u.Scheme == "spiffe" {
			ids = append(ids, u.String())
		}
	}
	if len(ids) != 1 {
		return "", fmt.Errorf("certificate %q has %d SPIFFE IDs, want 1", cert.Subject.CommonName, len(ids))
	}
	return ids[0], nil
}

// parseSPIFFEID splits spiffe://meshbench.local/ns/<namespace>/sa/<service>.
func parseSPIFFEID(id string) (namespace, service string, ok bool) {
	rest, ok := strings.CutPrefix(id, "spiffe://"+TrustDomain+"/ns/")
	if !ok {
		return "", "", false
	}
	namespace, service, ok = strings.Cut(rest, "/sa/")
	if !ok || checkName(namespace) != nil || checkName(service) != nil {
		return "", "", false
	}
	return namespace, service, true
}
