package ipam

import (
	"fmt"
	"net/http"
)

// Error is implemented by every typed error this package returns.
type Error interface {
	error
	// Type is the Neutron exception class name, e.g. "InvalidAllocationPool".
	Type() string
	// Status is the HTTP status code Neutron answers with (400, 409).
	Status() int
	// Message is the full message Neutron puts in NeutronError.message.
	Message() string
}

var (
	_ Error = (*InvalidInputError)(nil)
	_ Error = (*InvalidAllocationPoolError)(nil)
	_ Error = (*OutOfBoundsAllocationPoolError)(nil)
	_ Error = (*OverlappingAllocationPoolsError)(nil)
	_ Error = (*GatewayConflictWithAllocationPoolsError)(nil)
	_ Error = (*InvalidIPForSubnetError)(nil)
)

// InvalidInputError is Neutron's InvalidInput (400). Error() returns Reason
// alone (e.g. "Gateway is not valid on subnet"); Message() returns the
// upstream wording: "Invalid input for <Attribute>. Reason: <Reason>." for
// attribute validation failures (Attribute set) or "Invalid input for
// operation: <Reason>." otherwise.
type InvalidInputError struct {
	Attribute string // attribute name for attribute-level failures, else ""
	Reason    string
}

func (e *InvalidInputError) Error() string { return e.Reason }

// Type returns "InvalidInput".
func (e *InvalidInputError) Type() string { return "InvalidInput" }

// Status returns 400.
func (e *InvalidInputError) Status() int { return http.StatusBadRequest }

// Message returns the full Neutron message.
func (e *InvalidInputError) Message() string {
	if e.Attribute != "" {
		return fmt.Sprintf("Invalid input for %s. Reason: %s.", e.Attribute, e.Reason)
	}
	return fmt.Sprintf("Invalid input for operation: %s.", e.Reason)
}

func invalidInput(format string, args ...any) *InvalidInputError {
	return &InvalidInputError{Reason: fmt.Sprintf(format, args...)}
}

func invalidAttr(attr, format string, args ...any) *InvalidInputError {
	return &InvalidInputError{Attribute: attr, Reason: fmt.Sprintf(format, args...)}
}

// InvalidAllocationPoolError is Neutron's InvalidAllocationPool (400):
// a pool whose start > end, whose addresses are unparsable, or whose
// version differs from the subnet's.
type InvalidAllocationPoolError struct {
	Pool string // formatted "start-end"
}

func (e *InvalidAllocationPoolError) Error() string {
	return fmt.Sprintf("The allocation pool %s is not valid.", e.Pool)
}

// Type returns "InvalidAllocationPool".
func (e *InvalidAllocationPoolError) Type() string { return "InvalidAllocationPool" }

// Status returns 400.
func (e *InvalidAllocationPoolError) Status() int { return http.StatusBadRequest }

// Message returns Error().
func (e *InvalidAllocationPoolError) Message() string { return e.Error() }

// OutOfBoundsAllocationPoolError is Neutron's OutOfBoundsAllocationPool
// (400): a pool reaching outside the subnet's usable range (which also
// covers a pool including the network or IPv4 broadcast address).
type OutOfBoundsAllocationPoolError struct {
	Pool       string
	SubnetCIDR string
}

func (e *OutOfBoundsAllocationPoolError) Error() string {
	return fmt.Sprintf("The allocation pool %s spans beyond the subnet cidr %s.", e.Pool, e.SubnetCIDR)
}

// Type returns "OutOfBoundsAllocationPool".
func (e *OutOfBoundsAllocationPoolError) Type() string { return "OutOfBoundsAllocationPool" }

// Status returns 400.
func (e *OutOfBoundsAllocationPoolError) Status() int { return http.StatusBadRequest }

// Message returns Error().
func (e *OutOfBoundsAllocationPoolError) Message() string { return e.Error() }

// OverlappingAllocationPoolsError is Neutron's OverlappingAllocationPools
// (409). Pool1 is the pool with the lower start address.
type OverlappingAllocationPoolsError struct {
	Pool1, Pool2 string
	SubnetCIDR   string
}

func (e *OverlappingAllocationPoolsError) Error() string {
	return fmt.Sprintf("Found overlapping allocation pools: %s %s for subnet %s.", e.Pool1, e.Pool2, e.SubnetCIDR)
}

// Type returns "OverlappingAllocationPools".
func (e *OverlappingAllocationPoolsError) Type() string { return "OverlappingAllocationPools" }

// Status returns 409.
func (e *OverlappingAllocationPoolsError) Status() int { return http.StatusConflict }

// Message returns Error().
func (e *OverlappingAllocationPoolsError) Message() string { return e.Error() }

// GatewayConflictWithAllocationPoolsError is Neutron's
// GatewayConflictWithAllocationPools (409): the gateway lies in a pool.
type GatewayConflictWithAllocationPoolsError struct {
	IPAddress string
	Pool      string
}

func (e *GatewayConflictWithAllocationPoolsError) Error() string {
	return fmt.Sprintf("Gateway ip %s conflicts with allocation pool %s.", e.IPAddress, e.Pool)
}

// Type returns "GatewayConflictWithAllocationPools".
func (e *GatewayConflictWithAllocationPoolsError) Type() string {
	return "GatewayConflictWithAllocationPools"
}

// Status returns 409.
func (e *GatewayConflictWithAllocationPoolsError) Status() int { return http.StatusConflict }

// Message returns Error().
func (e *GatewayConflictWithAllocationPoolsError) Message() string { return e.Error() }

// InvalidIPForSubnetError is Neutron's InvalidIpForSubnet (400): a
// requested fixed IP outside the subnet CIDR, of the wrong version, or a
// reserved (network / IPv4 broadcast) address.
type InvalidIPForSubnetError struct {
	IPAddress string
}

func (e *InvalidIPForSubnetError) Error() string {
	return fmt.Sprintf("IP address %s is not a valid IP for the specified subnet.", e.IPAddress)
}

// Type returns "InvalidIpForSubnet".
func (e *InvalidIPForSubnetError) Type() string { return "InvalidIpForSubnet" }

// Status returns 400.
func (e *InvalidIPForSubnetError) Status() int { return http.StatusBadRequest }

// Message returns Error().
func (e *InvalidIPForSubnetError) Message() string { return e.Error() }
