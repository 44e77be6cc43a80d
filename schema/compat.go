package schema

import (
	"fmt"
	"slices"
	"strings"

	avro "github.com/ordo-go/ordo/schema/internal/avro"
)

// Level is a compatibility level, as the Confluent schema registry defines
// them. BACKWARD: the new schema can read data written with the old one
// (upgrade consumers first). FORWARD: the old schema can read data written
// with the new one (upgrade producers first). FULL: both. The transitive
// levels check against every registered version, the others against the
// latest only.
type Level int

// Compatibility levels. The zero value is None, but every place ordo picks a
// default picks [Backward], as the registry does.
const (
	None Level = iota
	Backward
	BackwardTransitive
	Forward
	ForwardTransitive
	Full
	FullTransitive
)

var levelNames = [...]string{"NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"}

// String returns the level as the registry spells it, e.g.
// "BACKWARD_TRANSITIVE".
func (l Level) String() string {
	if l < 0 || int(l) >= len(levelNames) {
		return fmt.Sprintf("Level(%d)", int(l))
	}
	return levelNames[l]
}

// ParseLevel parses a level as the registry spells it (case-insensitive,
// "-" accepted for "_"). An unknown name is an error wrapping
// [ErrInvalidConfig].
func ParseLevel(s string) (Level, error) {
	norm := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "-", "_"))
	if i := slices.Index(levelNames[:], norm); i >= 0 {
		return Level(i), nil
	}
	return None, fmt.Errorf("%w: unknown compatibility level %q", ErrInvalidConfig, s)
}

func (l Level) transitive() bool {
	return l == BackwardTransitive || l == ForwardTransitive || l == FullTransitive
}
func (l Level) backward() bool {
	return l == Backward || l == BackwardTransitive || l == Full || l == FullTransitive
}
func (l Level) forward() bool {
	return l == Forward || l == ForwardTransitive || l == Full || l == FullTransitive
}

// Check is the local compatibility gate: it reports whether candidate may
// follow the existing schemas (oldest first) under level. Its arguments
// come in the order of [Registry.Check]'s: what is there, the candidate,
// the level. Non-transitive
// levels compare with the last schema only; transitive ones with all of
// them. An incompatible candidate is an *[IncompatibleError] whose Version
// is the 1-based position in existing it clashes with. A schema that does
// not parse is an error wrapping [ErrInvalid]. Check is pure and safe for
// concurrent use.
//
// Check applies the Avro specification's resolution rules (type
// promotions, defaults for missing fields, field and name aliases, enum
// defaults, union branches) with ordo's own checker, not hamba's. It
// returns for every pair of schemas, recursive ones included (a record
// reached again through a field, an array, a map, a union, or another
// record). Where it departs from a literal reading of the specification,
// on purpose:
//
//   - Record names: nested named types match by unqualified name or a
//     reader alias of the writer's full name, as in Java's Avro. The
//     top-level full names must match (or the reader alias the writer's
//     full name): ordo dispatches records by full name, and a subject holds
//     one record type.
//   - A writer union read by a narrower reader (a union lacking one of the
//     writer's branches, or a non-union type): the specification fails only
//     the records written with the branch that has no match; Check refuses
//     the change as a whole, as the registry's own BACKWARD and FORWARD
//     checks do, and says so in the reason. A gate that let the change
//     through would let the registry refuse it anyway, or leave the
//     consumers failing record by record once the new branch is used.
//     [Codec.DecodeFrom] applies the same verdict to a writer schema, so
//     every record written with it fails to decode, not only those on the
//     missing branch.
//   - A reader union reading a non-union writer type picks any branch that
//     can read it (Java's checker and the registry do the same), not only
//     the first branch whose type matches.
func Check(existing []string, candidate string, level Level) error {
	if level < None || level > FullTransitive {
		return fmt.Errorf("%w: compatibility level %d", ErrInvalidConfig, int(level))
	}
	cand, err := parse(candidate)
	if err != nil {
		return fmt.Errorf("schema: candidate schema: %w", bare(err))
	}
	olds := make([]parsed, len(existing))
	for i, s := range existing {
		if olds[i], err = parse(s); err != nil {
			return fmt.Errorf("schema: existing schema %d: %w", i+1, bare(err))
		}
	}
	return checkParsed(level, cand, olds, func(i int) int { return i + 1 })
}

// checkParsed runs the gate; version maps an index of olds to the version
// reported in the error.
func checkParsed(level Level, cand parsed, olds []parsed, version func(int) int) error {
	if level == None || len(olds) == 0 {
		return nil
	}
	from := len(olds) - 1
	if level.transitive() {
		from = 0
	}
	// Newest first, so the error names the most recent clash.
	for i := len(olds) - 1; i >= from; i-- {
		if reason := compatible(level, cand, olds[i]); reason != "" {
			return &IncompatibleError{Level: level, Version: version(i), Reason: reason}
		}
	}
	return nil
}

