package nft

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/nftables"
)

// noPause makes the retries of consistent immediate in a test.
func noPause(t *testing.T) {
	old := readPause
	readPause = func(int) {}
	t.Cleanup(func() { readPause = old })
}

// fakeGen returns the generations in order, then the last one forever.
func fakeGen(gens ...uint32) func() (uint32, error) {
	return func() (uint32, error) {
		g := gens[0]
		if len(gens) > 1 {
			gens = gens[1:]
		}
		return g, nil
	}
}

func TestConsistentRetriesWhenGenerationMoves(t *testing.T) {
	noPause(t)
	reads := 0
	// Another writer commits during the first read (5 -> 6).
	v, err := consistent(fakeGen(5, 6, 6, 6), func() (int, error) { reads++; return reads, nil })
	if err != nil || v != 2 || reads != 2 {
		t.Fatalf("got %d, %v after %d reads; want the second read", v, err, reads)
	}
}

func TestConsistentRetriesTornDump(t *testing.T) {
	noPause(t)
	reads := 0
	v, err := consistent(fakeGen(7), func() (int, error) {
		reads++
		if reads == 1 {
			return 0, ErrTornDump
		}
		return reads, nil
	})
	if err != nil || v != 2 {
		t.Fatalf("got %d, %v; want the second read", v, err)
	}
}

func TestConsistentRetriesErrorOfMovedGeneration(t *testing.T) {
	noPause(t)
	reads := 0
	gone := errors.New("no such chain")
	v, err := consistent(fakeGen(1, 2, 2, 2), func() (int, error) {
		reads++
		if reads == 1 {
			return 0, gone // deleted by the writer that moved the generation
		}
		return reads, nil
	})
	if err != nil || v != 2 {
		t.Fatalf("got %d, %v; want the second read", v, err)
	}
	// The same error with a still generation is ours to report.
	if _, err := consistent(fakeGen(3), func() (int, error) { return 0, gone }); !errors.Is(err, gone) {
		t.Fatalf("err = %v, want %v", err, gone)
	}
}

func TestConsistentGivesUp(t *testing.T) {
	noPause(t)
	g, reads := uint32(0), 0
	moving := func() (uint32, error) { g++; return g, nil }
	_, err := consistent(moving, func() (int, error) { reads++; return reads, nil })
	if err == nil || reads != readAttempts {
		t.Fatalf("err = %v after %d reads, want an error after %d", err, reads, readAttempts)
	}
	reads = 0
	_, err = consistent(fakeGen(1), func() (int, error) { reads++; return 0, ErrTornDump })
	if !errors.Is(err, ErrTornDump) || reads != readAttempts {
		t.Fatalf("err = %v after %d reads, want ErrTornDump after %d", err, reads, readAttempts)
	}
}

func mapElem4(k, v uint32) nftables.SetElement {
	return nftables.SetElement{Key: binary.BigEndian.AppendUint32(nil, k), Val: binary.BigEndian.AppendUint32(nil, v)}
}

// A hash set resized between two parts of its dump comes back with some
// elements twice and as many missing (seen on a loaded machine): the
// snapshot must refuse it rather than read the missing ones as absent.
func TestDecodeSetRefusesTornDump(t *testing.T) {
	set := &nftables.Set{Name: "fip_dnat", IsMap: true, KeyType: nftables.TypeIPAddr, DataType: nftables.TypeIPAddr}
	whole := []nftables.SetElement{mapElem4(1, 11), mapElem4(2, 12), mapElem4(3, 13), mapElem4(4, 14)}
	ss, err := decodeSet(set, whole)
	if err != nil || len(ss.elems) != 4 {
		t.Fatalf("whole dump: %v, %d elements", err, len(ss.elems))
	}
	torn := []nftables.SetElement{mapElem4(1, 11), mapElem4(2, 12), mapElem4(2, 12), mapElem4(4, 14)}
	if _, err := decodeSet(set, torn); !errors.Is(err, ErrTornDump) {
		t.Fatalf("torn dump: err = %v, want ErrTornDump", err)
	}
}

// An interval set holds the end of one range and the start of the next
// under one key: that is no duplicate.
func TestDecodeSetIntervalSharedKey(t *testing.T) {
	set := &nftables.Set{Name: "snat_src", Interval: true, KeyType: nftables.TypeIPAddr}
	k := func(u uint32) []byte { return binary.BigEndian.AppendUint32(nil, u) }
	els := []nftables.SetElement{{Key: k(0x0a000000)}, {Key: k(0x0a000100), IntervalEnd: true}, {Key: k(0x0a000100)}, {Key: k(0x0a000200), IntervalEnd: true}}
	ss, err := decodeSet(set, els)
	if err != nil || len(ss.ranges) != 2 {
		t.Fatalf("err = %v, ranges %v", err, ss)
	}
}
