// Package sandbox builds a whole Neutrino deployment on one Linux machine
// out of network namespaces: a fabric namespace with a tunnel switch
// (10.0.1.0/24) and an external switch (203.0.113.0/24), one namespace per
// simulated host (network1 with agent_mode dvr_snat, compute1..N with dvr),
// an upstream router (203.0.113.1) with an "internet" host behind it
// (198.51.100.10), a neutrino-server with embedded etcd and
// router_distributed = True, one agent per host running inside its host's
// namespace, and fake instances: a namespace with one interface that gets
// its address by DHCP from Neutrino. As in the DVR walkthrough, every host
// runs the L3, metadata and L2 agents and maps physnet "external" (the
// computes' fg- ports need it), and only network1 runs a DHCP agent.
//
// What the package owns, and its invariants:
//
//   - Every namespace it makes is a persistent named netns (/run/netns)
//     whose name starts with "<prefix>-"; agents name theirs with the
//     suffix "@<prefix>-<host>". Down deletes exactly these, so several
//     sandboxes with different prefixes coexist. Nothing is created in the
//     root network namespace, except the server's loopback listener and
//     its Unix socket, and the loopback metrics listeners of the server
//     and of every agent (an agent's is opened here and inherited as fd
//     3, since the root namespace cannot reach the host namespace's
//     loopback).
//   - Every process it starts is recorded in <dir>/pids with its kernel
//     start time, so Down ends only those (a recycled PID is left alone),
//     also after the CLI crashed. Processes it cannot find there (pids
//     file lost) are found by what they are: a process inside one of the
//     sandbox's namespaces, or one of our own server/agent commands naming
//     the sandbox directory.
//   - Kernel work goes through netlink handles bound to a namespace;
//     /proc/sys writes and process starts happen on a dedicated OS thread
//     switched into the namespace and never switched back (the thread
//     dies with its goroutine), so no shared thread ever changes
//     namespace.
//   - Processes are started inside a host namespace by forking from such
//     a thread: the child inherits the thread's network namespace and the
//     root mount namespace, which is what `nsenter --net=` gives (KERNEL.md
//     §2) without depending on util-linux or an extra exec, and the PID
//     we record is the agent's own.
package sandbox
