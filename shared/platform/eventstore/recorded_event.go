package eventstore

import (
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
)

// RecordedEvent is a stored event as subscribers see it.
type RecordedEvent struct {
	// ID is the event's id, unique in the store.
	ID uuid.UUID
	// Type is the event type name, as registered in a Registry.
	Type string
	// Stream is the stream the event belongs to.
	Stream string
	// Revision is the event's position within Stream, from 0.
	Revision uint64
	// Position is the event's position in $all.
	Position esdb.Position
	// Created is when the store wrote it.
	Created time.Time
	// Data is the event's JSON payload.
	Data []byte
	// Metadata is the decoded metadata; zero for events written without it.
	Metadata Metadata
	// RawMetadata is the metadata as stored.
	RawMetadata []byte
}

// NewRecordedEvent converts a client event, tolerating metadata that is not
// Troupe's (left zero in Metadata, kept in RawMetadata).
func NewRecordedEvent(ev *esdb.RecordedEvent) RecordedEvent {
	md, _ := ParseMetadata(ev.UserMetadata)
	return RecordedEvent{
		ID:          ev.EventID,
		Type:        ev.EventType,
		Stream:      ev.StreamID,
		Revision:    ev.EventNumber,
		Position:    ev.Position,
		Created:     ev.CreatedDate,
		Data:        ev.Data,
		Metadata:    md,
		RawMetadata: ev.UserMetadata,
	}
}

// PositionAfter reports whether a comes strictly after b in $all.
func PositionAfter(a, b esdb.Position) bool {
	if a.Commit != b.Commit {
		return a.Commit > b.Commit
	}
	return a.Prepare > b.Prepare
}
