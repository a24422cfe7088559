package nft

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/neutrino-net/neutrino/internal/desired"
)

// Hash sets (desired.NftSet.Hash): single keys, ether_addr or ipv4_addr,
// which the kernel keeps in a hash table, so that a rule looking a
// frame's address up costs the same with one element or with
// thousands (the DVR bridge table's gateway MACs and addresses). They
// are raw sets (rawsets.go): diffed, added and deleted element by
// element like the verdict maps.

// hashKeyTypes are the kernel types of the hash sets, by desired type.
var hashKeyTypes = map[string]nftables.SetDatatype{
	desired.TypeEtherAddr: nftables.TypeEtherAddr,
	desired.TypeIPv4Addr:  nftables.TypeIPAddr,
	"":                    nftables.TypeIPAddr,
}

// compileHashSet validates a hash set and encodes its keys.
func compileHashSet(s desired.NftSet) (*wantSet, error) {
	kt, ok := hashKeyTypes[s.Type]
	if !ok {
		return nil, fmt.Errorf("nft set %s: hash set of type %s not implemented (ether_addr, ipv4_addr)", s.Name, s.Type)
	}
	if len(s.Elements) > 0 {
		return nil, fmt.Errorf("nft set %s: a hash set has Keys, not Elements", s.Name)
	}
	typ := s.Type
	if typ == "" {
		typ = desired.TypeIPv4Addr
	}
	ws := &wantSet{name: s.Name, raw: &rawType{key: kt, keyOrder: binaryutil.BigEndian}, relems: make(map[string]string, len(s.Keys))}
	for _, k := range s.Keys {
		kb, err := keyBytes(typ, k)
		if err != nil {
			return nil, fmt.Errorf("nft set %s: %w", s.Name, err)
		}
		ws.relems[string(kb)] = ""
	}
	return ws, nil
}

// hashKeyBytes encodes a hash set's key as a rule's payload load
// compares it: the address's bytes in network order.
func hashKeyBytes(typ, key string) ([]byte, bool, error) {
	switch typ {
	case desired.TypeEtherAddr:
		mac, err := parseMAC(key)
		return mac, true, err
	case desired.TypeIPv4Addr:
		a, err := netip.ParseAddr(key)
		if err != nil || !a.Is4() {
			return nil, true, fmt.Errorf("%q is not an IPv4 address", key)
		}
		return a.AsSlice(), true, nil
	}
	return nil, false, nil
}

// hashKeyText renders a hash set's key bytes for change lines.
func hashKeyText(kt nftables.SetDatatype, k string) (string, bool) {
	switch {
	case kt == nftables.TypeEtherAddr && len(k) == 6:
		return net.HardwareAddr(k).String(), true
	case kt == nftables.TypeIPAddr && len(k) == 4:
		return netip.AddrFrom4([4]byte([]byte(k))).String(), true
	}
	return "", false
}

// isHashKey reports whether a set of this key type, neither a map nor
// an interval set, is one the agent writes raw.
func isHashKey(magic uint32) bool {
	return magic == nftables.TypeIP6Addr.GetNFTMagic() || magic == nftables.TypeIPAddr.GetNFTMagic() ||
		magic == nftables.TypeEtherAddr.GetNFTMagic()
}

// checkHashRef checks that a rule's hash set lookup names a hash set of
// the type its field is.
func checkHashRef(sets map[string]*wantSet, name string, kt nftables.SetDatatype) error {
	if name == "" {
		return nil
	}
	ws := sets[name]
	if ws == nil || ws.isMap || ws.raw == nil || ws.raw.verdict || ws.raw.key != kt {
		return fmt.Errorf("%s is not a hash set of type %s", name, kt.Name)
	}
	return nil
}
