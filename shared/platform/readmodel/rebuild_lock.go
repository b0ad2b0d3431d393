package readmodel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// LockKey is the key of the namespace's rebuild lock.
func (n Namespace) LockKey() string { return n.Root + "rebuild-lock" }

var unlockScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)
var renewScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)

// Lock takes the namespace's rebuild lock, waiting while another process
// holds it, so that instances starting on an empty Redis build the model
// once, not once each. The lock expires after ttl unless renewed; Lock
// renews it every ttl/3 until unlock is called, so a process that dies
// holding it frees it after ttl. Check the model again once Lock returns:
// the previous holder has most likely built it.
func (n Namespace) Lock(ctx context.Context, rdb redis.UniversalClient, ttl time.Duration) (unlock func(), err error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	key := n.LockKey()
	for {
		ok, err := rdb.SetNX(ctx, key, token, ttl).Result()
		if err != nil {
			return nil, fmt.Errorf("readmodel: rebuild lock: %w", err)
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-t.C:
				_ = renewScript.Run(rctx, rdb, []string{key}, token, ttl.Milliseconds()).Err()
			}
		}
	}()
	return func() {
		stop()
		<-done
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = unlockScript.Run(uctx, rdb, []string{key}, token).Err()
	}, nil
}
