package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// CA is a private certificate authority for TLS tests: it signs server
// certificates for the private brokers and Elasticsearch nodes the tests
// start, so clients can be tested with verification on (the default) and
// with a CA that does not match.
type CA struct {
	// Dir holds every file the CA writes.
	Dir string
	// CAFile is the CA certificate, PEM: what a client's ca-file points at.
	CAFile string

	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	issued atomic.Int64
}

// ServerCert is one issued server certificate and its files.
type ServerCert struct {
	// CertFile is the leaf certificate followed by the CA certificate (PEM).
	CertFile string
	// KeyFile is the unencrypted PKCS#8 private key ("BEGIN PRIVATE KEY"),
	// the only unencrypted form Kafka's PEM key store reads.
	KeyFile string
	// BundleFile is KeyFile followed by CertFile in one PEM file, the shape
	// of Kafka's ssl.keystore.type=PEM with ssl.keystore.location (which
	// also wants ssl.key.password, i.e. an encrypted key; inline
	// ssl.keystore.key/ssl.keystore.certificate.chain take this key as is).
	BundleFile string
	// CertPEM and KeyPEM are the file contents.
	CertPEM, KeyPEM []byte
}

// NewCA creates a CA in a directory removed when the test ends.
func NewCA(t testing.TB) *CA {
	t.Helper()
	ca, err := GenerateCA(t.TempDir(), "agentobs test CA")
	if err != nil {
		t.Fatalf("test CA: %v", err)
	}
	return ca
}

// GenerateCA creates a CA (ECDSA P-256, valid for a day) whose files are
// written under dir; for TestMain, where there is no testing.TB.
func GenerateCA(dir, commonName string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"agentobs itest"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ca := &CA{Dir: dir, CAFile: filepath.Join(dir, "ca.pem"), cert: cert, key: key}
	if err := os.WriteFile(ca.CAFile, pemBlock("CERTIFICATE", der), 0o644); err != nil {
		return nil, err
	}
	return ca, nil
}

// CertPEM is the CA certificate, PEM.
func (ca *CA) CertPEM() []byte { return pemBlock("CERTIFICATE", ca.cert.Raw) }

// IssueServer signs a server certificate for hosts (DNS names or IPs;
// default 127.0.0.1 and localhost) and returns its certificate-chain and
// key files.
func (ca *CA) IssueServer(t testing.TB, hosts ...string) (certPEMPath, keyPEMPath string) {
	t.Helper()
	sc, err := ca.Issue(hosts...)
	if err != nil {
		t.Fatalf("issue server certificate: %v", err)
	}
	return sc.CertFile, sc.KeyFile
}

// Issue signs a server certificate for hosts and writes its files.
func (ca *CA) Issue(hosts ...string) (ServerCert, error) {
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1", "localhost"}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return ServerCert{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0], Organization: []string{"agentobs itest"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		// Kafka's and Elasticsearch's JSSE engines check the extended key
		// usage of the peer too; clientAuth lets the same file serve mTLS.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return ServerCert{}, err
	}
	pk8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return ServerCert{}, err
	}
	n := ca.issued.Add(1)
	base := filepath.Join(ca.Dir, fmt.Sprintf("server-%d", n))
	sc := ServerCert{
		CertFile: base + ".crt", KeyFile: base + ".key", BundleFile: base + "-bundle.pem",
		CertPEM: append(pemBlock("CERTIFICATE", der), ca.CertPEM()...),
		KeyPEM:  pemBlock("PRIVATE KEY", pk8),
	}
	for path, data := range map[string][]byte{
		sc.CertFile: sc.CertPEM, sc.KeyFile: sc.KeyPEM, sc.BundleFile: append(append([]byte(nil), sc.KeyPEM...), sc.CertPEM...),
	} {
		// 0644: the Elasticsearch node reads them as another user; the
		// keys protect nothing but a throw-away test server.
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return ServerCert{}, err
		}
	}
	return sc, nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

// TempCA creates a CA in a fresh temporary directory, for servers shared by
// a whole package (harness.Shared), which outlive any one test; cleanup
// removes the directory.
func TempCA(commonName string) (ca *CA, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "agentobs-ca-")
	if err != nil {
		return nil, nil, fmt.Errorf("temp dir for CA: %w", err)
	}
	ca, err = GenerateCA(dir, commonName)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return ca, func() { os.RemoveAll(dir) }, nil
}

// RandomSecret returns prefix and 10 random bytes in hex: a password or token
// that no log line, metric or error may contain (the leak tests grep for it).
func RandomSecret(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return "s3cr3t-" + prefix + "-" + hex.EncodeToString(b[:])
}
