package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options configure Up.
type Options struct {
	Dir      string // state directory (default DefaultDir)
	Prefix   string // name prefix (default DefaultPrefix)
	Computes int    // compute hosts (default DefaultComputes)
	// NetworkNodes are the dvr_snat hosts network1..N (default 1).
	NetworkNodes int
	Port         int  // server port on 127.0.0.1 (default DefaultPort)
	NoAgents     bool // build the fabric and the server only

	// Exe is the neutrino program re-executed as "<Exe> sandbox serve"
	// and "<Exe> sandbox agent" (default: this executable); Env is added
	// to their environment.
	Exe string
	Env []string

	// VLANPhysnets are more physical networks, mapped on every host to
	// its external interface beside Physnet (so VLAN sub-interfaces of it
	// carry them) and known to the server as VLAN physical networks for
	// provider networks (network_vlan_ranges without a tenant range).
	// None by default.
	VLANPhysnets []string

	// VNIRanges is the server's [ml2_type_vxlan] vni_ranges ("":
	// upstream's default 1:1000, which a benchmark with more than a
	// thousand tenant networks outgrows).
	VNIRanges string

	// NoL3Failover turns the server's allow_automatic_l3agent_failover
	// off: a router stays bound to an agent an admin disabled (a
	// benchmark pins a router to a network node that takes no new ones).
	NoL3Failover bool

	// Out receives progress lines (nil: none).
	Out io.Writer
	// ReadyTimeout bounds the wait for the server and for the agents
	// (default 60s each).
	ReadyTimeout time.Duration
}

func (o *Options) defaults() error {
	if o.Dir == "" {
		o.Dir = DefaultDir
	}
	d, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	o.Dir = d
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if err := ValidatePrefix(o.Prefix); err != nil {
		return err
	}
	if o.Computes == 0 {
		o.Computes = DefaultComputes
	}
	if o.Computes < 1 || o.Computes > MaxComputes {
		return fmt.Errorf("invalid --computes %d: want 1..%d", o.Computes, MaxComputes)
	}
	if o.NetworkNodes == 0 {
		o.NetworkNodes = 1
	}
	if o.NetworkNodes < 1 || o.NetworkNodes > MaxNetworkNodes {
		return fmt.Errorf("invalid --network-nodes %d: want 1..%d", o.NetworkNodes, MaxNetworkNodes)
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Port < 1 || o.Port > 65535 {
		return fmt.Errorf("invalid --port %d", o.Port)
	}
	if o.Exe == "" {
		if o.Exe, err = os.Executable(); err != nil {
			return err
		}
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 60 * time.Second
	}
	return nil
}

func requireRoot() error {
	if os.Geteuid() != 0 {
		return errors.New("the sandbox needs root (network namespaces, netlink, mounts in /run/netns)")
	}
	return nil
}

// Up builds the sandbox and starts its server and agents. On failure
// everything made so far is removed again (logs are kept).
func Up(ctx context.Context, o Options) (st *State, err error) {
	if err := requireRoot(); err != nil {
		return nil, err
	}
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if old, err := LoadState(o.Dir); err == nil {
		return nil, fmt.Errorf("a sandbox (prefix %s) is already in %s: run `neutrino sandbox down --dir %s` first", old.Prefix, o.Dir, o.Dir)
	}
	if left := ownedNamespaces(o.Prefix); len(left) > 0 {
		return nil, fmt.Errorf("namespaces with prefix %s exist (%s): run `neutrino sandbox down --prefix %s` first", o.Prefix, strings.Join(left, ", "), o.Prefix)
	}
	// Fail before building anything if the API port is taken.
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.Port)))
	if err != nil {
		return nil, fmt.Errorf("port %d on 127.0.0.1 is not free (--port): %w", o.Port, err)
	}
	ln.Close()
	for _, d := range []string{o.Dir, filepath.Join(o.Dir, logsDir), filepath.Join(o.Dir, agentsDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	st = &State{Prefix: o.Prefix, Dir: o.Dir, Port: o.Port, Computes: o.Computes, NetworkNodes: o.NetworkNodes, Agents: !o.NoAgents, Created: time.Now().UTC(), Exe: o.Exe, Env: o.Env,
		VLANPhysnets: o.VLANPhysnets, VNIRanges: o.VNIRanges, NoL3Failover: o.NoL3Failover}
	if st.Metrics, err = pickMetricsPorts(st.Hosts()); err != nil {
		return nil, err
	}
	// Recorded first, so that Down finds the prefix whatever fails next.
	if err := st.save(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			Down(DownOptions{Dir: o.Dir, Prefix: o.Prefix})
			err = fmt.Errorf("%w (sandbox removed; logs in %s)", err, filepath.Join(o.Dir, logsDir))
		}
	}()
	fmt.Fprintf(o.Out, "building the fabric (prefix %s, %d computes)\n", o.Prefix, o.Computes)
	if err := buildFabric(o.Prefix, st.Hosts()); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Out, "starting neutrino-server on %s and %s\n", st.URL(), st.Socket())
	srv, err := start(o.Dir, Proc{Name: "server", Argv: []string{o.Exe, "sandbox", "serve", "--dir", o.Dir, "--port", strconv.Itoa(o.Port),
		"--metrics-bind", st.Metrics["server"]}, Env: o.Env})
	if err != nil {
		return nil, err
	}
	if err := st.waitServer(ctx, srv, o.ReadyTimeout); err != nil {
		return nil, err
	}
	if o.NoAgents {
		return st, nil
	}
	for _, h := range st.Hosts() {
		fmt.Fprintf(o.Out, "starting the agent of %s (%s) in %s\n", h.Name, h.Mode, NodeNS(o.Prefix, h.Name))
		if _, err := st.startAgent(h); err != nil {
			return nil, err
		}
	}
	if err := st.waitAgents(ctx, o.ReadyTimeout, o.Out); err != nil {
		return nil, err
	}
	return st, nil
}