// compatible returns why cand may not follow old under level, or "".
func compatible(level Level, cand, old parsed) string {
	if level.backward() {
		if why := canRead(cand, old); why != "" {
			return "new schema cannot read data written with the old one: " + why
		}
	}
	if level.forward() {
		if why := canRead(old, cand); why != "" {
			return "old schema cannot read data written with the new one: " + why
		}
	}
	return ""
}

// canRead reports why data written with writer cannot be read with reader.
func canRead(reader, writer parsed) string {
	if reader.name != writer.name && !aliases(reader.sch, writer.name) {
		return fmt.Sprintf("record name %s differs from %s: a subject holds one record type "+
			"(use the RecordName or TopicRecordName subject strategy to put several types on one topic)",
			orUnnamed(reader.name, reader.sch), orUnnamed(writer.name, writer.sch))
	}
	if why := compatReason(reader.sch, writer.sch); why != nil {
		return why.String()
	}
	return ""
}

// unionNote ends the reason of a writer union branch the reader cannot
// read: the decision documented on [Check].
const unionNote = "; the change is refused as a whole, as the registry's own check refuses it, " +
	"although only the records written with that branch would fail to decode"

// reason says why a reader cannot read a writer: msg, at the field path
// (e.g. "kids[].x", "" for the schemas themselves). noMatch marks a writer
// type that has no counterpart in the reader at path (as opposed to a
// counterpart that differs deeper down).
type reason struct {
	path, msg string
	noMatch   bool
}

func (r *reason) String() string {
	if r.path == "" {
		return r.msg
	}
	return "field " + r.path + ": " + r.msg
}

// pairKey is a reader named type and a writer named type compared with each
// other. hamba's parser makes every reference to a name point to the one
// definition, so pointer identity is name identity within a schema.
type pairKey struct{ r, w avro.NamedSchema }

// checker applies the Avro specification's schema resolution rules to a
// reader and a writer schema. Avro types recurse only through named types
// (records, enums, fixed), so the verdict is computed per pair of named
// types as a greatest fixed point: every pair met is assumed readable, each
// is evaluated against the current assumptions, a refuted pair is marked
// and the rest are evaluated again until nothing changes. Each round either
// refutes a pair or ends, so a check takes at most (pairs + 1) rounds of
// one pass over the pairs met: it always returns, whatever the recursion
// (direct, through arrays, maps or unions, or mutual).
//
// hamba's checker is not used: it breaks recursion by caching an
// "in progress" pair as compatible, and keeps verdicts computed under that
// assumption after the pair is refuted, so a reader union branch tried and
// abandoned can leave a wrong "compatible" behind (TestCheckRecursive, case
// "reader union poisoned by an abandoned branch").
type checker struct {
	why   map[pairKey]*reason // nil: readable, as far as known
	pairs []pairKey           // in the order met
}

// compatReason returns why data written with writer cannot be read with
// reader, or nil.
func compatReason(reader, writer avro.Schema) (why *reason) {
	defer func() {
		if r := recover(); r != nil {
			why = &reason{msg: fmt.Sprintf("compatibility checker panic: %v", r)}
		}
	}()
	c := &checker{why: map[pairKey]*reason{}}
	c.match(reader, writer, "") // meet the pairs reachable from the top
	for changed := true; changed; {
		changed = false
		for i := 0; i < len(c.pairs); i++ { // evaluating a pair may meet more
			p := c.pairs[i]
			if c.why[p] != nil {
				continue
			}
			if why := c.named(p.r, p.w); why != nil {
				c.why[p] = why
				changed = true
			}
		}
	}
	return c.match(reader, writer, "")
}

// match checks reader against writer at path, under the current verdicts
// of named pairs.
func (c *checker) match(reader, writer avro.Schema, path string) *reason {
	reader, writer = deref(reader), deref(writer)
	if wu, ok := writer.(*avro.UnionSchema); ok {
		// Every branch the writer may have written must be readable.
		for _, b := range wu.Types() {
			if why := c.match(reader, b, path); why != nil {
				if why.noMatch && why.path == path {
					// The reader is narrower than the writer's union.
					return &reason{path: path, msg: fmt.Sprintf("writer's union branch %s: %s%s", typeName(b), why.msg, unionNote)}
				}
				return why
			}
		}
		return nil
	}
	if ru, ok := reader.(*avro.UnionSchema); ok {
		// The writer's type must be readable as one of the reader's
		// branches. If none can, the reason is the first branch of the
		// writer's kind (and name), else the union's.
		var first *reason
		for _, b := range ru.Types() {
			why := c.match(b, writer, path)
			if why == nil {
				return nil
			}
			if first == nil && !why.noMatch {
				first = why
			}
		}
		if first != nil {
			return first
		}
		return &reason{path: path, noMatch: true, msg: fmt.Sprintf("reader union %s lacking writer schema %s", typeName(reader), typeName(writer))}
	}
	if reader.Type() != writer.Type() {
		if promotable(writer.Type(), reader.Type()) {
			return nil
		}
		return &reason{path: path, noMatch: true, msg: fmt.Sprintf("reader schema %s not compatible with writer schema %s", typeName(reader), typeName(writer))}
	}
	switch r := reader.(type) {
	case *avro.ArraySchema:
		return c.match(r.Items(), writer.(*avro.ArraySchema).Items(), path+"[]")
	case *avro.MapSchema:
		return c.match(r.Values(), writer.(*avro.MapSchema).Values(), path+"{}")
	case avro.NamedSchema:
		return c.pair(r, writer.(avro.NamedSchema), path)
	}
	return nil // the same primitive type; logical types do not change the encoding
}

