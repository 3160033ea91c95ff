package analytics

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/chtest"
	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// TestResultsExport runs the golden frames of the poll kinds (the vector
// Go and TypeScript fold: multi, ranking, rating, text, cloud, a timed
// quiz) through the real sink into ClickHouse and exports every poll and
// the quiz: each equals the state the vector says viewers hold, in JSON,
// and the CSV says the same.
func TestResultsExport(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	chAddr := chtest.Addr(t)
	db := chtest.Database(t, chAddr)
	b, err := os.ReadFile("../schemas/testdata/vectors/frames.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name   string            `json:"name"`
		Frames []schemas.Frame   `json:"frames"`
		State  schemas.RoomState `json:"state"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	var want schemas.RoomState
	var frames []schemas.Frame
	for _, c := range cases {
		if strings.HasPrefix(c.Name, "poll kinds") {
			want, frames = c.State, c.Frames
		}
	}
	if frames == nil {
		t.Fatal("no poll kinds vector")
	}
	events := kafkatest.Topic(t, brokers, 1)
	framesTopic := kafkatest.Topic(t, brokers, 1)
	var recs []*kgo.Record
	for i := range frames {
		v, _ := schemas.MarshalFrame(&frames[i])
		recs = append(recs, &kgo.Record{Key: []byte(frames[i].Room), Value: v})
	}
	produceAll(t, kafkatest.Client(t, brokers), framesTopic, recs)
	stop := runSink(t, SinkConfig{Brokers: brokers, Topics: schemas.Topics{Events: events, Frames: framesTopic},
		ClickHouse: ClickHouseConfig{Addr: []string{chAddr}, Database: db}, FlushInterval: 200 * time.Millisecond, Log: testLog(t)})
	waitCaughtUp(t, chAddr, db, brokers, []string{framesTopic}, 60*time.Second)
	stop()
	base := newAPIServer(t, chAddr, db).URL
	host := testToken(t, "producer", map[string][]schemas.Capability{"room-1": {schemas.CapHost}})
	room := frames[0].Room
	for id, wp := range want.Polls {
		var got Results
		apiGet(t, base, host, "/v1/rooms/"+room+"/analytics/results?poll="+id, &got)
		gb, _ := json.Marshal(got.Poll.Poll)
		wb, _ := json.Marshal(wp)
		if string(gb) != string(wb) {
			t.Errorf("poll %s exported\n%s\nviewers saw\n%s", id, gb, wb)
		}
		if got.Epoch != frames[0].Epoch {
			t.Errorf("epoch %q", got.Epoch)
		}
	}
	var z Results
	apiGet(t, base, host, "/v1/rooms/"+room+"/analytics/results?quiz=z", &z)
	if z.Quiz == nil || z.Quiz.Answers != want.Quizzes["z"].Answers || !z.Quiz.Revealed || *z.Quiz.Correct != *want.Quizzes["z"].Correct || z.Quiz.ClosesAt != want.Quizzes["z"].ClosesAt {
		t.Errorf("quiz exported %+v, viewers saw %+v", z.Quiz, want.Quizzes["z"])
	}
	for id, wantCSV := range map[string]string{
		"m": "option,votes\nA,0\nB,1\nC,1\n",
		"n": "rating,count\n0,0\n1,0\n2,0\n3,0\n4,0\n5,0\n6,0\n7,0\n8,0\n9,0\n10,1\n",
		"r": "option,borda,rank_1,rank_2,rank_3\nA,3,1,1,0\nB,2,1,0,1\nC,1,0,1,0\n",
		"c": "word,count\ngreat,3\ndemo,2\ntalk,1\n",
	} {
		status, body := apiDo(t, base, host, "/v1/rooms/"+room+"/analytics/results?format=csv&poll="+id)
		if status != 200 || string(body) != wantCSV {
			t.Errorf("poll %s CSV: %d\n%s\nwant\n%s", id, status, body, wantCSV)
		}
	}
	for _, c := range []struct {
		path   string
		status int
		code   string
	}{
		{"?poll=nope", 404, CodeUnknownItem},
		{"?poll=m&quiz=z", 400, CodeBadParam},
		{"", 400, CodeBadParam},
		{"?poll=m&format=xml", 400, CodeBadParam},
		{"?poll=a%27b", 400, CodeBadParam},
	} {
		status, body := apiDo(t, base, host, "/v1/rooms/"+room+"/analytics/results"+c.path)
		if status != c.status || !strings.Contains(string(body), `"`+c.code+`"`) {
			t.Errorf("%s: %d %s, want %d %s", c.path, status, body, c.status, c.code)
		}
	}
}
