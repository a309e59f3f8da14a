// Package config loads a component's configuration with one precedence for
// every binary: defaults < YAML files < environment < command-line flags.
//
// A component declares its settings once, as flags with dotted names bound to
// the fields of its Config (defaults taken from DefaultConfig). Load then
// overlays, in order: each -config file (YAML; nested keys flatten to the
// dotted flag names, lists join with commas; several files, comma separated,
// layer a default file and an environment overlay that names only what it
// changes), environment variables (PREFIX_ + the flag name upper-cased with
// dots and dashes as underscores: -kafka.brokers ⇒ INDEXER_KAFKA_BROKERS),
// and finally the flags given on the command line. Unknown keys in a file are
// errors, so a typo never silently falls back to a default.
package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load parses args into fs and overlays files and environment as described
// in the package doc. It adds -config and -check flags to fs if missing.
func Load(fs *flag.FlagSet, args []string, envPrefix string) error {
	if fs.Lookup("config") == nil {
		fs.String("config", "", "comma-separated YAML config files, later ones override earlier ones (env: "+EnvName(envPrefix, "config")+")")
	}
	if fs.Lookup("check") == nil {
		fs.Bool("check", false, "validate the configuration, print it (secrets masked) and exit")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return Usagef("%v; run %s -h for the flags", err, fs.Name())
	}
	onCLI := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCLI[f.Name] = true })

	files := fs.Lookup("config").Value.String()
	if !onCLI["config"] {
		if v, ok := os.LookupEnv(EnvName(envPrefix, "config")); ok {
			files = v
		}
	}
	for _, path := range splitList(files) {
		if err := applyFile(fs, path, onCLI); err != nil {
			return err
		}
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if onCLI[f.Name] || f.Name == "config" || isRenamed(f) { // a renamed spelling shares the new name's env var
			return
		}
		if v, ok := os.LookupEnv(EnvName(envPrefix, f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("env %s: %w", EnvName(envPrefix, f.Name), err))
			}
		}
	})
	return errors.Join(errs...)
}

// CheckRequested reports whether -check was given (after Load).
func CheckRequested(fs *flag.FlagSet) bool {
	f := fs.Lookup("check")
	return f != nil && f.Value.String() == "true"
}

// EnvName is the environment variable for a flag: INDEXER_KAFKA_BROKERS.
func EnvName(prefix, flagName string) string {
	n := strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(flagName))
	if prefix == "" {
		return n
	}
	return strings.ToUpper(prefix) + "_" + n
}

func applyFile(fs *flag.FlagSet, path string, onCLI map[string]bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var tree map[string]any
	if err := yaml.Unmarshal(b, &tree); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	flat := map[string]string{}
	flatten("", tree, flat)
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		if fs.Lookup(k) == nil {
			errs = append(errs, fmt.Errorf("config file %s: unknown key %q (see -help for the keys)", path, k))
			continue
		}
		if onCLI[k] {
			continue
		}
		if err := fs.Set(k, flat[k]); err != nil {
			errs = append(errs, fmt.Errorf("config file %s: key %q: %w", path, k, err))
		}
	}
	return errors.Join(errs...)
}

func flatten(prefix string, v any, out map[string]string) {
	switch t := v.(type) {
	case map[string]any:
		for k, sub := range t {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			flatten(key, sub, out)
		}
	case []any:
		parts := make([]string, 0, len(t))
		for _, e := range t {
			parts = append(parts, fmt.Sprint(e))
		}
		out[prefix] = strings.Join(parts, ",")
	case nil:
		out[prefix] = ""
	default:
		out[prefix] = fmt.Sprint(t)
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// StringList is a flag.Value holding a comma-separated list.
type StringList []string

// NewStringList binds a StringList flag to p with the given default.
func NewStringList(fs *flag.FlagSet, p *[]string, name string, def []string, usage string) {
	*p = append([]string(nil), def...)
	fs.Var((*StringList)(p), name, usage)
}

func (l *StringList) String() string { return strings.Join(*l, ",") }

// Set replaces the list (a later layer overrides, it does not append).
func (l *StringList) Set(s string) error {
	*l = splitList(s)
	return nil
}

// Secret is a flag.Value whose String never shows the value, so -check and
// flag dumps cannot leak it.
type Secret string

func (s *Secret) String() string {
	if s == nil || *s == "" {
		return ""
	}
	return "xxxxx"
}

// Set stores the secret.
func (s *Secret) Set(v string) error { *s = Secret(v); return nil }

// Value returns the secret itself.
func (s Secret) Value() string { return string(s) }

// Resolve returns the inline secret or, when file is set, the trimmed
// content of that file (Kubernetes secret mounts, Docker secrets).
func Resolve(inline Secret, file string) (string, error) {
	if file == "" {
		return inline.Value(), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// Dump writes every flag and its effective value (secrets masked) for -check.
func Dump(fs *flag.FlagSet) string {
	var b strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "check" || f.Name == "config" || isRenamed(f) {
			return
		}
		fmt.Fprintf(&b, "%s=%s\n", f.Name, f.Value.String())
	})
	return b.String()
}
