package nft

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	mnl "github.com/mdlayher/netlink"
	"github.com/neutrino-net/neutrino/internal/desired"
	"golang.org/x/sys/unix"
)

// Raw sets and maps hold elements as key bytes (and, for verdict maps,
// the verdict as text): sets of single IPv6 addresses (remote group
// members) and verdict maps keyed by interface name or mark (security
// groups' per-port dispatch). They are diffed element by element like
// the IPv4 maps, so adding a port or a member is one element.

// rawType is the kernel type of a raw set or map.
type rawType struct {
	key      nftables.SetDatatype
	keyOrder binaryutil.ByteOrder
	verdict  bool // a verdict map
}

// verdictMagic is what a verdict map's type reads back as: google/nftables
// v0.3.0 stores the verdict data type in KeyType (its KeyType is lost).
var verdictMagic = nftables.TypeVerdict.GetNFTMagic()

func compileRawMap(m desired.NftMap, k, v string) (*wantSet, error) {
	if v != desired.TypeVerdict || (k != desired.TypeIfname && k != desired.TypeMark) {
		return nil, fmt.Errorf("nft map %s: type %s : %s not implemented (ipv4_addr : ipv4_addr, ifname or mark : verdict)", m.Name, k, v)
	}
	if len(m.Elements) > 0 {
		return nil, fmt.Errorf("nft map %s: a verdict map has Verdicts, not Elements", m.Name)
	}
	// nft shows strings in host byte order (the order is only userdata).
	rt := &rawType{key: nftables.TypeIFName, keyOrder: binaryutil.NativeEndian, verdict: true}
	if k == desired.TypeMark {
		rt.key, rt.keyOrder = nftables.TypeMark, binaryutil.NativeEndian
	}
	ws := &wantSet{name: m.Name, isMap: true, raw: rt, relems: make(map[string]string, len(m.Verdicts))}
	for key, val := range m.Verdicts {
		kb, err := keyBytes(k, key)
		if err != nil {
			return nil, fmt.Errorf("nft map %s: %w", m.Name, err)
		}
		if _, err := parseVerdict(val); err != nil {
			return nil, fmt.Errorf("nft map %s key %s: %w", m.Name, key, err)
		}
		ws.relems[string(kb)] = val
	}
	return ws, nil
}

// keyBytes encodes a map key as the kernel compares it with what a
// rule loads: an interface name NUL-padded to IFNAMSIZ, a mark in host
// byte order (meta mark loads it so).
func keyBytes(typ, key string) ([]byte, error) {
	if b, ok, err := hashKeyBytes(typ, key); ok {
		return b, err
	}
	switch typ {
	case desired.TypeIfname:
		if key == "" || len(key) > unix.IFNAMSIZ-1 {
			return nil, fmt.Errorf("bad interface name %q", key)
		}
		b := make([]byte, unix.IFNAMSIZ)
		copy(b, key)
		return b, nil
	case desired.TypeMark:
		v, err := strconv.ParseUint(key, 0, 32)
		if err != nil {
			return nil, fmt.Errorf("bad mark %q", key)
		}
		return binaryutil.NativeEndian.PutUint32(uint32(v)), nil
	}
	return nil, fmt.Errorf("unknown key type %s", typ)
}

// keyText renders key bytes for change lines.
func (rt *rawType) keyText(k string) string {
	if s, ok := hashKeyText(rt.key, k); ok {
		return s
	}
	switch {
	case rt.key == nftables.TypeIP6Addr:
		a, _ := netip.AddrFromSlice([]byte(k))
		return a.String()
	case rt.key == nftables.TypeMark && len(k) == 4:
		return fmt.Sprintf("0x%08x", binaryutil.NativeEndian.Uint32([]byte(k)))
	}
	return strings.TrimRight(k, "\x00")
}

// parseVerdict parses "jump <chain>" or "goto <chain>".
func parseVerdict(s string) (*expr.Verdict, error) {
	kind, chain, ok := strings.Cut(s, " ")
	if !ok || chain == "" {
		return nil, fmt.Errorf("verdict %q: want jump <chain> or goto <chain>", s)
	}
	switch kind {
	case "jump":
		return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain}, nil
	case "goto":
		return &expr.Verdict{Kind: expr.VerdictGoto, Chain: chain}, nil
	}
	return nil, fmt.Errorf("verdict %q: want jump <chain> or goto <chain>", s)
}

