package app

import (
	"context"
	"fmt"

	"github.com/troupe-dev/troupe/contexts/catalog/domain/product"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// RepriceProduct sets a listed product's price.
type RepriceProduct struct {
	SKU        string
	PriceCents int64
}

// RepriceProduct runs the command. It fails with product.ErrNotListed for
// an unknown sku and with product.ErrInvalidPrice (nothing appended).
func (a *Application) RepriceProduct(ctx context.Context, cmd RepriceProduct) (eventstore.Result, error) {
	if !product.ValidSKU(cmd.SKU) {
		return eventstore.Result{}, product.ErrInvalidSKU
	}
	res, err := a.products.Update(ctx, cmd.SKU, func(p *product.Product) error {
		return p.Reprice(cmd.PriceCents)
	})
	if err != nil {
		return res, fmt.Errorf("reprice product %s: %w", cmd.SKU, err)
	}
	return res, nil
}
