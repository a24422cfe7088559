package api

import "strings"

// Subnet service_types (subnet-service-types extension).
//
// Upstream does not enforce its create/update_subnet:service_types policy
// rules: the attribute lacks enforce_policy, so whoever may create or
// update the subnet may set it (tempest's SubnetServiceTypeTestJSON does,
// as a project member).

// serviceTypeStarts is what upstream's validate_subnet_service_types
// accepts a service type beginning with. It means the device-owner
// prefixes "network:", "neutron:" and "compute:", but it appends the
// string "compute:" to its list of prefixes, which adds each of its
// characters as a prefix: so "test:type_1" (used by tempest) is valid
// there, and must be here.
var serviceTypeStarts = []string{"network:", "neutron:", "c", "o", "m", "p", "u", "t", "e", ":"}

func checkServiceTypes(types []string) error {
	for _, st := range types {
		ok := false
		for _, p := range serviceTypeStarts {
			ok = ok || strings.HasPrefix(st, p)
		}
		if !ok {
			return newErr(400, "InvalidSubnetServiceType", "Subnet service type %s does not correspond to a valid device owner.", st)
		}
	}
	return nil
}
