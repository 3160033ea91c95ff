// Package auth verifies Ovation's JWT bearer tokens and answers what a token
// allows in a room. Ingest, pushers and the analytics API share it so one
// token works on every endpoint.
//
// A token carries `sub` (the user id) and `rooms`, a map from a room pattern
// to capabilities:
//
//	{"sub": "alice", "exp": 1767225600,
//	 "rooms": {"show-42": ["subscribe", "publish"], "show-*": ["subscribe"], "*": ["host"]}}
//
// A pattern is an exact room id, "*" (every room) or a prefix ending in "*".
// The capabilities of every matching pattern add up.
package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ovation-live/ovation/schemas"
)

// Errors a Verify call returns, wrapped with the detail. Callers map them to
// HTTP statuses and WebSocket close codes.
var (
	ErrNoToken       = errors.New("auth: no bearer token")
	ErrInvalidToken  = errors.New("auth: invalid token")
	ErrExpiredToken  = errors.New("auth: token expired")
	ErrForbidden     = errors.New("auth: not allowed")
	ErrNoKeysEnabled = errors.New("auth: no verification keys configured")
	// ErrTokenTooLarge is a token over Config.MaxTokenBytes, refused
	// before it is decoded.
	ErrTokenTooLarge = errors.New("auth: token too large")
)

// Config says which keys verify tokens. The zero Config accepts nothing.
type Config struct {
	// HMACSecrets maps a key id to an HS256 secret. The key id "" is used
	// for tokens without a kid header.
	HMACSecrets map[string][]byte
	// PublicKeys maps a key id to an RS256 or ES256 public key.
	PublicKeys map[string]crypto.PublicKey
	// Issuer, when set, must equal the token's iss claim.
	Issuer string
	// Audience, when set, must be in the token's aud claim.
	Audience string
	// Leeway is the clock skew allowed on exp and nbf; zero means 30 s.
	Leeway time.Duration
	// Disabled turns auth off (dev mode): every request is the user "dev"
	// with every capability in every room. Roles log this loudly at start.
	Disabled bool
	// MaxTokenBytes bounds a token's length; a longer one is refused with
	// ErrTokenTooLarge before anything decodes it. Zero means
	// DefaultMaxTokenBytes.
	MaxTokenBytes int
}

// DefaultMaxTokenBytes is the default token size limit: room for a token
// that names 100 rooms of 64 bytes with their capabilities, and far below
// what would let a token's decoding or a log line of its header cost much.
const DefaultMaxTokenBytes = 16 << 10

// Validate checks that c can verify at least one kind of token.
func (c *Config) Validate() error {
	if c.Disabled {
		return nil
	}
	if len(c.HMACSecrets) == 0 && len(c.PublicKeys) == 0 {
		return ErrNoKeysEnabled
	}
	for kid, s := range c.HMACSecrets {
		if len(s) < 32 {
			return fmt.Errorf("auth: HS256 secret %q is %d bytes; use at least 32", kid, len(s))
		}
	}
	for kid, k := range c.PublicKeys {
		switch k.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
		default:
			return fmt.Errorf("auth: public key %q is %T; only RSA and ECDSA keys are supported", kid, k)
		}
	}
	return nil
}

// LoadPublicKeyFile reads a PEM public key (PKIX "PUBLIC KEY" or an X.509
// certificate) for RS256 or ES256.
func LoadPublicKeyFile(path string) (crypto.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read public key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("auth: %s holds no PEM block", path)
	}
	switch blk.Type {
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("auth: parse certificate %s: %w", path, err)
		}
		return cert.PublicKey, nil
	default:
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("auth: parse public key %s: %w", path, err)
		}
		return k, nil
	}
}

// Claims are the verified claims of a token.
type Claims struct {
	jwt.RegisteredClaims
	Rooms map[string][]schemas.Capability `json:"rooms"`
	// Name is an optional display name.
	Name string `json:"name,omitempty"`
}

// User returns the token's user id.
func (c *Claims) User() string { return c.Subject }

// Can reports whether the token grants cap in room. Host implies publish and
// moderate; publish, moderate and host imply subscribe.
func (c *Claims) Can(room string, cap schemas.Capability) bool {
	if cap == schemas.CapSystem {
		return false
	}
	for pattern, caps := range c.Rooms {
		if !matchRoom(pattern, room) {
			continue
		}
		for _, have := range caps {
			if implies(have, cap) {
				return true
			}
		}
	}
	return false
}

