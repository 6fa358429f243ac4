#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# C unit test of the web path's parsers: HTTP request heads, the probe,
# WebSocket frames and close payloads (t/unit/http_ws_test.c).
exec "build/t/http_ws_test" or die "build/t/http_ws_test: $!; run make first\n";
