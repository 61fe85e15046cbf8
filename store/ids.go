package store

import (
	"crypto/rand"
	"encoding/binary"
	"time"
)

const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// NewID returns prefix + "_" + 26 characters: 48 bits of milliseconds then
// 80 random bits in Crockford base32, so ids sort by creation time and need
// no database round trip (no INSERT ... RETURNING).
func NewID(prefix string) string { return newIDAt(prefix, time.Now(), true) }

// NotificationID is an inbox row's id, made from the time it was received:
// the inbox is kept in id order by its primary key alone (the retention
// purge reads the oldest first by it), with no index of its own on the
// time received.
func NotificationID(received time.Time) string { return newIDAt("ntf", received, true) }

// idFloor is the smallest id of prefix made at t or later: every id made
// before t sorts below it.
func idFloor(prefix string, t time.Time) string { return newIDAt(prefix, t, false) }

func newIDAt(prefix string, t time.Time, random bool) string {
	var b [16]byte
	ms := uint64(max(t.UnixMilli(), 0))
	binary.BigEndian.PutUint16(b[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(b[2:6], uint32(ms))
	if random {
		_, _ = rand.Read(b[6:])
	}
	out := make([]byte, 0, len(prefix)+1+26)
	out = append(out, prefix...)
	out = append(out, '_')
	// 128 bits -> 26 base32 digits (the top digit carries 3 bits).
	hi := binary.BigEndian.Uint64(b[0:8])
	lo := binary.BigEndian.Uint64(b[8:16])
	var digits [26]byte
	for i := 25; i >= 0; i-- {
		digits[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(append(out, digits[:]...))
}
