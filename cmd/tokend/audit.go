package main

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"

	"github.com/tokend/tokend/refresher"
	"github.com/tokend/tokend/store/fleet"
)

// auditQueue bounds the audit entries waiting for Redis; when full, new
// entries are dropped (counted, and still logged).
const auditQueue = 256

// auditWriteTimeout bounds one XADD of the audit stream.
const auditWriteTimeout = time.Second

// auditStore is what the audit trail needs of package store.
type auditStore interface {
	AppendAudit(ctx context.Context, e fleet.AuditEntry) error
}

// auditObserver is the refresher's Observer: it passes every event to the
// next Observer (the metrics) and writes an audit entry for refreshes,
// write rejections, reports, probes and leadership changes: a log line
// ("audit", at INFO, in the configured log format) at once, and an XADD to
// {prefix}:audit from Run. It never blocks the refresher: the queue is
// bounded and a full queue drops the Redis write. Safe for concurrent use.
type auditObserver struct {
	refresher.Observer
	replica string
	log     *slog.Logger
	clock   clock.PassiveClock
	// warn logs a failed Redis write (limited: logrepeat).
	warn    func(ctx context.Context, msg string, args ...any)
	queue   chan fleet.AuditEntry
	dropped atomic.Int64
	st      auditStore // set before Run starts
}

func newAuditObserver(next refresher.Observer, replica string, log *slog.Logger, clk clock.PassiveClock,
	warn func(ctx context.Context, msg string, args ...any)) *auditObserver {
	return &auditObserver{Observer: next, replica: replica, log: log, clock: clk, warn: warn,
		queue: make(chan fleet.AuditEntry, auditQueue)}
}

var _ refresher.TokenObserver = (*auditObserver)(nil)

// add logs e and queues it for Redis, or drops it when the queue is full.
func (a *auditObserver) add(e fleet.AuditEntry) {
	e.Time, e.Replica = a.clock.Now(), a.replica
	// The process logger already carries replica (main: log.With).
	a.log.Info("audit", "client", e.Client, "app", e.App, "action", e.Action, "outcome", e.Outcome,
		"errcode", e.Errcode, "fingerprint", e.Fingerprint, "detail", e.Detail)
	select {
	case a.queue <- e:
	default:
		a.dropped.Add(1)
	}
}

func (a *auditObserver) Fetched(app, result string, code int, took time.Duration) {
	a.Observer.Fetched(app, result, code, took)
	if result != "ok" { // a success is audited when written (WrittenToken)
		a.add(fleet.AuditEntry{App: app, Action: "refresh", Outcome: result, Errcode: code})
	}
}

func (a *auditObserver) WrittenToken(app, fingerprint string, version int64) {
	if o, ok := a.Observer.(refresher.TokenObserver); ok {
		o.WrittenToken(app, fingerprint, version)
	}
	a.add(fleet.AuditEntry{App: app, Action: "refresh", Outcome: "ok", Fingerprint: fingerprint,
		Detail: "version " + strconv.FormatInt(version, 10)})
}

func (a *auditObserver) RejectedWrite(app string) {
	a.Observer.RejectedWrite(app)
	a.add(fleet.AuditEntry{App: app, Action: "refresh", Outcome: "rejected_write"})
}

func (a *auditObserver) Report(app, outcome string) {
	a.Observer.Report(app, outcome)
	a.add(fleet.AuditEntry{App: app, Action: "report", Outcome: outcome})
}

func (a *auditObserver) Probed(app, outcome string) {
	a.Observer.Probed(app, outcome)
	a.add(fleet.AuditEntry{App: app, Action: "probe", Outcome: outcome})
}

func (a *auditObserver) Leading(leading bool, epoch int64) {
	a.Observer.Leading(leading, epoch)
	outcome := map[bool]string{true: "acquired", false: "lost"}[leading]
	a.add(fleet.AuditEntry{Action: "leader", Outcome: outcome, Detail: "epoch " + strconv.FormatInt(epoch, 10)})
}

// Run writes queued entries to Redis until ctx ends, one XADD at a time,
// each bounded by auditWriteTimeout; a failure is logged (limited) and the
// entry dropped. Entries still queued at the end are dropped.
func (a *auditObserver) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-a.queue:
			wctx, cancel := context.WithTimeout(ctx, auditWriteTimeout)
			err := a.st.AppendAudit(wctx, e)
			cancel()
			if err != nil && ctx.Err() == nil {
				a.warn(ctx, "audit: writing to the Redis audit stream failed; entries are logged only",
					"err", err, "dropped_queue_full", a.dropped.Load())
			}
		}
	}
}
