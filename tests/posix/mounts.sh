# Sourced by run.sh and fsx.sh: a fresh kmsfs mount and a fresh gocryptfs
# mount of the same shape (allow_other, kernel permission checks) under
# $work, and their removal. Needs $kmsfs (the binary), jq, gocryptfs, and
# $work (a new directory, mode 755 so that other users reach the mount points).

# kmsfs: a key-file vault, one key whose policy lets every user use it (the
# suites run as root, nobody, tests and other uids), one volume, mounted at
# $work/kmsfs.mnt.
mount_kmsfs() {
    export KMSFS_VAULT="$work/vault/vault.db"
    "$kmsfs" init >/dev/null
    "$kmsfs" key create --alias alias/posix >/dev/null
    "$kmsfs" --output json policy get --key-id alias/posix | jq -r .Policy | jq '.Statement += [{
        "Sid": "Everyone may use the key (POSIX suites)", "Effect": "Allow", "Principal": "*",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*"}]' >"$work/policy.json"
    "$kmsfs" policy put --key-id alias/posix --policy-file "$work/policy.json" >/dev/null
    mkdir "$work/kmsfs.backing" "$work/kmsfs.mnt"
    "$kmsfs" volume create "$work/kmsfs.backing" --key-id alias/posix >/dev/null
    "$kmsfs" mount "$work/kmsfs.backing" "$work/kmsfs.mnt"
}

# gocryptfs at $work/gocryptfs.mnt.
mount_gocryptfs() {
    mkdir "$work/gocryptfs.backing" "$work/gocryptfs.mnt"
    gocryptfs -q -init -scryptn 10 -extpass "echo posix" "$work/gocryptfs.backing"
    gocryptfs -q -nosyslog -allow_other -extpass "echo posix" "$work/gocryptfs.backing" "$work/gocryptfs.mnt"
}

# Unmounts both (lazily if busy) and removes $work.
unmount_both() {
    local mnt
    for mnt in "$work/kmsfs.mnt" "$work/gocryptfs.mnt"; do
        if mountpoint -q "$mnt"; then umount "$mnt" || umount -l "$mnt"; fi
    done
    rm -rf "$work"
}
