package wasm

import (
	"cmp"
	"errors"
	"slices"
)

// A Go guest has tens of thousands of small data segments (the linker
// leaves out runs of zeros), and wazero evaluates and copies each one at
// every instantiation: about 4 ms of the 5 ms an instance of a Go guest
// takes to start. coalesceData merges segments separated by small gaps
// into one, filling the gaps with zeros (which is what linear memory holds
// there anyway), before the module is compiled. It only rewrites modules
// whose every segment is active, in memory 0, at a constant offset, and
// overlaps no other (so their order does not matter), so that the merged
// module writes exactly the same bytes; anything else is returned
// unchanged.

// maxDataGap is the largest run of zeros put into a merged segment.
const maxDataGap = 4096

// dataSegment is an active data segment at a constant offset.
type dataSegment struct {
	offset uint32
	data   []byte
}

var errNotCoalescible = errors.New("data section not coalescible")

// coalesceData returns mod with its data segments merged, or mod itself
// when there is nothing to gain or the module is not of the expected form.
func coalesceData(mod []byte) []byte {
	out, err := rewriteData(mod)
	if err != nil {
		return mod
	}
	return out
}

type section struct {
	id         byte
	start, end int // the content, without id and size
}

func rewriteData(mod []byte) ([]byte, error) {
	if len(mod) < 8 || string(mod[:4]) != "\x00asm" {
		return nil, errNotCoalescible
	}
	var sections []section
	data := -1
	for i := 8; i < len(mod); {
		id := mod[i]
		size, n, err := readULEB(mod[i+1:])
		if err != nil {
			return nil, err
		}
		start := i + 1 + n
		end := start + int(size)
		if end > len(mod) || end < start {
			return nil, errNotCoalescible
		}
		if id == 11 {
			data = len(sections)
		}
		sections = append(sections, section{id: id, start: start, end: end})
		i = end
	}
	if data < 0 {
		return nil, errNotCoalescible
	}
	segs, err := parseDataSegments(mod[sections[data].start:sections[data].end])
	if err != nil {
		return nil, err
	}
	merged := mergeDataSegments(segs)
	if len(merged) == len(segs) {
		return nil, errNotCoalescible
	}

	out := make([]byte, 0, len(mod)+len(mod)/8)
	out = append(out, mod[:8]...)
	for k, s := range sections {
		var content []byte
		switch {
		case k == data:
			content = appendULEB(nil, uint32(len(merged)))
			for _, seg := range merged {
				content = append(content, 0x00, 0x41) // active, memory 0; i32.const
				content = appendSLEB(content, int32(seg.offset))
				content = append(content, 0x0b) // end
				content = appendULEB(content, uint32(len(seg.data)))
				content = append(content, seg.data...)
			}
		case s.id == 12: // data count
			content = appendULEB(nil, uint32(len(merged)))
		default:
			content = mod[s.start:s.end]
		}
		out = append(out, s.id)
		out = appendULEB(out, uint32(len(content)))
		out = append(out, content...)
	}
	return out, nil
}

func parseDataSegments(b []byte) ([]dataSegment, error) {
	count, n, err := readULEB(b)
	if err != nil {
		return nil, err
	}
	b = b[n:]
	segs := make([]dataSegment, 0, count)
	for range count {
		// active in memory 0 (flag 0), offset i32.const <n> end
		if len(b) < 2 || b[0] != 0x00 || b[1] != 0x41 {
			return nil, errNotCoalescible
		}
		offset, n, err := readSLEB32(b[2:])
		if err != nil {
			return nil, err
		}
		b = b[2+n:]
		if len(b) < 1 || b[0] != 0x0b {
			return nil, errNotCoalescible
		}
		size, n, err := readULEB(b[1:])
		if err != nil || int(size) > len(b)-1-n {
			return nil, errNotCoalescible
		}
		data := b[1+n : 1+n+int(size)]
		b = b[1+n+int(size):]
		segs = append(segs, dataSegment{offset: uint32(offset), data: data})
	}
	if len(b) != 0 {
		return nil, errNotCoalescible
	}
	slices.SortStableFunc(segs, func(a, b dataSegment) int { return cmp.Compare(a.offset, b.offset) })
	var end uint64
	for _, s := range segs {
		if uint64(s.offset) < end { // overlapping: the order would matter
			return nil, errNotCoalescible
		}
		end = uint64(s.offset) + uint64(len(s.data))
	}
	return segs, nil
}

// mergeDataSegments merges sorted, non-overlapping segments whose gap is
// at most maxDataGap.
func mergeDataSegments(segs []dataSegment) []dataSegment {
	var out []dataSegment
	owned := false // whether the last segment's data is a copy (else it aliases the module)
	for _, s := range segs {
		if len(out) > 0 {
			last := &out[len(out)-1]
			end := uint64(last.offset) + uint64(len(last.data))
			if gap := uint64(s.offset) - end; gap <= maxDataGap {
				if !owned {
					last.data = append(make([]byte, 0, 2*(len(last.data)+int(gap)+len(s.data))), last.data...)
					owned = true
				}
				last.data = append(last.data, make([]byte, gap)...)
				last.data = append(last.data, s.data...)
				continue
			}
		}
		out = append(out, s)
		owned = false
	}
	return out
}

func readULEB(b []byte) (uint32, int, error) {
	var v uint32
	for i := 0; i < 5 && i < len(b); i++ {
		v |= uint32(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1, nil
		}
	}
	return 0, 0, errNotCoalescible
}

func readSLEB32(b []byte) (int32, int, error) {
	var v int64
	for i := 0; i < 5 && i < len(b); i++ {
		v |= int64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			if shift := 7 * (i + 1); shift < 64 && b[i]&0x40 != 0 {
				v |= -1 << shift
			}
			return int32(v), i + 1, nil
		}
	}
	return 0, 0, errNotCoalescible
}

func appendULEB(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

func appendSLEB(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
