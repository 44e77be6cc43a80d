package schema

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hamba/avro/v2"
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
// follow the existing schemas (oldest first) under level. Non-transitive
// levels compare with the last schema only; transitive ones with all of
// them. An incompatible candidate is an *[IncompatibleError] whose Version
// is the 1-based position in existing it clashes with. A schema that does
// not parse is an error wrapping [ErrInvalid]. Check is pure and safe for
// concurrent use.
//
// Check applies the Avro specification's resolution rules through hamba's
// checker, with two corrections, both tested in compat_test.go:
//
//   - hamba caches verdicts by the schemas' canonical fingerprints, which
//     leave out defaults and aliases, so a reused checker can return a
//     verdict computed for a different schema; Check uses a fresh checker
//     for every comparison.
//   - hamba (like Java's Avro) matches record names by their unqualified
//     name. Check requires the top-level full names to match (or the
//     reader to alias the writer's full name): ordo dispatches records by
//     full name, and a subject holds one record type.
func Check(level Level, candidate string, existing []string) error {
	if level < None || level > FullTransitive {
		return fmt.Errorf("%w: compatibility level %d", ErrInvalidConfig, int(level))
	}
	cand, err := parse(candidate)
	if err != nil {
		return fmt.Errorf("candidate schema: %w", err)
	}
	olds := make([]parsed, len(existing))
	for i, s := range existing {
		if olds[i], err = parse(s); err != nil {
			return fmt.Errorf("existing schema %d: %w", i+1, err)
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
	if err := compatErr(reader.sch, writer.sch); err != nil {
		if path := where(reader.sch, writer.sch, ""); path != "" {
			return "field " + path + ": " + err.Error()
		}
		return err.Error()
	}
	return ""
}

// compatErr asks hamba, with a fresh checker, whether data written with
// writer can be read with reader.
func compatErr(reader, writer avro.Schema) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("compatibility checker panic: %v", r)
		}
	}()
	return avro.NewSchemaCompatibility().Compatible(reader, writer)
}

// where returns the path of the first field that makes reader unable to
// read writer, or "" if the clash is not inside a record's field. hamba's
// messages name types but not fields; this puts the field in the reason.
func where(reader, writer avro.Schema, path string) string {
	reader, writer = deref(reader), deref(writer)
	switch r := reader.(type) {
	case *avro.ArraySchema:
		if w, ok := writer.(*avro.ArraySchema); ok {
			return where(r.Items(), w.Items(), path+"[]")
		}
	case *avro.MapSchema:
		if w, ok := writer.(*avro.MapSchema); ok {
			return where(r.Values(), w.Values(), path+"{}")
		}
	case *avro.RecordSchema:
		w, ok := writer.(*avro.RecordSchema)
		if !ok {
			return path
		}
		for _, rf := range r.Fields() {
			wf := writerField(w, rf)
			switch {
			case wf == nil && !rf.HasDefault():
				return join(path, rf.Name())
			case wf != nil && compatErr(rf.Type(), wf.Type()) != nil:
				return where(rf.Type(), wf.Type(), join(path, rf.Name()))
			}
		}
	}
	return path
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
