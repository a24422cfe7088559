package model

import (
	"encoding/json"
	"fmt"
	"slices"
)

// MustJSON encodes a model value. Model types always encode: a failure is
// a programming error.
func MustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode %T: %v", v, err))
	}
	return b
}

// AllowsOwner reports whether the subnet's service_types let a port with
// device_owner owner take an address on it.
func (s *Subnet) AllowsOwner(owner string) bool {
	return len(s.ServiceTypes) == 0 || slices.Contains(s.ServiceTypes, owner)
}
