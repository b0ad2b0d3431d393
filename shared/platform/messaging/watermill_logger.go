package messaging

import (
	"context"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill"
)

// watermillLogger adapts slog to watermill's logger. Unlike watermill's own
// slog adapter it checks the level before building attributes: watermill
// logs at trace level for every message, and building those attributes
// cost a fifth of the subscriber's CPU. Watermill's chatty Info goes to
// Debug; its Errors stay errors.
type watermillLogger struct {
	l *slog.Logger
}

func (w watermillLogger) log(level slog.Level, msg string, err error, fields watermill.LogFields) {
	if !w.l.Enabled(context.Background(), level) {
		return
	}
	attrs := make([]any, 0, 2*len(fields)+2)
	for k, v := range fields {
		attrs = append(attrs, k, v)
	}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	w.l.Log(context.Background(), level, msg, attrs...)
}

func (w watermillLogger) Error(msg string, err error, fields watermill.LogFields) {
	w.log(slog.LevelError, msg, err, fields)
}
func (w watermillLogger) Info(msg string, fields watermill.LogFields) {
	w.log(slog.LevelDebug, msg, nil, fields)
}
func (w watermillLogger) Debug(msg string, fields watermill.LogFields) {
	w.log(slog.LevelDebug-2, msg, nil, fields)
}
func (w watermillLogger) Trace(msg string, fields watermill.LogFields) {
	w.log(slog.LevelDebug-4, msg, nil, fields)
}
func (w watermillLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	attrs := make([]any, 0, 2*len(fields))
	for k, v := range fields {
		attrs = append(attrs, k, v)
	}
	return watermillLogger{l: w.l.With(attrs...)}
}
