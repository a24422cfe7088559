// Package topology draws a cloud as the Networking API shows it to one
// set of credentials: its networks (with their subnets), routers (their
// gateway and interfaces), instances (their ports and floating IPs).
// Fetch reads it through the API; SVG and HTML render it — pure
// functions of the Cloud, deterministic, so tests compare whole output.
package topology

import (
	"cmp"
	"slices"
	"strings"
)

// Cloud is what the API showed.
type Cloud struct {
	// Scope says whose view this is (user and project).
	Scope       string
	Networks    []Network
	Routers     []Router
	Instances   []Instance
	FloatingIPs []FloatingIP
}

// Network is a network and its subnets.
type Network struct {
	ID, Name, Status string
	External, Shared bool
	Subnets          []Subnet
}

// Subnet is one subnet of a network.
type Subnet struct{ ID, Name, CIDR, Gateway string }

// Attachment is one link of a router or an instance to a network, with
// the addresses it has there.
type Attachment struct {
	NetworkID string
	IPs       []string
	// Floating are the floating IPs mapped to IPs (instances only).
	Floating []string
}

// Router is a router with its gateway (if any) and interfaces.
type Router struct {
	ID, Name, Status string
	Distributed      bool
	Links            []Attachment // gateway first, then interfaces
}

// Instance is a Nova server as its ports show it (device_id), or a
// lone port's owner.
type Instance struct {
	ID, Name string
	Links    []Attachment
}

// FloatingIP is a floating IP and where it points.
type FloatingIP struct{ ID, Address, NetworkID, PortID, FixedIP, Status string }

// sorted returns the cloud in drawing order: external networks first,
// then by name and id; routers and instances by name and id.
func (c Cloud) sorted() Cloud {
	c.Networks = slices.Clone(c.Networks)
	slices.SortFunc(c.Networks, func(a, b Network) int {
		if a.External != b.External {
			if a.External {
				return -1
			}
			return 1
		}
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	c.Routers = slices.Clone(c.Routers)
	slices.SortFunc(c.Routers, func(a, b Router) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	c.Instances = slices.Clone(c.Instances)
	slices.SortFunc(c.Instances, func(a, b Instance) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	return c
}
