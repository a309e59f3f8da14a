package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClientTLS(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		f    TLSFiles
		want string // "" = success
	}{
		{TLSFiles{}, ""},
		{TLSFiles{ServerName: "kafka-0", InsecureSkipVerify: true}, ""},
		{TLSFiles{CAFile: filepath.Join(dir, "missing.pem")}, "ca file: open"},
		{TLSFiles{CAFile: notPEM}, "no PEM certificate found"},
		{TLSFiles{CertFile: notPEM, KeyFile: notPEM}, "client certificate"},
	} {
		cfg, err := ClientTLS(tc.f)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.f, err)
		case tc.want == "" && (cfg.ServerName != tc.f.ServerName || cfg.InsecureSkipVerify != tc.f.InsecureSkipVerify || cfg.MinVersion == 0):
			t.Errorf("%+v: config %+v", tc.f, cfg)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want %q", tc.f, err, tc.want)
		}
	}
}
