package desired

// Keys identify the elements of a host's lists: Normalize sorts each list
// by its key and keeps one element per key. A planner that keeps the
// host's lists up to date by splicing (plan.Planner) uses the same keys.

// Key identifies a bridge.
func (b Bridge) Key() string { return b.Name }

// Key identifies a VXLAN device.
func (v VXLAN) Key() string { return v.Name }

// Key identifies a VLAN sub-interface.
func (v VLAN) Key() string { return v.Name }

// Key identifies a GRE tap.
func (g GRETap) Key() string { return g.Name }

// Key identifies a bridge port.
func (p BridgePort) Key() string { return p.Name }

// Key identifies an FDB entry.
func (f FDB) Key() string {
	k := f.Dev + " " + f.MAC + " " + f.Dst.String()
	if f.Master {
		k += " master"
	}
	return k
}

// Key identifies a neighbour entry.
func (n Neigh) Key() string { return n.Namespace + " " + n.Dev + " " + n.IP.String() }

// Key identifies a namespace.
func (ns Namespace) Key() string { return ns.Name }
