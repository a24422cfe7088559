package store

// Read keys let a caller holding many read sets index them by what they
// read, so that a change finds the sets it touches by a few lookups
// instead of checking every set (the agent streams' hub: with 5,000
// streams, checking each stream's set after every change was a sixth of
// the server's CPU).

// ReadOp is the kind of read a ReadKey stands for.
type ReadOp uint8

const (
	// ReadGet is a Get of (Kind, Key).
	ReadGet ReadOp = iota + 1
	// ReadIndex is an Index read of Kind's index Name at Key.
	ReadIndex
	// ReadEach is an Each of Kind.
	ReadEach
)

// ReadKey is one read of a read set, as a change touches it.
type ReadKey struct {
	Op              ReadOp
	Kind, Name, Key string
}

// Indexable reports whether rs can be indexed by its keys: false for a
// set that is not filled yet or made opaque by plain key reads (a change
// may then concern it whatever its keys say).
func (rs *ReadSet) Indexable() bool { return rs != nil && rs.valid && !rs.opaque }

// Rev is the revision rs was recorded at, or moved up to.
func (rs *ReadSet) Rev() int64 { return rs.rev }

// MoveUp moves rs up to rev (never down): the caller vouches that no
// change up to rev touched one of its reads.
func (rs *ReadSet) MoveUp(rev int64) {
	if rs.valid {
		rs.rev = max(rs.rev, rev)
	}
}

// Keys hands fn every read of rs (nothing for a set that is not
// Indexable).
func (rs *ReadSet) Keys(fn func(ReadKey)) {
	if !rs.Indexable() {
		return
	}
	for k := range rs.each {
		fn(ReadKey{Op: ReadEach, Kind: k})
	}
	for k := range rs.gets {
		fn(ReadKey{Op: ReadGet, Kind: k[0], Key: k[1]})
	}
	for k := range rs.idx {
		fn(ReadKey{Op: ReadIndex, Kind: k[0], Name: k[1], Key: k[2]})
	}
}

// All reports whether the changes could not be gathered (the log does
// not reach back): they may touch any read.
func (c *Changes) All() bool { return c.all }

// To is the revision of the view the changes lead to.
func (c *Changes) To() int64 { return c.to }

// Keys hands fn every read key a change touches (a read set is
// touched exactly when it holds one of them).
func (c *Changes) Keys(fn func(ReadKey)) {
	for k := range c.kinds {
		fn(ReadKey{Op: ReadEach, Kind: k})
	}
	for k := range c.ids {
		fn(ReadKey{Op: ReadGet, Kind: k[0], Key: k[1]})
	}
	for k := range c.idx {
		fn(ReadKey{Op: ReadIndex, Kind: k[0], Name: k[1], Key: k[2]})
	}
}
