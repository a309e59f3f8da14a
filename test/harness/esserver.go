package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/config"
	"github.com/agentobs/agentobs/internal/esclient"
)

// ESServerOptions shape a private Elasticsearch node.
type ESServerOptions struct {
	// CA signs the node's HTTP certificate (for 127.0.0.1 and localhost).
	// Required unless PlainHTTP.
	CA *CA
	// Users are file-realm users with the superuser role (name → password).
	// At least one is required unless PlainHTTP: the readiness check logs in with it.
	Users map[string]string
	// PlainHTTP runs the node like the local stack's: security off, plain
	// HTTP, no users (for fault tests that need a node of their own, not
	// security). Default false: secured.
	PlainHTTP bool
	// Settings are extra elasticsearch.yml lines (key → value, written as
	// "key: value" after the defaults, so a key here wins), e.g. static node
	// settings the shared node must not get: thread_pool.write.queue_size.
	Settings map[string]string
	// HeapMB is the JVM heap. Default 512.
	HeapMB int
}

// ESServer is a private single-node Elasticsearch with security on: HTTPS
// with a certificate from the test CA, basic auth against the file realm,
// API keys. The local stack's node runs with security off and is shared,
// so security is tested here. It runs from the stack's integ-test-zip
// (x-pack-core and x-pack-security are its only x-pack modules) as the
// unprivileged user the stack uses when the tests run as root.
type ESServer struct {
	server
	opts                ESServerOptions
	home                string
	httpPort, transPort int
}

// ESUser is the Unix user Elasticsearch runs as when the tests are root
// (ES_USER, default agentobs-es, as in scripts/stack.sh).
func ESUser() string { return env("ES_USER", "agentobs-es") }

