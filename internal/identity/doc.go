// Package identity owns authentication for Neutrino: it turns an incoming
// HTTP request into a request Context (user, project, roles).
//
// Three Authenticators are provided:
//
//   - NoAuth: Neutron's auth_strategy=noauth, the context comes from
//     X-Project-Id, X-Roles, ... request headers.
//   - Keystone: a small built-in Keystone v3 subset (password and token
//     authentication, project/domain scoped and unscoped tokens, discovery,
//     token validation and revocation, projects, users, domains, roles and
//     role assignments with their admin API, admin.go). Its data lives in
//     a KV store shared by all server processes
//     and its tokens are stateless HMAC-signed documents. The key signing
//     them comes from a file on the server hosts, never from the KV (see
//     keys.go); every process with the same key file and KV validates the
//     tokens of every other one.
//   - Remote: validates tokens against an external Keystone, like
//     keystonemiddleware's auth_token filter ([keystone_authtoken]).
//
// WriteOpenRC writes devstack-style admin-openrc/demo-openrc files for the
// users the built-in Keystone bootstraps.
package identity
