package analytics

import "github.com/twmb/franz-go/pkg/kgo"

// routineGroupLines are the messages franz-go logs at info on every group
// join and rebalance (about fifteen per rebalance). The sink logs what an
// operator acts on itself, one line each: the partitions it was assigned
// with the offsets it resumes from, and the partitions it gave up; so
// QuietKafkaLogger moves these to debug. Errors and warnings stay.
var routineGroupLines = map[string]bool{
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

// QuietKafkaLogger wraps the sink's Kafka client logger so franz-go's
// routine group lifecycle lines are logged at debug, not info.
func QuietKafkaLogger(l kgo.Logger) kgo.Logger { return quietLogger{l} }

type quietLogger struct{ kgo.Logger }

func (q quietLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if level == kgo.LogLevelInfo && routineGroupLines[msg] {
		if q.Logger.Level() < kgo.LogLevelDebug {
			return
		}
		level = kgo.LogLevelDebug
	}
	q.Logger.Log(level, msg, keyvals...)
}
