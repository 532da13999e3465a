package tracker

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/taylordash/taylordash/store"
)

// where builds the WHERE clause of a list; its placeholders are numbered
// in the order conditions are added.
type where struct {
	conds []string
	args  []any
}

// add adds a condition; "?" in cond stands for arg's placeholder.
func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, strings.ReplaceAll(cond, "?", "$"+itoa(len(w.args))))
}

// page adds p's time conditions on created_at.
func (w *where) page(p Page) {
	if !p.CreatedAfter.IsZero() {
		w.add("created_at >= ?", p.CreatedAfter)
	}
	if !p.CreatedBefore.IsZero() {
		w.add("created_at < ?", p.CreatedBefore)
	}
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// newestFirst is the order of lists: created_at, then id, descending.
const newestFirst = "created_at DESC, id DESC"

// list returns a page of the rows of table matching w in order, as T
// (scanned by column name), and the number of matching rows. The
// count costs a second query only when the page does not tell it (an
// offset, or a full page). Errors are pgx's, for wrap to classify.
func list[T any](ctx context.Context, q store.Querier, table, columns, order string, w where, p Page) (List[T], error) {
	args := append(w.args[:len(w.args):len(w.args)], p.Limit, p.Offset)
	rows, err := q.Query(ctx, "SELECT "+columns+" FROM "+table+w.sql()+
		" ORDER BY "+order+" LIMIT $"+itoa(len(args)-1)+" OFFSET $"+itoa(len(args)), args...)
	if err != nil {
		return List[T]{}, err
	}
	items, err := pgx.CollectRows(rows, pgx.RowToStructByName[T])
	if err != nil {
		return List[T]{}, err
	}
	if items == nil {
		items = []T{}
	}
	out := List[T]{Items: items, Total: len(items)}
	if p.Offset == 0 && len(items) < p.Limit {
		return out, nil // the whole list fits in this page
	}
	if err := q.QueryRow(ctx, "SELECT count(*) FROM "+table+w.sql(), w.args...).Scan(&out.Total); err != nil {
		return List[T]{}, err
	}
	return out, nil
}

// exists reports whether a row of table has id.
func exists(ctx context.Context, q store.Querier, table, id string) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+table+" WHERE id = $1)", id).Scan(&ok)
	return ok, err
}

// one returns the single row sql returns, as a *T scanned by column name,
// or notFound when there is none.
func one[T any](ctx context.Context, q store.Querier, notFound error, sql string, args ...any) (*T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	v, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[T])
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound
	}
	return v, err
}

// assignments builds the SET list of an UPDATE of the row whose id is $1.
type assignments struct {
	sets []string
	args []any
}

// add assigns v to col.
func (a *assignments) add(col string, v any) {
	a.args = append(a.args, v)
	a.sets = append(a.sets, col+" = $"+itoa(len(a.args)+1))
}

// setOptional assigns o to col when it is set: NULL when it is null.
func setOptional[T any](a *assignments, col string, o Optional[T]) {
	switch {
	case !o.Set:
	case o.Null:
		a.add(col, nil)
	default:
		a.add(col, o.Value)
	}
}

// joinSets returns the SET list of a.
func joinSets(a assignments) string { return strings.Join(a.sets, ", ") }

// objectOrNull returns m, or an untyped nil (SQL NULL, not the JSON null)
// when m is nil.
func objectOrNull(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}
