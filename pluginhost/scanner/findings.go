package scanner

import (
	"cmp"
	"slices"
)

// Severity grades a finding. With the default [Config], high and critical
// findings block an install and medium and low ones are warnings.
type Severity string

// Severities, from the least to the most serious.
const (
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// rank orders severities; 0 for an unknown one.
func (s Severity) rank() int {
	switch s {
	case SeverityLow:
		return 1
	case SeverityMedium:
		return 2
	case SeverityHigh:
		return 3
	case SeverityCritical:
		return 4
	}
	return 0
}

// AtLeast reports whether s is as serious as t or more.
func (s Severity) AtLeast(t Severity) bool { return s.rank() >= t.rank() && s.rank() > 0 }

// Category groups rules by what they protect. The names match the
// categories pluginhost maps to the original's violation types.
type Category string

// Categories of [Rule]s.
const (
	// CategoryCode is code built or run from strings, markup that runs
	// script, and obfuscation (malicious_code_detected).
	CategoryCode Category = "code"
	// CategoryFrame is reaching out of the plugin's iframe: the parent or
	// top window, navigation, popups, document.domain
	// (sandbox_escape_attempt).
	CategoryFrame Category = "frame"
	// CategorySandbox is weakening the sandbox: sandbox attributes, nested
	// frames, links in the bundle (sandbox_escape_attempt).
	CategorySandbox Category = "sandbox"
	// CategoryExfiltration is reading what is not the plugin's (cookies,
	// storage, credentials, clipboard, input) or sending it out through a
	// side channel (data_exfiltration).
	CategoryExfiltration Category = "exfiltration"
	// CategoryNetwork is a request to an origin the manifest does not
	// allow (data_exfiltration, unsafe_network_request).
	CategoryNetwork Category = "network"
	// CategoryAPI is a call to a host path the manifest does not declare
	// (unauthorized_api_access).
	CategoryAPI Category = "api"
	// CategoryPermission is using a capability without its manifest
	// permission (permission_escalation).
	CategoryPermission Category = "permission"
	// CategoryResource is code the host cannot bound or inspect (workers,
	// WebAssembly) and bundles too big to scan (resource_abuse).
	CategoryResource Category = "resource"
	// CategoryUnverifiable is content the scanner cannot analyse, such as
	// JavaScript that does not parse.
	CategoryUnverifiable Category = "unverifiable"
)

// Finding is one problem found in a bundle. It carries what pluginhost
// persists as a security violation.
type Finding struct {
	// RuleID names the rule, e.g. "code.eval"; see [Rules].
	RuleID string `json:"rule_id"`
	// Category is the rule's category.
	Category Category `json:"category"`
	// Severity is the rule's severity, after Config.Severities.
	Severity Severity `json:"severity"`
	// File is the slash-separated path in the bundle.
	File string `json:"file"`
	// Line is 1-based; 0 when the finding is about the whole file.
	Line int `json:"line"`
	// Column is 1-based, counted in bytes; 0 with Line 0.
	Column int `json:"column"`
	// Snippet is the source around the finding: one line, at most
	// [SnippetMax] bytes, control characters replaced by spaces.
	Snippet string `json:"snippet,omitempty"`
	// Message says what was found and why it matters.
	Message string `json:"message"`
	// Blocking is whether the severity blocks under the scanner's policy.
	Blocking bool `json:"blocking"`
}

// SnippetMax bounds Finding.Snippet, in bytes.
const SnippetMax = 120

// Verdict is the outcome of a scan.
type Verdict string

// Verdicts.
const (
	// VerdictAccepted: no findings.
	VerdictAccepted Verdict = "accepted"
	// VerdictWarnings: findings, none blocking; the bundle installs with
	// warnings.
	VerdictWarnings Verdict = "accepted_with_warnings"
	// VerdictRejected: at least one blocking finding.
	VerdictRejected Verdict = "rejected"
)

// Report is the result of scanning a bundle.
type Report struct {
	// Findings are sorted by file, line, column and rule.
	Findings []Finding `json:"findings"`
	// Blocked is whether any finding blocks (also counting Dropped ones).
	Blocked bool `json:"blocked"`
	// Files is the number of files scanned.
	Files int `json:"files"`
	// Bytes is the number of bytes scanned.
	Bytes int64 `json:"bytes"`
	// Skipped lists the files present but not parsed, because a browser
	// does not run them as script, markup or style (images, JSON, ...).
	Skipped []string `json:"skipped,omitempty"`
	// Dropped counts findings beyond Config.MaxFindings, left out.
	Dropped int `json:"dropped,omitempty"`
}

// Verdict summarises the report.
func (r *Report) Verdict() Verdict {
	switch {
	case r.Blocked:
		return VerdictRejected
	case len(r.Findings) > 0:
		return VerdictWarnings
	}
	return VerdictAccepted
}

// Blocking returns the findings that block.
func (r *Report) Blocking() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Blocking {
			out = append(out, f)
		}
	}
	return out
}

// RuleIDs returns the distinct rule ids of the findings, sorted.
func (r *Report) RuleIDs() []string {
	ids := make([]string, 0, len(r.Findings))
	for _, f := range r.Findings {
		ids = append(ids, f.RuleID)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// sortFindings orders findings by file, line, column and rule, the order
// of a Report.
func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.RuleID, b.RuleID),
			cmp.Compare(a.Message, b.Message),
		)
	})
}
