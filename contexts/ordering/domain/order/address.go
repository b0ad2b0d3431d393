package order

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of a shipping address's fields, in characters.
const (
	MaxAddressLine = 200
	MaxCity        = 100
	MaxPostalCode  = 20
)

var countryRe = regexp.MustCompile(`^[A-Z]{2}$`)

// Address is where an order is to be delivered. Build one with NewAddress;
// the zero value is "no address".
type Address struct {
	recipient, line1, line2, city, postalCode, country string
}

// FieldProblem names one invalid field of a request and says why.
type FieldProblem struct {
	Field, Message string
}

// InvalidAddressError lists every invalid field of an address, by its JSON
// name ("city", "country").
type InvalidAddressError struct {
	Problems []FieldProblem
}

func (e *InvalidAddressError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + " " + p.Message
	}
	return "invalid address: " + strings.Join(parts, ", ")
}

// NewAddress validates and returns an address: recipient, line1, city and
// postalCode are required (line2 is optional), each within its limit, and
// country is an ISO 3166-1 alpha-2 code in capitals ("DE"). Surrounding
// spaces are trimmed. An invalid address is an *InvalidAddressError.
func NewAddress(recipient, line1, line2, city, postalCode, country string) (Address, error) {
	a := Address{
		recipient: strings.TrimSpace(recipient), line1: strings.TrimSpace(line1), line2: strings.TrimSpace(line2),
		city: strings.TrimSpace(city), postalCode: strings.TrimSpace(postalCode), country: strings.TrimSpace(country),
	}
	var errs []FieldProblem
	check := func(field, v string, required bool, limit int) {
		switch n := utf8.RuneCountInString(v); {
		case required && n == 0:
			errs = append(errs, FieldProblem{field, "is required"})
		case n > limit:
			errs = append(errs, FieldProblem{field, "at most " + strconv.Itoa(limit) + " characters"})
		}
	}
	check("recipient", a.recipient, true, MaxAddressLine)
	check("line1", a.line1, true, MaxAddressLine)
	check("line2", a.line2, false, MaxAddressLine)
	check("city", a.city, true, MaxCity)
	check("postalCode", a.postalCode, true, MaxPostalCode)
	if !countryRe.MatchString(a.country) {
		errs = append(errs, FieldProblem{"country", "must be an ISO 3166-1 alpha-2 code such as DE"})
	}
	if len(errs) > 0 {
		return Address{}, &InvalidAddressError{Problems: errs}
	}
	return a, nil
}

// IsZero reports whether a is "no address".
func (a Address) IsZero() bool { return a == Address{} }

// Recipient returns who receives the delivery.
func (a Address) Recipient() string { return a.recipient }

// Line1 returns the street and number.
func (a Address) Line1() string { return a.line1 }

// Line2 returns the optional second line.
func (a Address) Line2() string { return a.line2 }

// City returns the city.
func (a Address) City() string { return a.city }

// PostalCode returns the postal code.
func (a Address) PostalCode() string { return a.postalCode }

// Country returns the ISO 3166-1 alpha-2 country code.
func (a Address) Country() string { return a.country }

func (a Address) placed() *PlacedAddress {
	if a.IsZero() {
		return nil
	}
	return &PlacedAddress{Recipient: a.recipient, Line1: a.line1, Line2: a.line2, City: a.city,
		PostalCode: a.postalCode, Country: a.country}
}

func (p *PlacedAddress) address() Address {
	if p == nil {
		return Address{}
	}
	return Address{recipient: p.Recipient, line1: p.Line1, line2: p.Line2, city: p.City, postalCode: p.PostalCode, country: p.Country}
}
