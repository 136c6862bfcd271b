package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tokend/tokend/cmd/tokenbench/internal/figures"
	"github.com/tokend/tokend/cmd/tokenbench/internal/fleet"
	"github.com/tokend/tokend/cmd/tokenbench/internal/readerbench"
)

// readerFigures: Reader hit vs a GET per read, and propagation of writes.
func (b *bench) readerFigures(ctx context.Context) error {
	// The Reader gets its own client, as in a business process.
	rrdb, err := fleet.NewRedisClient(b.RedisURL, 8)
	if err != nil {
		return err
	}
	rb, err := readerbench.New(ctx, b.RDB, rrdb, b.Prefix+"-rd")
	if err != nil {
		return err
	}
	defer rb.Close()
	hit, get, err := rb.Micro(ctx, b.opts.benchtime)
	if err != nil {
		return err
	}
	hitNs := float64(hit.T.Nanoseconds()) / float64(hit.N)
	getNs := float64(get.T.Nanoseconds()) / float64(get.N)
	ratio := getNs / hitNs
	b.add(row{
		figure: "Reader hit: Token from memory", tokend: fmt.Sprintf("%.1f ns/op, %d allocs/op", hitNs, hit.AllocsPerOp()),
		compare: fmt.Sprintf("redis GET per read: %s/op, %d allocs/op", figures.Dur(time.Duration(getNs)), get.AllocsPerOp()),
		goal:    "<= 25 ns, 0 allocs", status: goalStatus(hitNs <= 25 && hit.AllocsPerOp() == 0),
	})
	b.add(row{figure: "Reader hit vs GET per read", tokend: fmt.Sprintf("%s x faster", figures.Int(int64(ratio))),
		goal: ">= 2,000 x", status: goalStatus(ratio >= 2000)})
	return b.propagation(ctx, rb)
}

// propagation adds the row of readerbench's Propagation.
func (b *bench) propagation(ctx context.Context, rb *readerbench.Bench) error {
	raw, lost, err := rb.Propagation(ctx, b.opts.updates)
	if err != nil {
		return err
	}
	lat := figures.Durations(raw)
	st := statusOK
	if p99 := lat.Pct(99); p99 > 2*time.Millisecond || lost > 0 {
		st = statusMissed
	}
	msg := fmt.Sprintf("p50 %s, p99 %s, max %s", figures.Dur(lat.Pct(50)), figures.Dur(lat.Pct(99)), figures.Dur(lat.Max()))
	if lost > 0 {
		msg += fmt.Sprintf(", %d not seen within 2 s", lost)
	}
	b.add(row{figure: fmt.Sprintf("propagation, WriteToken -> Reader.Token (%s updates)", figures.Int(int64(b.opts.updates))),
		tokend: msg, compare: "store API as a leader writes", goal: "p99 <= 2 ms", status: st})
	return nil
}
