package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// listQuery is a parsed GET-collection query (api.md §2.5).
type listQuery struct {
	filters     map[string][]string
	fields      []string
	sortKeys    []string
	sortDesc    []bool
	limit       int
	marker      string
	pageReverse bool
	checks      []filterCheck // the filters prepared for match; nil until first use
}

// filterCheck is one filter prepared once per request. For plain
// attributes it holds the stored encodings the filter accepts, so that
// matching an entry is one lookup and a byte comparison instead of
// encoding the filter value again for every entry (lists scan them all).
type filterCheck struct {
	key  string
	typ  byte // the attribute's type; 0 for tags and fixed_ips filters
	vals []string
	enc  [][]byte // typ 's', 'b', 'i': accepted JSON encodings
}

func (lq *listQuery) compile(d *resourceDef) {
	lq.checks = []filterCheck{}
	for k, vals := range lq.filters {
		switch k {
		case "tags", "tags-any", "not-tags", "not-tags-any", "fixed_ips":
			lq.checks = append(lq.checks, filterCheck{key: k, vals: vals})
			continue
		case "changed_since":
			continue // handled by the caller with typed data
		}
		at, known := d.attrs[k]
		if !known {
			continue // extra filters are applied by the caller
		}
		f := filterCheck{key: k, typ: at.typ, vals: vals}
		if at.typ != 'l' {
			for _, v := range vals {
				f.enc = append(f.enc, encodeFilterValue(at.typ, v))
			}
		}
		lq.checks = append(lq.checks, f)
	}
}

// encodeFilterValue is the stored JSON a filter value matches: booleans
// as true/false, integers as given, anything else as a JSON string.
func encodeFilterValue(typ byte, v string) []byte {
	switch typ {
	case 'b':
		b, _ := toBool(v)
		return []byte(strconv.FormatBool(b))
	case 'i':
		return []byte(v)
	default:
		want, _ := json.Marshal(v)
		return want
	}
}

// controlParams are query keys that are not filters.
var controlParams = map[string]bool{"fields": true, "sort_key": true, "sort_dir": true, "limit": true, "marker": true, "page_reverse": true}

// specialFilters are filters that are not plain attributes.
var specialFilters = map[string]bool{"tags": true, "tags-any": true, "not-tags": true, "not-tags-any": true, "changed_since": true}

func (a *API) parseListQuery(r *http.Request, d *resourceDef, extraFilters map[string]bool) (*listQuery, error) {
	q := r.URL.Query()
	lq := &listQuery{filters: map[string][]string{}, fields: fieldsParam(r)}
	for k, vals := range q {
		if controlParams[k] {
			continue
		}
		if at, ok := d.attrs[k]; ok && !specialFilters[k] {
			if at.typ == 'o' && !(k == "fixed_ips" && d.kind == "port") {
				return nil, badRequest("[%s] is invalid attribute for filtering", k)
			}
		} else if !specialFilters[k] && !extraFilters[k] {
			return nil, badRequest("[%s] is invalid attribute for filtering", k)
		}
		for _, v := range vals {
			if k == "tags" || k == "tags-any" || k == "not-tags" || k == "not-tags-any" {
				lq.filters[k] = append(lq.filters[k], v)
				continue
			}
			if v == "" && d.attrs[k].typ != 's' {
				continue
			}
			if k == "fixed_ips" {
				if key, _, ok := strings.Cut(v, "="); !ok || strings.TrimSpace(key) == "" {
					return nil, invalidInput("'%s' is not of the form <key>=[value]", v)
				}
			}
			lq.filters[k] = append(lq.filters[k], v)
		}
	}
	lq.sortKeys = q["sort_key"]
	dirs := q["sort_dir"]
	if len(dirs) != len(lq.sortKeys) {
		return nil, badRequest("The number of sort_keys and sort_dirs must be same")
	}
	for i, k := range lq.sortKeys {
		at, ok := d.attrs[k]
		if !ok || at.nosort || at.typ == 'o' || at.typ == 'l' {
			return nil, badRequest("%s is invalid attribute for sort_keys", k)
		}
		desc := false
		if i < len(dirs) {
			switch dirs[i] {
			case "asc":
			case "desc":
				desc = true
			default:
				return nil, badRequest("%s is invalid value for sort_dirs, valid sort dir values are asc and desc", dirs[i])
			}
		}
		lq.sortDesc = append(lq.sortDesc, desc)
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return nil, badRequest("Limit must be an integer 0 or greater and not '%s'", l)
		}
		lq.limit = n
	}
	if max := a.cfg.PaginationMaxLimit; max > 0 && (lq.limit == 0 || lq.limit > max) {
		lq.limit = max
	}
	lq.marker = q.Get("marker")
	if pr := q.Get("page_reverse"); pr != "" {
		b, err := strconv.ParseBool(strings.ToLower(pr))
		if err != nil {
			return nil, badRequest("'%s' cannot be converted to boolean", pr)
		}
		lq.pageReverse = b
	}
	// Validate filter values early so bad input is a 400.
	for k, vals := range lq.filters {
		if at, ok := d.attrs[k]; ok && at.typ == 'b' || d.boolFilters[k] != nil {
			for _, v := range vals {
				if _, err := toBool(v); err != nil {
					return nil, invalidInput("'%s' cannot be converted to boolean", v)
				}
			}
		}
		if at, ok := d.attrs[k]; ok && at.typ == 'i' {
			for _, v := range vals {
				if _, err := strconv.Atoi(v); err != nil {
					return nil, invalidInput("'%s' is not an integer", v)
				}
			}
		}
	}
	return lq, nil
}

