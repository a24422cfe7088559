package nft

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	mnl "github.com/mdlayher/netlink"
	"github.com/neutrino-net/neutrino/internal/desired"
	"golang.org/x/sys/unix"
)

// Unordered chains (desired.NftChain.Unordered: a security group's
// rules). Each rule carries its own fingerprint in its comment
// ("#=<hash>", where an ordered chain's rules carry the chain's). The
// applier keeps, per chain, the kernel handle of every rule by
// fingerprint; a rule that is no longer wanted is deleted by its handle,
// a new one is appended. Adding one rule to a chain of 10,000 is then
// one message, where a refill sent 10,001.
//
// google/nftables v0.3.0 drops the kernel's echo of a new rule, which
// is the only way to learn its handle without listing the whole chain,
// so these rule changes are sent on the same socket as a batch of their
// own (rawRuleTx). They follow the table's structural transaction (new
// chains and sets exist by then) and precede the deletion of sets that
// are no longer wanted (a rule may still refer to one until then).

// unorderedTag starts the fingerprint of a rule of an unordered chain.
const unorderedTag = "="

// ruleFP is the fingerprint of one rule of an unordered chain. Rules
// are comparable values: the fingerprints are remembered by rule, since
// printing a rule is what compiling a changed group chain would
// otherwise spend its time on (the other rules of the group are the
// same as last time).
func ruleFP(r desired.NftRule) string {
	fps.Lock()
	fp, ok := fps.m[r]
	fps.Unlock()
	if ok {
		return fp
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s|%+v\n", ruleVersion, ruleFields(r))
	fp = unorderedTag + hex.EncodeToString(h.Sum(nil))[:16]
	fps.Lock()
	if len(fps.m) >= fpsMax {
		clear(fps.m)
	}
	fps.m[r] = fp
	fps.Unlock()
	return fp
}

// fps remembers rule fingerprints, up to fpsMax rules.
var fps = struct {
	sync.Mutex
	m map[desired.NftRule]string
}{m: map[desired.NftRule]string{}}

const fpsMax = 1 << 17

// ruleOp is one rule to add to (rule set) or delete from (handle set)
// an unordered chain.
type ruleOp struct {
	chain  string
	fp     string
	rule   *desired.NftRule
	handle uint64
}

// queueUnordered decides the rule changes of an unordered chain that
// exists (hc) or is created (hc nil); flush says the chain's rules all
// go (it was flushed in the structural transaction).
func (a *tableApply) queueUnordered(wc *wantChain, hc *chainSnap, flush bool) {
	name := wc.spec.Name
	have := map[string][]uint64{}
	if hc != nil && !flush {
		have = hc.rules
	}
	ns := &chainSnap{rules: make(map[string][]uint64, len(wc.rfps)), applied: wc}
	for fp, hs := range have {
		ns.rules[fp] = slices.Clone(hs)
		ns.n += len(hs)
	}
	a.next.chains[name] = ns
	for i, fp := range wc.rfps {
		if _, ok := ns.rules[fp]; ok {
			continue // there, or queued already (a duplicate)
		}
		a.ruleOps = append(a.ruleOps, ruleOp{chain: name, fp: fp, rule: &wc.spec.Rules[i]})
		ns.rules[fp] = nil // its handle comes with the echo
	}
	for fp, hs := range have {
		keep := 0
		if _, ok := wc.fpIndex[fp]; ok {
			keep = 1 // duplicates beyond the first go too
		}
		for _, h := range hs[min(keep, len(hs)):] {
			a.ruleOps = append(a.ruleOps, ruleOp{chain: name, fp: fp, handle: h})
		}
	}
}

// ruleTxSize is the most rule messages sent in one batch: a first apply
// of a large host would otherwise be one huge sendmsg (KERNEL.md §3).
const ruleTxSize = 1000

// flushRules sends the queued rule changes: deletions before additions,
// in batches of ruleTxSize (a single change is one atomic batch).
func (a *tableApply) flushRules() error {
	if len(a.ruleOps) == 0 {
		return nil
	}
	ops := a.ruleOps
	slices.SortStableFunc(ops, func(x, y ruleOp) int {
		return boolInt(x.rule != nil) - boolInt(y.rule != nil)
	})
	for len(ops) > 0 {
		n := min(len(ops), ruleTxSize)
		if err := a.ruleTx(ops[:n]); err != nil {
			return err
		}
		ops = ops[n:]
	}
	a.ruleOps = nil
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ruleTx sends one batch of rule changes and records the new rules'
// handles from the kernel's echo.
func (a *tableApply) ruleTx(ops []ruleOp) error {
	msgs := make([]mnl.Message, 0, len(ops))
	for _, op := range ops {
		m, err := a.ruleMsg(op)
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
	}
	echoes, err := a.conn.rawTx(msgs)
	if err != nil {
		return fmt.Errorf("nft rule changes: %w", err)
	}
	a.flushes++
	for _, op := range ops {
		cs := a.next.chains[op.chain]
		if op.rule == nil {
			cs.rules[op.fp] = slices.DeleteFunc(cs.rules[op.fp], func(h uint64) bool { return h == op.handle })
			if len(cs.rules[op.fp]) == 0 {
				delete(cs.rules, op.fp)
			}
			cs.n--
			a.res.Lines = append(a.res.Lines, a.line("nft delete rule %s handle %d", op.chain, op.handle))
			continue
		}
		a.res.Lines = append(a.res.Lines, a.line("nft add rule %s %s", op.chain, op.rule))
	}
	for _, e := range echoes {
		cs := a.next.chains[e.chain]
		if cs == nil || cs.rules == nil {
			continue
		}
		cs.rules[e.fp] = append(cs.rules[e.fp], e.handle)
		cs.n++
	}
	// A rule without its handle cannot be deleted later: forget the
	// state (the next apply reads the kernel back).
	for _, op := range ops {
		if cs := a.next.chains[op.chain]; op.rule != nil && len(cs.rules[op.fp]) == 0 {
			return fmt.Errorf("nft add rule %s: no handle in the kernel's echo", op.chain)
		}
	}
	return nil
}

// line is a change line with the table named as did names it.
func (a *tableApply) line(format string, args ...any) string {
	line := fmt.Sprintf(format, args...)
	if !a.w.key.isDefault() {
		line += " (table " + a.w.key.String() + ")"
	}
	return line
}

const (
	newRuleType = mnl.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWRULE)
	delRuleType = mnl.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_DELRULE)
)

