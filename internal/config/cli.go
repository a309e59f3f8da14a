package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// ExitUsage is the exit code of a command line that could not be
// understood (an unknown subcommand, flag or argument): nothing was started.
const ExitUsage = 2

// UsageError is a command line that could not be understood. main exits
// with ExitUsage on it, after the message and a hint.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef makes a UsageError.
func Usagef(format string, args ...any) error { return &UsageError{Msg: fmt.Sprintf(format, args...)} }

// Command is one subcommand of a binary.
type Command struct {
	Name    string
	Args    string // positional arguments, for the usage line ("<trace-id>"); "" = none
	Summary string
}

// CLI is the command line of one binary: its subcommands and which one runs
// when the first argument is a flag or absent. Every binary of agentobs
// routes its arguments through it, so -h, -version, help, version and
// unknown subcommands behave the same everywhere.
type CLI struct {
	Name     string    // binary name, e.g. "indexer"
	Summary  string    // one line: what the binary does
	Commands []Command // none: the binary has no subcommands
	Default  string    // the command run without one; "" = a subcommand is required
	// FlagsFirst: the subcommand follows global flags (amctl -url U alerts);
	// Route then only answers help and version, and the binary checks the
	// command with Known after parsing its global flags.
	FlagsFirst bool
	Stdout     io.Writer // where -h and -version print
}

// errDone is returned by Route when it answered the command line itself
// (help, version): main exits 0 without starting anything.
var errDone = errors.New("done")

// Route picks the subcommand from args. It answers "help", "-h", "-help",
// "--help" (usage with every subcommand) and "version", "-version",
// "--version" itself and returns an error for which Exit gives 0; an
// unknown subcommand is a UsageError with a hint.
func (c CLI) Route(args []string) (cmd string, rest []string, err error) {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-version" || a == "--version" {
			fmt.Fprintln(c.Stdout, Version(c.Name))
			return "", nil, errDone
		}
	}
	if c.FlagsFirst && (len(args) == 0 || args[0] != "help" && args[0] != "version") {
		return "", args, nil
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "help":
			if c.Default != "" || len(c.Commands) == 0 {
				return c.Default, []string{"-h"}, nil // the default command's -h: commands and flags
			}
			c.usage(c.Stdout, "", nil)
			return "", nil, errDone
		case "version":
			fmt.Fprintln(c.Stdout, Version(c.Name))
			return "", nil, errDone
		}
		for _, k := range c.Commands {
			if k.Name == args[0] {
				return k.Name, args[1:], nil
			}
		}
		if len(c.Commands) > 0 {
			return "", nil, Usagef("unknown command %q%s; run %s -h for the list", args[0], c.suggest(args[0]), c.Name)
		}
		// no subcommands: a positional argument is the command's to judge
	}
	if c.Default == "" && len(c.Commands) > 0 {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			c.usage(c.Stdout, "", nil)
			return "", nil, errDone
		}
		return "", nil, Usagef("a command is required; run %s -h for the list", c.Name)
	}
	return c.Default, args, nil
}

// Known is nil when name is one of the subcommands, else a UsageError with
// a hint (for tools whose subcommand follows global flags).
func (c CLI) Known(name string) error {
	for _, k := range c.Commands {
		if k.Name == name {
			return nil
		}
	}
	return Usagef("unknown command %q%s; run %s -h for the list", name, c.suggest(name), c.Name)
}

// Parse parses args into fs for a tool without configuration files (Load
// is the one for components): a parse error is a UsageError.
func (c CLI) Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return Usagef("%v; run %s -h for the flags", err, fs.Name())
	}
	return nil
}

