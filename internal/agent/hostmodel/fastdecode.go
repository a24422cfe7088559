package hostmodel

import (
	"github.com/neutrino-net/neutrino/internal/flatjson"
	"github.com/neutrino-net/neutrino/internal/model"
)

// A rule change reaches every agent whose ports are in its group, with
// the group's new revision: with 5,000 agents on one group, that is
// 10,000 decodes per change across the cloud, and encoding/json took
// about 17 µs for the pair (reflection and field lookup by name), more
// than planning the rule. These two kinds are therefore decoded by a
// small scanner (internal/flatjson) made for the flat objects the server renders for them
// (strings without escapes, integers, booleans, null, a list of tags).
// Anything else it meets (an escape, a non-ASCII byte, a fraction, an
// unknown or differently cased key, trailing data) makes it give up,
// and encoding/json decodes the object instead, so the result is
// always what json.Unmarshal gives (TestFastDecodeMatchesJSON).

// fastRule decodes a security group rule; ok is false when the object
// is not of the simple shape (the caller then uses encoding/json).
func fastRule(b []byte) (*model.SecurityGroupRule, bool) {
	r := new(model.SecurityGroupRule)
	ok := flatjson.Object(b, func(s *flatjson.Scanner, key []byte) bool {
		if standardField(s, key, &r.Standard) {
			return true
		}
		switch string(key) {
		case "security_group_id":
			return s.Str(&r.SecurityGroupID)
		case "direction":
			return s.Str(&r.Direction)
		case "ethertype":
			return s.Str(&r.EtherType)
		case "protocol":
			return s.StrPtr(&r.Protocol)
		case "port_range_min":
			return s.IntPtr(&r.PortRangeMin)
		case "port_range_max":
			return s.IntPtr(&r.PortRangeMax)
		case "remote_ip_prefix":
			return s.StrPtr(&r.RemoteIPPrefix)
		case "normalized_cidr":
			return s.StrPtr(&r.NormalizedCIDR)
		case "remote_group_id":
			return s.StrPtr(&r.RemoteGroupID)
		case "remote_address_group_id":
			return s.StrPtr(&r.RemoteAddressGroupID)
		case "belongs_to_default_sg":
			return s.Bool(&r.BelongsToDefaultSG)
		}
		return false
	})
	return r, ok
}

// fastGroup decodes a security group like fastRule.
func fastGroup(b []byte) (*model.SecurityGroup, bool) {
	g := new(model.SecurityGroup)
	ok := flatjson.Object(b, func(s *flatjson.Scanner, key []byte) bool {
		if standardField(s, key, &g.Standard) {
			return true
		}
		switch string(key) {
		case "name":
			return s.Str(&g.Name)
		case "stateful":
			return s.Bool(&g.Stateful)
		case "shared":
			return s.Bool(&g.Shared)
		case "neutrino:default":
			return s.Bool(&g.Default)
		}
		return false
	})
	return g, ok
}

// standardField decodes key into st if it is a standard attribute;
// false if it is not one, or its value is not of the simple shape.
func standardField(s *flatjson.Scanner, key []byte, st *model.Standard) bool {
	switch string(key) {
	case "id":
		return s.Str(&st.ID)
	case "project_id":
		return s.Str(&st.ProjectID)
	case "tenant_id":
		return s.Str(&st.TenantID)
	case "description":
		return s.Str(&st.Description)
	case "revision_number":
		return s.Int(&st.RevisionNumber)
	case "created_at":
		return s.Str(&st.CreatedAt)
	case "updated_at":
		return s.Str(&st.UpdatedAt)
	case "tags":
		return s.Strings(&st.Tags)
	}
	return false
}
