package api

import (
	"slices"

	"github.com/neutrino-net/neutrino/internal/model"
)

// dhcpOptReq is one entry of a port's extra_dhcp_opts in a request.
// opt_value must be present but may be null: on update, null removes the
// option (extra_dhcp_opt extension).
type dhcpOptReq struct {
	OptName   string           `json:"opt_name"`
	OptValue  optional[string] `json:"opt_value"`
	IPVersion *flexInt         `json:"ip_version"`
}

// blankableDHCPOpts may carry an empty value (upstream's
// VALID_BLANK_EXTRA_DHCP_OPTS): an empty "router" tells clients there is
// no default gateway.
var blankableDHCPOpts = []string{"router", "classless-static-route"}

// Upstream's column sizes.
const (
	dhcpOptNameMax  = 64
	dhcpOptValueMax = 255
)

// check validates an entry as upstream's key specs do and returns its IP
// version (4 when absent).
func (d dhcpOptReq) check() (int, error) {
	bad := func() (int, error) {
		return 0, invalidInput("Invalid data format for extra-dhcp-opt: opt_name and opt_value are required; opt_value may be null, and may be empty only for %v", blankableDHCPOpts)
	}
	if d.OptName == "" || len(d.OptName) > dhcpOptNameMax || !d.OptValue.Set {
		return bad()
	}
	if !d.OptValue.Null {
		if len(d.OptValue.V) > dhcpOptValueMax || d.OptValue.V == "" && !slices.Contains(blankableDHCPOpts, d.OptName) {
			return bad()
		}
	}
	ver := 4
	if d.IPVersion != nil {
		ver = int(*d.IPVersion)
	}
	if ver != 4 && ver != 6 {
		return 0, invalidInput("%d is not in [4, 6]", ver)
	}
	return ver, nil
}

// createExtraDHCPOpts sets a new port's options; an entry with a null
// value stores nothing, as upstream.
func createExtraDHCPOpts(p *model.Port, o optional[[]dhcpOptReq]) error {
	p.ExtraDHCPOpts = []model.DHCPOpt{}
	if !o.Set {
		return nil
	}
	return mergeExtraDHCPOpts(p, o.V)
}

// updateExtraDHCPOpts merges the request into the port's options instead
// of replacing them: an entry matching an option by opt_name and
// ip_version changes its value, or removes it when the value is null; any
// other entry adds an option. A null or empty list changes nothing. This
// is how clients (Terraform's provider among them) remove one option.
func updateExtraDHCPOpts(p *model.Port, o optional[[]dhcpOptReq]) error {
	if !o.Set || len(o.V) == 0 {
		return nil
	}
	p.ExtraDHCPOpts = slices.Clone(p.ExtraDHCPOpts)
	if p.ExtraDHCPOpts == nil {
		p.ExtraDHCPOpts = []model.DHCPOpt{}
	}
	return mergeExtraDHCPOpts(p, o.V)
}

func mergeExtraDHCPOpts(p *model.Port, reqs []dhcpOptReq) error {
	for _, d := range reqs {
		ver, err := d.check()
		if err != nil {
			return err
		}
		i := slices.IndexFunc(p.ExtraDHCPOpts, func(o model.DHCPOpt) bool { return o.OptName == d.OptName && o.IPVersion == ver })
		switch {
		case d.OptValue.Null && i >= 0:
			p.ExtraDHCPOpts = slices.Delete(p.ExtraDHCPOpts, i, i+1)
		case d.OptValue.Null:
			// Nothing to remove, nothing to store.
		case i >= 0:
			p.ExtraDHCPOpts[i].OptValue = d.OptValue.V
		default:
			p.ExtraDHCPOpts = append(p.ExtraDHCPOpts, model.DHCPOpt{OptName: d.OptName, OptValue: d.OptValue.V, IPVersion: ver})
		}
	}
	return nil
}
