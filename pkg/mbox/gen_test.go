// SPDX-License-Identifier: MIT

package mbox

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"time"
)

// generateMbox makes a procmail-style mbox with n messages of varied size,
// some with ">From " quoting, some with unquoted "From " text lines.
func generateMbox(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var b bytes.Buffer
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	for i := range n {
		t := t0.Add(time.Duration(i) * 37 * time.Second)
		fmt.Fprintf(&b, "From sender%d@example.org  %s\n", i%17, t.Format("Mon Jan _2 15:04:05 2006"))
		fmt.Fprintf(&b, "Return-Path: <sender%d@example.org>\n", i%17)
		fmt.Fprintf(&b, "From: Sender %d <sender%d@example.org>\n", i%17, i%17)
		fmt.Fprintf(&b, "To: user@example.org\nSubject: message %d\n", i)
		fmt.Fprintf(&b, "Date: %s\nMessage-ID: <%d.%d@example.org>\n\n", t.Format(time.RFC1123Z), i, seed)
		lines := 3 + r.IntN(40)
		for l := range lines {
			switch r.IntN(25) {
			case 0:
				b.WriteString(">From the quoted line\n")
			case 1:
				b.WriteString("From here on, no date\n")
			case 2:
				b.WriteString("\n")
			default:
				fmt.Fprintf(&b, "line %d of message %d: %s\n", l, i, "lorem ipsum dolor sit amet, consectetur adipiscing elit"[:10+r.IntN(45)])
			}
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}
