package consumer

import "context"

// Middleware wraps the handling of every event, whatever its type: a
// database transaction, a tenant or a deadline put in ctx, custom metrics.
// It gets the record's [Meta] and next, which runs the rest of the chain
// and then the handler with the ctx it is given. Its error is the
// handler's error: retried, or classified by [Permanent], like any other.
//
// It runs once per attempt, after the event has decoded (a record that
// does not decode never reaches it), on the lane that handles the record:
// records of one key pass through it one at a time, in order. A panic in
// it is recovered as a failed attempt, as a handler's is.
//
//	consumer.Use(func(ctx context.Context, m consumer.Meta, next func(context.Context) error) error {
//		tx, err := db.BeginTx(ctx, nil)
//		if err != nil {
//			return err
//		}
//		if err := next(withTx(ctx, tx)); err != nil {
//			tx.Rollback()
//			return err
//		}
//		return tx.Commit()
//	})
type Middleware func(ctx context.Context, m Meta, next func(context.Context) error) error

// Use adds middleware around every handler registered with [On] and the
// [Tombstones] handler. The first
// given is the outermost; several Use options add in order. Default: none.
// A nil Middleware is a configuration error reported by [New]. It costs
// one closure per attempt; with none, nothing.
func Use(mw ...Middleware) Option {
	return optionFunc(func(c *config) {
		for _, m := range mw {
			if m == nil {
				c.fail("Use: nil middleware")
				continue
			}
			c.middleware = append(c.middleware, m)
		}
	})
}

// chain composes mws into one Middleware, outermost first; nil for none.
func chain(mws []Middleware) Middleware {
	switch len(mws) {
	case 0:
		return nil
	case 1:
		return mws[0]
	}
	outer, inner := mws[0], chain(mws[1:])
	return func(ctx context.Context, m Meta, next func(context.Context) error) error {
		return outer(ctx, m, func(ctx context.Context) error { return inner(ctx, m, next) })
	}
}
