package authpg

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"
	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
)

// casbinColumns are the value columns of auth_casbin_rules: a rule has at
// most this many values.
var casbinColumns = [...]string{"v0", "v1", "v2", "v3", "v4", "v5"}

// casbinTimeout bounds the methods of CasbinAdapter that take no context
// (the ones of persist.Adapter and persist.BatchAdapter).
const casbinTimeout = 30 * time.Second

// CasbinAdapter keeps the Casbin policy in auth_casbin_rules, one row per
// rule: ptype, then the rule's values in v0 to v5 ("" for the unused
// ones). Give it to auth.NewAuthorizer.
//
// It is a persist.Adapter, persist.BatchAdapter and their context-aware
// forms, and an auth.AtomicAdapter: a batch, or a set of operations, is
// one transaction. Adding a rule that is stored already fails with an
// error wrapping dashcore.ErrConflict, removing one that is not stored
// with one wrapping dashcore.ErrNotFound; either way nothing of the call
// is kept. The methods without a context give up after 30 seconds. It is
// safe for concurrent use.
type CasbinAdapter struct {
	db *store.DB
}

var (
	_ persist.Adapter             = (*CasbinAdapter)(nil)
	_ persist.BatchAdapter        = (*CasbinAdapter)(nil)
	_ persist.ContextAdapter      = (*CasbinAdapter)(nil)
	_ persist.ContextBatchAdapter = (*CasbinAdapter)(nil)
	_ auth.AtomicAdapter          = (*CasbinAdapter)(nil)
)

// NewCasbinAdapter returns the adapter on db, migrated with [Migrations].
func NewCasbinAdapter(db *store.DB) *CasbinAdapter { return &CasbinAdapter{db: db} }

// LoadPolicy loads every stored rule into m.
func (a *CasbinAdapter) LoadPolicy(m model.Model) error {
	ctx, cancel := context.WithTimeout(context.Background(), casbinTimeout)
	defer cancel()
	return a.LoadPolicyCtx(ctx, m)
}

