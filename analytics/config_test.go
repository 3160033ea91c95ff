package analytics

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestConfigValidate checks that every bad sink or cluster setting is
// refused with an error naming it, and that the defaults pass.
func TestConfigValidate(t *testing.T) {
	ok := SinkConfig{Brokers: []string{"k:9092"}, ClickHouse: ClickHouseConfig{Addr: []string{"ch:9000"}}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
	c := ok
	c.withDefaults()
	if c.Group != "ovation-sink-ovation" || c.SessionTimeout != 15*time.Second || c.MetadataRefresh != 15*time.Second {
		t.Errorf("defaults: group %q, session %v, refresh %v", c.Group, c.SessionTimeout, c.MetadataRefresh)
	}
	for _, tc := range []struct {
		name string
		mod  func(*SinkConfig)
		want string
	}{
		{"cluster with a dash", func(c *SinkConfig) { c.ClickHouse.Cluster = "my-cluster" }, "cluster name"},
		{"cluster with SQL", func(c *SinkConfig) { c.ClickHouse.Cluster = "c; DROP TABLE x" }, "cluster name"},
		{"cluster too long", func(c *SinkConfig) { c.ClickHouse.Cluster = strings.Repeat("c", 65) }, "cluster name"},
		{"session timeout too short", func(c *SinkConfig) { c.SessionTimeout = time.Second }, "session timeout"},
		{"session timeout too long", func(c *SinkConfig) { c.SessionTimeout = time.Hour }, "session timeout"},
		{"metadata refresh too short", func(c *SinkConfig) { c.MetadataRefresh = time.Second }, "metadata refresh"},
		{"group too long", func(c *SinkConfig) { c.Group = strings.Repeat("g", 256) }, "group"},
		{"instance id too long", func(c *SinkConfig) { c.InstanceID = strings.Repeat("i", 256) }, "instance id"},
	} {
		c := ok
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrConfig naming %q", tc.name, err, tc.want)
		}
	}
	c = ok
	c.ClickHouse.Cluster = "ovation_2"
	if err := c.Validate(); err != nil {
		t.Errorf("cluster ovation_2 refused: %v", err)
	}
}