// waitServer waits until the server answers on its Unix socket and has
// written the admin credentials.
func (s *State) waitServer(ctx context.Context, p ProcRecord, timeout time.Duration) error {
	hc := unixClient(s.Socket())
	hc.Timeout = 2 * time.Second
	deadline := time.Now().Add(timeout)
	logPath := filepath.Join(s.Dir, logsDir, "server.log")
	for {
		if !p.alive() {
			return fmt.Errorf("neutrino-server exited; last lines of %s:\n%s", logPath, tail(logPath, 15))
		}
		if _, err := os.Stat(filepath.Join(s.Dir, "admin-openrc")); err == nil {
			if resp, err := hc.Get("http://neutrino/"); err == nil {
				resp.Body.Close()
				if resp.StatusCode < 500 {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("neutrino-server not ready after %s; see %s", timeout, logPath)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitAgents waits until every host has an alive agent in GET
// /v2.0/agents; a server without that API is not waited for.
func (s *State) waitAgents(ctx context.Context, timeout time.Duration, out io.Writer) error {
	c, err := s.adminClient(ctx)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		var missing []string
		as, err := c.agents(ctx)
		if errors.Is(err, errNoAgentsAPI) {
			fmt.Fprintln(out, "the server has no agents API: not waiting for the agents to register")
			return nil
		}
		if err == nil {
			missing = s.hostsWithoutAgent(as)
			if len(missing) == 0 {
				return nil
			}
		}
		for _, h := range s.Hosts() {
			if p := filepath.Join(s.Dir, logsDir, "agent-"+h.Name+".log"); !s.procAlive("agent-" + h.Name) {
				return fmt.Errorf("the agent of %s exited; last lines of %s:\n%s", h.Name, p, tail(p, 15))
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("agents not registered after %s: %w", timeout, err)
			}
			return fmt.Errorf("no alive agent after %s for %s; see %s", timeout, strings.Join(missing, ", "), filepath.Join(s.Dir, logsDir))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (s *State) hostsWithoutAgent(as []agentInfo) []string {
	alive := map[string]bool{}
	for _, a := range as {
		if a.Alive {
			alive[a.Host] = true
		}
	}
	var missing []string
	for _, h := range s.Hosts() {
		if !alive[h.Name] {
			missing = append(missing, h.Name)
		}
	}
	return missing
}

// procAlive reports whether the last recorded process of that name runs.
func (s *State) procAlive(name string) bool {
	ps, _ := readProcs(s.Dir)
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i].Name == name {
			return ps[i].alive()
		}
	}
	return false
}

// writeAgentConfig writes <dir>/agents/<host>.ini.
func (s *State) writeAgentConfig(h Host) (string, error) {
	statePath := filepath.Join(s.Dir, agentsDir, h.Name)
	if err := os.MkdirAll(statePath, 0o700); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# neutrino-agent of sandbox host %s (generated by neutrino sandbox up)\n", h.Name)
	fmt.Fprintf(&b, "[DEFAULT]\nhost = %s\nagent_mode = %s\nserver_url = unix://%s\nnamespace_suffix = %s\nstate_path = %s\n\n",
		h.Name, h.Mode, s.HostSocket(h.Name), AgentSuffix(s.Prefix, h.Name), statePath)
	if !h.DHCPAgent {
		fmt.Fprintf(&b, "# no neutron-dhcp-agent on this host (the DVR walkthrough's computes)\nenable_dhcp_agent = False\n\n")
	}
	if secret, err := os.ReadFile(filepath.Join(s.Dir, metadataSecretFile)); err == nil {
		fmt.Fprintf(&b, "nova_metadata_url = unix://%s\nmetadata_proxy_shared_secret = %s\n\n", filepath.Join(s.Dir, metadataSocket), secret)
	}
	if m := s.Metrics["agent-"+h.Name]; m != "" {
		fmt.Fprintf(&b, "# /metrics, /healthz, /readyz: the sandbox opens this address in the root\n# namespace and hands the agent the listening socket\nmetrics_bind = %s\n\n", m)
	}

	// report_interval is left to its default, which follows agent_mode
	// (docs/ha.md).
	fmt.Fprintf(&b, "[agent]\ntunnel_types = vxlan, gre\nl2_population = true\narp_responder = true\n\n")
	fmt.Fprintf(&b, "[vxlan]\nlocal_ip = %s\n\n", h.TunnelIP)
	mappings := []string{Physnet + ":" + HostExternalIf}
	for _, pn := range s.VLANPhysnets {
		mappings = append(mappings, pn+":"+HostExternalIf)
	}
	fmt.Fprintf(&b, "[linux_bridge]\nphysical_interface_mappings = %s\n", strings.Join(mappings, ","))
	rc, err := openRC(filepath.Join(s.Dir, "agent-openrc"))
	if err == nil {
		// The agent dials server_url's socket for every request, its
		// Keystone login included, so the auth URL's path is what counts.
		fmt.Fprintf(&b, "\n[agent_auth]\nauth_url = %s\nusername = %s\npassword = %s\nproject_name = %s\nuser_domain_id = %s\nproject_domain_id = %s\n",
			rc["OS_AUTH_URL"], rc["OS_USERNAME"], rc["OS_PASSWORD"], or(rc["OS_PROJECT_NAME"], "service"),
			or(rc["OS_USER_DOMAIN_ID"], "default"), or(rc["OS_PROJECT_DOMAIN_ID"], "default"))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	path := filepath.Join(s.Dir, agentsDir, h.Name+".ini")
	if err := writeAtomic(path, []byte(b.String())); err != nil {
		return "", err
	}
	return path, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ownedNamespaces lists the existing namespaces of the prefix.
func ownedNamespaces(prefix string) []string {
	all, _ := listNS()
	var out []string
	for _, n := range all {
		if Owned(prefix, n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// DownOptions configure Down.
type DownOptions struct {
	Dir    string // state directory (default DefaultDir)
	Prefix string // default: the state's prefix, else DefaultPrefix
	Purge  bool   // remove the logs too
	Grace  time.Duration
	Out    io.Writer
}

// Down ends the sandbox's processes, deletes its namespaces (and those
// its agents made) and removes its runtime files, keeping the logs
// unless Purge. It is idempotent and needs nothing but the prefix: after
// a crash it finds leftovers by name and processes by namespace or
// command line.
func Down(o DownOptions) error {
	if err := requireRoot(); err != nil {
		return err
	}
	if o.Dir == "" {
		o.Dir = DefaultDir
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	if o.Prefix == "" {
		st, err := LoadState(dir)
		switch {
		case err == nil:
			o.Prefix = st.Prefix
		case errors.Is(err, fs.ErrNotExist):
			o.Prefix = DefaultPrefix
		default:
			return fmt.Errorf("%w: give --prefix", err)
		}
	}
	if err := ValidatePrefix(o.Prefix); err != nil {
		return err
	}
	// Never tear down a live sandbox of another directory that uses the
	// same prefix (e.g. "down --dir" with a wrong directory).
	if other := liveSandboxDir(o.Prefix, dir); other != "" {
		return fmt.Errorf("prefix %s belongs to the running sandbox in %s: use `neutrino sandbox down --dir %s`", o.Prefix, other, other)
	}
	if o.Grace == 0 {
		o.Grace = 5 * time.Second
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	var errs []error
	// Processes first: a live agent would recreate what we delete.
	nss := ownedNamespaces(o.Prefix)
	inodes := map[uint64]string{}
	for _, n := range nss {
		if ino, ok := nsInode(n); ok {
			inodes[ino] = n
		}
	}
	procs, err := readProcs(dir)
	if err != nil {
		errs = append(errs, err)
	}
	seen := map[int]bool{}
	var targets []ProcRecord
	for _, p := range append(procs, findStray(dir, inodes)...) {
		if !seen[p.PID] && p.alive() {
			seen[p.PID] = true
			targets = append(targets, p)
		}
	}
	for _, p := range targets {
		fmt.Fprintf(o.Out, "stopping %s (pid %d)\n", p.Name, p.PID)
	}
	for _, p := range stop(targets, o.Grace) {
		errs = append(errs, fmt.Errorf("process %s (pid %d) survived SIGKILL", p.Name, p.PID))
	}
	// Agents may have made namespaces since the first listing.
	for _, n := range ownedNamespaces(o.Prefix) {
		if err := deleteNS(n); err != nil {
			errs = append(errs, err)
		} else {
			fmt.Fprintf(o.Out, "deleted namespace %s\n", n)
		}
	}
	for _, name := range append([]string{stateFile, pidsFile, instancesFile, socketFile, serverDir, agentsDir, hostsDir, partitionedFile, lockFile, metadataSocket, metadataSecretFile}, openrcFiles...) {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			errs = append(errs, err)
		}
	}
	if o.Purge {
		if err := os.RemoveAll(filepath.Join(dir, logsDir)); err != nil {
			errs = append(errs, err)
		}
		// Only if empty: never remove what we did not make.
		if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// liveSandboxDir returns the directory of a running sandbox server other
// than dir whose state has the prefix, or "".
func liveSandboxDir(prefix, dir string) string {
	for _, d := range serverDirs() {
		if d == dir {
			continue
		}
		if st, err := LoadState(d); err == nil && st.Prefix == prefix {
			return d
		}
	}
	return ""
}

// Resolve maps a node or instance name (or a full namespace name of the
// sandbox) to its namespace.
func (s *State) Resolve(name string) (string, error) {
	if slices.Contains(s.Nodes(), name) {
		return NodeNS(s.Prefix, name), nil
	}
	is, err := s.Instances()
	if err != nil {
		return "", err
	}
	for _, in := range is {
		if in.Name == name {
			return in.Netns, nil
		}
	}
	if Owned(s.Prefix, name) && nsExists(name) {
		return name, nil
	}
	if strings.HasPrefix(name, "compute") {
		return "", fmt.Errorf("unknown host %s (the sandbox has network1 and compute1..%d)", name, s.Computes)
	}
	return "", fmt.Errorf("no node or instance named %s (nodes: %s)", name, strings.Join(s.Nodes(), ", "))
}

// Command returns a command that Start runs inside the namespace of
// node (see Resolve).
func (s *State) Command(node string, argv ...string) (*NSCmd, error) {
	if len(argv) == 0 {
		return nil, errors.New("no command")
	}
	ns, err := s.Resolve(node)
	if err != nil {
		return nil, err
	}
	if !nsExists(ns) {
		return nil, fmt.Errorf("namespace %s of %s does not exist", ns, node)
	}
	return &NSCmd{Cmd: exec.Command(argv[0], argv[1:]...), NS: ns}, nil
}

// NSCmd is an exec.Cmd to start inside a namespace.
type NSCmd struct {
	*exec.Cmd
	NS string
}

// Start starts the command inside its namespace.
func (c *NSCmd) Start() error { return startIn(c.NS, c.Cmd) }

// Run starts the command and waits for it.
func (c *NSCmd) Run() error {
	if err := c.Start(); err != nil {
		return err
	}
	return c.Wait()
}

// Output runs the command and returns its standard output.
func (c *NSCmd) Output() ([]byte, error) {
	var b strings.Builder
	c.Stdout = &b
	err := c.Run()
	return []byte(b.String()), err
}

// CombinedOutput runs the command and returns its standard output and
// error.
func (c *NSCmd) CombinedOutput() ([]byte, error) {
	var b strings.Builder
	c.Stdout, c.Stderr = &b, &b
	err := c.Run()
	return []byte(b.String()), err
}

// Exec replaces the calling process by argv running inside the namespace
// of node (the `exec` command): the thread that calls execve is switched
// into the namespace, so the program gets it, with our mount namespace,
// our terminal, signals and its own exit status.
func (s *State) Exec(node string, argv []string) error {
	c, err := s.Command(node, argv...)
	if err != nil {
		return err
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	return inNS(c.NS, func() error {
		return syscall.Exec(path, argv, os.Environ())
	})
}

// serverReachable reports whether the server answers on its socket.
func (s *State) serverReachable() bool {
	hc := unixClient(s.Socket())
	hc.Timeout = 2 * time.Second
	resp, err := hc.Get("http://neutrino/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode < http.StatusInternalServerError
}
