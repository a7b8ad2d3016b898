package app

import (
	"context"
	"time"

	"github.com/marbelle/marbelle/internal/retry"
	"github.com/marbelle/marbelle/store"
)

// runSweeper prunes expired tokens (after their grace), ended sessions and
// sent mail older than cfg.MailRetention: once at once, then every
// cfg.SweepInterval, until ctx ends. A sweep in progress stops after its
// current batch, so runSweeper returns promptly and the store can close.
func (s *Server) runSweeper(ctx context.Context) {
	retry.Loop(ctx, s.cfg.SweepInterval, nil, func(ctx context.Context) { s.sweep(ctx) })
}

// sweep runs one sweep and logs what it pruned (counts only).
func (s *Server) sweep(ctx context.Context) store.SweepResult {
	res, err := s.db.Sweep(s.now(), store.SweepOptions{MailRetention: s.cfg.MailRetention, AuditRetention: s.cfg.AuditRetention, Done: ctx.Done()})
	s.metrics.countSweep(res)
	s.sweepWebhookDeliveries(ctx)
	args := []any{"tokens", res.Tokens, "sessions", res.Sessions, "mail", res.Mails, "audit", res.Audit, "transactions", res.Transactions, "longest_tx_ms", res.LongestTx.Milliseconds()}
	switch {
	case err != nil:
		s.log.ErrorContext(ctx, "sweep failed", append(args, "err", err)...)
	case res.Pruned() > 0:
		s.log.InfoContext(ctx, "sweep", args...)
	default:
		s.log.DebugContext(ctx, "sweep", args...)
	}
	return res
}

// runStoreRelease gives back, every cfg.StoreRelease, the store file's
// pages that reads have mapped into the process (store.ReleaseMappedPages):
// they stay in the kernel's page cache, but the server's resident set stops
// growing with every page a write ever read, so it is the memory the
// server itself holds, as with a store read through pread(2).
func (s *Server) runStoreRelease(ctx context.Context) {
	t := time.NewTicker(s.cfg.StoreRelease)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.db.ReleaseMappedPages(); err != nil {
				s.log.WarnContext(ctx, "releasing the store's mapped pages failed", "err", err)
			}
		}
	}
}
