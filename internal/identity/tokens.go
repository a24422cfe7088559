package identity

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Tokens are stateless: base64url(JSON claims) + "." +
// base64url(HMAC-SHA256(signing key, first part)). Every process sharing the
// KV shares the signing key and so validates every token. Revocation is the
// only state: a marker per audit id (identity/revoked/<audit id>).

// claims is the signed token payload. Names are embedded so validation
// needs no KV read.
type claims struct {
	UserID        string   `json:"u"`
	UserName      string   `json:"un"`
	UserDomain    string   `json:"ud"`
	ProjectID     string   `json:"p,omitempty"`
	ProjectName   string   `json:"pn,omitempty"`
	ProjectDomain string   `json:"pd,omitempty"`
	DomainID      string   `json:"d,omitempty"` // domain-scoped token
	Roles         []string `json:"r,omitempty"` // names, implied included
	Methods       []string `json:"m"`
	IssuedAt      int64    `json:"i"` // unix microseconds
	ExpiresAt     int64    `json:"e"` // unix microseconds
	// AuditIDs is [own audit id] or, for re-scoped tokens,
	// [own, audit id of the chain's first token].
	AuditIDs []string `json:"a"`
}

func (c *claims) expires() time.Time { return time.UnixMicro(c.ExpiresAt) }
func (c *claims) issued() time.Time  { return time.UnixMicro(c.IssuedAt) }

var b64 = base64.RawURLEncoding

func (k *Keystone) sign(c *claims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	n := b64.EncodedLen(len(payload))
	buf := make([]byte, n+1+b64.EncodedLen(sha256.Size))
	b64.Encode(buf, payload)
	buf[n] = '.'
	m := hmac.New(sha256.New, k.key)
	m.Write(buf[:n])
	b64.Encode(buf[n+1:], m.Sum(nil))
	return string(buf), nil
}

// parse checks the signature and decodes the claims; it does not check
// expiry or revocation.
func (k *Keystone) parse(tok string) (*claims, error) {
	i := strings.IndexByte(tok, '.')
	if i <= 0 || b64.DecodedLen(len(tok)-i-1) != sha256.Size {
		return nil, fmt.Errorf("%w: malformed token", ErrUnauthorized)
	}
	var sig [sha256.Size]byte
	if n, err := b64.Decode(sig[:], []byte(tok[i+1:])); err != nil || n != sha256.Size {
		return nil, fmt.Errorf("%w: malformed token", ErrUnauthorized)
	}
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte(tok[:i]))
	if !hmac.Equal(m.Sum(nil), sig[:]) {
		return nil, fmt.Errorf("%w: bad token signature", ErrUnauthorized)
	}
	payload, err := b64.DecodeString(tok[:i])
	if err != nil {
		return nil, fmt.Errorf("%w: malformed token", ErrUnauthorized)
	}
	c := new(claims)
	if err := json.Unmarshal(payload, c); err != nil || c.UserID == "" || len(c.AuditIDs) == 0 {
		return nil, fmt.Errorf("%w: malformed token", ErrUnauthorized)
	}
	return c, nil
}

