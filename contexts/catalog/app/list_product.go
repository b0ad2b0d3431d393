package app

import (
	"context"
	"fmt"

	"github.com/troupe-dev/troupe/contexts/catalog/domain/product"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// ListProduct puts a new product on sale at the deployment's currency.
type ListProduct struct {
	SKU        string
	Name       string
	PriceCents int64
}

// ListProduct runs the command. It fails with product.ErrAlreadyListed when
// the sku exists, and with the domain's validation errors (nothing
// appended).
func (a *Application) ListProduct(ctx context.Context, cmd ListProduct) (eventstore.Result, error) {
	if !product.ValidSKU(cmd.SKU) {
		return eventstore.Result{}, product.ErrInvalidSKU
	}
	res, err := a.products.Update(ctx, cmd.SKU, func(p *product.Product) error {
		return p.List(cmd.Name, cmd.PriceCents, a.currency)
	})
	if err != nil {
		return res, fmt.Errorf("list product %s: %w", cmd.SKU, err)
	}
	return res, nil
}
