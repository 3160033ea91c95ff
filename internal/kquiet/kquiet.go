// Package kquiet keeps franz-go's routine lines out of the info log: every
// role logs at info what an operator acts on (one line per assignment,
// revocation, abort or error), and franz-go's per-transaction and
// per-rebalance chatter (about eight lines per processor tick, fifteen per
// rebalance) goes to debug.
package kquiet

import (
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

// routine are the messages franz-go logs at info on every transaction and
// every group join or rebalance. Aborts, revokes, warnings and errors are
// not here and stay where franz-go puts them.
var routine = map[string]bool{
	// transactions (processors, every tick)
	"beginning transact session":                                    true,
	"transaction session ending":                                    true,
	"transact session successful, setting to newly committed state": true,
	"beginning transaction":                                         true,
	"ending transaction":                                            true,
	"end transaction response successfully received":                true,
	"issuing AddOffsetsToTxn":                                       true,
	"issuing TxnOffsetCommit":                                       true,
	"flushing":                                                      true,
	"flushed":                                                       true,
	// group lifecycle (every role in a group, every rebalance)
	"immediate metadata update triggered":     true,
	"beginning to manage the group lifecycle": true,
	"joining group": true,
	"join returned MemberIDRequired, rejoining with response's MemberID": true,
	"joined, balancing group":   true,
	"joined":                    true,
	"balancing group as leader": true,
	"balance group member":      true,
	"balanced":                  true,
	"syncing":                   true,
	"synced":                    true,
	"new group session begun":   true,
	"beginning heartbeat loop":  true,
	"assigning partitions":      true,
	"received client metrics subscription, beginning periodic send loop":                                true,
	"cooperative consumer calling onRevoke at the end of a session even though no partitions were lost": true,
	"cooperative consumer revoking prior assigned partitions because leader no longer wants them":       true,
	"heartbeat errored":            true, // on every rebalance ("rebalance in progress") and at shutdown
	"leaving group":                true,
	"left group or never in group": true,
}

// New returns a Kafka client logger writing to log through kslog, with
// franz-go's routine lines moved from info to debug.
func New(log *slog.Logger) kgo.Logger { return Wrap(kslog.New(log)) }

// Wrap moves l's routine info lines to debug.
func Wrap(l kgo.Logger) kgo.Logger { return quiet{l} }

type quiet struct{ kgo.Logger }

func (q quiet) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if level == kgo.LogLevelInfo && routine[msg] {
		if q.Logger.Level() < kgo.LogLevelDebug {
			return
		}
		level = kgo.LogLevelDebug
	}
	q.Logger.Log(level, msg, keyvals...)
}