// StartES starts a private node that is removed when the test ends. A
// machine without Java or the stack's Elasticsearch skips the test (fails
// under CI=true).
func StartES(t testing.TB, o ESServerOptions) *ESServer {
	t.Helper()
	s, err := LaunchES(o)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			unavailable(t, "private Elasticsearch", err)
		}
		t.Fatalf("private Elasticsearch: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// LaunchES starts a private node and waits until it answers an
// authenticated cluster health over HTTPS; the caller must Close it.
func LaunchES(o ESServerOptions) (*ESServer, error) {
	if !o.PlainHTTP && (o.CA == nil || len(o.Users) == 0) {
		return nil, errors.New("ESServerOptions: CA and at least one user are required (or PlainHTTP)")
	}
	if o.HeapMB == 0 {
		o.HeapMB = 512
	}
	java, err := JavaHome()
	if err != nil {
		return nil, err
	}
	home := stackVar("AGENTOBS_ES_HOME")
	for _, need := range []string{"bin/elasticsearch", "bin/elasticsearch-users", "modules/x-pack-security"} {
		if _, err := os.Stat(filepath.Join(home, need)); home == "" || err != nil {
			return nil, fmt.Errorf("%w: Elasticsearch at %q lacks %s (run scripts/stack.sh install)", ErrUnavailable, home, need)
		}
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "agentobs-es-")
	if err != nil {
		return nil, err
	}
	s := &ESServer{server: server{dir: dir, stopWait: 60 * time.Second}, opts: o, home: home, httpPort: ports[0], transPort: ports[1]}
	fail := func(err error) (*ESServer, error) {
		s.Close()
		return nil, err
	}
	conf := filepath.Join(dir, "config")
	if err := exec.Command("cp", "-r", filepath.Join(home, "config"), conf).Run(); err != nil {
		return fail(fmt.Errorf("copy config: %w", err))
	}
	files := map[string][]byte{"elasticsearch.yml": []byte(s.yml()),
		"jvm.options.d/heap.options": []byte(fmt.Sprintf("-Xms%dm\n-Xmx%dm\n", o.HeapMB, o.HeapMB))}
	if !o.PlainHTTP {
		sc, err := o.CA.Issue("127.0.0.1", "localhost")
		if err != nil {
			return fail(err)
		}
		// Elasticsearch reads TLS files only from inside its config directory.
		files["certs/http.crt"], files["certs/http.key"], files["certs/ca.crt"] = sc.CertPEM, sc.KeyPEM, o.CA.CertPEM()
	}
	for name, data := range files {
		p := filepath.Join(conf, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fail(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return fail(err)
		}
	}
	envv := append(os.Environ(), "ES_JAVA_HOME="+java, "ES_PATH_CONF="+conf, "ES_JAVA_OPTS=-Xms64m -Xmx128m")
	for _, u := range sortedKeys(o.Users) {
		// The CLI tools share the server's launcher; keep their heap small.
		cmd := exec.Command(filepath.Join(home, "bin", "elasticsearch-users"), "useradd", u, "-p", o.Users[u], "-r", "superuser")
		cmd.Env = envv
		if out, err := cmd.CombinedOutput(); err != nil {
			return fail(fmt.Errorf("elasticsearch-users useradd %s: %v\n%s", u, err, out))
		}
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		// Elasticsearch refuses to run as root.
		if cred, err = esCredential(); err != nil {
			return fail(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			return fail(err)
		}
		if err := chownR(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(err)
		}
	}
	s.p = &Proc{
		Name:       "private Elasticsearch " + s.URL(),
		Bin:        filepath.Join(home, "bin", "elasticsearch"),
		Env:        []string{"ES_JAVA_HOME=" + java, "ES_PATH_CONF=" + conf},
		LogPath:    filepath.Join(dir, "stdout.log"),
		Credential: cred,
	}
	// The log file is created by us (root) before the server starts.
	if err := s.Start(); err != nil {
		return fail(err)
	}
	return s, nil
}

func (s *ESServer) yml() string {
	lines := []string{
		"cluster.name: agentobs-itest",
		"node.name: itest-1",
		// Single-node discovery on loopback: development mode, so the
		// production bootstrap check that wants transport TLS whenever
		// security is on does not apply; transport stays plain.
		"discovery.type: single-node",
		"network.host: 127.0.0.1",
		"http.port: " + strconv.Itoa(s.httpPort),
		"transport.port: " + strconv.Itoa(s.transPort),
		"path.data: " + filepath.Join(s.dir, "data"),
		"path.logs: " + filepath.Join(s.dir, "logs"),
		"cluster.routing.allocation.disk.threshold_enabled: false",
		"action.destructive_requires_name: false",
	}
	if s.opts.PlainHTTP {
		lines = append(lines, "xpack.security.enabled: false")
	} else {
		lines = append(lines,
			"xpack.security.enabled: true",
			"xpack.security.http.ssl.enabled: true",
			"xpack.security.http.ssl.key: certs/http.key",
			"xpack.security.http.ssl.certificate: certs/http.crt",
			"xpack.security.http.ssl.certificate_authorities: [ certs/ca.crt ]",
			"xpack.security.transport.ssl.enabled: false",
			"xpack.security.authc.api_key.enabled: true")
	}
	for _, k := range sortedKeys(s.opts.Settings) {
		lines = append(lines, k+": "+s.opts.Settings[k])
	}
	return strings.Join(lines, "\n") + "\n"
}

// esCredential is the unprivileged user, created like scripts/stack.sh does when missing.
func esCredential() (*syscall.Credential, error) {
	name := ESUser()
	u, err := user.Lookup(name)
	if err != nil {
		if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("useradd %s: %v: %s", name, err, out)
		}
		if u, err = user.Lookup(name); err != nil {
			return nil, err
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{uint32(gid)}}, nil
}

func chownR(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// URL is the node's address: HTTPS, or HTTP with PlainHTTP.
func (s *ESServer) URL() string {
	if s.opts.PlainHTTP {
		return fmt.Sprintf("http://127.0.0.1:%d", s.httpPort)
	}
	return fmt.Sprintf("https://127.0.0.1:%d", s.httpPort)
}

// LogFile is the node's main log.
func (s *ESServer) LogFile() string { return filepath.Join(s.dir, "logs", "agentobs-itest.log") }

// Config is an esx config for the node: the test CA, basic auth as user
// (with PlainHTTP: plain HTTP, user and password ignored).
func (s *ESServer) Config(user, password string) esclient.Config {
	c := esclient.DefaultConfig()
	c.Addresses = []string{s.URL()}
	if !s.opts.PlainHTTP {
		c.CAFile = s.opts.CA.CAFile
		c.Username, c.Password = user, config.Secret(password)
	}
	c.RequestTimeout = 30 * time.Second
	return c
}

// Start (re)starts the node and waits until it is at least yellow (up to 180s).
func (s *ESServer) Start() error {
	if err := s.p.Start(); err != nil {
		return err
	}
	var u string
	if !s.opts.PlainHTTP {
		u = sortedKeys(s.opts.Users)[0]
	}
	tr, err := s.Config(u, s.opts.Users[u]).HTTPTransport()
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	ready := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/_cluster/health?wait_for_status=yellow&timeout=1s", nil)
		if u != "" {
			req.SetBasicAuth(u, s.opts.Users[u])
		}
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", res.Status, b)
		}
		return nil
	}
	return s.p.WaitReady(180*time.Second, ready, s.LogFile(), s.p.LogPath)
}
