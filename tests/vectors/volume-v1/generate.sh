#!/usr/bin/env bash
# Regenerates the frozen whole-volume test vectors of docs/FORMAT.md section 7:
# a key-file vault with one key and two volumes under it (aes-256-gcm and
# xchacha20-poly1305, chunk size 4096), filled through a real mount, and
# MANIFEST.tsv listing every plaintext entry.
#
# The committed bytes are the vectors: tests/fs_vectors.rs reads them, and every
# later version of kmsfs must read them unchanged. Run this only to make a NEW
# set (e.g. volume-v2/); never to "fix" volume-v1.
#
# Usage, as root with /dev/fuse: tests/vectors/volume-v1/generate.sh KMSFS_BINARY OUT_DIR
set -euo pipefail

kmsfs=$(realpath "$1")
out=$(realpath -m "$2")
[ -e "$out" ] && { echo "generate.sh: $out exists; give a new directory" >&2; exit 2; }

work=$(mktemp -d)
mnt="$work/mnt"
cleanup() {
    if mountpoint -q "$mnt"; then "$kmsfs" umount --lazy "$mnt"; fi
    rm -rf "$work"
}
trap cleanup EXIT
export KMSFS_VAULT="$work/vault/vault.db"

"$kmsfs" init >/dev/null
"$kmsfs" key create --alias alias/vectors --description "kmsfs volume-v1 test vectors" >/dev/null
mkdir "$mnt"

# The plaintext of a file of SIZE bytes: numbered text lines, cut at SIZE.
seq 1 1000 | sed 's/^/kmsfs volume-v1 vector line /' >"$work/text"
content() {
    head -c "$1" "$work/text"
}

long_name=$(printf 'L%.0s' $(seq 1 200))

fill() {
    local m=$1
    content 0 >"$m/empty"
    content 1 >"$m/one"
    content 4095 >"$m/chunk-minus-1"
    content 4096 >"$m/chunk"
    content 4097 >"$m/chunk-plus-1"
    content $((3 * 4096 + 7)) >"$m/three-chunks-plus-7"
    mkdir "$m/dir"
    content 100 >"$m/dir/$long_name"
    content 5000 >"$m/dir/nested"
    ln -s ../chunk "$m/dir/link-to-chunk"
    ln "$m/chunk-plus-1" "$m/dir/hard-link"
}

# One line per plaintext entry: type, path, size, sha256, link (symlink target
# or, for the second name of a hard link, the first name), tab-separated.
manifest() {
    local m=$1
    printf '# type\tpath\tsize\tsha256\tlink\n'
    printf 'dir\t/dir\t-\t-\t-\n'
    local path
    for path in /empty /one /chunk-minus-1 /chunk /chunk-plus-1 /three-chunks-plus-7 \
        "/dir/$long_name" /dir/nested; do
        printf 'file\t%s\t%s\t%s\t-\n' "$path" "$(stat -c %s "$m$path")" \
            "$(sha256sum <"$m$path" | cut -d' ' -f1)"
    done
    printf 'symlink\t/dir/link-to-chunk\t-\t-\t%s\n' "$(readlink "$m/dir/link-to-chunk")"
    printf 'hardlink\t/dir/hard-link\t-\t-\t/chunk-plus-1\n'
}

mkdir -p "$out"
for cipher in aes-256-gcm xchacha20-poly1305; do
    mkdir "$work/$cipher"
    "$kmsfs" volume create "$work/$cipher" --key-id alias/vectors --cipher "$cipher" \
        --chunk-size 4096 >/dev/null
    "$kmsfs" mount "$work/$cipher" "$mnt"
    fill "$mnt"
    [ "$cipher" = aes-256-gcm ] && manifest "$mnt" >"$out/MANIFEST.tsv"
    "$kmsfs" umount "$mnt"
    cp -a "$work/$cipher" "$out/$cipher"
done
mkdir "$out/vault"
# The CLI closes the database after each command, which checkpoints the WAL.
cp "$work/vault/vault.db" "$work/vault/vault.key" "$out/vault/"
echo "wrote $out"
