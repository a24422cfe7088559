// Package osctest drives the real python-openstackclient ("openstack")
// against a neutrino-server started in keystone mode, the way an operator
// would after sourcing the generated openrc files. It only has tests.
package osctest
