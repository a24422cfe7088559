package model

// KindAddressGroup is the store kind and policy name of address groups.
const KindAddressGroup = "address_group"

// AddressGroup is a Neutron address group (address-group extension): a
// named set of CIDRs a security group rule can match through
// remote_address_group_id. Addresses are normalized CIDR strings (host
// bits cleared, e.g. "10.0.0.0/24", "2001:db8::1/128"), sorted and
// without duplicates. Its description is Standard's (g.Description),
// which encodes as upstream's "description".
type AddressGroup struct {
	Standard
	Name      string   `json:"name"`
	Addresses []string `json:"addresses"`
}