// ruleMsg encodes one rule change as google/nftables would, with
// NLM_F_ECHO on additions.
func (a *tableApply) ruleMsg(op ruleOp) (mnl.Message, error) {
	fam := byte(a.t.Family)
	attrs := []mnl.Attribute{
		{Type: unix.NFTA_RULE_TABLE, Data: []byte(a.t.Name + "\x00")},
		{Type: unix.NFTA_RULE_CHAIN, Data: []byte(op.chain + "\x00")},
	}
	hdr := mnl.Header{Type: delRuleType, Flags: mnl.Request | mnl.Acknowledge}
	if op.rule == nil {
		attrs = append(attrs, mnl.Attribute{Type: unix.NFTA_RULE_HANDLE, Data: binaryutil.BigEndian.PutUint64(op.handle)})
	} else {
		hdr = mnl.Header{Type: newRuleType, Flags: mnl.Request | mnl.Acknowledge | mnl.Create | unix.NLM_F_ECHO | unix.NLM_F_APPEND}
		exprs, err := ruleExprs(*op.rule, a.t.Family, nil)
		if err != nil {
			return mnl.Message{}, fmt.Errorf("nft chain %s rule %s: %w", op.chain, op.rule, err)
		}
		list := make([]mnl.Attribute, len(exprs))
		for i, e := range exprs {
			b, err := expr.Marshal(fam, e)
			if err != nil {
				return mnl.Message{}, fmt.Errorf("nft chain %s rule %s: %w", op.chain, op.rule, err)
			}
			list[i] = mnl.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_LIST_ELEM, Data: b}
		}
		nested, err := mnl.MarshalAttributes(list)
		if err != nil {
			return mnl.Message{}, err
		}
		attrs = append(attrs,
			mnl.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_RULE_EXPRESSIONS, Data: nested},
			mnl.Attribute{Type: unix.NFTA_RULE_USERDATA, Data: ruleComment(op.rule.Comment, op.fp)})
	}
	data, err := mnl.MarshalAttributes(attrs)
	if err != nil {
		return mnl.Message{}, err
	}
	return mnl.Message{Header: hdr, Data: append([]byte{fam, unix.NFNETLINK_V0, 0, 0}, data...)}, nil
}

