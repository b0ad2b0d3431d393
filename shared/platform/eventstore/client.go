package eventstore

import (
	"fmt"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

// Dial returns a client for url ("esdb://host:port?tls=false", the same for
// the embedded server and KurrentDB). It connects lazily, on the first
// operation; the caller closes it.
func Dial(url string) (*esdb.Client, error) {
	cfg, err := esdb.ParseConnectionString(url)
	if err != nil {
		return nil, fmt.Errorf("eventstore: parse %q: %w", url, err)
	}
	client, err := esdb.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("eventstore: client for %q: %w", url, err)
	}
	return client, nil
}