// decodeVerdict reads a verdict element's data back (the nested
// NFTA_DATA_VERDICT attributes google/nftables leaves in Val).
func decodeVerdict(b []byte) string {
	ad, err := mnl.NewAttributeDecoder(b)
	if err != nil {
		return ""
	}
	code, chain := int32(0), ""
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_VERDICT_CODE:
			code = int32(binaryutil.BigEndian.Uint32(ad.Bytes()))
		case unix.NFTA_VERDICT_CHAIN:
			chain = strings.TrimRight(string(ad.Bytes()), "\x00")
		}
	}
	switch code {
	case unix.NFT_JUMP:
		return "jump " + chain
	case unix.NFT_GOTO:
		return "goto " + chain
	}
	return fmt.Sprintf("verdict %d %s", code, chain)
}

// checkVerdictTargets makes sure every verdict map element reaches a
// regular chain of the table.
func (w *wantTable) checkVerdictTargets(regular map[string]bool) error {
	names := w.names
	if w.sameNames {
		names = w.dirtySets // the others were checked against the same chains
	}
	for _, name := range names {
		ws := w.sets[name]
		if ws.raw == nil || !ws.raw.verdict {
			continue
		}
		for k, v := range ws.relems {
			vd, _ := parseVerdict(v)
			if !regular[vd.Chain] {
				return fmt.Errorf("nft map %s key %s: no regular chain %s", name, ws.raw.keyText(k), vd.Chain)
			}
		}
	}
	return nil
}

// rawSetFor is the kernel set of a raw wanted set.
func rawSetFor(t *nftables.Table, name string, rt *rawType) *nftables.Set {
	s := &nftables.Set{Table: t, Name: name, KeyType: rt.key, KeyByteOrder: rt.keyOrder}
	if rt.verdict {
		s.IsMap, s.DataType = true, nftables.TypeVerdict
	}
	return s
}

// rawSnap is the remembered state of a new raw set.
func rawSnap(rt *rawType) *setSnap {
	s := &setSnap{isMap: rt.verdict, key: rt.key.GetNFTMagic(), relems: map[string]string{}}
	if rt.verdict {
		s.key = verdictMagic // as it reads back
	}
	return s
}

func (s *setSnap) matchesRaw(w *wantSet) bool {
	if s.relems == nil || s.interval || s.isMap != w.raw.verdict {
		return false
	}
	if w.raw.verdict {
		return s.key == verdictMagic
	}
	return s.key == w.raw.key.GetNFTMagic()
}

// readRaw fills a raw set's snapshot from its elements; ok is false if
// the set is not one the agent writes raw.
func readRaw(set *nftables.Set, els []nftables.SetElement) (map[string]string, bool) {
	isVerdict := set.IsMap && set.KeyType.GetNFTMagic() == verdictMagic
	if !isVerdict && (set.IsMap || set.Interval || !isHashKey(set.KeyType.GetNFTMagic())) {
		return nil, false
	}
	out := make(map[string]string, len(els))
	for _, e := range els {
		v := ""
		if isVerdict {
			v = decodeVerdict(e.Val)
		}
		out[string(e.Key)] = v
	}
	return out, true
}

// diffRaw compares a raw set's wanted elements with the kernel's.
func diffRaw(ws *wantSet, hs *setSnap) []*elemOp {
	var ops []*elemOp
	elem := func(k, v string) nftables.SetElement {
		e := nftables.SetElement{Key: []byte(k)}
		if ws.raw.verdict {
			e.VerdictData, _ = parseVerdict(v)
		}
		return e
	}
	text := func(k, v string) string {
		if v == "" {
			return ws.raw.keyText(k)
		}
		return ws.raw.keyText(k) + " : " + v
	}
	keys := make([]string, 0, len(ws.relems))
	for k := range ws.relems {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		v := ws.relems[k]
		hv, ok := hs.relems[k]
		if ok && hv == v {
			continue
		}
		op := &elemOp{set: ws.name, sort: uint32(i), add: []nftables.SetElement{elem(k, v)},
			commit: func(s *setSnap) { s.relems[k] = v }}
		if ok {
			op.del = []nftables.SetElement{{Key: []byte(k)}}
			op.lines = append(op.lines, fmt.Sprintf("nft delete element %s %s", ws.name, text(k, hv)))
		}
		op.lines = append(op.lines, fmt.Sprintf("nft add element %s %s", ws.name, text(k, v)))
		ops = append(ops, op)
	}
	for k, hv := range hs.relems {
		if _, ok := ws.relems[k]; ok {
			continue
		}
		ops = append(ops, &elemOp{set: ws.name, del: []nftables.SetElement{{Key: []byte(k)}},
			commit: func(s *setSnap) { delete(s.relems, k) },
			lines:  []string{fmt.Sprintf("nft delete element %s %s", ws.name, text(k, hv))}})
	}
	return ops
}
