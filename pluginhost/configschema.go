package pluginhost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// configSchemaURL names a plugin's config_schema inside its compiler.
const configSchemaURL = "urn:taylordash:plugin-config-schema"

// noLoader refuses every reference outside the schema itself, so that a
// manifest can neither read the host's files nor make it fetch URLs.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("references outside the schema are not allowed (%s)", url)
}

// CompileConfigSchema compiles a manifest's config_schema (JSON Schema,
// draft 2020-12 unless its $schema says otherwise). References may point
// only inside the schema. The error is short and names no host paths.
func CompileConfigSchema(raw json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, errors.New("must be a JSON Schema object")
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, errors.New("must be a JSON Schema object")
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(configSchemaURL, doc); err != nil {
		return nil, errors.New("must be a JSON Schema object")
	}
	s, err := c.Compile(configSchemaURL)
	if err != nil {
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 && len(msg)-i < 200 {
			msg = msg[i+2:]
		}
		return nil, fmt.Errorf("is not a valid JSON Schema: %s", msg)
	}
	return s, nil
}

// ConfigProblem is one way a configuration breaks its plugin's schema.
type ConfigProblem struct {
	// Location is the JSON pointer of the offending value ("" for the
	// whole document), e.g. "/refreshInterval".
	Location string `json:"location"`
	// Message says what is wrong.
	Message string `json:"message"`
}

// ValidateConfig checks config against a compiled config_schema and
// returns every problem found (leaves of the validation tree), sorted by
// location. A nil schema accepts any JSON object.
func ValidateConfig(s *jsonschema.Schema, config json.RawMessage) []ConfigProblem {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(config))
	if err != nil {
		return []ConfigProblem{{Message: "is not JSON"}}
	}
	if _, ok := inst.(map[string]any); !ok {
		return []ConfigProblem{{Message: "must be a JSON object"}}
	}
	if s == nil {
		return nil
	}
	err = s.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []ConfigProblem{{Message: "does not match the plugin's config_schema"}}
	}
	printer := message.NewPrinter(language.English)
	var out []ConfigProblem
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			loc := ""
			for _, p := range e.InstanceLocation {
				loc += "/" + strings.ReplaceAll(strings.ReplaceAll(p, "~", "~0"), "/", "~1")
			}
			out = append(out, ConfigProblem{Location: loc, Message: e.ErrorKind.LocalizedString(printer)})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Location < out[j].Location })
	return out
}
