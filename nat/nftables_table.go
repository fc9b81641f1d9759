package nat

import (
	"context"
	"strings"

	"sigs.k8s.io/knftables"
)

// nftTx is a knftables transaction (which writes the nft -f text) that
// also records its operations, so that the proxier can keep its picture of
// the table once the kernel took them.
type nftTx struct {
	tx  *knftables.Transaction
	ops []nftOp
}

type nftOp struct {
	verb string // add, flush, delete
	obj  knftables.Object
}

func (t *nftTx) Add(obj knftables.Object) {
	t.tx.Add(obj)
	t.ops = append(t.ops, nftOp{"add", obj})
}

func (t *nftTx) Flush(obj knftables.Object) {
	t.tx.Flush(obj)
	t.ops = append(t.ops, nftOp{"flush", obj})
}

func (t *nftTx) Delete(obj knftables.Object) {
	t.tx.Delete(obj)
	t.ops = append(t.ops, nftOp{"delete", obj})
}

// String is the transaction as nft -f input.
func (t *nftTx) String() string { return t.tx.String() }

// NumOperations counts its operations.
func (t *nftTx) NumOperations() int { return t.tx.NumOperations() }

// replay runs the recorded operations as one transaction on a knftables
// interface (the fake that keeps a full dump).
func (t *nftTx) replay(nft knftables.Interface) error {
	tx := nft.NewTransaction()
	for _, op := range t.ops {
		switch op.verb {
		case "add":
			tx.Add(op.obj)
		case "flush":
			tx.Flush(op.obj)
		case "delete":
			tx.Delete(op.obj)
		}
	}
	return nft.Run(context.Background(), tx)
}

// nftTable is what the proxier needs to know of the kernel's table between
// syncs — the chains and sets there are, and each set's and map's elements
// (upstream reads them back with nft --json list) — kept from the
// transactions the kernel took, at the cost of a map update per operation.
type nftTable struct {
	exists bool
	chains map[string]bool
	sets   map[string]map[string]string // set or map → key → value (" . "-joined)
	isMap  map[string]bool
}

func newNFTTable() *nftTable {
	return &nftTable{chains: map[string]bool{}, sets: map[string]map[string]string{}, isMap: map[string]bool{}}
}

// apply records a transaction the kernel took.
func (t *nftTable) apply(ops []nftOp) {
	for _, op := range ops {
		switch o := op.obj.(type) {
		case *knftables.Table:
			if op.verb == "delete" {
				*t = *newNFTTable()
			} else {
				t.exists = true
			}
		case *knftables.Chain:
			switch op.verb {
			case "add":
				t.chains[o.Name] = true
			case "delete":
				delete(t.chains, o.Name)
			}
		case *knftables.Set:
			t.container(op.verb, o.Name, false)
		case *knftables.Map:
			t.container(op.verb, o.Name, true)
		case *knftables.Element:
			name := o.Set
			if name == "" {
				name = o.Map
			}
			key := strings.Join(o.Key, " . ")
			switch op.verb {
			case "add":
				if t.sets[name] != nil {
					t.sets[name][key] = strings.Join(o.Value, " . ")
				}
			case "delete":
				delete(t.sets[name], key)
			}
		}
	}
}

func (t *nftTable) container(verb, name string, isMap bool) {
	switch verb {
	case "add":
		if t.sets[name] == nil {
			t.sets[name] = map[string]string{}
			t.isMap[name] = isMap
		}
	case "flush":
		if t.sets[name] != nil {
			t.sets[name] = map[string]string{}
		}
	case "delete":
		delete(t.sets, name)
		delete(t.isMap, name)
	}
}

// listAll is knftables' ListAll: the names of the chains, sets and maps.
func (t *nftTable) listAll() map[string][]string {
	out := map[string][]string{}
	if !t.exists {
		return out
	}
	for c := range t.chains {
		out["chain"] = append(out["chain"], c)
	}
	for s := range t.sets {
		kind := "set"
		if t.isMap[s] {
			kind = "map"
		}
		out[kind] = append(out[kind], s)
	}
	return out
}

// elements is a set's or map's elements (nil when there is no such one).
func (t *nftTable) elements(name string) (map[string]string, bool) {
	e, ok := t.sets[name]
	return e, ok
}
