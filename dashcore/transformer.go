package dashcore

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/danielgtaylor/huma/v2"
)

// Transformer is a contributed huma transformer: it sees the body of every
// response a huma operation writes, successes and errors alike, before it
// is marshaled, and returns the body to write instead (or the same one).
// Contributed transformers run in Name order, all before dashcore's own,
// which turns error bodies into [Problem]s: a transformer sees errors as
// huma and the handlers made them (a *huma.ErrorModel, an [*Error], a
// [*Kind]), and whatever it returns for an error is still turned into a
// problem. Raw handlers ([Routes].Handle) are not transformed.
//
// Transform is called concurrently, once per response. It must not modify
// the body it is given, which a handler may share with other requests:
// return a copy instead.
type Transformer struct {
	// Name identifies the transformer in errors and ordering; unique per
	// application.
	Name string
	// Transform is called with the request's huma.Context, the response's
	// status ("200") and its body.
	Transform huma.Transformer
	// Setup, if set, is called once with the API after it is made and
	// before any operation is registered (health probes included): to
	// hook into the OpenAPI document (huma.OpenAPI.OnAddOperation), e.g.
	// to document what the transformer does to the schemas, or to refuse a
	// type it cannot handle. An error stops [NewHandler]; a panic in such
	// a hook while a [Routes] contribution registers is returned as that
	// contribution's error.
	Setup func(api huma.API) error
}

// transformerChain checks and sorts the contributed transformers and
// returns them with the huma transformers to run, last coming last.
func transformerChain(ts []Transformer, last huma.Transformer) ([]Transformer, []huma.Transformer, error) {
	ts = slices.Clone(ts)
	slices.SortFunc(ts, func(a, b Transformer) int { return cmp.Compare(a.Name, b.Name) })
	chain := make([]huma.Transformer, 0, len(ts)+1)
	for i, t := range ts {
		switch {
		case t.Name == "":
			return nil, nil, fmt.Errorf("dashcore: a transformer has no name")
		case i > 0 && ts[i-1].Name == t.Name:
			return nil, nil, fmt.Errorf("dashcore: two transformers are named %q; names must be unique", t.Name)
		case t.Transform == nil:
			return nil, nil, fmt.Errorf("dashcore: transformer %q has no Transform function", t.Name)
		}
		chain = append(chain, t.Transform)
	}
	return ts, append(chain, last), nil
}

// setupTransformers calls the transformers' Setup functions, in order.
func setupTransformers(api huma.API, ts []Transformer) error {
	for _, t := range ts {
		if t.Setup == nil {
			continue
		}
		if err := t.Setup(api); err != nil {
			return fmt.Errorf("dashcore: set up transformer %q: %w", t.Name, err)
		}
	}
	return nil
}
