package eventstore

import (
	"fmt"
	"log/slog"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

// Dial returns a client for url ("esdb://host:port?tls=false", the same for
// the embedded server and KurrentDB), logging to logger (nil: slog.Default()).
// It connects lazily, on the first operation; the caller closes it.
func Dial(url string, logger *slog.Logger) (*esdb.Client, error) {
	cfg, err := esdb.ParseConnectionString(url)
	if err != nil {
		return nil, fmt.Errorf("eventstore: parse %q: %w", url, err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	cfg.Logger = clientLogger(logger)
	client, err := esdb.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("eventstore: client for %q: %w", url, err)
	}
	return client, nil
}

// clientLogger sends the client's log lines to logger. The client logs as
// errors what it also returns (a wrong expected version, a missing stream),
// so those are debug lines here; only its warnings (bad settings) stay
// warnings.
func clientLogger(logger *slog.Logger) esdb.LoggingFunc {
	return func(level esdb.LogLevel, format string, args ...any) {
		if level == esdb.LogWarn {
			logger.Warn("esdb client: " + fmt.Sprintf(format, args...))
			return
		}
		logger.Debug("esdb client: " + fmt.Sprintf(format, args...))
	}
}
