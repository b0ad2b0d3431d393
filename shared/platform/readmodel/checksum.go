package readmodel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Checksum hashes the content of generation gen: every key under its
// prefix (relative to it) and its value, in a canonical order, leaving out
// the offsets and bookkeeping hashes, which depend on how the events were
// delivered rather than on what was applied. Two generations holding the
// same model have the same checksum; it is meant for verifying rebuilds
// and for tests, and reads the whole generation.
func (n Namespace) Checksum(ctx context.Context, rdb redis.UniversalClient, gen string) (string, error) {
	prefix := n.Prefix(gen)
	skip := map[string]bool{n.OffsetsKey(gen): true, n.MetaKey(gen): true}
	var keys []string
	var cursor uint64
	for {
		ks, next, err := rdb.Scan(ctx, cursor, escapeGlob(prefix)+"*", 1000).Result()
		if err != nil {
			return "", fmt.Errorf("checksum %s: %w", prefix, err)
		}
		for _, k := range ks {
			if !skip[k] {
				keys = append(keys, k)
			}
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	sort.Strings(keys)
	keys = dedupe(keys)
	h := sha256.New()
	for _, k := range keys {
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			return "", fmt.Errorf("checksum %s: %w", k, err)
		}
		var val string
		switch typ {
		case "string":
			val, err = rdb.Get(ctx, k).Result()
		case "hash":
			var m map[string]string
			m, err = rdb.HGetAll(ctx, k).Result()
			val = canonicalMap(m)
		case "zset":
			var zs []redis.Z
			zs, err = rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
			var b strings.Builder
			for _, z := range zs {
				fmt.Fprintf(&b, "%v=%g\n", z.Member, z.Score)
			}
			val = b.String()
		case "set":
			var ms []string
			ms, err = rdb.SMembers(ctx, k).Result()
			sort.Strings(ms)
			val = strings.Join(ms, "\n")
		case "list":
			var ms []string
			ms, err = rdb.LRange(ctx, k, 0, -1).Result()
			val = strings.Join(ms, "\n")
		case "none":
			continue // deleted meanwhile
		default:
			return "", fmt.Errorf("checksum %s: unsupported type %s", k, typ)
		}
		if err != nil {
			return "", fmt.Errorf("checksum %s: %w", k, err)
		}
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00", strings.TrimPrefix(k, prefix), typ, val)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func canonicalMap(m map[string]string) string {
	fs := make([]string, 0, len(m))
	for f, v := range m {
		fs = append(fs, f+"="+v)
	}
	sort.Strings(fs)
	return strings.Join(fs, "\n")
}

func dedupe(sorted []string) []string {
	out := sorted[:0]
	for i, k := range sorted {
		if i == 0 || k != sorted[i-1] {
			out = append(out, k)
		}
	}
	return out
}
