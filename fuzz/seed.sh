#!/usr/bin/env bash
# Writes the seed corpus: real answers (Windows, xrdp, FreeRDP, web servers) per fuzz target.
# The fuzzer grows the corpus from here; minimised corpora are committed under fuzz/corpus.
set -euo pipefail
cd "$(dirname "$0")"
w() { mkdir -p "corpus/$1"; printf "$3" > "corpus/$1/$2"; }
# X.224 Connection Confirms
w x224_confirm windows-rsp-hybrid '\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x1f\x08\x00\x02\x00\x00\x00'
w x224_confirm xrdp-fail-ssl-required '\x03\x00\x00\x13\x0e\xd0\x00\x00\x00\x00\x00\x03\x00\x08\x00\x01\x00\x00\x00'
w x224_confirm legacy-no-neg '\x03\x00\x00\x0b\x06\xd0\x00\x00\x12\x34\x00'
w x224_confirm mcs-dpum '\x03\x00\x00\x09\x02\xf0\x80\x21\x80'
w x224_confirm http-400 'HTTP/1.1 400 Bad Request\r\n\r\n'
w x224_confirm disconnect-request '\x03\x00\x00\x0b\x06\x80\x00\x00\x12\x34\x00'
# X.224 Connection Requests
w x224_request sslyze-ssl-hybrid '\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00'
w x224_request mstsc-cookie '\x27\xe0\x00\x00\x00\x00\x00Cookie: mstshash=alice\r\n\x01\x00\x08\x00\x0b\x00\x00\x00'
w x224_request legacy '\x06\xe0\x00\x00\x00\x00\x00'
# TLS server flights
w tls_flight alert-protocol-version '\x15\x03\x03\x00\x02\x02\x46'
w tls_flight server-hello-tls13 '\x16\x03\x03\x00\x32\x02\x00\x00\x2e\x03\x03AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\x00\x13\x02\x00\x00\x06\x00\x2b\x00\x02\x03\x04'
w tls_flight truncated-record '\x16\x03\x03\x05\x62\x02\x00'
# RDP-UDP datagrams
w rdpeudp_datagram windows-syn-ack '\x64\x7a\x02\xbc\x00\x40\x10\x05\x61\xf7\xb6\xe3\x04\xd0\x04\xd0\x00\x01\x01\x01'
w rdpeudp_datagram mstsc-syn-prefix '\xff\xff\xff\xff\x00\x40\x18\x01\x70\x14\xc0\xfb\x04\xd0\x04\xd0AAAAAAAAAAAAAAAA\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x01\x01'
# Kerberos and DNS: binary seeds are committed as captured (not written here):
#   corpus/kdc_answer/mit-1.20-*      KRB-ERRORs of MIT krb5kdc 1.20.1 (crates/wire/tests/captures/kerberos)
#   corpus/gss_token/*                MIT's gss_wrap_iov pubKeyAuth (RFC 4121 Wrap, RRC 28), SPNEGO
#                                     answers (reject, a KRB-ERROR token), FreeRDP 3's zero token
#   corpus/dns_response/dnsd-*        answers of tests/lab/dnsd.py (SRV, A, AAAA, NXDOMAIN, NODATA)
# An AD-style SRV answer with compressed targets and A glue in the additional section:
w dns_response ad-srv-compressed-glue '\xab\xcd\x85\x80\x00\x01\x00\x01\x00\x00\x00\x01\x09_kerberos\x04_tcp\x04corp\x07example\x00\x00\x21\x00\x01\xc0\x0c\x00\x21\x00\x01\x00\x00\x02\x58\x00\x0c\x00\x00\x00\x64\x00\x58\x03dc1\xc0\x1b\xc0\x3f\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x00\x00\x01'
echo "seed corpus written under $(pwd)/corpus"
