package identity

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Password guessing defences of the built-in Keystone.
//
// Lockout follows keystone's [security_compliance] lockout_failure_attempts
// and lockout_duration: after that many failed password authentications
// in a row, a user cannot authenticate with a password (not even the
// right one) until lockout_duration has passed since the last failure; a
// success resets the count. Like keystone's AccountLocked, the refusal is
// a 401; unlike keystone it carries the usual 401 message, and unknown
// user names are counted and locked the same way, so neither the answer
// nor the lockout tells whether a user exists. Counts live in each server
// process (keystone keeps them in its database): behind a load balancer
// of n servers a guesser gets up to n times the attempts.
//
// Timing: a password check costs one PBKDF2 derivation, so an unknown
// user is checked against a dummy hash with the same parameters; both
// paths cost the same.

// lockout counts consecutive failures per user key.
type lockout struct {
	attempts int
	duration time.Duration
	max      int

	mu sync.Mutex
	m  map[string]failures
}

type failures struct {
	count int
	last  time.Time
}

func newLockout(attempts int, duration time.Duration, max int) *lockout {
	if duration <= 0 {
		duration = 30 * time.Minute // keystone's default lockout_duration
	}
	return &lockout{attempts: attempts, duration: duration, max: max, m: make(map[string]failures)}
}

// locked reports whether key may not try a password now.
func (l *lockout) locked(key string, now time.Time) bool {
	if l.attempts <= 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.m[key]
	if !ok {
		return false
	}
	if !now.Before(f.last.Add(l.duration)) {
		delete(l.m, key) // the lock (or the streak) has expired
		return false
	}
	return f.count >= l.attempts
}

func (l *lockout) fail(key string, now time.Time) {
	if l.attempts <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.m[key]; !ok && len(l.m) >= l.max {
		// Bounded memory: drop expired streaks; if that is not enough
		// (a flood of distinct names), start over.
		for k, f := range l.m {
			if !now.Before(f.last.Add(l.duration)) {
				delete(l.m, k)
			}
		}
		if len(l.m) >= l.max {
			clear(l.m)
		}
	}
	f := l.m[key]
	l.m[key] = failures{count: f.count + 1, last: now}
}

func (l *lockout) success(key string) {
	if l.attempts <= 0 {
		return
	}
	l.mu.Lock()
	delete(l.m, key)
	l.mu.Unlock()
}

// dummyHash is checked for unknown users; made once, with the same
// parameters as real hashes.
var dummyHash = sync.OnceValue(func() string {
	h, err := hashPassword(randomPassword())
	if err != nil {
		panic(err)
	}
	return h
})

// passwordChecks counts PBKDF2 verifications (tests use it to see that
// unknown users are verified too).
var passwordChecks atomic.Int64

// authenticatePassword checks a password authentication against the user
// referenced by id or by name in domainID (empty domainID: the domain is
// unknown, so is the user). ok is false for unknown users, wrong
// passwords and locked users alike.
func (k *Keystone) authenticatePassword(ctx context.Context, id, domainID, name, password string) (userRecord, bool, error) {
	var u userRecord
	var found bool
	var err error
	key := "id:" + id
	if id != "" {
		u, found, err = k.userByID(ctx, id)
	} else {
		key = "name:" + domainID + "/" + name
		if domainID != "" {
			u, found, err = k.userByName(ctx, domainID, name)
		}
	}
	if err != nil {
		return u, false, err
	}
	if found {
		key = "id:" + u.ID // one count per user, however it is named
	}
	now := k.now()
	if k.guard.locked(key, now) {
		return u, false, nil
	}
	hash := dummyHash()
	if found {
		hash = u.PasswordHash
	}
	passwordChecks.Add(1)
	if !checkPassword(hash, password) || !found {
		k.guard.fail(key, now)
		return u, false, nil
	}
	k.guard.success(key)
	return u, true, nil
}
