package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/schemas"
)

func runToken(_ context.Context, args []string, stdout, stderr io.Writer) error {
	var secret, kid, sub, rooms, name string
	var ttl time.Duration
	fs := newFlagSet("token", "Issue an HS256 token for tests and demos. Production tokens come from your own auth service.", stderr)
	fs.StringVar(&secret, "secret", "", "HS256 secret (at least 32 bytes); OVATION_SECRET")
	fs.StringVar(&kid, "kid", "", "key id header")
	fs.StringVar(&sub, "sub", "", "user id (sub claim)")
	fs.StringVar(&name, "name", "", "display name")
	fs.StringVar(&rooms, "rooms", "*=subscribe+publish", "room grants: pattern=cap+cap,pattern=cap (caps: subscribe, publish, moderate, host)")
	fs.DurationVar(&ttl, "ttl", time.Hour, "lifetime")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if len(secret) < 32 {
		return errors.New("--secret must be at least 32 bytes")
	}
	if err := schemas.CheckUser(sub); err != nil {
		return fmt.Errorf("--sub: %v", err)
	}
	claims := &auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: sub, ExpiresAt: jwt.NewNumericDate(time.Now().Add(ttl)), IssuedAt: jwt.NewNumericDate(time.Now())},
		Rooms:            map[string][]schemas.Capability{},
		Name:             name,
	}
	for _, grant := range strings.Split(rooms, ",") {
		pattern, caps, ok := strings.Cut(grant, "=")
		if !ok || pattern == "" {
			return fmt.Errorf("--rooms %q: want pattern=cap+cap", grant)
		}
		for _, c := range strings.Split(caps, "+") {
			switch cp := schemas.Capability(c); cp {
			case schemas.CapSubscribe, schemas.CapPublish, schemas.CapModerate, schemas.CapHost:
				claims.Rooms[pattern] = append(claims.Rooms[pattern], cp)
			default:
				return fmt.Errorf("--rooms: unknown capability %q", c)
			}
		}
	}
	tok, err := auth.Sign([]byte(secret), kid, claims)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
