// Package msgcrypt is WeChat's message encryption (WXBizMsgCrypt), used by
// the Open Platform's pushes to a third-party platform's callback URL:
//
//   - msg_signature = hex(SHA-1(sort(token, timestamp, nonce, Encrypt)
//     concatenated));
//   - key = base64(EncodingAESKey + "="), 32 bytes; AES-256-CBC with
//     IV = key[:16];
//   - plaintext = 16 random bytes | 4-byte big-endian length | message |
//     appid, PKCS#7-padded to a multiple of 32 bytes (WeChat's block, not
//     AES's 16);
//   - Encrypt = base64(ciphertext).
//
// Decryption fails closed: a bad signature (compared in constant time),
// bad base64, a ciphertext that is not whole AES blocks, bad padding (a
// pad byte of 0, above 32, or pad bytes that differ), a length that runs
// past the plaintext, or another appid are all errors, and no part of a
// message is returned with one. Encrypted bodies above MaxEncryptedLen are
// refused before any work.
//
// What it does NOT do: parse XML (callers take Encrypt out of the body and
// put the message back into it), check timestamps for freshness, or
// remember nonces: replay protection is the caller's (a verify ticket
// carries its CreateTime, and the store keeps only newer ones).
package msgcrypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Sizes of the format.
const (
	// KeyLen is the length of an EncodingAESKey: 43 base64 characters.
	KeyLen = 43
	// blockSize is WeChat's PKCS#7 block: 32 bytes.
	blockSize = 32
	// randomLen is the random prefix of every plaintext.
	randomLen = 16
	// MaxEncryptedLen bounds the base64 Encrypt field Decrypt accepts
	// (64 KiB): a verify ticket or an authorization event is a few hundred
	// bytes.
	MaxEncryptedLen = 64 << 10
)

// Errors callers branch on; each failure wraps one of them.
var (
	// ErrSignature: msg_signature does not match.
	ErrSignature = errors.New("msgcrypt: signature mismatch")
	// ErrDecrypt: Encrypt is not a well-formed ciphertext of this key
	// (base64, blocks, padding, length).
	ErrDecrypt = errors.New("msgcrypt: cannot decrypt")
	// ErrAppID: the message decrypted but names another appid.
	ErrAppID = errors.New("msgcrypt: appid mismatch")
	// ErrTooLarge: Encrypt is longer than MaxEncryptedLen.
	ErrTooLarge = errors.New("msgcrypt: encrypted message too large")
)

// Config configures a Crypt. Token, EncodingAESKey and AppID are
// required.
type Config struct {
	// Token is the message verification token set on the platform.
	Token string
	// EncodingAESKey is the 43-character key set on the platform.
	EncodingAESKey string
	// AppID is the appid every message must end with (the component's).
	AppID string
	// Rand is the source of the 16 random bytes of Encrypt. Default
	// crypto/rand.
	Rand io.Reader
}

// FieldError is a Config field New rejects. It never holds a secret.
type FieldError struct {
	Field, Msg string
}

func (e *FieldError) Error() string { return "msgcrypt: " + e.Field + ": " + e.Msg }

// Crypt verifies, decrypts and encrypts the messages of one appid. It
// holds no mutable state and is safe for concurrent use (as safe as
// Config.Rand).
type Crypt struct {
	token string
	appID string
	key   []byte
	block cipher.Block
	rand  io.Reader
}