// validate returns the claims of a valid (well signed, unexpired, not
// revoked) token of any scope.
func (k *Keystone) validate(ctx context.Context, tok string) (*claims, error) {
	c, err := k.parse(tok)
	if err != nil {
		return nil, err
	}
	now := k.now()
	if !now.Before(c.expires()) {
		return nil, fmt.Errorf("%w: token expired", ErrUnauthorized)
	}
	revoked, err := k.isRevoked(ctx, c.AuditIDs[0], now)
	if err != nil {
		return nil, err
	}
	if revoked {
		return nil, fmt.Errorf("%w: token revoked", ErrUnauthorized)
	}
	if err := k.checkSubject(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// checkSubject refuses tokens whose user was deleted, disabled or had its
// password or roles changed since, and tokens scoped to a project or domain
// that was deleted or disabled, as keystone revokes those tokens.
func (k *Keystone) checkSubject(ctx context.Context, c *claims) error {
	u, ok, err := k.userByID(ctx, c.UserID)
	if err != nil {
		return err
	}
	// <=: a change and a token in the same microsecond, the token loses.
	if !ok || u.Disabled || c.IssuedAt <= u.TokensAfter {
		return fmt.Errorf("%w: user deleted, disabled or changed", ErrUnauthorized)
	}
	domains := []string{u.DomainID}
	if c.ProjectID != "" {
		p, ok, err := k.projectByID(ctx, c.ProjectID)
		if err != nil {
			return err
		}
		if !ok || p.Disabled {
			return fmt.Errorf("%w: project deleted or disabled", ErrUnauthorized)
		}
		domains = append(domains, p.DomainID)
	}
	if c.DomainID != "" {
		domains = append(domains, c.DomainID)
	}
	for _, id := range domains {
		d, ok, err := k.domainByID(ctx, id)
		if err != nil {
			return err
		}
		if !ok || d.Disabled {
			return fmt.Errorf("%w: domain deleted or disabled", ErrUnauthorized)
		}
	}
	return nil
}

// issue signs a new token for the user with the given scope and roles.
// parent is the token being re-scoped, or nil.
func (k *Keystone) issue(c claims, parent *claims) (string, *claims, error) {
	now := k.now()
	c.IssuedAt = now.UnixMicro()
	audit := newAuditID()
	if parent == nil {
		c.ExpiresAt = now.Add(k.opts.TokenTTL).UnixMicro()
		c.AuditIDs = []string{audit}
	} else {
		// Like keystone: a re-scoped token keeps its parent's expiry
		// and audit chain.
		c.ExpiresAt = parent.ExpiresAt
		c.AuditIDs = []string{audit, parent.AuditIDs[len(parent.AuditIDs)-1]}
		c.Methods = mergeMethods(parent.Methods, c.Methods)
	}
	tok, err := k.sign(&c)
	return tok, &c, err
}

func mergeMethods(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, m := range b {
		found := false
		for _, x := range out {
			found = found || x == m
		}
		if !found {
			out = append(out, m)
		}
	}
	return out
}

// revoke marks the token's audit id revoked, in the KV (for every process)
// and in this process's cache.
func (k *Keystone) revoke(ctx context.Context, c *claims) error {
	val, err := json.Marshal(map[string]int64{"expires_at": c.expires().Unix()})
	if err != nil {
		return err
	}
	if _, err := k.kv.Create(ctx, keyPrefix+"revoked/"+esc(c.AuditIDs[0]), val); err != nil {
		return err
	}
	k.revoked.put(c.AuditIDs[0], true, c.expires(), k.now())
	return nil
}

// KVWatcher is implemented by a KV that follows changes made by other
// processes (the server's etcd store, through its watch). Keystone then
// learns of revocations made elsewhere as they arrive instead of
// trusting a cached "not revoked" for RevocationCacheTTL.
type KVWatcher interface {
	// OnCreate calls fn for every key under prefix: those present now and
	// each one written later, by any process, before a read of the KV
	// can see it. fn must be quick and must not call the KV.
	OnCreate(prefix string, fn func(key string, val []byte))
}

// followRevocations feeds revocations from a KVWatcher into the cache.
func (k *Keystone) followRevocations() {
	w, ok := k.kv.(KVWatcher)
	if !ok {
		return
	}
	prefix := keyPrefix + "revoked/"
	w.OnCreate(prefix, func(key string, _ []byte) {
		audit, err := url.PathUnescape(strings.TrimPrefix(key, prefix))
		if err != nil {
			return
		}
		now := k.now()
		k.revoked.put(audit, true, now.Add(k.opts.TokenTTL), now)
	})
}

func (k *Keystone) isRevoked(ctx context.Context, audit string, now time.Time) (bool, error) {
	if revoked, ok := k.revoked.get(audit, now); ok {
		return revoked, nil
	}
	_, found, err := k.kv.Get(ctx, keyPrefix+"revoked/"+esc(audit))
	if err != nil {
		return false, err
	}
	until := now.Add(k.opts.RevocationCacheTTL)
	if found {
		until = now.Add(k.opts.TokenTTL) // outlives any token with this audit id
	}
	k.revoked.put(audit, found, until, now)
	return found, nil
}

// revocationCache remembers, per audit id, whether it is revoked, until a
// deadline. It is bounded: when full, expired entries are dropped, and if
// that is not enough the whole cache is.
type revocationCache struct {
	mu  sync.RWMutex
	max int
	m   map[string]revocationEntry
}

type revocationEntry struct {
	revoked bool
	until   time.Time
}

func newRevocationCache(max int) *revocationCache {
	return &revocationCache{max: max, m: make(map[string]revocationEntry)}
}

func (c *revocationCache) get(audit string, now time.Time) (revoked, ok bool) {
	c.mu.RLock()
	e, ok := c.m[audit]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return false, false
	}
	return e.revoked, true
}

func (c *revocationCache) put(audit string, revoked bool, until, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for a, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, a)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m)
		}
	}
	c.m[audit] = revocationEntry{revoked: revoked, until: until}
}

// newAuditID returns a keystone-style audit id: 16 random bytes, base64url.
func newAuditID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return b64.EncodeToString(b[:])
}
