package processors

import "github.com/twmb/franz-go/pkg/kgo"

// routineKafkaLines are the messages franz-go logs at info for every
// transaction (about eight per tick, twenty ticks a second). They say
// nothing an operator acts on, so QuietKafkaLogger moves them to debug;
// aborts, revokes and errors stay where franz-go puts them.
var routineKafkaLines = map[string]bool{
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
}

// QuietKafkaLogger wraps the Kafka client's logger of a processor so the
// per-transaction lines are logged at debug, not info.
func QuietKafkaLogger(l kgo.Logger) kgo.Logger { return quietLogger{l} }

type quietLogger struct{ kgo.Logger }

func (q quietLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if level == kgo.LogLevelInfo && routineKafkaLines[msg] {
		if q.Logger.Level() < kgo.LogLevelDebug {
			return
		}
		level = kgo.LogLevelDebug
	}
	q.Logger.Log(level, msg, keyvals...)
}
