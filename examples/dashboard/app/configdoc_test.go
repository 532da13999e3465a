package app_test

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var updateConfigDoc = flag.Bool("update-config-doc", false, "rewrite docs/configuration.md from the config structs")

const (
	modulePath     = "github.com/taylordash/taylordash"
	moduleRoot     = "../../.."
	configDocPath  = moduleRoot + "/docs/configuration.md"
	configDocTitle = "# Configuration reference"
)

// fieldDocs reads the doc comments of struct fields from a package's
// source, by type name and field name.
type fieldDocs struct {
	pkgs map[string]map[string]map[string]string // package path → type → field → doc
}

func (d *fieldDocs) doc(t *testing.T, typ reflect.Type, field string) string {
	t.Helper()
	pkg := typ.PkgPath()
	if d.pkgs == nil {
		d.pkgs = map[string]map[string]map[string]string{}
	}
	types, ok := d.pkgs[pkg]
	if !ok {
		types = map[string]map[string]string{}
		dir := filepath.Join(moduleRoot, strings.TrimPrefix(strings.TrimPrefix(pkg, modulePath), "/"))
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatalf("read %s: %v", dir, err)
		}
		fset := token.NewFileSet()
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				ts, ok := n.(*ast.TypeSpec)
				if !ok {
					return true
				}
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					return true
				}
				fields := map[string]string{}
				for _, fl := range st.Fields.List {
					for _, name := range fl.Names {
						fields[name.Name] = fl.Doc.Text()
					}
				}
				types[ts.Name.Name] = fields
				return true
			})
		}
		d.pkgs[pkg] = types
	}
	return types[typ.Name()][field]
}

// describe returns the doc comment of the field at path (such as
// "HTTP.Addr") in the struct type root, as one line.
func (d *fieldDocs) describe(t *testing.T, root reflect.Type, path string) string {
	t.Helper()
	typ := root
	parts := strings.Split(path, ".")
	for i, name := range parts {
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		f, ok := typ.FieldByName(name)
		if !ok {
			return ""
		}
		if i == len(parts)-1 {
			owner := typ
			if len(f.Index) > 1 { // promoted from an embedded struct
				owner = typ.FieldByIndex(f.Index[:len(f.Index)-1]).Type
			}
			return strings.Join(strings.Fields(d.doc(t, owner, name)), " ")
		}
		typ = f.Type
	}
	return ""
}

// TestConfigurationReference keeps docs/configuration.md, the table of
// every variable the dashboard's modules read, generated from the config
// structs themselves: names and defaults from the env tags and
// WithDefaults, descriptions from the fields' doc comments. Run with
// -update-config-doc after changing a config struct.
func TestConfigurationReference(t *testing.T) {
	targets := configTargets(t)
	type section struct {
		name string
		rows []string
	}
	var sections []section
	docs := &fieldDocs{}
	for _, target := range targets {
		root := target.Type()
		s := section{name: root.PkgPath()[len(modulePath)+1:] + "." + root.Name()}
		for _, v := range target.Vars() {
			def := v.Default
			switch {
			case v.Secret && def != "":
				def = "(set)"
			case def == "":
				def = " "
			default:
				def = "`" + def + "`"
			}
			desc := docs.describe(t, root, v.Field)
			if v.Expected != "" {
				desc += " Expected: " + v.Expected + "."
			}
			s.rows = append(s.rows, fmt.Sprintf("| `%s` | %s | %s |", v.Name, def, strings.ReplaceAll(desc, "|", "\\|")))
		}
		if len(s.rows) > 0 {
			sections = append(sections, s)
		}
	}
	slices.SortFunc(sections, func(a, b section) int { return strings.Compare(a.name, b.name) })

	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n\n", configDocTitle)
	b.WriteString("Every variable the example dashboard's modules read, generated from their config structs " +
		"(`go test ./examples/dashboard/app -run TestConfigurationReference -update-config-doc`): the default is " +
		"the value when the variable is unset (after the module's defaults), the description is the field's doc " +
		"comment. The README has the same variables with shorter notes; [operations.md](operations.md) says which " +
		"settings the guarantees need.\n")
	for _, s := range sections {
		fmt.Fprintf(&b, "\n## `%s`\n\n| variable | default | description |\n|---|---|---|\n%s\n", s.name, strings.Join(s.rows, "\n"))
	}
	if *updateConfigDoc {
		if err := os.WriteFile(configDocPath, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(configDocPath)
	if err != nil {
		t.Fatalf("%v (run with -update-config-doc)", err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Errorf("docs/configuration.md is out of date: run go test ./examples/dashboard/app -run TestConfigurationReference -update-config-doc")
	}
}
