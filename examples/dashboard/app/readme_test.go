package app_test

import (
	"os"
	"regexp"
	"slices"
	"testing"

	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/examples/dashboard/app"
)

// TestREADMEConfigurationTable keeps the README's configuration table in
// step with the variables the dashboard's modules read: each one listed,
// none that no module reads.
func TestREADMEConfigurationTable(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(TAYLORDASH_[A-Z0-9_]+)` \\|").FindAllSubmatch(readme, -1) {
		listed = append(listed, string(m[1]))
	}

	targets := configTargets(t)
	var read []string
	for _, target := range targets {
		for _, v := range target.Vars() {
			read = append(read, v.Name)
			if !slices.Contains(listed, v.Name) {
				t.Errorf("README's configuration table lacks %s", v.Name)
			}
		}
	}
	for _, name := range listed {
		if !slices.Contains(read, name) {
			t.Errorf("README lists %s, which no module of the dashboard reads", name)
		}
	}
}

// configTargets builds the dashboard's modules, without starting them, and
// returns every config struct they read.
func configTargets(t *testing.T) []dashcore.ConfigTarget {
	t.Helper()
	var targets []dashcore.ConfigTarget
	err := fx.New(app.Modules(), fx.NopLogger,
		fx.Decorate(func() dashcore.Environment {
			return dashcore.NewEnvironment(map[string]string{
				"TAYLORDASH_DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", // construction only: nothing connects
				"TAYLORDASH_API_KEY":      "construction-only-key",
			})
		}),
		fx.Invoke(func(p struct {
			fx.In
			Targets []dashcore.ConfigTarget `group:"dashcore.config"`
		}) {
			targets = p.Targets
		})).Err()
	if len(targets) == 0 {
		t.Fatalf("no config targets found (%v)", err)
	}
	return targets
}
