// Package webhook is a Troupe subscriber built only on the SDK: see README.md.
package webhook
