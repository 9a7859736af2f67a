package jagadesacmd

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jagadesa/jagadesa/server/leader"
)

// lead campaigns for the duties' lease until ctx ends, trying every check
// (a dead leader's duties move within about that, since its session ends
// with its process; a hung one's within four times it). On taking it, gain
// brings this replica up to date with what the last leader stored; run
// then does the duties until the lease is lost or ctx ends; lose stores
// what the duties hold in memory.
func lead(ctx context.Context, url string, check time.Duration, log *slog.Logger, run func(context.Context), gain func(context.Context) error, lose func(context.Context)) error {
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		return err
	}
	name, _ := os.Hostname()
	name += ":" + os.Getenv("JAGADESA_REPLICA")
	return leader.Run(ctx, leader.Config{Conn: cc, Key: leader.KeyDuties, Name: name, Check: check, Logger: log}, func(lctx context.Context) {
		began := time.Now()
		if err := gain(lctx); err != nil {
			log.Error("leadership taken but the store could not be read; giving it up", "err", err)
			return
		}
		log.Info("leader: running the detector, escalation and notifications", "took", time.Since(began).Round(time.Millisecond))
		run(lctx)
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		lose(sctx)
		log.Info("leader: duties stopped")
	})
}
