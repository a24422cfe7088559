package identity

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// UserCredentials are what a client needs to log in as one bootstrap user.
type UserCredentials struct {
	UserID      string
	UserName    string
	Password    string
	ProjectID   string
	ProjectName string
}

// Credentials are the bootstrap users, as written to the openrc files.
type Credentials struct {
	Region string
	Admin  UserCredentials // user "admin", role admin on project "admin"
	Demo   UserCredentials // user "demo", role member on project "demo"
}

// bootstrapSecrets is stored under identity/bootstrap.
type bootstrapSecrets struct {
	AdminPassword string `json:"admin_password"`
	DemoPassword  string `json:"demo_password"`
}

// bootstrap creates, unless they exist, the signing key, the default domain,
// the roles admin, member, reader and service, the projects admin, demo and
// service, and the users admin (admin on project admin and on the default
// domain) and demo (member on project demo). NewKeystone runs it once,
// before the Keystone is used.
//
// Every step is a KV.Create whose winner everybody then reads, so server
// processes bootstrapping concurrently on one KV converge on the same
// records, key and passwords.
//
// Passwords: the admin and demo passwords are generated randomly (32
// URL-safe characters) and the users store only PBKDF2 hashes, but the
// plaintext pair is ALSO kept in the KV under identity/bootstrap. This is
// the all-in-one development default (devstack similarly writes its
// passwords into openrc files): it lets every server process, including
// those whose Create lost the race or that restart later, return the same
// Credentials and (re)write the openrc files. Whoever can read the KV
// (etcd) is therefore an admin of this cloud; protect it accordingly.
func (k *Keystone) bootstrap(ctx context.Context) (Credentials, error) {
	if err := k.bootstrapKey(ctx); err != nil {
		return Credentials{}, err
	}
	fresh, err := json.Marshal(bootstrapSecrets{AdminPassword: randomPassword(), DemoPassword: randomPassword()})
	if err != nil {
		return Credentials{}, err
	}
	stored, err := k.create(ctx, keyPrefix+"bootstrap", fresh)
	if err != nil {
		return Credentials{}, fmt.Errorf("identity: bootstrap: %w", err)
	}
	var secrets bootstrapSecrets
	if err := json.Unmarshal(stored, &secrets); err != nil {
		return Credentials{}, fmt.Errorf("identity: corrupt bootstrap record: %w", err)
	}

	dom, err := json.Marshal(domainRecord{ID: DefaultDomainID, Name: DefaultDomainName, Description: "The default domain"})
	if err != nil {
		return Credentials{}, err
	}
	if stored, err = k.create(ctx, keyPrefix+"domains/"+DefaultDomainID, dom); err != nil {
		return Credentials{}, fmt.Errorf("identity: bootstrap: %w", err)
	}
	if err := json.Unmarshal(stored, &k.domain); err != nil {
		return Credentials{}, fmt.Errorf("identity: corrupt domain record: %w", err)
	}

	for _, r := range []string{"admin", "member", "reader", "service"} {
		if _, err := k.ensureRole(ctx, r); err != nil {
			return Credentials{}, fmt.Errorf("identity: bootstrap: %w", err)
		}
	}
	if _, err := k.ensureProject(ctx, "service"); err != nil {
		return Credentials{}, fmt.Errorf("identity: bootstrap: %w", err)
	}
	creds := Credentials{Region: k.opts.Region}
	for _, u := range []struct {
		dst                 *UserCredentials
		name, pass, project string
		role                string
	}{
		{&creds.Admin, "admin", secrets.AdminPassword, "admin", "admin"},
		{&creds.Demo, "demo", secrets.DemoPassword, "demo", "member"},
	} {
		uid, pid, err := k.EnsureUser(ctx, u.name, u.pass, u.project, u.role)
		if err != nil {
			return Credentials{}, fmt.Errorf("identity: bootstrap: %w", err)
		}
		*u.dst = UserCredentials{UserID: uid, UserName: u.name, Password: u.pass, ProjectID: pid, ProjectName: u.project}
	}
	adminRole, err := k.ensureRole(ctx, "admin")
	if err != nil {
		return Credentials{}, err
	}
	if err := k.grant(ctx, creds.Admin.UserID, domainTarget(DefaultDomainID), adminRole.ID); err != nil {
		return Credentials{}, fmt.Errorf("identity: bootstrap: %w", err)
	}
	k.creds = creds
	return creds, nil
}

func (k *Keystone) bootstrapKey(ctx context.Context) error {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	stored, err := k.create(ctx, keyPrefix+"signing-key", []byte(hex.EncodeToString(b)))
	if err != nil {
		return fmt.Errorf("identity: bootstrap signing key: %w", err)
	}
	key, err := hex.DecodeString(string(stored))
	if err != nil || len(key) < 32 {
		return fmt.Errorf("identity: corrupt signing key in KV")
	}
	k.key = key
	return nil
}
