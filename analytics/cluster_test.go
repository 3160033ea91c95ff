package analytics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/ovation-live/ovation/internal/chtest"
	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// newClusterAPIServer serves the API over a cluster database.
func newClusterAPIServer(t testing.TB, ch ClickHouseConfig) *httptest.Server {
	api, err := NewAPI(APIConfig{ClickHouse: ch, Verifier: testVerifier(t), Log: testLog(t), QueryTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); api.Close() })
	return srv
}

// TestSinkClusterReplicaDown runs two sinks in cluster mode against the
// 2x2 cluster; one replica is stopped while more events arrive, the API
// answers meanwhile, and after it is back every room equals the fold,
// read through the Distributed tables from either shard's other replica.
// Rows of a room live on one shard only.
func TestSinkClusterReplicaDown(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	cluster := chtest.StartCluster(t)
	addrs := cluster.Addrs()
	events := kafkatest.Topic(t, brokers, 4)
	frames := kafkatest.Topic(t, brokers, 4)
	topics := schemas.Topics{Events: events, Frames: frames}
	const db = "ovation_cluster"
	ch := ClickHouseConfig{Addr: addrs, Database: db, Cluster: chtest.ClusterName}

	t0 := time.Now().Add(-time.Hour).Truncate(time.Minute)
	w := newWorkload(7, 8, 30_000, t0)
	cl := kafkatest.Client(t, brokers)
	half := len(w.events) / 2
	produceAll(t, cl, events, w.events[:half])
	produceAll(t, cl, frames, w.frames[:len(w.frames)/2])

	cfg := SinkConfig{Brokers: brokers, Topics: topics, ClickHouse: ch, MaxBatchRows: 2000,
		FlushInterval: 100 * time.Millisecond, RetryMax: time.Second, SessionTimeout: 6 * time.Second, Log: testLog(t)}
	stop1 := runSink(t, cfg)
	defer stop1()
	stop2 := runSink(t, cfg)
	defer stop2()
	waitCaughtUp(t, addrs[0], db, brokers, []string{events, frames}, 90*time.Second)

	srv := newClusterAPIServer(t, ch)
	host := testToken(t, "producer", map[string][]schemas.Capability{"*": {schemas.CapHost}})

	cluster.StopNode("s2r2")
	produceAll(t, cl, events, w.events[half:])
	produceAll(t, cl, frames, w.frames[len(w.frames)/2:])
	// The API keeps answering with a replica down.
	for i := 0; i < 5; i++ {
		for _, room := range w.rooms {
			var s Summary
			apiGet(t, srv.URL, host, "/v1/rooms/"+room+"/analytics/summary", &s)
		}
	}
	waitCaughtUp(t, addrs[0], db, brokers, []string{events, frames}, 90*time.Second)
	checkRooms(t, srv.URL, host, w)
	// Time series and chat history (a query with an IN subquery) read
	// the Distributed tables too.
	checkSeriesAndChat(t, srv.URL, w, t0)
	cluster.StartNode("s2r2")

	// Every room's rows are on one shard: no room in both shards' local
	// tables.
	shardRooms := func(addr string) map[string]bool {
		rows, err := chtest.Open(t, addr, "").Query(context.Background(), "SELECT DISTINCT room FROM "+db+".events_local")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]bool{}
		for rows.Next() {
			var r string
			if err := rows.Scan(&r); err != nil {
				t.Fatal(err)
			}
			out[r] = true
		}
		return out
	}
	s1, s2 := shardRooms(addrs[0]), shardRooms(addrs[2])
	for r := range s1 {
		if s2[r] {
			t.Errorf("room %s has rows on both shards", r)
		}
	}
	if len(s1) == 0 || len(s2) == 0 || len(s1)+len(s2) != len(w.rooms) {
		t.Errorf("rooms per shard %d and %d, want both non-empty and %d in all", len(s1), len(s2), len(w.rooms))
	}
	checkRooms(t, srv.URL, host, w)

	// A replay of both topics into the cluster (rows go through the
	// Distributed tables again) changes no count.
	for _, topic := range []string{events, frames} {
		r, err := NewReplayer(ReplayConfig{Brokers: brokers, Topics: topics, Topic: topic, FromOffset: 0, ClickHouse: ch,
			PositionFile: filepath.Join(t.TempDir(), "position.json"), Log: testLog(t)})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		plan, err := r.Plan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Run(ctx, plan, nil); err != nil {
			t.Fatalf("replay %s into the cluster: %v", topic, err)
		}
	}
	checkRooms(t, srv.URL, host, w)
}
