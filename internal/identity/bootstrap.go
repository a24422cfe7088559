package identity

import (
	"context"
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

// bootstrapSecrets is stored sealed under identity/bootstrap-sealed.
type bootstrapSecrets struct {
	AdminPassword string `json:"admin_password"`
	DemoPassword  string `json:"demo_password"`
}

// bootstrap creates, unless they exist, the default domain,
// the roles admin, member, reader and service, the projects admin, demo and
// service, and the users admin (admin on project admin and on the default
// domain) and demo (member on project demo). NewKeystone runs it once,
// before the Keystone is used.
//
// Every step is a KV.Create whose winner everybody then reads, so server
// processes bootstrapping concurrently on one KV converge on the same
// records and passwords.
//
// Passwords: the admin and demo passwords are generated randomly (32
// URL-safe characters) and the users store only PBKDF2 hashes. The
// plaintext pair is also kept in the KV, sealed with the master key
// (identity/bootstrap-sealed), so that every server process, including
// those whose Create lost the race or that restart later, returns the same
// Credentials and (re)writes the openrc files, while a reader of etcd
// without the key file learns nothing.
func (k *Keystone) bootstrap(ctx context.Context) (Credentials, error) {
	secrets, err := k.bootstrapSecrets(ctx)
	if err != nil {
		return Credentials{}, err
	}

	dom, err := json.Marshal(domainRecord{ID: DefaultDomainID, Name: DefaultDomainName, Description: "The default domain"})
	if err != nil {
		return Credentials{}, err
	}
	stored, err := k.create(ctx, keyPrefix+"domains/"+DefaultDomainID, dom)
	if err != nil {
		return Credentials{}, fmt.Errorf("identity: bootstrap: %w", err)
	}
	var domain domainRecord
	if err := json.Unmarshal(stored, &domain); err != nil {
		return Credentials{}, fmt.Errorf("identity: corrupt domain record: %w", err)
	}
	// The name index (older versions had none; an admin may have renamed
	// the domain since, then its record has the new name).
	if _, err := k.create(ctx, domainNameKey(domain.Name), []byte(domain.ID)); err != nil {
		return Credentials{}, fmt.Errorf("identity: bootstrap: %w", err)
	}
	if err := k.appendOnce(ctx, domainListPrefix, domain.ID); err != nil {
		return Credentials{}, fmt.Errorf("identity: bootstrap: %w", err)
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

// Keys of older versions, which kept the token signing key and the
// bootstrap passwords in the KV in plain text.
const (
	legacySigningKey = keyPrefix + "signing-key"
	legacyBootstrap  = keyPrefix + "bootstrap"
)

// bootstrapSecrets returns the bootstrap passwords, creating them sealed
// unless present. A store made by an older version keeps its users and
// passwords: they are sealed and the plaintext record deleted, and its
// signing key is deleted unread, so tokens signed with it are refused.
func (k *Keystone) bootstrapSecrets(ctx context.Context) (bootstrapSecrets, error) {
	fresh, err := json.Marshal(bootstrapSecrets{AdminPassword: randomPassword(), DemoPassword: randomPassword()})
	if err != nil {
		return bootstrapSecrets{}, err
	}
	legacy, hasLegacy, err := k.kv.Get(ctx, legacyBootstrap)
	if err != nil {
		return bootstrapSecrets{}, fmt.Errorf("identity: bootstrap: %w", err)
	}
	if hasLegacy {
		fresh = legacy
	}
	stored, err := k.SharedSecret(ctx, keyPrefix+"bootstrap-sealed", fresh)
	if err != nil {
		return bootstrapSecrets{}, err
	}
	var secrets bootstrapSecrets
	if err := json.Unmarshal(stored, &secrets); err != nil {
		return bootstrapSecrets{}, fmt.Errorf("identity: corrupt bootstrap record: %w", err)
	}
	if err := k.DropLegacy(ctx, legacyBootstrap, legacySigningKey); err != nil {
		return bootstrapSecrets{}, err
	}
	return secrets, nil
}

// SharedSecret returns the secret kept sealed under name in the KV,
// storing fresh there first unless another process was first. It fails
// with ErrWrongKey when the stored value was sealed with another master
// key.
func (k *Keystone) SharedSecret(ctx context.Context, name string, fresh []byte) ([]byte, error) {
	stored, err := k.kv.Create(ctx, name, k.seals.seal(name, fresh))
	if err != nil {
		return nil, fmt.Errorf("identity: store %s: %w", name, err)
	}
	return k.seals.open(name, stored)
}

// DropLegacy deletes plaintext secrets left by older versions, if the KV
// can delete.
func (k *Keystone) DropLegacy(ctx context.Context, names ...string) error {
	d, ok := k.kv.(KVDeleter)
	if !ok {
		return nil
	}
	for _, n := range names {
		if _, found, err := k.kv.Get(ctx, n); err != nil || !found {
			if err != nil {
				return err
			}
			continue
		}
		if err := d.Delete(ctx, n); err != nil {
			return fmt.Errorf("identity: delete plaintext %s: %w", n, err)
		}
	}
	return nil
}
