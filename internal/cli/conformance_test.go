package cli

import (
	"strings"
	"testing"
)

func TestParseOpenRC(t *testing.T) {
	a, err := parseOpenRC(strings.NewReader(`# Credentials of the Neutrino bootstrap user "admin"
export OS_AUTH_URL=http://127.0.0.1:9696/identity/v3
export OS_USERNAME=admin
export OS_PASSWORD='s3cret'
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME="Default"
export OS_REGION_NAME=RegionOne
`))
	if err != nil {
		t.Fatal(err)
	}
	if a.IdentityURL != "http://127.0.0.1:9696/identity/v3" || a.User != "admin" || a.Password != "s3cret" ||
		a.Project != "admin" || a.Domain != "Default" || a.Region != "RegionOne" {
		t.Errorf("parsed %+v", a)
	}
	if _, err := parseOpenRC(strings.NewReader("export OS_USERNAME=x\n")); err == nil {
		t.Error("an openrc without OS_AUTH_URL accepted")
	}
}
