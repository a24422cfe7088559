package store

// As returns the entry's object as T. It reports false for a nil entry
// or an object of another type (a kind read with the wrong type), so
// callers skip or refuse it instead of panicking.
func As[T any](e *Entry) (T, bool) {
	var zero T
	if e == nil {
		return zero, false
	}
	t, ok := e.Obj.(T)
	return t, ok
}

// GetAs looks up an object and returns it as T: false if it is absent
// or of another type.
func GetAs[T any](v *View, kind, id string) (*Entry, T, bool) {
	e, ok := v.Get(kind, id)
	if !ok {
		var zero T
		return nil, zero, false
	}
	t, ok := As[T](e)
	if !ok {
		return nil, t, false
	}
	return e, t, true
}
