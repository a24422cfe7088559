package nft

import (
	"sync"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Socket pool.
//
// Closing an nfnetlink socket waits for an RCU grace period (often 5-15
// ms) whenever nftables has objects queued for destruction, which every
// element deletion leaves (Linux nft_rcv_nl_event, under the namespace's
// commit mutex, so the next commit waits for it too). A socket per apply
// would make every floating IP removal cost that. So the socket of a
// namespace is kept for idle after its last use and closed in the
// background. While it is open it pins the namespace, which also makes
// the namespace's nsfs inode a safe pool key.

const idle = 2 * time.Second

type nsKey struct{ dev, ino uint64 }

type poolEntry struct {
	key   nsKey
	conn  *conn
	mu    sync.Mutex // serialises applies in the namespace
	refs  int        // guarded by pool
	dead  bool       // guarded by pool: close when refs drops to 0
	timer *time.Timer
}

var pool = struct {
	sync.Mutex
	m map[nsKey]*poolEntry
}{m: map[nsKey]*poolEntry{}}

// Close closes the pooled nftables socket of namespace ns, if any. Call
// it before deleting a namespace: the socket holds a reference to the
// namespace, whose devices live until the last reference goes.
func Close(ns netns.NsHandle) {
	key, ok := nsKeyOf(ns)
	if !ok {
		return
	}
	pool.Lock()
	e := pool.m[key]
	if e != nil {
		e.refs++
	}
	pool.Unlock()
	if e != nil {
		release(e, true)
	}
}

func nsKeyOf(ns netns.NsHandle) (nsKey, bool) {
	if ns < 0 {
		return nsKey{}, false
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(ns), &st); err != nil {
		return nsKey{}, false
	}
	return nsKey{st.Dev, st.Ino}, true
}

// reuse takes a reference on a live pooled entry (pool locked).
func (e *poolEntry) reuse() *poolEntry {
	e.refs++
	if e.timer != nil {
		e.timer.Stop()
	}
	return e
}

func acquire(ns netns.NsHandle) (*poolEntry, error) {
	key, pooled := nsKeyOf(ns)
	if pooled {
		pool.Lock()
		if e := pool.m[key]; e != nil && !e.dead {
			e.reuse()
			pool.Unlock()
			return e, nil
		}
		pool.Unlock()
	}
	c, err := open(ns)
	if err != nil {
		return nil, err
	}
	e := &poolEntry{key: key, conn: c, refs: 1, dead: !pooled}
	if pooled {
		pool.Lock()
		if old := pool.m[key]; old != nil && !old.dead {
			// Opened concurrently by someone else: use theirs.
			old.reuse()
			pool.Unlock()
			go c.close()
			return old, nil
		}
		pool.m[key] = e
		pool.Unlock()
	}
	return e, nil
}

func release(e *poolEntry, discard bool) {
	pool.Lock()
	defer pool.Unlock()
	e.refs--
	if discard && !e.dead {
		e.dead = true
		if pool.m[e.key] == e {
			delete(pool.m, e.key)
		}
	}
	if e.refs > 0 {
		return
	}
	if e.dead {
		go e.conn.close()
		return
	}
	if e.timer != nil {
		e.timer.Reset(idle)
		return
	}
	e.timer = time.AfterFunc(idle, func() {
		pool.Lock()
		if e.refs > 0 || e.dead {
			pool.Unlock()
			return
		}
		e.dead = true
		delete(pool.m, e.key)
		pool.Unlock()
		e.conn.close()
	})
}
