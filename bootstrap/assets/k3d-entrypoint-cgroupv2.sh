#!/bin/sh
# On a cgroup v2 host K3s must hand controllers down to the cgroups it creates, and the kernel
# allows that only while no process lives in the (container's) root cgroup. So move every
# process into a leaf cgroup, then enable all controllers for the children.
set -eu
root=/sys/fs/cgroup
if [ ! -f "$root/cgroup.controllers" ]; then
  echo "cgroupv2: $root is not a cgroup v2 mount; nothing to do"
  exit 0
fi
mkdir -p "$root/init"
# cgroup.procs takes one PID per write; a PID that exits meanwhile is not an error.
while read -r pid; do
  echo "$pid" >"$root/init/cgroup.procs" 2>/dev/null || true
done <"$root/cgroup.procs"
enable=""
read -r controllers <"$root/cgroup.controllers"
for controller in $controllers; do
  enable="$enable +$controller"
done
echo "cgroupv2: processes moved to $root/init; enabling$enable"
echo "$enable" >"$root/cgroup.subtree_control"
