// Package schematest fails a go test when a schema change would break its
// readers or writers, so an incompatible change is caught in review rather
// than by the registry at deploy time, or by a consumer in production.
//
// # Baseline files
//
// Keep the schema versions a subject has published in the repository (for
// example testdata/orders/v1.avsc, v2.avsc) and assert that the current
// schema may follow them:
//
//	func TestCreatedSchemaCompatible(t *testing.T) {
//		c, _ := schema.NewCodec[orders.Created](orders.CreatedSchema)
//		schematest.AssertCompatibleWithFiles(t, []string{"testdata/orders/*.avsc"}, c.Schema(), schema.Backward)
//	}
//
// Files are taken oldest first in natural name order (v2 before v10).
// Non-transitive levels compare with the newest file only.
//
// # Against a registry
//
// [AssertCompatible] runs the same gate against the versions registered in
// a schema registry (for example a staging one, or [NewRegistry]'s
// in-process fake seeded by the test), registering nothing.
//
// Both helpers report an incompatibility with t.Errorf naming the subject
// or baseline file, the level and the reason; setup failures (no baseline
// file, registry unreachable) use t.Fatalf.
package schematest
