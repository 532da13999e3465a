package scanner

import (
	"context"
	"fmt"

	"github.com/taylordash/taylordash/pluginhost"
)

var _ pluginhost.BundleScanner = (*Scanner)(nil)

// ScanBundle implements [pluginhost.BundleScanner]: it scans the staged
// bundle in dir ([Scanner.ScanDir]) against the manifest's permissions,
// api_endpoints and allowed_origins and returns the findings in
// pluginhost's form, Blocking set by Config.BlockAt. When findings were
// dropped (Config.MaxFindings), a last finding says how many, blocking
// if a dropped one did.
func (s *Scanner) ScanBundle(ctx context.Context, dir string, m *pluginhost.Manifest) ([]pluginhost.Finding, error) {
	var sm Manifest
	if m != nil {
		sm = Manifest{Permissions: m.Permissions, APIEndpoints: m.APIEndpoints, AllowedOrigins: m.AllowedOrigins}
	}
	rep, err := s.ScanDir(ctx, dir, sm)
	if err != nil {
		return nil, err
	}
	out := make([]pluginhost.Finding, 0, len(rep.Findings)+1)
	blocking := false
	for _, f := range rep.Findings {
		blocking = blocking || f.Blocking
		out = append(out, pluginhost.Finding{RuleID: f.RuleID, Category: string(f.Category), Severity: string(f.Severity),
			File: f.File, Line: f.Line, Column: f.Column, Snippet: f.Snippet, Message: f.Message, Blocking: f.Blocking})
	}
	if rep.Dropped > 0 {
		sev := SeverityLow
		if rep.Blocked && !blocking {
			sev = s.cfg.BlockAt
		}
		out = append(out, pluginhost.Finding{RuleID: "scan.truncated", Category: string(CategoryResource), Severity: string(sev),
			Message:  fmt.Sprintf("%d more findings are not listed (the limit is %d)", rep.Dropped, s.cfg.MaxFindings),
			Blocking: rep.Blocked && !blocking})
	}
	return out, nil
}
