#!/usr/bin/env bash
# Rendered by Terraform (templatefile). First-boot user data: move /nix onto the data volume (label nix-store),
# install the NixOS configuration and reboot into it. Idempotent: does
# nothing once /nix is the data volume.
set -euo pipefail
exec > >(tee -a /var/log/kernel-builder-bootstrap.log) 2>&1

if findmnt -n -o SOURCE /nix | grep -q .; then
  echo "/nix is already a separate file system"
  exit 0
fi

# Wait for the EBS attachment (NVMe name on Nitro instances).
dev=""
for _ in $(seq 1 120); do
  for candidate in /dev/disk/by-label/nix-store /dev/nvme1n1 /dev/xvdf /dev/sdf; do
    if [ -b "$candidate" ]; then dev=$candidate; break 2; fi
  done
  sleep 5
done
[ -n "$dev" ] || { echo "no data volume attached"; exit 1; }

if ! blkid -o value -s LABEL "$dev" | grep -qx nix-store; then
  mkfs.ext4 -L nix-store "$dev"
fi
mkdir -p /mnt/nix-store
mount "$dev" /mnt/nix-store
cp -a /nix/. /mnt/nix-store/
umount /mnt/nix-store

cat > /etc/nixos/kernel-builder.json <<'JSON'
${settings_json}
JSON
cat > /etc/nixos/configuration.nix <<'NIXOS'
${nixos_configuration}
NIXOS
nixos-rebuild boot
reboot
