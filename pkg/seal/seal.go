// Package seal encrypts small secrets (one-time codes) that must travel
// through the outbox and the event stream to the notifier, so that neither
// a database dump nor a stream reader sees them in the clear.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
)

// Box seals and opens with AES-256-GCM under one key.
type Box struct{ aead cipher.AEAD }

// New takes a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, errors.New("seal: key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Seal returns nonce || ciphertext; aad binds it to its context (e.g. the
// address it is for), so a sealed code cannot be replayed for another.
func (b *Box) Seal(plain, aad []byte) []byte {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b.aead.Seal(nonce, nonce, plain, aad)
}

// Open reverses Seal.
func (b *Box) Open(sealed, aad []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("seal: too short")
	}
	return b.aead.Open(nil, sealed[:n], sealed[n:], aad)
}
