package identity

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// KV is the small slice of the store identity needs; the server adapts its
// etcd store to it.
type KV interface {
	Get(ctx context.Context, key string) (val []byte, ok bool, err error)
	// Create writes key only if it does not exist; it returns the value
	// that is stored afterwards (the existing one if another writer won).
	Create(ctx context.Context, key string, val []byte) (stored []byte, err error)
}

// KVDeleter is implemented by KVs that can delete a key. Bootstrap uses
// it to remove the plaintext secrets older versions kept in the KV.
type KVDeleter interface {
	Delete(ctx context.Context, key string) error
}

// KeystoneOptions configures the built-in Keystone.
type KeystoneOptions struct {
	// PublicURL is the network endpoint put in the catalog (unversioned),
	// e.g. "http://127.0.0.1:9696". Required.
	PublicURL string
	// IdentityURL is the base of the identity service, e.g.
	// "http://127.0.0.1:9696/identity". Default PublicURL + "/identity".
	IdentityURL string
	// Key is the master key (MasterKeySize bytes, from LoadKeyFile or
	// LoadOrGenerateKeyFile). Required; every process sharing the KV
	// needs the same one.
	Key []byte
	// LockoutFailureAttempts and LockoutDuration throttle password
	// guessing (see throttle.go). 0 attempts = no lockout.
	LockoutFailureAttempts int
	LockoutDuration        time.Duration
	// Region is the catalog region. Default "RegionOne".
	Region string
	// TokenTTL is the token lifetime. Default 1h (keystone's default).
	TokenTTL time.Duration
	// Now is the clock (for tests). Default time.Now.
	Now func() time.Time
	// RevocationCacheTTL is how long a "token not revoked" answer read
	// from the KV is trusted. Revocations made through this process are
	// seen at once, those made through another process sharing the KV
	// within this delay, unless the KV is a KVWatcher: then they are seen
	// as soon as its watch delivers them. Default 10s.
	RevocationCacheTTL time.Duration
}

// Default domain, as created by keystone-manage bootstrap.
const (
	DefaultDomainID   = "default"
	DefaultDomainName = "Default"
)

// KV layout. Roles, list slots and revocations are written once with
// KV.Create and never changed, so they may be cached forever (except the
// revocation "absent" answers, see revocationCache). Domains, projects,
// users and assignments change through the admin API (admin.go), in
// KVUpdater transactions that keep their name and id copies together, and
// are never cached.
//
//	identity/bootstrap-sealed                bootstrap passwords (JSON), sealed (keys.go)
//	identity/domains/<id>                    domain JSON
//	identity/domain-names/<lower-case name>  domain id
//	identity/projects/name/<domain>/<name>   project JSON (authoritative, first writer wins)
//	identity/projects/id/<id>                copy of the project JSON
//	identity/projects/list/<n>               project id (append-only list, n = 0, 1, ...)
//	identity/users/name/<domain>/<name>      user JSON incl. password hash
//	identity/users/id/<id>                   copy of the user JSON
//	identity/users/list/<n>                  user id
//	identity/roles/name/<name>               role JSON
//	identity/roles/id/<id>                   copy of the role JSON
//	identity/roles/list/<n>                  role id
//	identity/assignments/<user>/<target>/<role>  "{}"; target = project id or "domain:<id>"
//	identity/revoked/<audit id>              JSON {"expires_at": unix seconds}
//
// Names in keys are url.PathEscape'd.
const keyPrefix = "identity/"

type domainRecord struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Disabled    bool   `json:"disabled,omitempty"`
}

type projectRecord struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	DomainID    string   `json:"domain_id"`
	Description string   `json:"description"`
	Disabled    bool     `json:"disabled,omitempty"`
	Tags        []string `json:"tags,omitempty"`
}

type userRecord struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	DomainID         string `json:"domain_id"`
	PasswordHash     string `json:"password_hash"`
	Disabled         bool   `json:"disabled,omitempty"`
	DefaultProjectID string `json:"default_project_id,omitempty"`
	Email            string `json:"email,omitempty"`
	Description      string `json:"description,omitempty"`
	// TokensAfter (unix microseconds): tokens of this user issued
	// before it are refused. A password change, disabling the user and
	// losing a role move it, as keystone revokes tokens then.
	TokensAfter int64 `json:"tokens_after,omitempty"`
}

type roleRecord struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (r projectRecord) recordID() string { return r.ID }
func (r userRecord) recordID() string    { return r.ID }
func (r roleRecord) recordID() string    { return r.ID }

