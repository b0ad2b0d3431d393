package eventstore

import (
	"encoding/binary"
	"errors"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protowire"
)

// rawIn receives a message's wire bytes undecoded (see rawCodec).
type rawIn struct{ b []byte }

// proposedWire is a ProposedMessage read straight from the wire: the
// generated decoder allocates a map per event and dominated the CPU profile
// of batch appends. Data and custom metadata alias the message bytes.
type proposedWire struct {
	id                    [16]byte
	hasID                 bool
	typ, contentType      string
	hasType, hasContentTy bool
	custom, data          []byte
}

var errMalformed = errors.New("malformed append message")

// decodeAppendProposed reads an AppendReq that must carry a proposed
// message (every append message after the first).
func decodeAppendProposed(b []byte) (proposedWire, error) {
	var pm proposedWire
	found := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return pm, errMalformed
		}
		b = b[n:]
		if num == 2 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return pm, errMalformed
			}
			b = b[n:]
			var err error
			if pm, err = decodeProposed(v); err != nil {
				return pm, err
			}
			found = true
			continue
		}
		if num == 1 {
			return pm, errors.New("append options may only come first")
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return pm, errMalformed
		}
		b = b[n:]
	}
	if !found {
		return pm, errors.New("append messages after the first must carry a proposed event")
	}
	return pm, nil
}

func decodeProposed(b []byte) (proposedWire, error) {
	var pm proposedWire
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return pm, errMalformed
		}
		b = b[n:]
		if typ != protowire.BytesType || num < 1 || num > 4 {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return pm, errMalformed
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return pm, errMalformed
		}
		b = b[n:]
		switch num {
		case 1:
			// An id that is absent, empty or not a UUID is reported by
			// toProposed, as for the generated decoder.
			pm.id, pm.hasID = decodeUUID(v)
		case 2:
			k, val, err := decodeMapEntry(v)
			if err != nil {
				return pm, err
			}
			switch k {
			case "type":
				pm.typ, pm.hasType = val, true
			case "content-type":
				pm.contentType, pm.hasContentTy = val, true
			}
		case 3:
			pm.custom = v
		case 4:
			pm.data = v
		}
	}
	return pm, nil
}

func decodeMapEntry(b []byte) (key, value string, err error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", "", errMalformed
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == 1 || num == 2) {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return "", "", errMalformed
			}
			b = b[n:]
			if num == 1 {
				key = string(v)
			} else {
				value = string(v)
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return "", "", errMalformed
		}
		b = b[n:]
	}
	return key, value, nil
}

// decodeUUID reads a UUID message in its structured or string form.
func decodeUUID(b []byte) (id [16]byte, ok bool) {
	var most, least uint64
	structured, str := false, false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return id, false
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return id, false
			}
			b = b[n:]
			for len(v) > 0 {
				f, t, m := protowire.ConsumeTag(v)
				if m < 0 {
					return id, false
				}
				v = v[m:]
				if t == protowire.VarintType && (f == 1 || f == 2) {
					x, m := protowire.ConsumeVarint(v)
					if m < 0 {
						return id, false
					}
					v = v[m:]
					if f == 1 {
						most = x
					} else {
						least = x
					}
					continue
				}
				m = protowire.ConsumeFieldValue(f, t, v)
				if m < 0 {
					return id, false
				}
				v = v[m:]
			}
			structured = true
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return id, false
			}
			b = b[n:]
			u, err := uuid.ParseBytes(v)
			if err != nil {
				return id, false
			}
			id, str = u, true
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return id, false
			}
			b = b[n:]
		}
	}
	if structured {
		binary.BigEndian.PutUint64(id[:8], most)
		binary.BigEndian.PutUint64(id[8:], least)
		return id, true
	}
	return id, str
}
