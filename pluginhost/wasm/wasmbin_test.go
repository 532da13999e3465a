package wasm_test

// A minimal WebAssembly binary encoder, for modules written by hand in
// tests: the Example's module and modules that Load must refuse.

const (
	tI32 = 0x7f
	tI64 = 0x7e
)

// uleb encodes n as unsigned LEB128.
func uleb(n uint32) []byte {
	var out []byte
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if n != 0 {
			out = append(out, b|0x80)
			continue
		}
		return append(out, b)
	}
}

// sleb encodes n as signed LEB128.
func sleb(n int32) []byte {
	var out []byte
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if (n == 0 && b&0x40 == 0) || (n == -1 && b&0x40 != 0) {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// vec encodes a vector: its length, then its items.
func vec(items ...[]byte) []byte { return cat(uleb(uint32(len(items))), cat(items...)) }

// name encodes a string.
func name(s string) []byte { return cat(uleb(uint32(len(s))), []byte(s)) }

// section encodes a section with its id and size.
func section(id byte, content []byte) []byte {
	return cat([]byte{id}, uleb(uint32(len(content))), content)
}

// funcType encodes a function type.
func funcType(params, results []byte) []byte {
	return cat([]byte{0x60}, uleb(uint32(len(params))), params, uleb(uint32(len(results))), results)
}

// body encodes a function body without locals; code ends with 0x0b.
func body(code ...byte) []byte {
	b := cat([]byte{0x00}, code)
	return cat(uleb(uint32(len(b))), b)
}

// module is a hand-written module: types, function imports, functions
// (type index and body), a memory, exports and data.
type module struct {
	types   [][]byte
	imports [][3]any // module, name, type index
	funcs   [][2]any // type index, body
	memory  []byte   // limits, nil for none
	exports [][3]any // name, kind (0 func, 2 memory), index
	data    [][2]any // offset, bytes
}

func (m module) encode() []byte {
	out := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	out = append(out, section(1, vec(m.types...))...)
	if len(m.imports) > 0 {
		var items [][]byte
		for _, im := range m.imports {
			items = append(items, cat(name(im[0].(string)), name(im[1].(string)), []byte{0x00}, uleb(uint32(im[2].(int)))))
		}
		out = append(out, section(2, vec(items...))...)
	}
	var fidx, bodies [][]byte
	for _, f := range m.funcs {
		fidx = append(fidx, uleb(uint32(f[0].(int))))
		bodies = append(bodies, f[1].([]byte))
	}
	out = append(out, section(3, vec(fidx...))...)
	if m.memory != nil {
		out = append(out, section(5, vec(m.memory))...)
	}
	var exps [][]byte
	for _, e := range m.exports {
		exps = append(exps, cat(name(e[0].(string)), []byte{byte(e[1].(int))}, uleb(uint32(e[2].(int)))))
	}
	out = append(out, section(7, vec(exps...))...)
	out = append(out, section(10, vec(bodies...))...)
	if len(m.data) > 0 {
		var segs [][]byte
		for _, d := range m.data {
			segs = append(segs, cat([]byte{0x00, 0x41}, sleb(int32(d[0].(int))), []byte{0x0b}, name(string(d[1].([]byte)))))
		}
		out = append(out, section(11, vec(segs...))...)
	}
	return out
}

// helloModule is, in the WebAssembly text format:
//
//	(module
//	  (import "taylordash" "output_write" (func $out (param i32 i32) (result i32)))
//	  (memory (export "memory") 1)
//	  (data (i32.const 16) "hello from wasm")
//	  (func (export "_initialize"))
//	  (func (export "td_abi_version") (result i32) i32.const 1)
//	  (func (export "td_hello") (param i32) (result i32)
//	    (drop (call $out (i32.const 16) (i32.const 15)))
//	    i32.const 0))
func helloModule() module {
	return module{
		types: [][]byte{
			funcType(nil, nil),                         // 0: ()
			funcType(nil, []byte{tI32}),                // 1: () -> i32
			funcType([]byte{tI32}, []byte{tI32}),       // 2: (i32) -> i32
			funcType([]byte{tI32, tI32}, []byte{tI32}), // 3: (i32, i32) -> i32
		},
		imports: [][3]any{{"taylordash", "output_write", 3}},
		funcs: [][2]any{
			{0, body(0x0b)},             // func 1: _initialize
			{1, body(0x41, 0x01, 0x0b)}, // func 2: td_abi_version
			{2, body(0x41, 0x10, 0x41, 0x0f, 0x10, 0x00, 0x1a, 0x41, 0x00, 0x0b)}, // func 3: td_hello
		},
		memory:  []byte{0x00, 0x01}, // min 1 page, no max
		exports: [][3]any{{"memory", 2, 0}, {"_initialize", 0, 1}, {"td_abi_version", 0, 2}, {"td_hello", 0, 3}},
		data:    [][2]any{{16, []byte("hello from wasm")}},
	}
}