// Keystone is the built-in Keystone v3 subset. It is safe for concurrent use
// and several Keystones (in several processes) may share one KV.
type Keystone struct {
	kv    KV
	opts  KeystoneOptions
	key   []byte // token signing key, derived from opts.Key
	seals *keys
	guard *lockout
	creds Credentials

	revoked *revocationCache

	mu    sync.RWMutex
	cache map[string][]byte   // immutable KV values by key
	lists map[string][]string // list prefix -> ids known so far
}

// NewKeystone returns a ready Keystone. It bootstraps the KV first (with a
// 1 minute timeout): signing key, default domain, roles, projects and the
// admin and demo users are created unless present. Bootstrapping is
// idempotent and race-free, so several processes may start concurrently on
// one KV; they all end up with the same data and the same Credentials. See
// Credentials for how the bootstrap passwords are kept.
func NewKeystone(kv KV, opts KeystoneOptions) (*Keystone, error) {
	if kv == nil {
		return nil, errors.New("identity: nil KV")
	}
	if opts.PublicURL == "" {
		return nil, errors.New("identity: KeystoneOptions.PublicURL is required")
	}
	opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	if opts.IdentityURL == "" {
		opts.IdentityURL = opts.PublicURL + "/identity"
	}
	opts.IdentityURL = strings.TrimRight(opts.IdentityURL, "/")
	if opts.Region == "" {
		opts.Region = "RegionOne"
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	derived, err := deriveKeys(opts.Key)
	if err != nil {
		return nil, err
	}
	if opts.RevocationCacheTTL <= 0 {
		opts.RevocationCacheTTL = 10 * time.Second
	}
	k := &Keystone{
		kv:      kv,
		opts:    opts,
		key:     derived.token,
		seals:   derived,
		guard:   newLockout(opts.LockoutFailureAttempts, opts.LockoutDuration, 100000),
		revoked: newRevocationCache(100000),
		cache:   make(map[string][]byte),
		lists:   make(map[string][]string),
	}
	k.followRevocations()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := k.bootstrap(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// Credentials returns the credentials of the bootstrap users admin and demo,
// the same in every process sharing the KV and key (see bootstrap for how
// the passwords are kept); pass them to WriteOpenRC.
func (k *Keystone) Credentials() Credentials { return k.creds }

// WWWAuthenticate is the value for the WWW-Authenticate header of 401
// answers, as keystonemiddleware sends it.
func (k *Keystone) WWWAuthenticate() string {
	return `Keystone uri="` + k.opts.IdentityURL + `"`
}

func (k *Keystone) now() time.Time { return k.opts.Now() }

// Authenticate validates the X-Auth-Token header: signature, expiry,
// revocation and project scope. The roles include implied ones.
func (k *Keystone) Authenticate(r *http.Request) (*Context, error) {
	tok := r.Header.Get("X-Auth-Token")
	if tok == "" {
		return nil, fmt.Errorf("%w: no X-Auth-Token", ErrUnauthorized)
	}
	c, err := k.validate(r.Context(), tok)
	if err != nil {
		return nil, err
	}
	if c.ProjectID == "" {
		return nil, fmt.Errorf("%w: token is not project scoped", ErrUnauthorized)
	}
	return &Context{
		UserID:      c.UserID,
		UserName:    c.UserName,
		ProjectID:   c.ProjectID,
		ProjectName: c.ProjectName,
		DomainID:    c.ProjectDomain,
		Roles:       c.Roles,
		AuthToken:   tok,
	}, nil
}

// EnsureUser makes sure user name exists in the default domain with the
// given password, that project projectName exists, and that the user has
// the roles (default "member") on it; missing roles are created. It is
// idempotent and race-free. An existing user keeps its password: if it
// does not match password, EnsureUser fails.
func (k *Keystone) EnsureUser(ctx context.Context, name, password, projectName string, roles ...string) (userID, projectID string, err error) {
	if name == "" || password == "" || projectName == "" {
		return "", "", errors.New("identity: EnsureUser needs a name, a password and a project")
	}
	if len(roles) == 0 {
		roles = []string{"member"}
	}
	p, err := k.ensureProject(ctx, projectName)
	if err != nil {
		return "", "", err
	}
	u, err := k.ensureUser(ctx, name, password)
	if err != nil {
		return "", "", err
	}
	for _, rn := range roles {
		role, err := k.ensureRole(ctx, rn)
		if err != nil {
			return "", "", err
		}
		if err := k.grant(ctx, u.ID, p.ID, role.ID); err != nil {
			return "", "", err
		}
	}
	return u.ID, p.ID, nil
}

// ---- KV helpers -----------------------------------------------------------

func esc(s string) string { return url.PathEscape(s) }

// get reads an immutable key, caching found values.
func (k *Keystone) get(ctx context.Context, key string) ([]byte, bool, error) {
	k.mu.RLock()
	v, ok := k.cache[key]
	k.mu.RUnlock()
	if ok {
		return v, true, nil
	}
	v, ok, err := k.kv.Get(ctx, key)
	if err != nil || !ok {
		return nil, false, err
	}
	if cacheable(key) {
		k.remember(key, v)
	}
	return v, true, nil
}

// create writes an immutable key if absent and returns the stored value.
func (k *Keystone) create(ctx context.Context, key string, val []byte) ([]byte, error) {
	stored, err := k.kv.Create(ctx, key, val)
	if err != nil {
		return nil, err
	}
	if cacheable(key) {
		k.remember(key, stored)
	}
	return stored, nil
}

func (k *Keystone) remember(key string, v []byte) {
	k.mu.Lock()
	k.cache[key] = v
	k.mu.Unlock()
}

func getJSON[T any](ctx context.Context, k *Keystone, key string) (T, bool, error) {
	var out T
	v, ok, err := k.get(ctx, key)
	if err != nil || !ok {
		return out, false, err
	}
	if err := json.Unmarshal(v, &out); err != nil {
		return out, false, fmt.Errorf("identity: corrupt record %s: %w", key, err)
	}
	return out, true, nil
}

// ensureRecord creates the record under nameKey unless one exists (the
// first writer wins), mirrors the winner under <kind>/id/<id> and appends
// its id to <kind>/list. fresh is only called when the name is unknown.
func ensureRecord[T interface{ recordID() string }](ctx context.Context, k *Keystone, kind, nameKey string, fresh func() (T, error)) (T, error) {
	var zero T
	stored, ok, err := k.get(ctx, nameKey)
	if err != nil {
		return zero, err
	}
	if !ok {
		rec, err := fresh()
		if err != nil {
			return zero, err
		}
		data, err := json.Marshal(rec)
		if err != nil {
			return zero, err
		}
		if stored, err = k.create(ctx, nameKey, data); err != nil {
			return zero, err
		}
	}
	var rec T
	if err := json.Unmarshal(stored, &rec); err != nil {
		return zero, fmt.Errorf("identity: corrupt record %s: %w", nameKey, err)
	}
	// Both steps are idempotent and every process writes the same
	// values, so a crash between them is repaired by the next call.
	if _, err := k.create(ctx, keyPrefix+kind+"/id/"+esc(rec.recordID()), stored); err != nil {
		return zero, err
	}
	if err := k.appendOnce(ctx, keyPrefix+kind+"/list/", rec.recordID()); err != nil {
		return zero, err
	}
	return rec, nil
}

// list returns the ids of the append-only list under prefix.
func (k *Keystone) list(ctx context.Context, prefix string) ([]string, error) {
	k.mu.RLock()
	ids := append([]string(nil), k.lists[prefix]...)
	k.mu.RUnlock()
	for {
		v, ok, err := k.get(ctx, prefix+strconv.Itoa(len(ids)))
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		ids = append(ids, string(v))
	}
	k.mu.Lock()
	if len(ids) > len(k.lists[prefix]) {
		k.lists[prefix] = ids
	}
	k.mu.Unlock()
	return ids, nil
}

// appendOnce adds id to the list under prefix unless it is there. Create
// on the first free slot makes concurrent appends safe: a loser re-reads
// the slot and carries on after it.
func (k *Keystone) appendOnce(ctx context.Context, prefix, id string) error {
	ids, err := k.list(ctx, prefix)
	if err != nil {
		return err
	}
	for {
		for _, x := range ids {
			if x == id {
				return nil
			}
		}
		if _, err := k.create(ctx, prefix+strconv.Itoa(len(ids)), []byte(id)); err != nil {
			return err
		}
		if ids, err = k.list(ctx, prefix); err != nil {
			return err
		}
	}
}

// ---- records ---------------------------------------------------------------

func projectNameKey(domainID, name string) string {
	return keyPrefix + "projects/name/" + esc(domainID) + "/" + esc(name)
}
func userNameKey(domainID, name string) string {
	return keyPrefix + "users/name/" + esc(domainID) + "/" + esc(name)
}
func roleNameKey(name string) string { return keyPrefix + "roles/name/" + esc(name) }
func assignmentKey(userID, target, roleID string) string {
	return keyPrefix + "assignments/" + esc(userID) + "/" + esc(target) + "/" + esc(roleID)
}
func domainTarget(domainID string) string { return "domain:" + domainID }

func (k *Keystone) ensureProject(ctx context.Context, name string) (projectRecord, error) {
	return ensureRecord(ctx, k, "projects", projectNameKey(DefaultDomainID, name), func() (projectRecord, error) {
		return projectRecord{ID: newID(), Name: name, DomainID: DefaultDomainID, Description: "Bootstrap project " + name}, nil
	})
}

func (k *Keystone) ensureUser(ctx context.Context, name, password string) (userRecord, error) {
	var ours string
	u, err := ensureRecord(ctx, k, "users", userNameKey(DefaultDomainID, name), func() (userRecord, error) {
		h, err := hashPassword(password)
		ours = h
		return userRecord{ID: newID(), Name: name, DomainID: DefaultDomainID, PasswordHash: h}, err
	})
	if err != nil {
		return u, err
	}
	// Skip the (deliberately slow) check when our own hash won.
	if u.PasswordHash != ours && !checkPassword(u.PasswordHash, password) {
		return u, fmt.Errorf("identity: user %q already exists with another password", name)
	}
	return u, nil
}

func (k *Keystone) ensureRole(ctx context.Context, name string) (roleRecord, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		return roleRecord{}, errors.New("identity: empty role name")
	}
	return ensureRecord(ctx, k, "roles", roleNameKey(name), func() (roleRecord, error) {
		return roleRecord{ID: newID(), Name: name}, nil
	})
}

func (k *Keystone) grant(ctx context.Context, userID, target, roleID string) error {
	_, err := k.create(ctx, assignmentKey(userID, target, roleID), []byte("{}"))
	return err
}

func (k *Keystone) projectByID(ctx context.Context, id string) (projectRecord, bool, error) {
	return getJSON[projectRecord](ctx, k, keyPrefix+"projects/id/"+esc(id))
}
func (k *Keystone) projectByName(ctx context.Context, domainID, name string) (projectRecord, bool, error) {
	return getJSON[projectRecord](ctx, k, projectNameKey(domainID, name))
}
func (k *Keystone) userByID(ctx context.Context, id string) (userRecord, bool, error) {
	return getJSON[userRecord](ctx, k, keyPrefix+"users/id/"+esc(id))
}
func (k *Keystone) userByName(ctx context.Context, domainID, name string) (userRecord, bool, error) {
	return getJSON[userRecord](ctx, k, userNameKey(domainID, name))
}
func (k *Keystone) roleByID(ctx context.Context, id string) (roleRecord, bool, error) {
	return getJSON[roleRecord](ctx, k, keyPrefix+"roles/id/"+esc(id))
}
func (k *Keystone) roleByName(ctx context.Context, name string) (roleRecord, bool, error) {
	return getJSON[roleRecord](ctx, k, roleNameKey(name))
}

// rolesOn returns the role names (implied ones included) user has on
// target (a project id or domainTarget(id)).
func (k *Keystone) rolesOn(ctx context.Context, userID, target string) ([]string, error) {
	roleIDs, err := k.list(ctx, keyPrefix+"roles/list/")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, rid := range roleIDs {
		_, ok, err := k.get(ctx, assignmentKey(userID, target, rid))
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		role, ok, err := k.roleByID(ctx, rid)
		if err != nil {
			return nil, err
		}
		if ok {
			names = append(names, role.Name)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	return expandRoles(names), nil
}

// resolveDomain maps a {"id"} or {"name"} domain reference (nil: the
// default domain) to an enabled domain.
func (k *Keystone) resolveDomain(ctx context.Context, ref *nameID) (domainRecord, bool, error) {
	var d domainRecord
	var ok bool
	var err error
	switch {
	case ref == nil:
		d, ok, err = k.domainByID(ctx, DefaultDomainID)
	case ref.ID != "":
		d, ok, err = k.domainByID(ctx, ref.ID)
	default:
		d, ok, err = k.domainByName(ctx, ref.Name)
	}
	if err != nil || !ok || d.Disabled {
		return domainRecord{}, false, err
	}
	return d, true, nil
}

func (k *Keystone) domainByID(ctx context.Context, id string) (domainRecord, bool, error) {
	return getJSON[domainRecord](ctx, k, keyPrefix+"domains/"+esc(id))
}

func (k *Keystone) domainByName(ctx context.Context, name string) (domainRecord, bool, error) {
	id, ok, err := k.get(ctx, domainNameKey(name))
	if err != nil || !ok {
		return domainRecord{}, false, err
	}
	return k.domainByID(ctx, string(id))
}

func domainNameKey(name string) string {
	return keyPrefix + "domain-names/" + esc(strings.ToLower(name))
}

// newID returns a keystone-style id: a random (version 4) UUID in 32
// lower-case hex digits.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b[:])
}
