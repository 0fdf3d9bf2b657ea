#!/bin/sh
# Write a tiny OCI image layout to DIR: one layer holding hello.txt, tagged `latest`, so
# that `skopeo copy oci:DIR:latest docker://...` has something to push. Needs only
# tar, gzip and sha256sum (coreutils); no docker daemon.
#
#   sh scripts/tiny-oci-image.sh ./image ["the text of hello.txt"]
set -eu
dir=${1:?usage: tiny-oci-image.sh DIR [TEXT]}
text=${2:-hello from registry-iam}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dir/blobs/sha256"

# blob FILE: store FILE under its digest; prints "DIGEST SIZE"
blob() {
    digest=$(sha256sum "$1" | cut -d' ' -f1)
    cp "$1" "$dir/blobs/sha256/$digest"
    echo "$digest $(wc -c <"$1" | tr -d ' ')"
}

printf '%s\n' "$text" >"$work/hello.txt"
tar -C "$work" --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$work/layer.tar" hello.txt
gzip -n -c "$work/layer.tar" >"$work/layer.tar.gz"
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
set -- $(blob "$work/layer.tar.gz")
layer_digest=$1 layer_size=$2

printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$diff_id" >"$work/config.json"
set -- $(blob "$work/config.json")
config_digest=$1 config_size=$2

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    "$config_digest" "$config_size" "$layer_digest" "$layer_size" >"$work/manifest.json"
set -- $(blob "$work/manifest.json")

printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
    "$1" "$2" >"$dir/index.json"
echo "wrote the OCI image $dir:latest (manifest sha256:$1)"
