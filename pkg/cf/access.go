// SPDX-License-Identifier: MIT

package cf

import "strings"

// AccessFeatures are the access-map behaviours an mc file chose with
// FEATUREs, recovered from the rules m4 generated for them, so that the
// SMTP daemon can configure its access checks from the cf alone.
type AccessFeatures struct {
	// Skip is FEATURE(access_db,,skip): ruleset D has a <SKIP> rule.
	Skip bool
	// LookupDotDomain is FEATURE(lookupdotdomain): ruleset D also looks
	// up ".parent.domain" keys.
	LookupDotDomain bool
	// DelayChecks is FEATURE(delay_checks): check_relay and check_mail
	// were renamed checkrelay and checkmail and run at RCPT.
	DelayChecks bool
	// BlocklistRecipients is FEATURE(blocklist_recipients): Rcpt_ok
	// rejects recipients listed with To: (its $@ 5.2.1 rule).
	BlocklistRecipients bool
	// RejectMsg is confREJECT_MSG when the mc changed it: the text of
	// the REJECT rule of Basic_check_relay; empty for the default
	// "550 Access denied".
	RejectMsg string
}

// AccessFeatures inspects the rulesets of an access_db configuration.
func (c *Config) AccessFeatures() AccessFeatures {
	var f AccessFeatures
	for _, rs := range c.Rulesets {
		switch rs.Name {
		case "D":
			for _, r := range rs.Rules {
				if strings.HasPrefix(r.LHS, "<SKIP>") {
					f.Skip = true
				}
				if strings.Contains(r.RHS, ":.$2") {
					f.LookupDotDomain = true
				}
			}
		case "checkrelay", "checkmail":
			f.DelayChecks = true
		case "Basic_check_relay":
			for _, r := range rs.Rules {
				if !strings.HasPrefix(r.LHS, "<REJECT>") {
					continue
				}
				rhs := strings.TrimSpace(r.RHS)
				if !strings.Contains(rhs, `$@ 5.7.1 $: "550 Access denied"`) {
					if _, msg, ok := strings.Cut(rhs, "$: "); ok {
						f.RejectMsg = strings.TrimSpace(msg)
					}
				}
			}
		case "Rcpt_ok":
			for _, r := range rs.Rules {
				if strings.HasPrefix(r.LHS, "<REJECT>") && strings.Contains(r.RHS, "$@ 5.2.1") {
					f.BlocklistRecipients = true
				}
			}
		}
	}
	return f
}
