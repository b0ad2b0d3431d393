package app

import (
	"context"
	"fmt"

	"github.com/troupe-dev/troupe/contexts/catalog/domain/product"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// ReceiveStock adds delivered units to a listed product's stock.
type ReceiveStock struct {
	SKU      string
	Quantity int64
}

// ReceiveStock runs the command. It fails with product.ErrNotListed for an
// unknown sku and with product.ErrInvalidQuantity (nothing appended). It is
// not idempotent: each call is a delivery.
func (a *Application) ReceiveStock(ctx context.Context, cmd ReceiveStock) (eventstore.Result, error) {
	if !product.ValidSKU(cmd.SKU) {
		return eventstore.Result{}, product.ErrInvalidSKU
	}
	res, err := a.products.Update(ctx, cmd.SKU, func(p *product.Product) error {
		return p.ReceiveStock(cmd.Quantity)
	})
	if err != nil {
		return res, fmt.Errorf("receive stock of %s: %w", cmd.SKU, err)
	}
	return res, nil
}
