// Package architecture keeps ARCHITECTURE.md true: every `path/file.go` and
// `path/file.go:Function` (or `Type.Method`) it names must exist.
package architecture

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/agentobs/agentobs/test/harness"
)

// ref is `dir/file.go` or `dir/file.go:Name` or `dir/file.go:Type.Method`.
var ref = regexp.MustCompile("`([A-Za-z0-9_./-]+/[A-Za-z0-9_.-]+\\.go)(?::([A-Za-z0-9_.]+))?`")

// funcs lists the functions of a Go file as "Name" and methods as
// "Type.Method".
func funcs(path string) (map[string]bool, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok {
			continue
		}
		name := fd.Name.Name
		if fd.Recv != nil && len(fd.Recv.List) == 1 {
			t := fd.Recv.List[0].Type
			if s, ok := t.(*ast.StarExpr); ok {
				t = s.X
			}
			switch x := t.(type) {
			case *ast.IndexExpr:
				t = x.X
			case *ast.IndexListExpr:
				t = x.X
			}
			if id, ok := t.(*ast.Ident); ok {
				name = id.Name + "." + name
			}
		}
		out[name] = true
	}
	return out, nil
}

// check returns one problem per reference in doc that does not resolve
// under root, and how many references it checked.
func check(root, doc string) (problems []string, n int) {
	cache := map[string]map[string]bool{}
	for _, m := range ref.FindAllStringSubmatch(doc, -1) {
		file, fn := m[1], m[2]
		n++
		path := filepath.Join(root, filepath.FromSlash(file))
		fs, ok := cache[file]
		if !ok {
			if _, err := os.Stat(path); err != nil {
				problems = append(problems, fmt.Sprintf("%s: no such file", file))
				cache[file] = nil
				continue
			}
			var err error
			if fs, err = funcs(path); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", file, err))
			}
			cache[file] = fs
		}
		if fs == nil || fn == "" {
			continue
		}
		if !fs[fn] {
			problems = append(problems, fmt.Sprintf("%s:%s: no such function or method in that file", file, fn))
		}
	}
	return problems, n
}

func TestArchitectureNamesExist(t *testing.T) {
	root := harness.RepoRoot()
	doc, err := os.ReadFile(filepath.Join(root, "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	problems, n := check(root, string(doc))
	if n < 40 {
		t.Errorf("ARCHITECTURE.md names only %d files and functions; the walk-through lost its hops?", n)
	}
	for _, p := range problems {
		t.Errorf("ARCHITECTURE.md: %s (update the walk-through when code moves)", p)
	}
	for _, door := range []string{"## Shipper, a tailed file", "## Shipper, HTTP NDJSON", "## The Fluent Bit plugin", "## Indexer: Kafka to the Elasticsearch document", "## Who owns which decision"} {
		if !strings.Contains(string(doc), door) {
			t.Errorf("ARCHITECTURE.md has no section %q", door)
		}
	}
}

// TestCheckFindsStaleNames: the checker itself reports a renamed function,
// a renamed method, a moved file, and accepts what exists.
func TestCheckFindsStaleNames(t *testing.T) {
	root := harness.RepoRoot()
	doc := "`internal/publish/eventid.go:EventID` `internal/publish/publish.go:Edge.Message` `internal/publish/eventid.go:ChunkIDs.Next`" +
		" `internal/publish/eventid.go:MintEventID` `internal/publish/publish.go:Edge.Publish` `internal/record/eventid.go:EventID`" +
		" `internal/publish/eventid.go:Edge.Message`"
	problems, n := check(root, doc)
	if n != 7 || len(problems) != 4 {
		t.Fatalf("checked %d, problems %q; want 7 checked and 4 problems", n, problems)
	}
	for i, want := range []string{"MintEventID", "Edge.Publish", "internal/record/eventid.go: no such file", "eventid.go:Edge.Message"} {
		if !strings.Contains(problems[i], want) {
			t.Errorf("problem %d = %q, want it to name %s", i, problems[i], want)
		}
	}
}
