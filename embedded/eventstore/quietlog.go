package eventstore

import (
	"fmt"
	"log/slog"
	"os"
)

// quietLogger routes Pebble's log lines to slog at debug level (errors at
// error level); Pebble's Fatalf still exits, as Pebble requires.
type quietLogger struct{ log *slog.Logger }

func (q quietLogger) Infof(format string, args ...any) {
	q.log.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (q quietLogger) Errorf(format string, args ...any) {
	q.log.Error("pebble: " + fmt.Sprintf(format, args...))
}

func (q quietLogger) Fatalf(format string, args ...any) {
	q.log.Error("pebble: " + fmt.Sprintf(format, args...))
	os.Exit(1)
}
