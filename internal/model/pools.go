package model

import (
	"fmt"
	"strconv"
	"strings"
)

// More resource kinds: subnet allocation and sharing.
const (
	KindSubnetPool   = "subnetpool"
	KindAddressScope = "address_scope"
	KindRBAC         = "rbac_policy"
)

// SubnetPool is a Neutron subnet pool (subnet_allocation,
// default-subnetpools, address-scope). Prefixes are normalized CIDRs,
// collapsed (no prefix inside or adjacent-mergeable with another) and
// sorted.
type SubnetPool struct {
	Standard
	Name             string    `json:"name"`
	Prefixes         []string  `json:"prefixes"`
	IPVersion        int       `json:"ip_version"`
	DefaultPrefixLen PrefixLen `json:"default_prefixlen"`
	MinPrefixLen     PrefixLen `json:"min_prefixlen"`
	MaxPrefixLen     PrefixLen `json:"max_prefixlen"`
	Shared           bool      `json:"shared"`
	IsDefault        bool      `json:"is_default"`
	DefaultQuota     *int      `json:"default_quota"`
	AddressScopeID   *string   `json:"address_scope_id"`
}

// PrefixLen is a pool's prefix length bound. Upstream renders these as
// strings ("29"; _make_subnetpool_dict), and tempest compares them so;
// either form decodes.
type PrefixLen int

// MarshalJSON encodes the length as a string.
func (n PrefixLen) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.Itoa(int(n)) + `"`), nil
}

// UnmarshalJSON accepts a number or a numeric string.
func (n *PrefixLen) UnmarshalJSON(b []byte) error {
	i, err := strconv.Atoi(strings.Trim(string(b), `"`))
	if err != nil {
		return fmt.Errorf("prefix length %s: %w", b, err)
	}
	*n = PrefixLen(i)
	return nil
}

// AddressScope is a Neutron address scope. Upstream gives it no
// standard attributes: it has only these fields.
type AddressScope struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	TenantID  string `json:"tenant_id"`
	Name      string `json:"name"`
	IPVersion int    `json:"ip_version"`
	Shared    bool   `json:"shared"`
}

// Std lets address scopes use the generic storage helpers.
func (s *AddressScope) Std() *Standard {
	return &Standard{ID: s.ID, ProjectID: s.ProjectID, TenantID: s.TenantID}
}

// Owner is the scope's project.
func (s *AddressScope) Owner() string { return s.ProjectID }

// RBAC actions and object types, as upstream names them.
const (
	RBACShared   = "access_as_shared"
	RBACExternal = "access_as_external"
	RBACWildcard = "*"
)

// RBACPolicy shares one object (ObjectType is upstream's name: network,
// address_group, ...) with TargetTenant ("*" = every project). Upstream
// gives it no standard attributes.
type RBACPolicy struct {
	ID           string `json:"id"`
	ProjectID    string `json:"project_id"`
	TenantID     string `json:"tenant_id"`
	ObjectType   string `json:"object_type"`
	ObjectID     string `json:"object_id"`
	Action       string `json:"action"`
	TargetTenant string `json:"target_tenant"`
}

// Std lets policies use the generic storage helpers.
func (p *RBACPolicy) Std() *Standard {
	return &Standard{ID: p.ID, ProjectID: p.ProjectID, TenantID: p.TenantID}
}

// Owner is the project that made the policy (counted by its quota).
func (p *RBACPolicy) Owner() string { return p.ProjectID }

// Grants reports whether the policy gives project the action on the
// object.
func (p *RBACPolicy) Grants(objectType, objectID, action, project string) bool {
	return p.ObjectType == objectType && p.ObjectID == objectID && p.Action == action &&
		(p.TargetTenant == RBACWildcard || p.TargetTenant == project)
}