// match reports whether an entry's attributes pass the filters. Values are
// compared as JSON: the filter value is converted to the attribute's type
// and encoded, then compared with the stored encoding.
func (lq *listQuery) match(d *resourceDef, fields map[string]json.RawMessage) bool {
	if lq.checks == nil {
		lq.compile(d)
	}
	for i := range lq.checks {
		f := &lq.checks[i]
		switch f.key {
		case "tags", "tags-any", "not-tags", "not-tags-any":
			if !matchTags(f.key, f.vals, fields["tags"]) {
				return false
			}
			continue
		case "fixed_ips":
			if !matchFixedIPs(f.vals, fields["fixed_ips"]) {
				return false
			}
			continue
		}
		raw := fields[f.key]
		ok := false
		if f.typ == 'l' {
			var list []string
			_ = json.Unmarshal(raw, &list)
			ok = slices.ContainsFunc(f.vals, func(v string) bool { return slices.Contains(list, v) })
		} else {
			ok = slices.ContainsFunc(f.enc, func(want []byte) bool { return bytes.Equal(raw, want) })
		}
		if !ok {
			return false
		}
	}
	return true
}

// matchBoolFilters applies the kind's derived boolean filters: the
// entry passes a filter when its derived value is one of the values asked
// for (which parseListQuery checked are booleans).
func (lq *listQuery) matchBoolFilters(v *store.View, d *resourceDef, e *store.Entry) bool {
	for k, fn := range d.boolFilters {
		vals, ok := lq.filters[k]
		if !ok {
			continue
		}
		got := fn(v, e)
		if !slices.ContainsFunc(vals, func(s string) bool { b, err := toBool(s); return err == nil && b == got }) {
			return false
		}
	}
	return true
}

func matchTags(kind string, vals []string, raw json.RawMessage) bool {
	var have []string
	_ = json.Unmarshal(raw, &have)
	var want []string
	for _, v := range vals {
		want = append(want, strings.Split(v, ",")...)
	}
	all, anyOf := true, false
	for _, t := range want {
		if slices.Contains(have, t) {
			anyOf = true
		} else {
			all = false
		}
	}
	switch kind {
	case "tags":
		return all
	case "tags-any":
		return anyOf
	case "not-tags":
		return !all
	default:
		return !anyOf
	}
}