// echoed is a new rule as the kernel echoed it.
type echoed struct {
	chain, fp string
	handle    uint64
}

// rawTxTimeout bounds the wait for the kernel's answers to a batch.
const rawTxTimeout = 30 * time.Second

// rawTx sends msgs as one nftables batch (one transaction) and waits for
// an acknowledgement of each; it returns the new rules the kernel
// echoed.
func (c *conn) rawTx(msgs []mnl.Message) ([]echoed, error) {
	if c.raw == nil {
		return nil, errors.New("no netlink socket")
	}
	mark := []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, unix.NFNL_SUBSYS_NFTABLES}
	batch := make([]mnl.Message, 0, len(msgs)+2)
	batch = append(batch, mnl.Message{Header: mnl.Header{Type: mnl.HeaderType(unix.NFNL_MSG_BATCH_BEGIN), Flags: mnl.Request}, Data: mark})
	batch = append(batch, msgs...)
	batch = append(batch, mnl.Message{Header: mnl.Header{Type: mnl.HeaderType(unix.NFNL_MSG_BATCH_END), Flags: mnl.Request}, Data: mark})
	if err := c.raw.SetReadDeadline(time.Now().Add(rawTxTimeout)); err != nil {
		return nil, err
	}
	defer c.raw.SetReadDeadline(time.Time{})
	if _, err := c.raw.SendMessages(batch); err != nil {
		return nil, err
	}
	var out []echoed
	for acks := 0; acks < len(msgs); {
		replies, err := c.raw.Receive()
		if err != nil {
			return nil, err // an error code ends the batch (aborted)
		}
		for _, m := range replies {
			switch m.Header.Type {
			case mnl.Error:
				acks++
			case newRuleType:
				if e, ok := parseEcho(m.Data); ok {
					out = append(out, e)
				}
			}
		}
	}
	return out, nil
}

// parseEcho reads a NEWRULE echo: chain, handle and fingerprint.
func parseEcho(b []byte) (echoed, bool) {
	if len(b) < 4 {
		return echoed{}, false
	}
	ad, err := mnl.NewAttributeDecoder(b[4:])
	if err != nil {
		return echoed{}, false
	}
	var e echoed
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_RULE_CHAIN:
			e.chain = strings.TrimRight(string(ad.Bytes()), "\x00")
		case unix.NFTA_RULE_HANDLE:
			e.handle = binaryutil.BigEndian.Uint64(ad.Bytes())
		case unix.NFTA_RULE_USERDATA:
			e.fp = ruleFingerprint(ad.Bytes())
		}
	}
	return e, e.handle != 0 && strings.HasPrefix(e.fp, unorderedTag)
}

// readUnordered fills an unordered chain's handles from its rules, if
// every rule is one (else the chain is refilled when wanted unordered).
func readUnordered(cs *chainSnap, rules []*nftables.Rule) {
	m := make(map[string][]uint64, len(rules))
	for _, r := range rules {
		fp := ruleFingerprint(r.UserData)
		if !strings.HasPrefix(fp, unorderedTag) {
			return
		}
		m[fp] = append(m[fp], r.Handle)
	}
	cs.rules = m
}
