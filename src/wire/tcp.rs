//! TCP segments and options (RFC 9293, RFC 7323, RFC 2018).
