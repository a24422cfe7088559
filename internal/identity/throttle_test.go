package identity

import (
	"net/http"
	"testing"
	"time"
)

// After lockout_failure_attempts wrong passwords, even the right one is
// refused (401, as keystone's AccountLocked) until lockout_duration has
// passed since the last failure; unknown users are locked alike.
func TestPasswordLockout(t *testing.T) {
	e := newEnv(t, nil, func(o *KeystoneOptions) {
		o.LockoutFailureAttempts, o.LockoutDuration = 3, time.Minute
	})
	demo := e.ks.Credentials().Demo
	try := func(user, pw string) int {
		return e.do(t, "POST", "/v3/auth/tokens", "", "", passwordAuth(user, pw, "")).code
	}
	// A success resets the streak.
	try("demo", "wrong")
	try("demo", "wrong")
	if c := try("demo", demo.Password); c != http.StatusCreated {
		t.Fatalf("right password after 2 failures: %d", c)
	}
	for i := 0; i < 3; i++ {
		if c := try("demo", "wrong"); c != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", c)
		}
	}
	if c := try("demo", demo.Password); c != http.StatusUnauthorized {
		t.Fatalf("right password while locked: %d, want 401", c)
	}
	// Locking one user does not lock another.
	admin := e.ks.Credentials().Admin
	if c := try("admin", admin.Password); c != http.StatusCreated {
		t.Fatalf("other user: %d", c)
	}
	e.clock.Advance(59 * time.Second)
	if c := try("demo", demo.Password); c != http.StatusUnauthorized {
		t.Fatalf("right password before the lock expired: %d", c)
	}
	e.clock.Advance(time.Second)
	if c := try("demo", demo.Password); c != http.StatusCreated {
		t.Fatalf("right password after the lock expired: %d", c)
	}
	// An unknown name is checked (and so costs) like a known one.
	before := passwordChecks.Load()
	for i := 0; i < 4; i++ {
		try("nobody", "guess")
	}
	if n := passwordChecks.Load() - before; n != 3 {
		t.Errorf("unknown user: %d password checks for 4 attempts, want 3 (then locked)", n)
	}
}

// An unknown user costs one password verification, like a known user
// with a wrong password (no user enumeration by timing).
func TestUnknownUserRunsPasswordCheck(t *testing.T) {
	e := newEnv(t, nil)
	for _, auth := range []map[string]any{
		passwordAuth("demo", "wrong", ""),
		passwordAuth("no-such-user", "wrong", ""),
		{"auth": map[string]any{"identity": map[string]any{"methods": []string{"password"},
			"password": map[string]any{"user": map[string]any{"id": "0123456789abcdef0123456789abcdef", "password": "x"}}}}},
		{"auth": map[string]any{"identity": map[string]any{"methods": []string{"password"},
			"password": map[string]any{"user": map[string]any{"name": "demo", "domain": map[string]any{"name": "nodomain"}, "password": "x"}}}}},
	} {
		before := passwordChecks.Load()
		if r := e.do(t, "POST", "/v3/auth/tokens", "", "", auth); r.code != http.StatusUnauthorized {
			t.Fatalf("%v: %d", auth, r.code)
		}
		if n := passwordChecks.Load() - before; n != 1 {
			t.Errorf("%v: %d password checks, want 1", auth, n)
		}
	}
}
