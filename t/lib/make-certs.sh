#!/bin/sh
# SPDX-License-Identifier: ISC
# Makes the test PKI in directory $1: a CA, ECDSA P-256 server certificates
# for localhost and other.test, an encrypted key, a PKCS#12 keystore, client
# certificates from the CA and from a rogue CA, an expired certificate, one
# that expires in 10 days, and a file that looks like a Java KeyStore.
set -eu
d=$1
mkdir -p "$d"
cd "$d"
q() { "$@" >/dev/null 2>&1 || { echo "make-certs: failed: $*" >&2; exit 1; }; }
key() { q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
ca() { key "$1.key"; q openssl req -x509 -new -key "$1.key" -days 365 -subj "/CN=$2" -out "$1.pem"; }
# signed NAME CN CA DAYS [SAN]
signed() {
	key "$1.key"
	q openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
	printf 'subjectAltName=%s\n' "${5:-DNS:$2}" > "$1.ext"
	q openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days "$4" \
		-extfile "$1.ext" -out "$1.pem"
	rm -f "$1.csr" "$1.ext"
}
ca ca "npsocketd test CA"
ca rogue "rogue CA"
signed server localhost ca 365 "DNS:localhost,IP:127.0.0.1"
signed other other.test ca 365
signed client np-client ca 365
signed intruder intruder rogue 365
signed soon soon.test ca 10
q openssl pkey -in server.key -aes256 -passout pass:secret -out encrypted.key
q openssl pkcs12 -export -inkey server.key -in server.pem -passout pass:changeit -out keystore.p12
# Expired: certtool can date a certificate in the past.
cat > expired.tmpl <<'T'
cn = "expired.test"
activation_date = "2020-01-01 00:00:00 UTC"
expiration_date = "2021-01-01 00:00:00 UTC"
T
key expired.key
q certtool --generate-self-signed --load-privkey expired.key --template expired.tmpl --outfile expired.pem
rm -f expired.tmpl
printf '\376\355\376\355\000\000\000\002\000\000\000\001' > fake.jks