// New validates cfg and returns a Crypt. Errors are *FieldError.
func New(cfg Config) (*Crypt, error) {
	switch {
	case cfg.Token == "":
		return nil, &FieldError{"Token", "required"}
	case cfg.AppID == "":
		return nil, &FieldError{"AppID", "required"}
	}
	key, err := DecodeKey(cfg.EncodingAESKey)
	if err != nil {
		return nil, &FieldError{"EncodingAESKey", err.Error()}
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, &FieldError{"EncodingAESKey", "not an AES-256 key"}
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	return &Crypt{token: cfg.Token, appID: cfg.AppID, key: key, block: block, rand: cfg.Rand}, nil
}

// DecodeKey decodes an EncodingAESKey into the 32-byte AES key. The
// error never quotes the key.
func DecodeKey(encodingAESKey string) ([]byte, error) {
	if len(encodingAESKey) != KeyLen {
		return nil, fmt.Errorf("must be %d characters, got %d", KeyLen, len(encodingAESKey))
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, errors.New("must be base64 (A-Z, a-z, 0-9, + and /) of a 32-byte key")
	}
	return key, nil
}

// Signature is msg_signature for the given fields: SHA-1 of their sorted
// concatenation with the token, in hex.
func (c *Crypt) Signature(timestamp, nonce, encrypted string) string {
	parts := []string{c.token, timestamp, nonce, encrypted}
	sort.Strings(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// VerifyAndDecrypt checks signature against timestamp, nonce and
// encrypted (the Encrypt field) and returns the decrypted message. Errors
// wrap ErrTooLarge, ErrSignature, ErrDecrypt or ErrAppID.
func (c *Crypt) VerifyAndDecrypt(signature, timestamp, nonce, encrypted string) ([]byte, error) {
	if len(encrypted) > MaxEncryptedLen {
		return nil, ErrTooLarge
	}
	want := c.Signature(timestamp, nonce, encrypted)
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(signature))) != 1 {
		return nil, ErrSignature
	}
	return c.Decrypt(encrypted)
}

// Decrypt decrypts the Encrypt field without a signature check (callers
// of a push always use VerifyAndDecrypt). Errors wrap ErrTooLarge,
// ErrDecrypt or ErrAppID.
func (c *Crypt) Decrypt(encrypted string) ([]byte, error) {
	if len(encrypted) > MaxEncryptedLen {
		return nil, ErrTooLarge
	}
	ct, err := base64.StdEncoding.DecodeString(encrypted)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64", ErrDecrypt)
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: not whole AES blocks", ErrDecrypt)
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(c.block, c.key[:aes.BlockSize]).CryptBlocks(pt, ct)
	pt, err = unpad(pt)
	if err != nil {
		return nil, err
	}
	if len(pt) < randomLen+4 {
		return nil, fmt.Errorf("%w: too short", ErrDecrypt)
	}
	n := binary.BigEndian.Uint32(pt[randomLen : randomLen+4])
	rest := pt[randomLen+4:]
	if uint64(n) > uint64(len(rest)) {
		return nil, fmt.Errorf("%w: length past the end", ErrDecrypt)
	}
	msg, appID := rest[:n], rest[n:]
	if subtle.ConstantTimeCompare(appID, []byte(c.appID)) != 1 {
		return nil, ErrAppID
	}
	return msg, nil
}

// unpad strips WeChat's PKCS#7 padding (1 to 32 bytes, all equal).
func unpad(pt []byte) ([]byte, error) {
	p := int(pt[len(pt)-1])
	if p == 0 || p > blockSize || p > len(pt) {
		return nil, fmt.Errorf("%w: bad padding", ErrDecrypt)
	}
	for _, b := range pt[len(pt)-p:] {
		if int(b) != p {
			return nil, fmt.Errorf("%w: bad padding", ErrDecrypt)
		}
	}
	return pt[:len(pt)-p], nil
}

// Encrypt encrypts msg with 16 bytes from Config.Rand and returns the
// Encrypt field (base64).
func (c *Crypt) Encrypt(msg []byte) (string, error) {
	random := make([]byte, randomLen)
	if _, err := io.ReadFull(c.rand, random); err != nil {
		return "", fmt.Errorf("msgcrypt: random: %w", err)
	}
	return c.encryptWith(random, msg), nil
}

// encryptWith is Encrypt with the given 16 random bytes.
func (c *Crypt) encryptWith(random, msg []byte) string {
	var buf bytes.Buffer
	buf.Write(random)
	_ = binary.Write(&buf, binary.BigEndian, uint32(len(msg)))
	buf.Write(msg)
	buf.WriteString(c.appID)
	p := blockSize - buf.Len()%blockSize
	buf.Write(bytes.Repeat([]byte{byte(p)}, p))
	pt := buf.Bytes()
	ct := make([]byte, len(pt))
	cipher.NewCBCEncrypter(c.block, c.key[:aes.BlockSize]).CryptBlocks(ct, pt)
	return base64.StdEncoding.EncodeToString(ct)
}

// Seal encrypts msg and signs it: the Encrypt field and its msg_signature
// for timestamp and nonce, what a push carries.
func (c *Crypt) Seal(msg []byte, timestamp, nonce string) (encrypted, signature string, err error) {
	encrypted, err = c.Encrypt(msg)
	if err != nil {
		return "", "", err
	}
	return encrypted, c.Signature(timestamp, nonce, encrypted), nil
}
