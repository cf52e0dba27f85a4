// Package sm3 is the SM3 hash (GB/T 32905-2016, 《信息安全技术 SM3密码杂凑算法》; also ISO/IEC 10118-3:2018): WeChat
// Pay may give an electronic receipt's (电子回单) hash as SM3 instead of SHA256
// (https://pay.weixin.qq.com/doc/v3/merchant/4012716455). A 256-bit Merkle–Damgård hash over 512-bit blocks.
package sm3

import (
	"encoding/binary"
	"hash"
	"math/bits"
)

// Size is an SM3 digest's length in bytes; BlockSize the block's.
const (
	Size      = 32
	BlockSize = 64
)

// iv is the standard's initial value (§4.1).
var iv = [8]uint32{0x7380166f, 0x4914b2b9, 0x172442d7, 0xda8a0600, 0xa96f30bc, 0x163138aa, 0xe38dee4d, 0xb0fb0e4e}

type digest struct {
	h   [8]uint32
	buf [BlockSize]byte
	n   int    // bytes in buf
	len uint64 // bytes written
}

// New returns an SM3 hash.Hash.
func New() hash.Hash {
	d := &digest{}
	d.Reset()
	return d
}

// Sum returns the SM3 digest of data.
func Sum(data []byte) [Size]byte {
	d := &digest{h: iv}
	d.Write(data)
	var out [Size]byte
	d.sum(out[:0])
	return out
}

func (d *digest) Reset()         { *d = digest{h: iv} }
func (d *digest) Size() int      { return Size }
func (d *digest) BlockSize() int { return BlockSize }

func (d *digest) Write(p []byte) (int, error) {
	n := len(p)
	d.len += uint64(n)
	if d.n > 0 {
		c := copy(d.buf[d.n:], p)
		d.n += c
		p = p[c:]
		if d.n < BlockSize {
			return n, nil
		}
		d.block(d.buf[:])
		d.n = 0
	}
	for len(p) >= BlockSize {
		d.block(p[:BlockSize])
		p = p[BlockSize:]
	}
	d.n = copy(d.buf[:], p)
	return n, nil
}

func (d *digest) Sum(in []byte) []byte {
	c := *d // Sum does not change the running hash
	return c.sum(in)
}

// sum pads (§5.2: a 1 bit, zeros, the length in bits as 64 bits) and appends the digest.
func (d *digest) sum(in []byte) []byte {
	bitLen := d.len * 8
	pad := [BlockSize + 8]byte{0x80}
	k := (BlockSize + 56 - int(d.len%BlockSize)) % BlockSize
	if k == 0 {
		k = BlockSize
	}
	binary.BigEndian.PutUint64(pad[k:], bitLen)
	d.Write(pad[:k+8])
	for _, v := range d.h {
		in = binary.BigEndian.AppendUint32(in, v)
	}
	return in
}

func p0(x uint32) uint32 { return x ^ bits.RotateLeft32(x, 9) ^ bits.RotateLeft32(x, 17) }
func p1(x uint32) uint32 { return x ^ bits.RotateLeft32(x, 15) ^ bits.RotateLeft32(x, 23) }

// block is the compression function CF (§5.3).
func (d *digest) block(b []byte) {
	var w [68]uint32
	var w1 [64]uint32
	for j := range 16 {
		w[j] = binary.BigEndian.Uint32(b[4*j:])
	}
	for j := 16; j < 68; j++ {
		w[j] = p1(w[j-16]^w[j-9]^bits.RotateLeft32(w[j-3], 15)) ^ bits.RotateLeft32(w[j-13], 7) ^ w[j-6]
	}
	for j := range 64 {
		w1[j] = w[j] ^ w[j+4]
	}
	a, bb, c, dd, e, f, g, h := d.h[0], d.h[1], d.h[2], d.h[3], d.h[4], d.h[5], d.h[6], d.h[7]
	for j := range 64 {
		t := uint32(0x79cc4519)
		if j >= 16 {
			t = 0x7a879d8a
		}
		ss1 := bits.RotateLeft32(bits.RotateLeft32(a, 12)+e+bits.RotateLeft32(t, j%32), 7)
		ss2 := ss1 ^ bits.RotateLeft32(a, 12)
		var ff, gg uint32
		if j < 16 {
			ff, gg = a^bb^c, e^f^g
		} else {
			ff, gg = (a&bb)|(a&c)|(bb&c), (e&f)|(^e&g)
		}
		tt1 := ff + dd + ss2 + w1[j]
		tt2 := gg + h + ss1 + w[j]
		dd, c, bb, a = c, bits.RotateLeft32(bb, 9), a, tt1
		h, g, f, e = g, bits.RotateLeft32(f, 19), e, p0(tt2)
	}
	d.h[0] ^= a
	d.h[1] ^= bb
	d.h[2] ^= c
	d.h[3] ^= dd
	d.h[4] ^= e
	d.h[5] ^= f
	d.h[6] ^= g
	d.h[7] ^= h
}