// matchFixedIPs applies port fixed_ips filters "ip_address=…",
// "subnet_id=…" and "ip_address_substr=…": some fixed IP must satisfy
// every kind of condition given (values of one kind are alternatives).
func matchFixedIPs(vals []string, raw json.RawMessage) bool {
	var ips []struct {
		SubnetID  string `json:"subnet_id"`
		IPAddress string `json:"ip_address"`
	}
	_ = json.Unmarshal(raw, &ips)
	conds := map[string][]string{}
	for _, v := range vals {
		k, val, ok := strings.Cut(v, "=")
		if !ok {
			continue
		}
		conds[k] = append(conds[k], val)
	}
	for _, ip := range ips {
		ok := true
		for k, alts := range conds {
			hit := false
			for _, want := range alts {
				switch k {
				case "ip_address":
					hit = hit || ip.IPAddress == want
				case "subnet_id":
					hit = hit || ip.SubnetID == want
				case "ip_address_substr":
					hit = hit || strings.Contains(ip.IPAddress, want)
				}
			}
			ok = ok && hit
		}
		if ok {
			return true
		}
	}
	return false
}

// list handles GET on a collection.
func (a *API) list(w http.ResponseWriter, r *http.Request, c *reqCtx, d *resourceDef) error {
	if d.beforeRead != nil {
		if err := d.beforeRead(a, c); err != nil {
			return err
		}
	}
	extra := map[string]bool{}
	for k := range d.boolFilters {
		extra[k] = true
	}
	lq, err := a.parseListQuery(r, d, extra)
	if err != nil {
		return err
	}
	var bodies [][]byte
	var first, last string
	more := false
	var markerErr error
	a.st.View(func(v *store.View) {
		var marker *store.Entry
		if marker, markerErr = lq.markerEntry(v, d, func(e *store.Entry) bool { return d.visible(v, c, e) }); markerErr != nil {
			return
		}
		var hits []*store.Entry
		if len(lq.filters) == 0 {
			hits = make([]*store.Entry, 0, v.Count(d.kind))
		}
		lq.eachCandidate(v, d, func(e *store.Entry) bool {
			// Filters first: they reject most entries of a filtered
			// list, and visibility may look up other resources.
			m := d.memoOf(e)
			if lq.match(d, m.fields) && matchChangedSince(lq, e) && lq.matchBoolFilters(v, d, e) && d.visible(v, c, e) {
				hits = append(hits, e)
			}
			return true
		})
		page, hasMore := lq.paginate(d, hits, marker)
		more = hasMore
		bodies = make([][]byte, 0, len(page))
		for _, e := range page {
			bodies = append(bodies, d.render(v, c, e, lq.fields))
		}
		if len(page) > 0 {
			first, last = page[0].ID, page[len(page)-1].ID
		}
	})
	if markerErr != nil {
		return markerErr
	}
	var links []map[string]string
	if lq.limit > 0 {
		links = pageLinks(r, lq, len(bodies), first, last, more)
	}
	writeCollection(w, d.collection, bodies, links)
	return nil
}

// markerMustExist are the kinds whose ?marker= (with a limit) must name
// something the caller can see, else the kind's 404: upstream's plugins
// look the marker up with _get_<resource> for networks, ports and
// routers. Upstream's other lists (object based: subnets, security
// groups and rules, floating IPs, agents) ignore such a marker and start
// at the first page.
var markerMustExist = map[string]bool{model.KindNetwork: true, model.KindPort: true, model.KindRouter: true}

// markerEntry resolves the marker, which counts only with a limit.
func (lq *listQuery) markerEntry(v *store.View, d *resourceDef, visible func(e *store.Entry) bool) (*store.Entry, error) {
	if lq.marker == "" || lq.limit <= 0 {
		return nil, nil
	}
	if e, ok := v.Get(d.kind, lq.marker); ok && visible(e) {
		return e, nil
	}
	if markerMustExist[d.kind] {
		return nil, d.notFound(lq.marker)
	}
	return nil, nil
}

func matchChangedSince(lq *listQuery, e *store.Entry) bool {
	vals := lq.filters["changed_since"]
	if len(vals) == 0 {
		return true
	}
	return std(e).UpdatedAt >= strings.TrimSuffix(vals[0], "Z")
}

