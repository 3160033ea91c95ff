// Package devbroker holds the configuration of the embedded
// Kafka-compatible broker (kfake) that `ovation dev` runs, so that what
// is measured against it (`ovation bench`'s kafka-trip floor) runs the
// same broker.
package devbroker

import (
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Options configures one kfake broker listening on host:port with its
// data persisted under dataDir/kafka, as `ovation dev` runs it.
func Options(host string, port int, dataDir string) []kfake.Opt {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	return []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, addr)
		}),
		kfake.DataDir(DataDir(dataDir)),
		kfake.GroupMinSessionTimeout(time.Second),
	}
}

// DataDir is where the broker keeps its data under dataDir.
func DataDir(dataDir string) string { return filepath.Join(dataDir, "kafka") }
