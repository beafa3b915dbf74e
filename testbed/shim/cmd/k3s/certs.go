package main

// The cluster PKI, generated with crypto/x509 (ECDSA P-256) under
// <data-dir>/server/tls, with k3s-like file names.
//
// The CA and the service-account key are created once and reused when the
// data directory is reused (so tokens and kubeconfigs stay valid across a
// restart); leaf certificates are re-issued on every start because the
// serving certificate's SANs depend on the host's current addresses.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki holds the paths of everything the components and kubeconfigs use.
type pki struct {
	Dir       string
	CACert    string // cluster CA: signs serving and client certs, verifies clients
	CAKey     string
	SAKey     string // service-account token signing key (private; the public half is derived)
	Serving   certPair
	Admin     certPair // system:admin in system:masters
	Manager   certPair // system:kube-controller-manager
	Scheduler certPair // system:kube-scheduler
	// The apiserver's client certificate toward kubelets (real node only).
	KubeletClient certPair
	CAPEM         []byte
	// The front proxy (API aggregation), as in k3s: a CA of its own
	// (request-header-ca) that only signs the apiserver's client
	// certificate toward aggregated API servers (client-auth-proxy, CN
	// system:auth-proxy). Aggregated servers read the CA and the allowed
	// name from kube-system/extension-apiserver-authentication and trust
	// the X-Remote-* identity headers only on connections that present it.
	RequestHeaderCACert string
	RequestHeaderCAKey  string
	AuthProxy           certPair
}

// authProxyName is the front proxy's client certificate CN, the only name
// aggregated API servers accept identity headers from (k3s uses the same).
const authProxyName = "system:auth-proxy"

type certPair struct{ Cert, Key string }

// clientIdentities are the client certificates issued on every start.
var clientIdentities = []struct {
	file, cn, org string
	pick          func(p *pki) *certPair
}{
	{"client-admin", "system:admin", "system:masters", func(p *pki) *certPair { return &p.Admin }},
	// The controller-manager runs every controller under its own identity
	// (--use-service-account-credentials=false, see components.go), which
	// needs more than the system:kube-controller-manager role grants.
	{"client-controller", "system:kube-controller-manager", "system:masters", func(p *pki) *certPair { return &p.Manager }},
	{"client-scheduler", "system:kube-scheduler", "", func(p *pki) *certPair { return &p.Scheduler }},
}

// ensurePKI loads or creates the CA and service-account key in dir and
// issues fresh leaf certificates; the serving certificate gets dnsSANs/ipSANs.
func ensurePKI(dir string, dnsSANs []string, ipSANs []net.IP) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &pki{
		Dir:    dir,
		CACert: filepath.Join(dir, "server-ca.crt"),
		CAKey:  filepath.Join(dir, "server-ca.key"),
		SAKey:  filepath.Join(dir, "service.key"),
	}
	ca, caKey, err := loadOrCreateCA(p.CACert, p.CAKey, "k3s-server-ca")
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	p.CAPEM = pemEncode("CERTIFICATE", ca.Raw)
	if _, err := os.Stat(p.SAKey); errors.Is(err, os.ErrNotExist) {
		key, err := newKey()
		if err != nil {
			return nil, err
		}
		if err := writeKey(p.SAKey, key); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}

	p.Serving = certPair{filepath.Join(dir, "serving-kube-apiserver.crt"), filepath.Join(dir, "serving-kube-apiserver.key")}
	serving := newServingTemplate("kube-apiserver", dnsSANs, ipSANs)
	if err := issue(p.Serving, &serving, ca, caKey); err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	for _, id := range clientIdentities {
		pair := id.pick(p)
		*pair = certPair{filepath.Join(dir, id.file+".crt"), filepath.Join(dir, id.file+".key")}
		tmpl := newClientTemplate(id.cn, id.org)
		if err := issue(*pair, &tmpl, ca, caKey); err != nil {
			return nil, fmt.Errorf("client certificate %s: %w", id.cn, err)
		}
	}
	if err := p.ensureFrontProxy(); err != nil {
		return nil, err
	}
	return p, nil
}

// ensureFrontProxy loads or creates the request-header CA and issues the
// front proxy's client certificate with it.
func (p *pki) ensureFrontProxy() error {
	p.RequestHeaderCACert = filepath.Join(p.Dir, "request-header-ca.crt")
	p.RequestHeaderCAKey = filepath.Join(p.Dir, "request-header-ca.key")
	ca, caKey, err := loadOrCreateCA(p.RequestHeaderCACert, p.RequestHeaderCAKey, "k3s-request-header-ca")
	if err != nil {
		return fmt.Errorf("request-header CA: %w", err)
	}
	p.AuthProxy = certPair{filepath.Join(p.Dir, "client-auth-proxy.crt"), filepath.Join(p.Dir, "client-auth-proxy.key")}
	tmpl := newClientTemplate(authProxyName, "")
	if err := issue(p.AuthProxy, &tmpl, ca, caKey); err != nil {
		return fmt.Errorf("front proxy client certificate: %w", err)
	}
	return nil
}

// x509Template is a certificate to be issued by the CA.
type x509Template = x509.Certificate

// newClientTemplate is a client certificate for user cn in group org.
func newClientTemplate(cn, org string) x509Template {
	t := x509Template{Subject: pkix.Name{CommonName: cn}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if org != "" {
		t.Subject.Organization = []string{org}
	}
	return t
}

// newServingTemplate is a server certificate for the given names.
func newServingTemplate(cn string, dns []string, ips []net.IP) x509Template {
	return x509Template{
		Subject:     pkix.Name{CommonName: cn},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    dns,
		IPAddresses: ips,
	}
}

// loadOrCreateCA reuses the CA in certPath/keyPath or creates one whose CN
// is cnPrefix@<unix time>, like k3s's CAs.
func loadOrCreateCA(certPath, keyPath, cnPrefix string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	if certErr == nil && keyErr == nil {
		return parseCA(certPEM, keyPEM)
	}
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: fmt.Sprintf("%s@%d", cnPrefix, now.Unix())},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	if err := writeKey(keyPath, key); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(certPath, pemEncode("CERTIFICATE", der), 0o644); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func parseCA(certPEM, keyPEM []byte) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, errors.New("existing CA files are not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// issue signs tmpl with the CA and writes the certificate and a new key.
func issue(pair certPair, tmpl *x509.Certificate, ca *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	chain, keyPEM, err := issuePEM(tmpl, ca, caKey)
	if err != nil {
		return err
	}
	if err := writeFile(pair.Key, keyPEM, 0o600); err != nil {
		return err
	}
	return writeFile(pair.Cert, chain, 0o644)
}

// issuePEM signs tmpl with the CA and returns the chain (leaf + CA, which
// lets clients that only trust the CA verify it, like k3s's serving
// certificate bundle) and a new key, in memory.
func issuePEM(tmpl *x509.Certificate, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (chain, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = now.Add(-time.Hour) // tolerate small clock differences
	tmpl.NotAfter = now.AddDate(1, 0, 0)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	chain = append(pemEncode("CERTIFICATE", der), pemEncode("CERTIFICATE", ca.Raw)...)
	return chain, pemEncode("EC PRIVATE KEY", keyDER), nil
}

func newKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return writeFile(path, pemEncode("EC PRIVATE KEY", der), 0o600)
}

func pemEncode(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// writeFile writes data with exactly perm, also when the file already
// existed with another mode (os.WriteFile keeps an existing file's mode).
func writeFile(path string, data []byte, perm os.FileMode) error {
	if err := os.WriteFile(path, data, perm); err != nil {
		return err
	}
	return os.Chmod(path, perm)
}
