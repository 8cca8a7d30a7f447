#!/usr/bin/env bash
# A Debian 12 base image with python3 for the image test, made locally: this machine reaches
# Debian's package mirror but no image registry. debootstrap a minimal rootfs, add the host's CA
# bundle (so pip inside the build trusts what the host trusts), import it with podman.
# Usage: tests/deployment/make_base_image.sh [IMAGE]   (default localhost/impact-base:bookworm)
set -euo pipefail
image="${1:-localhost/impact-base:bookworm}"
if podman image exists "$image"; then
  echo "$image exists"
  exit 0
fi
rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
tar -C "$rootfs" -c . | podman import \
  --change "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt" \
  --change "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
  - "$image" >/dev/null
echo "made $image"