// pair returns the current verdict on a pair of named types, meeting it
// (assumed readable) the first time.
func (c *checker) pair(r, w avro.NamedSchema, path string) *reason {
	k := pairKey{r, w}
	why, met := c.why[k]
	if !met {
		c.why[k] = nil
		c.pairs = append(c.pairs, k)
	}
	if why == nil {
		return nil
	}
	return &reason{path: joinPath(path, why.path), msg: why.msg, noMatch: why.noMatch && why.path == ""}
}

// named evaluates a pair of named types of the same kind.
func (c *checker) named(r, w avro.NamedSchema) *reason {
	// Nested names match unqualified, as in Java's Avro and hamba; the
	// top-level full name is checked by canRead.
	if r.Name() != w.Name() && !slices.Contains(r.Aliases(), w.FullName()) {
		return &reason{noMatch: true, msg: fmt.Sprintf("reader schema %s and writer schema %s names do not match", r.FullName(), w.FullName())}
	}
	switch rs := r.(type) {
	case *avro.RecordSchema:
		ws := w.(*avro.RecordSchema)
		for _, rf := range rs.Fields() {
			wf := writerField(ws, rf)
			if wf == nil {
				if rf.HasDefault() {
					continue
				}
				return &reason{path: rf.Name(), msg: fmt.Sprintf("reader field %s is missing in writer schema and has no default", rf.Name())}
			}
			if why := c.match(rf.Type(), wf.Type(), rf.Name()); why != nil {
				return why
			}
		}
	case *avro.EnumSchema:
		ws := w.(*avro.EnumSchema)
		for _, sym := range ws.Symbols() {
			if !slices.Contains(rs.Symbols(), sym) && !rs.HasDefault() {
				return &reason{msg: fmt.Sprintf("reader %s is missing symbol %s and has no default", rs.FullName(), sym)}
			}
		}
	case *avro.FixedSchema:
		if ws := w.(*avro.FixedSchema); rs.Size() != ws.Size() {
			return &reason{msg: fmt.Sprintf("%s reader and writer fixed sizes do not match (%d, %d)", rs.FullName(), rs.Size(), ws.Size())}
		}
	}
	return nil
}

// promotable reports whether a writer's primitive type is read as the
// reader's by the specification's promotions.
func promotable(writer, reader avro.Type) bool {
	switch writer {
	case avro.Int:
		return reader == avro.Long || reader == avro.Float || reader == avro.Double
	case avro.Long:
		return reader == avro.Float || reader == avro.Double
	case avro.Float:
		return reader == avro.Double
	case avro.String:
		return reader == avro.Bytes
	case avro.Bytes:
		return reader == avro.String
	}
	return false
}

// typeName names a type in a reason: a named type by its full name, a
// union by its branches, anything else by its type.
func typeName(s avro.Schema) string {
	s = deref(s)
	switch t := s.(type) {
	case avro.NamedSchema:
		return string(t.Type()) + " " + t.FullName()
	case *avro.UnionSchema:
		names := make([]string, len(t.Types()))
		for i, b := range t.Types() {
			names[i] = typeName(b)
		}
		return "[" + strings.Join(names, ", ") + "]"
	}
	return string(s.Type())
}

func joinPath(path, rel string) string {
	switch {
	case path == "":
		return rel
	case rel == "":
		return path
	}
	return path + "." + rel
}

func deref(s avro.Schema) avro.Schema {
	if ref, ok := s.(*avro.RefSchema); ok {
		return ref.Schema()
	}
	return s
}

// writerField finds the writer's field for a reader field, by name or by
// one of the reader field's aliases.
func writerField(w *avro.RecordSchema, rf *avro.Field) *avro.Field {
	for _, wf := range w.Fields() {
		if wf.Name() == rf.Name() || slices.Contains(rf.Aliases(), wf.Name()) {
			return wf
		}
	}
	return nil
}

func aliases(s avro.Schema, fullName string) bool {
	n, ok := s.(avro.NamedSchema)
	return ok && slices.Contains(n.Aliases(), fullName)
}

func orUnnamed(name string, s avro.Schema) string {
	if name == "" {
		return "(unnamed " + string(s.Type()) + ")"
	}
	return name
}
