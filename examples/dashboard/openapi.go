package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/spf13/cobra"

	"github.com/taylordash/taylordash/dashcore"
)

func (c *cli) openAPICommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "openapi",
		Short: "Print the API's OpenAPI 3.1 document",
		Long: `openapi prints the OpenAPI 3.1 document the server serves at /openapi.yaml
(or /openapi.json), built from the same modules and configuration, without
a database or a broker: nothing is started or connected to.`,
		Example: `  dashboard openapi > openapi.yaml
  dashboard openapi --format json | jq '.paths | keys'`,
		GroupID: "run",
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "yaml" && format != "json" {
				return usagef(`--format must be "yaml" or "json", not %q`, format)
			}
			ctx := cmd.Context()
			tb, err := c.open(ctx, 0)
			if err != nil {
				return err
			}
			defer tb.close(context.WithoutCancel(ctx))
			doc, err := tb.openAPI(format)
			if err != nil {
				return err
			}
			_, err = c.stdout.Write(doc)
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "yaml", `"yaml" or "json"`)
	return cmd
}

// openAPI returns the document the server's handler serves at
// /openapi.<format>: the handler is built as dashcore.Module builds it,
// from the same contributions, and asked in-process.
func (tb *toolbox) openAPI(format string) ([]byte, error) {
	h, _, err := dashcore.NewHandler(dashcore.HandlerOptions{
		Config:       tb.Core.HTTP,
		ServiceName:  tb.Core.ServiceName,
		Info:         tb.Info,
		Logger:       tb.Logger,
		Routes:       tb.Routes,
		Checks:       tb.Checks,
		Middleware:   tb.Middleware,
		Transformers: tb.Transformers,
	})
	if err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi."+format, nil))
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("openapi: the handler answered %d for /openapi.%s", rec.Code, format)
	}
	return rec.Body.Bytes(), nil
}
