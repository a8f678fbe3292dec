// SPDX-License-Identifier: MIT

package accessdb_test

import (
	"fmt"
	"strings"

	"mailsuite/pkg/accessdb"
	"mailsuite/pkg/cf"
)

// Example sets up the access checks from a sendmail.cf, as sendmaild
// does, and answers a connection from a blocked network.
func Example() {
	cfg, err := cf.Parse(strings.NewReader("V10/Berkeley\nKaccess hash -T<TMPF> -o /etc/mail/access\n"), "sendmail.cf", cf.Options{})
	if err != nil {
		panic(err)
	}
	decl, feat := cfg.AccessMap(), cfg.AccessFeatures()
	// A daemon opens the real file:
	//   accessdb.OpenDB(decl.File, accessdb.DBOptions{Optional: decl.Optional(),
	//       NoFoldCase: decl.NoFoldCase(), DontBlameSendmail: cfg.DontBlameSendmail})
	m := accessdb.NewMemMap(map[string]string{"Connect:192.0.2": "REJECT"})
	c := &accessdb.Checker{Map: m, Skip: feat.Skip, TempFail: decl.TempFail() != "",
		LookupDotDomain: feat.LookupDotDomain, RejectMsg: feat.RejectMsg}

	r, err := c.Connect("[192.0.2.7]", "192.0.2.7")
	if err != nil {
		panic(err)
	}
	reply, refused := c.Reply(accessdb.CheckRelay, r.RHS, "")
	fmt.Println(r.Key, refused, reply)
	// Output: Connect:192.0.2 true 550 5.7.1 Access denied
}
