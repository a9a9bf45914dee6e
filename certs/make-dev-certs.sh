#!/usr/bin/env bash
# Makes a development CA and a kubegate serving certificate signed by it, for loopback tests and lab clusters.
# Production: use cert-manager (see certs/README.md); these keys are for development only.
#
# Usage: certs/make-dev-certs.sh [SAN ...]
#   SAN: a DNS name or an IP address (IPv4 or IPv6). Default:
#        localhost 127.0.0.1 ::1 kubegate kubegate.kubegate kubegate.kubegate.svc kubegate.kubegate.svc.cluster.local
# Env:   OUT_DIR (default certs/out next to this script), DAYS (serving cert, default 90),
#        CA_DAYS (default 365), FORCE=1 to replace an existing CA.
#
# Writes OUT_DIR/ca.crt, ca.key, tls.crt, tls.key (the names a kubernetes.io/tls Secret and
# kubegate's tls.certFile/privateKeyFile use). An existing CA is reused so that kubeconfigs that trust it keep
# working when the serving certificate is renewed.
set -euo pipefail
umask 077

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${OUT_DIR:-$script_dir/out}
days=${DAYS:-90}
ca_days=${CA_DAYS:-365}

if [ "$#" -eq 0 ]; then
  set -- localhost 127.0.0.1 ::1 kubegate kubegate.kubegate kubegate.kubegate.svc kubegate.kubegate.svc.cluster.local
fi

command -v openssl >/dev/null || { echo "make-dev-certs: openssl is required" >&2; exit 1; }
mkdir -p "$out"

# Each SAN goes in as IP: or DNS:. Clients match IP addresses only against IP SANs (RFC 6125), so
# "127.0.0.1" as a DNS name would not work.
sans=()
for name in "$@"; do
  if [[ $name =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ || $name == *:* ]]; then
    sans+=("IP:$name")
  elif [[ $name =~ ^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$ ]]; then
    sans+=("DNS:$name")
  else
    echo "make-dev-certs: not a DNS name or IP address: $name" >&2
    exit 2
  fi
done
san_list=$(IFS=,; echo "${sans[*]}")

if [ ! -s "$out/ca.key" ] || [ "${FORCE:-0}" = 1 ]; then
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -sha256 \
    -days "$ca_days" -subj "/CN=kubegate development CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
  echo "make-dev-certs: new CA $out/ca.crt" >&2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/ext.cnf" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$san_list
EXT
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -sha256 \
  -subj "/CN=$1" -keyout "$out/tls.key" -out "$tmp/tls.csr" 2>/dev/null
openssl x509 -req -in "$tmp/tls.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
  -CAserial "$tmp/ca.srl" -days "$days" -sha256 -extfile "$tmp/ext.cnf" -out "$out/tls.crt" 2>/dev/null
chmod 600 "$out/ca.key" "$out/tls.key"
chmod 644 "$out/ca.crt" "$out/tls.crt"

echo "make-dev-certs: $out/tls.crt for $san_list (valid $days days)" >&2