// suggest names the closest subcommand (edit distance ≤ 2), if any.
func (c CLI) suggest(s string) string {
	best, bestD := "", 3
	for _, k := range c.Commands {
		if d := editDistance(s, k.Name); d < bestD {
			best, bestD = k.Name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// FlagSet is the flag set of cmd ("" for a binary without subcommands): its
// -h prints the binary's subcommands and then the command's flags; a parse
// error prints nothing here (Exit prints it once, with a hint), not the
// whole flag list that would bury it.
func (c CLI) FlagSet(cmd string) *flag.FlagSet {
	name := c.Name
	if cmd != "" {
		name += " " + cmd
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// The flag package writes a parse error to the output and then calls
	// Usage; -h calls Usage alone. So Usage prints only when nothing was
	// written before it.
	out := &errSeen{}
	fs.SetOutput(out)
	fs.Usage = func() {
		if !out.seen {
			c.usage(c.Stdout, cmd, fs)
			fs.SetOutput(out)
		}
	}
	return fs
}

type errSeen struct{ seen bool }

func (e *errSeen) Write(p []byte) (int, error) { e.seen = true; return len(p), nil }

func (c CLI) usage(w io.Writer, cmd string, fs *flag.FlagSet) {
	if c.Summary != "" {
		fmt.Fprintf(w, "%s: %s\n\n", c.Name, c.Summary)
	}
	if len(c.Commands) == 0 {
		fmt.Fprintf(w, "Usage: %s [flags]\n", c.Name)
	} else {
		if c.FlagsFirst {
			fmt.Fprintf(w, "Usage: %s [flags] <command> [command flags] [args]\n\nCommands:\n", c.Name)
		} else {
			fmt.Fprintf(w, "Usage: %s <command> [flags] [args]\n\nCommands:\n", c.Name)
		}
		for _, k := range c.Commands {
			def := ""
			if k.Name == c.Default {
				def = " (the default)"
			}
			fmt.Fprintf(w, "  %-28s %s%s\n", strings.TrimSpace(k.Name+" "+k.Args), k.Summary, def)
		}
		fmt.Fprintf(w, "  %-28s %s\n  %-28s %s\n", "help", "this text", "version", "the same as -version")
	}
	if fs != nil {
		title := "Flags"
		if cmd != "" {
			title = "Flags of " + cmd
		}
		fmt.Fprintf(w, "\n%s (also -version: print the version and exit):\n", title)
		// Renamed (deprecated) spellings are accepted but not listed.
		shown := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
		fs.VisitAll(func(f *flag.Flag) {
			if !isRenamed(f) {
				shown.Var(f.Value, f.Name, f.Usage)
			}
		})
		shown.SetOutput(w)
		shown.PrintDefaults()
	}
}

// Renamed registers old as an accepted spelling of the flag now called
// name (register it after that flag): on the command line, in env and in
// -config files it sets the same value, with a slog warning naming the new
// spelling; -h and -check list only the new name.
func Renamed(fs *flag.FlagSet, old, name string) {
	f := fs.Lookup(name)
	if f == nil {
		panic("config.Renamed: no flag " + name) // a programming error, caught by every test of the binary
	}
	fs.Var(&renamed{Value: f.Value, old: old, name: name}, old, "deprecated spelling of -"+name)
}

type renamed struct {
	flag.Value
	old, name string
}

func (r *renamed) Set(v string) error {
	// Called while the configuration loads, before the binary's logger
	// exists: the warning goes out as slog JSON on stderr directly.
	slog.New(slog.NewJSONHandler(os.Stderr, nil)).Warn("deprecated flag or key spelling; use the new name",
		"deprecated", r.old, "use", r.name)
	return r.Value.Set(v)
}

// IsBoolFlag keeps -old working without a value when the flag is a bool.
func (r *renamed) IsBoolFlag() bool {
	b, ok := r.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func isRenamed(f *flag.Flag) bool {
	_, ok := f.Value.(*renamed)
	return ok
}

// NoArgs is a UsageError when fs was left with positional arguments (a
// command that takes none): a misspelt subcommand after flags, a stray word.
func NoArgs(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return Usagef("unexpected argument %q; run %s -h", fs.Arg(0), fs.Name())
	}
	return nil
}

// Exit is the exit code for err (0 when nil or when the command line was
// answered by help or version, ExitUsage for a command line that was not
// understood, 1 for everything else), after printing err to stderr.
func (c CLI) Exit(stderr io.Writer, err error) int {
	var ue *UsageError
	switch {
	case err == nil, errors.Is(err, errDone), errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %v\n", c.Name, err)
		return ExitUsage
	}
	fmt.Fprintf(stderr, "%s: %v\n", c.Name, err)
	return 1
}

// Version is "<name> <module version> (commit <rev>[, modified]) <go version>"
// from the build information the Go toolchain embeds in every binary.
func Version(name string) string {
	v, rev, modified := "(devel)", "unknown", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if modified {
		rev += ", modified"
	}
	return fmt.Sprintf("%s %s (commit %s) %s", name, v, rev, runtime.Version())
}