// paginate sorts the hits (creation order by default; id breaks ties) and
// cuts the page after (or, reversed, before) the marker entry. Like
// upstream's native pagination the marker is a position in the sort
// order, so it need not be one of the hits (it may not match the
// filters). hasMore is informational.
func (lq *listQuery) paginate(d *resourceDef, hits []*store.Entry, marker *store.Entry) ([]*store.Entry, bool) {
	var less func(x, y *store.Entry) bool
	if len(lq.sortKeys) == 0 {
		less = func(x, y *store.Entry) bool { return byCreation(x, y) < 0 }
		slices.SortFunc(hits, byCreation)
	} else {
		vals := make(map[*store.Entry][]any, len(hits)+1)
		row := func(e *store.Entry) {
			f := d.memoOf(e).fields
			r := make([]any, len(lq.sortKeys))
			for i, k := range lq.sortKeys {
				var x any
				_ = json.Unmarshal(f[k], &x)
				r[i] = x
			}
			vals[e] = r
		}
		for _, e := range hits {
			row(e)
		}
		if marker != nil {
			row(marker)
		}
		less = func(x, y *store.Entry) bool {
			a, b := vals[x], vals[y]
			for k := range lq.sortKeys {
				c := compareAny(a[k], b[k])
				if c != 0 {
					return (c < 0) != lq.sortDesc[k]
				}
			}
			return x.ID < y.ID
		}
		sort.Slice(hits, func(i, j int) bool { return less(hits[i], hits[j]) })
	}
	if marker != nil {
		if lq.pageReverse {
			hits = hits[:sort.Search(len(hits), func(i int) bool { return !less(hits[i], marker) })]
			if lq.limit > 0 && len(hits) > lq.limit {
				hits = hits[len(hits)-lq.limit:]
			}
			return hits, false
		}
		hits = hits[sort.Search(len(hits), func(i int) bool { return less(marker, hits[i]) }):]
	}
	if lq.limit > 0 && len(hits) > lq.limit {
		if lq.pageReverse {
			return hits[len(hits)-lq.limit:], true
		}
		return hits[:lq.limit], true
	}
	return hits, false
}

func compareAny(a, b any) int {
	switch x := a.(type) {
	case string:
		y, _ := b.(string)
		return strings.Compare(x, y)
	case float64:
		y, _ := b.(float64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case bool:
		y, _ := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case nil:
		if b == nil {
			return 0
		}
		return -1
	}
	return 0
}

// pageLinks builds the <collection>_links of upstream's pagination: a
// "next" link unless a short page was returned going forward, and a
// "previous" link unless a short page was returned going backward.
func pageLinks(r *http.Request, lq *listQuery, n int, first, last string, _ bool) []map[string]string {
	scheme := "http"
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		scheme = p
	} else if r.TLS != nil {
		scheme = "https"
	}
	base := scheme + "://" + r.Host + strings.TrimSuffix(r.URL.Path, ".json")
	var links []map[string]string
	mk := func(rel, marker string, reverse bool) {
		q := cloneQuery(r.URL.Query())
		q.Del("page_reverse")
		q.Del("marker")
		if marker != "" {
			// An empty page links without a marker, like upstream: its
			// "previous" is then the last page.
			q.Set("marker", marker)
		}
		if reverse {
			q.Set("page_reverse", "True")
		}
		links = append(links, map[string]string{"rel": rel, "href": base + "?" + q.Encode()})
	}
	short := n < lq.limit
	if !(short && !lq.pageReverse) {
		mk("next", last, false)
	}
	if !(short && lq.pageReverse) {
		mk("previous", first, true)
	}
	return links
}

func cloneQuery(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// writeCollection writes the list from the entries' own encodings,
// without copying them into one buffer first (a list of 10,000 ports is
// megabytes).
func writeCollection(w http.ResponseWriter, key string, bodies [][]byte, links []map[string]string) {
	head := `{"` + key + `":[`
	var tail []byte
	tail = append(tail, ']')
	if links != nil {
		lb, _ := json.Marshal(links)
		tail = append(tail, `,"`+key+`_links":`...)
		tail = append(tail, lb...)
	}
	tail = append(tail, '}')
	size := len(head) + len(tail)
	for i, b := range bodies {
		if i > 0 {
			size++
		}
		size += len(b)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(size))
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	bw.WriteString(head)
	for i, b := range bodies {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.Write(b)
	}
	bw.Write(tail)
	bw.Flush()
}
