#!/bin/sh
# Generates the example deployment's secrets and TLS certificate into
# ./secrets beside this script (or the directory given as $1), keeping any
# file that already exists there (put your own certificate in tls.pem):
#
#   database-password           PostgreSQL role `cognate`
#   account-secret-access-key   SigV4 secret of account 000000000000 (cognate.toml)
#   key-encryption-key          seals the token signing keys in the database
#   subject-hash-key            HMAC key of stored upstream subjects
#   tls.pem                     HAProxy's certificate chain and key, issued for
#                               $COGNATE_TLS_HOST (default localhost), 127.0.0.1 and ::1
#   ca.pem                      the self-signed CA that issued it: clients trust this
#
# Needs openssl. Cognate runs as uid/gid 10001 in its container: run as root,
# the files are made readable by group 10001 only; otherwise by everyone
# (rootless podman maps container users to other host uids).
set -eu
dir=${1:-$(dirname "$0")/secrets}
host=${COGNATE_TLS_HOST:-localhost}
umask 077
mkdir -p "$dir"
cd "$dir"

[ -s database-password ] || openssl rand -hex 24 >database-password
[ -s account-secret-access-key ] || openssl rand -hex 24 >account-secret-access-key
[ -s key-encryption-key ] || openssl rand -base64 32 >key-encryption-key
[ -s subject-hash-key ] || openssl rand -base64 32 >subject-hash-key

if [ ! -s tls.pem ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Cognate example CA" \
    -keyout "$work/ca.key" -out ca.pem 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$host" \
    -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' "$host" \
    >"$work/ext.cnf"
  openssl x509 -req -in "$work/server.csr" -CA ca.pem -CAkey "$work/ca.key" -CAcreateserial -CAserial "$work/ca.srl" \
    -days 825 -extfile "$work/ext.cnf" -out "$work/server.crt" 2>/dev/null
  cat "$work/server.crt" ca.pem "$work/server.key" >tls.pem
  echo "generated a certificate for $host in $(pwd)/tls.pem; clients trust $(pwd)/ca.pem"
fi

if [ "$(id -u)" = 0 ]; then
  chgrp 10001 . database-password account-secret-access-key key-encryption-key subject-hash-key
  chmod 0750 .
  chmod 0640 database-password account-secret-access-key key-encryption-key subject-hash-key
  chmod 0600 tls.pem
else
  chmod 0755 .
  chmod 0644 database-password account-secret-access-key key-encryption-key subject-hash-key
  chmod 0600 tls.pem
fi
chmod 0644 ca.pem
