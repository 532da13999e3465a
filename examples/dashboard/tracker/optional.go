package tracker

import (
	"bytes"
	"encoding/json"
	"reflect"

	"github.com/danielgtaylor/huma/v2"
)

// Optional is a field of a partial update, with three states: absent (Set
// false: the stored value stays), null (Set and Null: the stored value is
// cleared; only nullable fields accept it, the others answer 422) and a
// value (Set: the stored value is replaced).
//
// In a JSON body, a missing key leaves the field absent and an explicit
// null sets Null. In the OpenAPI document the field has the schema of T,
// nullable unless its struct field says nullable:"false"; the field's
// validation tags (maxLength, enum, format...) apply to the value.
type Optional[T any] struct {
	// Set says the field was given, as a value or as null.
	Set bool
	// Null says the field was given as null.
	Null bool
	// Value is the value given, when Set and not Null.
	Value T
}

// Some returns a field set to v.
func Some[T any](v T) Optional[T] { return Optional[T]{Set: true, Value: v} }

// Null returns a field set to null, which clears a nullable column.
func Null[T any]() Optional[T] { return Optional[T]{Set: true, Null: true} }

// UnmarshalJSON implements json.Unmarshaler. encoding/json calls it only
// for keys present in the object, null included.
func (o *Optional[T]) UnmarshalJSON(b []byte) error {
	var zero T
	o.Set, o.Null, o.Value = true, false, zero
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}

// MarshalJSON implements json.Marshaler: the value, or null when it is
// null or absent (omit absent fields with the omitzero option).
func (o Optional[T]) MarshalJSON() ([]byte, error) {
	if !o.Set || o.Null {
		return []byte("null"), nil
	}
	return json.Marshal(o.Value)
}

// IsZero reports whether the field is absent, for the omitzero option.
func (o Optional[T]) IsZero() bool { return !o.Set }

// Schema implements huma.SchemaProvider: the schema of T, nullable (a
// struct field's nullable:"false" tag overrides it).
func (Optional[T]) Schema(r huma.Registry) *huma.Schema {
	s := *r.Schema(reflect.TypeFor[T](), true, "")
	s.Nullable = true
	return &s
}
