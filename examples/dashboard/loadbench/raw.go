package loadbench

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Project is a row of projects, as the dashboard answers it.
type Project struct {
	ID          string         `json:"id" db:"id"`
	Name        string         `json:"name" db:"name"`
	Description *string        `json:"description" db:"description"`
	Status      string         `json:"status" db:"status"`
	OwnerID     *string        `json:"owner_id" db:"owner_id"`
	Metadata    map[string]any `json:"metadata" db:"metadata"`
	CreatedAt   time.Time      `json:"created_at" db:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at" db:"updated_at"`
}

const columns = `id, name, description, status, owner_id, metadata, created_at, updated_at`

// RawHandler serves GET and POST /api/v1/projects with nothing but an
// API-key check, the dashboard's queries and its JSON: the baseline.
func RawHandler(pool *pgxpool.Pool, apiKey string) http.Handler {
	mux := http.NewServeMux()
	authorized := func(r *http.Request) bool {
		return subtle.ConstantTimeCompare([]byte(r.Header.Get("X-API-Key")), []byte(apiKey)) == 1
	}
	fail := func(w http.ResponseWriter, status int) {
		http.Error(w, http.StatusText(status), status)
	}
	mux.HandleFunc("GET /api/v1/projects", func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r) {
			fail(w, http.StatusUnauthorized)
			return
		}
		rows, err := pool.Query(r.Context(), `SELECT `+columns+` FROM projects ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2`, 100, 0)
		if err != nil {
			fail(w, http.StatusInternalServerError)
			return
		}
		items, err := pgx.CollectRows(rows, pgx.RowToStructByName[Project])
		if err != nil {
			fail(w, http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(struct {
			Projects []Project `json:"projects"`
			Count    int       `json:"count"`
			Total    int       `json:"total"`
		}{items, len(items), len(items)})
	})
	mux.HandleFunc("POST /api/v1/projects", func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r) {
			fail(w, http.StatusUnauthorized)
			return
		}
		var in struct {
			Name        string         `json:"name"`
			Description *string        `json:"description"`
			Status      string         `json:"status"`
			OwnerID     *string        `json:"owner_id"`
			Metadata    map[string]any `json:"metadata"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil || in.Name == "" {
			fail(w, http.StatusUnprocessableEntity)
			return
		}
		if in.Status == "" {
			in.Status = "planning"
		}
		if in.Metadata == nil {
			in.Metadata = map[string]any{}
		}
		rows, err := pool.Query(r.Context(), `INSERT INTO projects (name, description, status, owner_id, metadata)
			VALUES ($1, $2, $3, $4, $5) RETURNING `+columns, in.Name, in.Description, in.Status, in.OwnerID, in.Metadata)
		if err != nil {
			fail(w, http.StatusInternalServerError)
			return
		}
		p, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Project])
		if err != nil {
			fail(w, http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(p)
	})
	return mux
}