// RoomPatterns returns how many room patterns the token names, which the
// rooms-per-token limit counts.
func (c *Claims) RoomPatterns() int { return len(c.Rooms) }

func implies(have, want schemas.Capability) bool {
	if have == want {
		return true
	}
	switch have {
	case schemas.CapHost:
		return want == schemas.CapPublish || want == schemas.CapModerate || want == schemas.CapSubscribe
	case schemas.CapPublish, schemas.CapModerate:
		return want == schemas.CapSubscribe
	}
	return false
}

func matchRoom(pattern, room string) bool {
	if pattern == "*" {
		return true
	}
	if strings.HasSuffix(pattern, "*") {
		return strings.HasPrefix(room, pattern[:len(pattern)-1])
	}
	return pattern == room
}

// Verifier checks tokens against a Config.
type Verifier struct {
	cfg    Config
	parser *jwt.Parser
}

// NewVerifier returns a Verifier for cfg after validating it.
func NewVerifier(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	leeway := cfg.Leeway
	if leeway == 0 {
		leeway = 30 * time.Second
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{"HS256", "RS256", "ES256"}),
		jwt.WithLeeway(leeway),
		jwt.WithExpirationRequired(),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &Verifier{cfg: cfg, parser: jwt.NewParser(opts...)}, nil
}

// MaxTokenBytes is the token size limit in effect.
func (v *Verifier) MaxTokenBytes() int {
	if v.cfg.MaxTokenBytes > 0 {
		return v.cfg.MaxTokenBytes
	}
	return DefaultMaxTokenBytes
}

// Disabled reports whether auth is off (dev mode).
func (v *Verifier) Disabled() bool { return v.cfg.Disabled }

// devClaims is what every request gets when auth is disabled.
func devClaims(user string) *Claims {
	if user == "" {
		user = "dev"
	}
	return &Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: user},
		Rooms:            map[string][]schemas.Capability{"*": {schemas.CapHost}},
	}
}

// Verify parses and verifies a compact JWT. With auth disabled it returns
// dev claims for devUser (or "dev"), so a demo can still tell users apart.
func (v *Verifier) Verify(token, devUser string) (*Claims, error) {
	if v.cfg.Disabled {
		if err := schemas.CheckUser(devUser); devUser != "" && err != nil {
			return nil, fmt.Errorf("%w: dev user: %v", ErrInvalidToken, err)
		}
		return devClaims(devUser), nil
	}
	if token == "" {
		return nil, ErrNoToken
	}
	if len(token) > v.MaxTokenBytes() {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTokenTooLarge, len(token), v.MaxTokenBytes())
	}
	var claims Claims
	_, err := v.parser.ParseWithClaims(token, &claims, v.key)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, fmt.Errorf("%w: %v", ErrExpiredToken, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if err := schemas.CheckUser(claims.Subject); err != nil {
		return nil, fmt.Errorf("%w: sub claim: %v", ErrInvalidToken, err)
	}
	return &claims, nil
}

func (v *Verifier) key(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	switch t.Method.Alg() {
	case "HS256":
		if s, ok := v.cfg.HMACSecrets[kid]; ok {
			return s, nil
		}
	case "RS256":
		if k, ok := v.cfg.PublicKeys[kid].(*rsa.PublicKey); ok {
			return k, nil
		}
	case "ES256":
		if k, ok := v.cfg.PublicKeys[kid].(*ecdsa.PublicKey); ok {
			return k, nil
		}
	}
	// The kid is the client's: quote only its start, so an error (which
	// goes into logs) stays small whatever the token carries.
	if len(kid) > 64 {
		kid = strings.ToValidUTF8(kid[:64], "") + "…"
	}
	return nil, fmt.Errorf("no %s key with kid %q", t.Method.Alg(), kid)
}

// BearerToken extracts the token from an "Authorization: Bearer …" header
// value, or returns "".
func BearerToken(header string) string {
	const p = "Bearer "
	if len(header) > len(p) && strings.EqualFold(header[:len(p)], p) {
		return strings.TrimSpace(header[len(p):])
	}
	return ""
}

// Sign issues an HS256 token; tests, the bench and `ovation token` use it.
func Sign(secret []byte, kid string, claims *Claims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	if kid != "" {
		t.Header["kid"] = kid
	}
	return t.SignedString(secret)
}
