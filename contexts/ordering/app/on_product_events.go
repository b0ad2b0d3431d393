package app

import (
	"context"
	"fmt"

	"github.com/troupe-dev/troupe/contexts/ordering/domain/order"
	"github.com/troupe-dev/troupe/contexts/ordering/domain/pricebook"
)

// OnProductListed records a listed product's price in the price book.
// sourceRevision is the event's revision in catalog's product stream: an
// event at or below the last one applied is a repeat and does nothing.
func (a *App) OnProductListed(ctx context.Context, sku, name string, priceCents int64, currency string, sourceRevision uint64, cause Cause) error {
	return a.updatePrice(ctx, sku, cause, func(e *pricebook.Entry) error {
		return e.List(name, priceCents, currency, sourceRevision)
	})
}

// OnProductRepriced records a product's new price, with the same repeat
// rule as OnProductListed.
func (a *App) OnProductRepriced(ctx context.Context, sku string, priceCents int64, currency string, sourceRevision uint64, cause Cause) error {
	return a.updatePrice(ctx, sku, cause, func(e *pricebook.Entry) error {
		return e.Reprice(priceCents, currency, sourceRevision)
	})
}

func (a *App) updatePrice(ctx context.Context, sku string, cause Cause, fn func(*pricebook.Entry) error) error {
	if !order.ValidSKU(sku) {
		a.cfg.Logger.WarnContext(ctx, "ordering: price for a malformed SKU, ignored", "sku", sku, "event", cause.EventID)
		return nil
	}
	if _, err := a.cfg.Prices.Update(cause.under(ctx), sku, fn); err != nil {
		return fmt.Errorf("price book %s: %w", sku, err)
	}
	return nil
}