// LoadPolicyCtx loads every stored rule into m, in the order they were
// added.
func (a *CasbinAdapter) LoadPolicyCtx(ctx context.Context, m model.Model) error {
	rows, err := a.db.Query(ctx, `SELECT ptype, v0, v1, v2, v3, v4, v5 FROM auth_casbin_rules ORDER BY id`)
	if err != nil {
		return fmt.Errorf("authpg: load policy: %w", store.MapError(err))
	}
	defer rows.Close()
	var line [1 + len(casbinColumns)]string
	for rows.Next() {
		if err := rows.Scan(&line[0], &line[1], &line[2], &line[3], &line[4], &line[5], &line[6]); err != nil {
			return fmt.Errorf("authpg: load policy: %w", err)
		}
		n := len(line)
		for n > 1 && line[n-1] == "" {
			n--
		}
		rule := slices.Clone(line[:n])
		if err := persist.LoadPolicyArray(rule, m); err != nil {
			return fmt.Errorf("authpg: load policy: rule %q: %w", strings.Join(rule, ", "), err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("authpg: load policy: %w", store.MapError(err))
	}
	return nil
}

// SavePolicy replaces the stored policy with the one of m.
func (a *CasbinAdapter) SavePolicy(m model.Model) error {
	ctx, cancel := context.WithTimeout(context.Background(), casbinTimeout)
	defer cancel()
	return a.SavePolicyCtx(ctx, m)
}

// SavePolicyCtx replaces the stored policy with the one of m, in one
// transaction.
func (a *CasbinAdapter) SavePolicyCtx(ctx context.Context, m model.Model) error {
	var rows [][]any
	for _, sec := range []string{"p", "g"} {
		for _, ptype := range slices.Sorted(maps.Keys(m[sec])) {
			for _, rule := range m[sec][ptype].Policy {
				row, err := casbinRow(ptype, rule)
				if err != nil {
					return fmt.Errorf("authpg: save policy: %w", err)
				}
				rows = append(rows, row)
			}
		}
	}
	err := store.Tx(ctx, a.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM auth_casbin_rules`); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"auth_casbin_rules"},
			[]string{"ptype", "v0", "v1", "v2", "v3", "v4", "v5"}, pgx.CopyFromRows(rows))
		return err
	})
	if err != nil {
		return fmt.Errorf("authpg: save policy: %w", store.MapError(err))
	}
	return nil
}

// AddPolicy stores one rule.
func (a *CasbinAdapter) AddPolicy(sec, ptype string, rule []string) error {
	return a.AddPolicies(sec, ptype, [][]string{rule})
}

// AddPolicyCtx stores one rule.
func (a *CasbinAdapter) AddPolicyCtx(ctx context.Context, sec, ptype string, rule []string) error {
	return a.AddPoliciesCtx(ctx, sec, ptype, [][]string{rule})
}

// AddPolicies stores rules, all or none.
func (a *CasbinAdapter) AddPolicies(sec, ptype string, rules [][]string) error {
	ctx, cancel := context.WithTimeout(context.Background(), casbinTimeout)
	defer cancel()
	return a.AddPoliciesCtx(ctx, sec, ptype, rules)
}

// AddPoliciesCtx stores rules, all or none.
func (a *CasbinAdapter) AddPoliciesCtx(ctx context.Context, sec, ptype string, rules [][]string) error {
	return a.ApplyPolicyOperations(ctx, []persist.PolicyOperation{
		{Type: persist.OperationAdd, Section: sec, PolicyType: ptype, Rules: rules}})
}

// RemovePolicy deletes one rule.
func (a *CasbinAdapter) RemovePolicy(sec, ptype string, rule []string) error {
	return a.RemovePolicies(sec, ptype, [][]string{rule})
}

// RemovePolicyCtx deletes one rule.
func (a *CasbinAdapter) RemovePolicyCtx(ctx context.Context, sec, ptype string, rule []string) error {
	return a.RemovePoliciesCtx(ctx, sec, ptype, [][]string{rule})
}

// RemovePolicies deletes rules, all or none.
func (a *CasbinAdapter) RemovePolicies(sec, ptype string, rules [][]string) error {
	ctx, cancel := context.WithTimeout(context.Background(), casbinTimeout)
	defer cancel()
	return a.RemovePoliciesCtx(ctx, sec, ptype, rules)
}

// RemovePoliciesCtx deletes rules, all or none.
func (a *CasbinAdapter) RemovePoliciesCtx(ctx context.Context, sec, ptype string, rules [][]string) error {
	return a.ApplyPolicyOperations(ctx, []persist.PolicyOperation{
		{Type: persist.OperationRemove, Section: sec, PolicyType: ptype, Rules: rules}})
}

// RemoveFilteredPolicy deletes the rules of ptype whose values from
// fieldIndex on equal fieldValues, "" matching any value. Deleting none
// is no error.
func (a *CasbinAdapter) RemoveFilteredPolicy(sec, ptype string, fieldIndex int, fieldValues ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), casbinTimeout)
	defer cancel()
	return a.RemoveFilteredPolicyCtx(ctx, sec, ptype, fieldIndex, fieldValues...)
}

// RemoveFilteredPolicyCtx is RemoveFilteredPolicy with a context.
func (a *CasbinAdapter) RemoveFilteredPolicyCtx(ctx context.Context, _, ptype string, fieldIndex int, fieldValues ...string) error {
	if fieldIndex < 0 || fieldIndex+len(fieldValues) > len(casbinColumns) {
		return fmt.Errorf("authpg: remove filtered policy: fields %d to %d are out of range: a rule has %d values: %w",
			fieldIndex, fieldIndex+len(fieldValues)-1, len(casbinColumns), dashcore.ErrInvalid)
	}
	// Only column names come from the code; every value is a parameter.
	query := `DELETE FROM auth_casbin_rules WHERE ptype = $1`
	args := []any{ptype}
	for i, v := range fieldValues {
		if v == "" {
			continue
		}
		args = append(args, v)
		query += fmt.Sprintf(" AND %s = $%d", casbinColumns[fieldIndex+i], len(args))
	}
	if _, err := a.db.Exec(ctx, query, args...); err != nil {
		return fmt.Errorf("authpg: remove filtered policy: %w", store.MapError(err))
	}
	return nil
}

// ApplyPolicyOperations applies ops in order in one transaction (see
// auth.AtomicAdapter): additions and removals only.
func (a *CasbinAdapter) ApplyPolicyOperations(ctx context.Context, ops []persist.PolicyOperation) error {
	type step struct {
		add  bool
		line string
		row  []any
	}
	var steps []step
	for _, op := range ops {
		if op.Type != persist.OperationAdd && op.Type != persist.OperationRemove {
			return fmt.Errorf("authpg: apply policy operations: operation %d is not supported", op.Type)
		}
		for _, rule := range op.Rules {
			row, err := casbinRow(op.PolicyType, rule)
			if err != nil {
				return fmt.Errorf("authpg: apply policy operations: %w", err)
			}
			line := strings.Join(append([]string{op.PolicyType}, rule...), ", ")
			steps = append(steps, step{add: op.Type == persist.OperationAdd, line: line, row: row})
		}
	}
	if len(steps) == 0 {
		return nil
	}
	return store.Tx(ctx, a.db, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, s := range steps {
			if s.add {
				b.Queue(`INSERT INTO auth_casbin_rules (ptype, v0, v1, v2, v3, v4, v5) VALUES ($1, $2, $3, $4, $5, $6, $7)`, s.row...)
			} else {
				b.Queue(`DELETE FROM auth_casbin_rules WHERE ptype = $1 AND v0 = $2 AND v1 = $3 AND v2 = $4 AND v3 = $5 AND v4 = $6 AND v5 = $7`, s.row...)
			}
		}
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		for _, s := range steps {
			tag, err := br.Exec()
			switch {
			case err != nil && s.add && store.IsUniqueViolation(err):
				return fmt.Errorf("authpg: add policy %q: the rule exists: %w", s.line, store.MapError(err))
			case err != nil && s.add:
				return fmt.Errorf("authpg: add policy %q: %w", s.line, store.MapError(err))
			case err != nil:
				return fmt.Errorf("authpg: remove policy %q: %w", s.line, store.MapError(err))
			case !s.add && tag.RowsAffected() == 0:
				return fmt.Errorf("authpg: remove policy %q: no such rule: %w", s.line, dashcore.ErrNotFound)
			}
		}
		return br.Close()
	})
}

// casbinRow returns the row of a rule: ptype, then its values padded with
// "".
func casbinRow(ptype string, rule []string) ([]any, error) {
	if ptype == "" {
		return nil, fmt.Errorf("rule %q: the policy type is empty: %w", strings.Join(rule, ", "), dashcore.ErrInvalid)
	}
	if len(rule) > len(casbinColumns) {
		return nil, fmt.Errorf("rule %q: %d values, at most %d fit: %w",
			strings.Join(append([]string{ptype}, rule...), ", "), len(rule), len(casbinColumns), dashcore.ErrInvalid)
	}
	row := make([]any, 1+len(casbinColumns))
	row[0] = ptype
	for i := range casbinColumns {
		row[1+i] = ""
		if i < len(rule) {
			row[1+i] = rule[i]
		}
	}
	return row, nil
}
