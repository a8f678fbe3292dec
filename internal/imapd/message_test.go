// SPDX-License-Identifier: MIT

package imapd

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// crlfCases are stored bodies with what a client must see of them.
var crlfCases = []struct{ in, want string }{
	{"", ""},
	{"a\nb\n", "a\r\nb\r\n"},
	{"a\r\nb\r\n", "a\r\nb\r\n"},
	{"a\rb\n", "a\rb\r\n"},
	{"\n\n", "\r\n\r\n"},
	{"x\x00y\n", "x\x80y\r\n"},
	{"\r\n\n\r\r\n", "\r\n\r\n\r\r\n"},
	{"no newline", "no newline"},
	{"ends in CR\r", "ends in CR\r"},
}

func TestCRLFReader(t *testing.T) {
	for _, c := range crlfCases {
		for _, wrap := range []func(io.Reader) io.Reader{
			func(r io.Reader) io.Reader { return r },
			iotest.OneByteReader,
			iotest.HalfReader,
			iotest.DataErrReader,
		} {
			got, err := io.ReadAll(newCRLFReader(wrap(strings.NewReader(c.in))))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("%q: got %q, want %q", c.in, got, c.want)
			}
			// It must agree with toIMAP, which the other FETCH items use.
			if w := string(toIMAP([]byte(c.in), true)); w != c.want {
				t.Errorf("toIMAP(%q) = %q, want %q", c.in, w, c.want)
			}
		}
		// Small destination buffers split CRLF pairs across reads.
		var out bytes.Buffer
		r := newCRLFReader(strings.NewReader(c.in))
		p := make([]byte, 1)
		for {
			n, err := r.Read(p)
			out.Write(p[:n])
			if err != nil {
				break
			}
		}
		if out.String() != c.want {
			t.Errorf("%q one byte at a time: got %q, want %q", c.in, out.String(), c.want)
		}
	}
}

// FuzzCRLFReader checks the streaming conversion against toIMAP.
func FuzzCRLFReader(f *testing.F) {
	for _, c := range crlfCases {
		f.Add([]byte(c.in), 7)
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk int) {
		if chunk <= 0 || chunk > 1<<16 {
			chunk = 1
		}
		var out bytes.Buffer
		r := newCRLFReader(bytes.NewReader(in))
		p := make([]byte, chunk)
		for {
			n, err := r.Read(p)
			out.Write(p[:n])
			if err != nil {
				break
			}
		}
		if want := toIMAP(in, true); !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("got %q, want %q", out.Bytes(), want)
		}
	})
}

func BenchmarkCRLFReader(b *testing.B) {
	msg := []byte(strings.Repeat("lorem ipsum dolor sit amet lorem ipsum dolor sit amet lorem ipsum dolo\n", 180))
	b.SetBytes(int64(len(msg)))
	for i := 0; i < b.N; i++ {
		io.Copy(io.Discard, newCRLFReader(bytes.NewReader(msg)))
	}
}

// BenchmarkFetchBodies fetches every body of a 1,000-message mailbox
// through the server (the bench/imap.sh "bodies" figure, in process).
func BenchmarkFetchBodies(b *testing.B) {
	root := b.TempDir()
	os.MkdirAll(filepath.Join(root, "mail"), 0o700)
	genMbox(b, filepath.Join(root, "inbox"), 1000)
	fi, _ := os.Stat(filepath.Join(root, "inbox"))
	e := newEnv(b, "127.0.0.1", func(c *Config) { c.MailLocation = "mbox:" + root + "/mail:INBOX=" + root + "/inbox" })
	cl := dial(b, e.addr, "")
	cl.mustOK("LOGIN b " + passB)
	cl.mustOK("EXAMINE INBOX")
	b.SetBytes(fi.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cl.mustOK("FETCH 1:* BODY.PEEK[]")
	}
}
