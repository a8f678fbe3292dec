// SPDX-License-Identifier: MIT

package pop3d

// The reply texts of Dovecot 2.3.19.1's pop3-login and pop3 processes, in
// one table (dovecot-protocol.md §2 records the observed ones; the others
// are those of src/pop3/pop3-commands.c and src/pop3-login). Every one is
// pinned by replies_test.go.
const (
	replyGreetingDefault = "Dovecot (Debian) ready." // login_greeting's default, after "+OK "
	replyOK              = "+OK"
	replyLoggedIn        = "+OK Logged in."
	replyLogoutLogin     = "+OK Logging out"
	replyLogout          = "+OK Logging out."
	replyLogoutDeleted   = "+OK Logging out, messages deleted."
	replyAuthFailed      = "-ERR [AUTH] Authentication failed."
	replyNoUsername      = "-ERR No username given."
	replyPlaintextUser   = "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
	replyPlaintextSASL   = "-ERR [AUTH] Plaintext authentication disabled."
	replySSLRequired     = "-ERR [AUTH] Authentication not allowed until SSL/TLS is enabled."
	replyUnknownMech     = "-ERR Unsupported authentication mechanism."
	replyAuthAborted     = "-ERR Authentication aborted by client."
	replyBadBase64       = "-ERR [AUTH] Invalid base64 data in continued response"
	replyUnknownLogin    = "-ERR Unknown command."
	replyTooManyLogin    = "-ERR Too many invalid bad commands."
	replyTooMany         = "-ERR Too many bad commands."
	replyTLSBegin        = "+OK Begin TLS negotiation now."
	replyTLSActive       = "-ERR TLS is already active."
	replyTLSDisabled     = "-ERR TLS support isn't enabled."
	replyInactivity      = "-ERR Disconnected for inactivity."
	replyLineTooLong     = "-ERR Input line too long."
	replyInternal        = "-ERR [SYS/TEMP] Internal error occurred. Refer to server log for more information."
	replySessionLocked   = "-ERR [IN-USE] Mailbox is locked by another POP3 session."
	replySessionLockFail = "-ERR [SYS/TEMP] Failed to create POP3 session lock."
	replyShutdown        = "-ERR [SYS/TEMP] Server shutting down."
	replyMarkedDeleted   = "+OK Marked to be deleted."
	replyMsgDeleted      = "-ERR Message is deleted."
	replyNoMessage       = "-ERR There's no message %d."
	replyBadMsgnum       = "-ERR Invalid message number: %s"
	replyMsgnumTooLarge  = "-ERR Message number too large: %s"
	replyNoiseMsgnum     = "-ERR Noise after message number: %s"
	replyBadSize         = "-ERR Invalid size: %s"
	replySizeTooLarge    = "-ERR Size too large: %s"
	replyNoiseSize       = "-ERR Noise after size: %s"
	replyUnknown         = "-ERR Unknown command: %s"
	replyMsgExpunged     = "-ERR Message %d expunged."
	replyListHead        = "+OK %d messages:"
	replyRetrHead        = "+OK %d octets"
	replyStat            = "+OK %d %d"
	replyStoragePerm     = "-ERR [SYS/PERM] %s"
	replyStorageTemp     = "-ERR [SYS/TEMP] %s"
)

// capaCommon are the capabilities Dovecot lists before and after login,
// in its order.
var capaCommon = []string{"CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"}

// The LOGIN mechanism's prompts, "Username:" and "Password:" in base64.
const (
	promptUsername = "+ VXNlcm5hbWU6"
	promptPassword = "+ UGFzc3dvcmQ6"
)
