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
# What a listener that is not RDP answers (identification probes)
w sniff openssh-9.2 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n'
w sniff rfb-3.8 'RFB 003.008\n'
w sniff postfix-220 '220 mail.example ESMTP Postfix (Debian/GNU)\r\n'
w sniff python-http-501 'HTTP/1.0 501 Unsupported method\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\nDate: Sun, 06 Dec 2026 05:00:00 GMT\r\n\r\n'
w sniff tls-alert-70 '\x15\x03\x01\x00\x02\x02\x46'
w sniff tls12-server-hello-head '\x16\x03\x03\x00\x4a\x02\x00\x00\x46\x03\x03'
# RDP-UDP datagrams
w rdpeudp_datagram windows-syn-ack '\x64\x7a\x02\xbc\x00\x40\x10\x05\x61\xf7\xb6\xe3\x04\xd0\x04\xd0\x00\x01\x01\x01'
w rdpeudp_datagram mstsc-syn-prefix '\xff\xff\xff\xff\x00\x40\x18\x01\x70\x14\xc0\xfb\x04\xd0\x04\xd0AAAAAAAAAAAAAAAA\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x01\x01'
# RD Gateway: HTTP response heads a gateway (or what stands in front of it) answers
w gateway_http_response_head iis-401 'HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nServer: Microsoft-IIS/10.0\r\nWWW-Authenticate: Negotiate\r\nWWW-Authenticate: NTLM\r\nWWW-Authenticate: Basic realm="gw.example.com"\r\nContent-Length: 13\r\n\r\nUnauthorized.'
w gateway_http_response_head ntlm-challenge 'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM TlRMTVNTUAACAAAADAAMADgAAAAFgomiAAAAAAAAAAA=\r\nContent-Length: 0\r\n\r\n'
w gateway_http_response_head ws-101 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n'
w gateway_http_response_head legacy-out-200 'HTTP/1.1 200 OK\r\nDate: Sun, 06 Dec 2026 02:00:00 GMT\r\n\r\n\xab\xcd\xab\xcd\xab\xcd\xab\xcd\xab\xcd'
w gateway_http_response_head rpc-503 'HTTP/1.0 503 RPC Error: 6ba\r\n\r\n'
w gateway_http_response_head chunked 'HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, POST\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'
# RD Gateway: request heads clients send (FreeRDP 2 / 3 order)
w gateway_http_request_head freerdp2-out 'RDG_OUT_DATA /remoteDesktopGateway/ HTTP/1.1\r\nCache-Control: no-cache\r\nPragma: no-cache\r\nAccept: */*\r\nUser-Agent: MS-RDGateway/1.0\r\nHost: 127.0.0.1\r\nConnection: Keep-Alive\r\nRDG-Connection-Id: {1b9f9c16-3b8c-4e2f-9a4e-2c6c0b3c5a11}\r\nContent-Length: 0\r\nAuthorization: NTLM TlRMTVNTUAABAAAAB4IIog==\r\n\r\n'
w gateway_http_request_head freerdp3-ws 'RDG_OUT_DATA /remoteDesktopGateway/ HTTP/1.1\r\nCache-Control: no-cache\r\nPragma: no-cache\r\nAccept: */*\r\nUser-Agent: MS-RDGateway/1.0\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-Websocket-Version: 13\r\nSec-Websocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nRDG-Connection-Id: {1b9f9c16-3b8c-4e2f-9a4e-2c6c0b3c5a11}\r\nRDG-Correlation-Id: {1b9f9c16-3b8c-4e2f-9a4e-2c6c0b3c5a11}\r\nContent-Length: 0\r\n\r\n'
w gateway_http_request_head in-chunked 'RDG_IN_DATA /remoteDesktopGateway/ HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\nE\r\n\x01\x00\x00\x00\x0e\x00\x00\x00\x01\x00\x00\x00\x00\x00\r\n'
w gateway_http_request_head rpc-in 'RPC_IN_DATA /rpc/rpcproxy.dll?localhost:3388 HTTP/1.1\r\nAccept: application/rpc\r\nUser-Agent: MSRPC\r\nHost: gw\r\nContent-Length: 0\r\n\r\n'
# RD Gateway: authentication header values
w gateway_www_authenticate schemes 'Negotiate\nNTLM TlRMTVNTUAACAAAA==\nBasic realm="gw, example", charset="UTF-8"\nSMARTCARD, PAA, SSPI_NTLM'
# RD Gateway: chunked IN channel bodies
w gateway_chunked freerdp2-in 'E\r\n\x01\x00\x00\x00\x0e\x00\x00\x00\x01\x00\x00\x00\x00\x00\r\n0\r\n\r\n'
w gateway_chunked ext-trailer '3;x=1\nabc\n0\nX-T: 1\n\n'
# RD Gateway: WebSocket frames (RFC 6455 5.7 examples, a masked binary PDU)
w gateway_websocket rfc-hello '\x81\x05Hello\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58'
w gateway_websocket rfc-fragments '\x01\x03Hel\x80\x02lo\x89\x00\x88\x02\x03\xe8'
w gateway_websocket masked-keepalive '\x82\x88\x01\x02\x03\x04\x0c\x02\x03\x04\x09\x02\x03\x04'
# RD Gateway: server PDUs (what the probe reads)
w gateway_tsgu_server_pdus windows-setup '\x02\x00\x00\x00\x12\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x07\x00\x05\x00\x00\x00\x1a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x0a\x00\x00\x00\x0d\x00\x00\x00\x07\x00\x00\x00\x18\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x80\x1e\x00\x00\x00\x09\x00\x00\x00\x14\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00'
w gateway_tsgu_server_pdus rap-denied '\x09\x00\x00\x00\x10\x00\x00\x00\xda\x59\x07\x80\x00\x00\x00\x00'
w gateway_tsgu_server_pdus soh-short '\x05\x00\x00\x00\x18\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x01\x02\x03\x04\x05\x06'
w gateway_tsgu_server_pdus data-close '\x0a\x00\x00\x00\x0e\x00\x00\x00\x04\x00\x03\x00\x00\x13\x10\x00\x00\x00\x0c\x00\x00\x00\xf6\x59\x07\x80'
# RD Gateway: client PDUs (what the lab reads)
w gateway_tsgu_client_pdus freerdp2-setup '\x01\x00\x00\x00\x0e\x00\x00\x00\x01\x00\x00\x00\x00\x00\x04\x00\x00\x00\x10\x00\x00\x00\x0d\x00\x00\x00\x00\x00\x00\x00\x06\x00\x00\x00\x16\x00\x00\x00\x00\x00\x0a\x00W\x00S\x000\x001\x00\x00\x00\x08\x00\x00\x00\x18\x00\x00\x00\x01\x00\x3d\x0d\x03\x00\x08\x00s\x00r\x00v\x00\x00\x00'
w gateway_tsgu_client_pdus paa-cookie '\x04\x00\x00\x00\x1a\x00\x00\x00\x0d\x00\x00\x00\x01\x00\x00\x00\x08\x00t\x00o\x00k\x00\x00\x00'
# Kerberos and DNS: binary seeds are committed as captured (not written here):
#   corpus/kdc_answer/mit-1.20-*      KRB-ERRORs of MIT krb5kdc 1.20.1 (crates/wire/tests/captures/kerberos)
#   corpus/gss_token/*                MIT's gss_wrap_iov pubKeyAuth (RFC 4121 Wrap, RRC 28), SPNEGO
#                                     answers (reject, a KRB-ERROR token), FreeRDP 3's zero token
#   corpus/dns_response/dnsd-*        answers of tests/lab/dnsd.py (SRV, A, AAAA, NXDOMAIN, NODATA)
# An AD-style SRV answer with compressed targets and A glue in the additional section:
w dns_response ad-srv-compressed-glue '\xab\xcd\x85\x80\x00\x01\x00\x01\x00\x00\x00\x01\x09_kerberos\x04_tcp\x04corp\x07example\x00\x00\x21\x00\x01\xc0\x0c\x00\x21\x00\x01\x00\x00\x02\x58\x00\x0c\x00\x00\x00\x64\x00\x58\x03dc1\xc0\x1b\xc0\x3f\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x00\x00\x01'
echo "seed corpus written under $(pwd)/corpus"
# Text decoding of exports (UTF-8 with/without BOM, UTF-16LE/BE with BOM, UTF-16LE without BOM)
w text_utf8_reader utf8-bom '\xef\xbb\xbf[{"Id":4625,"n":"h\xc3\xa9llo"}]'
w text_utf8_reader utf8-invalid '[{"Id":1,"n":"a\xffb\xe2\x82"}]'
w text_utf8_reader utf16le-bom '\xff\xfe[\x00{\x00"\x00I\x00d\x00"\x00:\x007\x00}\x00]\x00'
w text_utf8_reader utf16be-bom '\xfe\xff\x00[\x00{\x00}\x00]\xd8\x3d\xde\x00'
w text_utf8_reader utf16le-no-bom '[\x00{\x00"\x00I\x00d\x00"\x00:\x001\x00}\x00]\x00\x3d\xd8'
