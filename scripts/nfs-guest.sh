#!/bin/bash
# PID 1 of an NFS test guest (scripts/nfs.js): the host's root filesystem is mounted
# read-only over 9p, so the guest runs the host's node, python3 and util-linux, and the
# NFS tools unpacked (never installed) under fslock.root. Guest 1 runs the kernel nfsd
# and is also NFS client A; guest 2 is client B. They reach each other only over their
# own IPv6 ULA link (a QEMU socket netdev on the host's loopback).
#
# Kernel command line: fslock.guest=N fslock.ctl=DIR fslock.root=DIR. DIR of ctl is a
# writable 9p share (the same path on the host): the agent at the end runs each
# `ID.cmd` dropped there as its own session, writes ID.pid, ID.out and then ID.rc; an
# `ID.kill` file SIGKILLs that job's process group; `poweroff` ends the guest.
arg() { sed -n "s/.*fslock\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
N=$(arg guest)
C=$(arg ctl)
R=$(arg root)
export PATH=$R/sbin:$R/usr/sbin:/run/fslock/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LD_LIBRARY_PATH=$R/usr/lib/x86_64-linux-gnu:$R/lib/x86_64-linux-gnu
export HOME=/run/fslock/home
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /mnt
mount -t tmpfs tmpfs /var/lib
mount -t tmpfs tmpfs /var/tmp
mkdir -p /dev/pts /dev/shm /run/fslock/bin "$HOME"
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
# The unpacked kmod finds the unpacked modules only when told where they are (-d);
# the kernel's own module requests (nfsd asks for lockd...) go through the same wrapper.
mkdir -p /run/fslock/kmod
ln -s "$R/bin/kmod" /run/fslock/kmod/modprobe # kmod acts on the name it is run as
printf '#!/bin/sh\nexec /run/fslock/kmod/modprobe -d %s "$@"\n' "$R" >/run/fslock/bin/modprobe
chmod +x /run/fslock/bin/modprobe
echo /run/fslock/bin/modprobe >/proc/sys/kernel/modprobe
hostname "fslock-nfs-g$N"
modprobe 9pnet_virtio
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 ctl "$C"
exec >>"$C/init.log" 2>&1
echo "guest-init start uptime=$(cut -d' ' -f1 /proc/uptime)"
modprobe virtio_net
ip link set lo up
ip link set eth0 up
ip -6 addr add "fd42:4e46:5300::$N/64" dev eth0 nodad
sysctl -qw net.ipv6.conf.eth0.accept_ra=0 net.ipv6.conf.eth0.router_solicitations=0
mkdir -p /var/lib/nfs/sm /var/lib/nfs/sm.bak /var/lib/nfs/v4recovery /run/rpcbind
for m in lockd nfs nfsv3 nfsv4; do modprobe $m; done
# Debian's rpcbind drops privileges to the user _rpc and exits silently without it.
cp /etc/passwd /run/passwd
echo '_rpc:x:108:65534::/run/rpcbind:/usr/sbin/nologin' >>/run/passwd
mount --bind /run/passwd /etc/passwd
rpcbind -w && echo rpcbind ok
rpc.statd --no-notify && echo statd ok
if [ "$N" = 1 ]; then
  modprobe nfsd
  mount -t nfsd nfsd /proc/fs/nfsd
  # Short grace and lease (default 90 s): a v4 client dead or cut off is noticed after
  # one lease, and a restarted server takes new locks after one grace period.
  echo 10 >/proc/fs/nfsd/nfsv4gracetime
  echo 10 >/proc/fs/nfsd/nfsv4leasetime
  mkdir -p /mnt/export
  chmod 1777 /mnt/export
  # fsid=0: the export is NFSv4's pseudo-root (v4 mounts /, v3 mounts /mnt/export).
  exportfs -o rw,no_root_squash,insecure,no_subtree_check,fsid=0 '*:/mnt/export' && echo exportfs ok
  rpc.mountd && echo mountd ok
  rpc.nfsd 8 && echo nfsd ok
fi
echo "guest-init ready uptime=$(cut -d' ' -f1 /proc/uptime)"
touch "$C/ready"
while :; do
  for f in "$C"/*.cmd; do
    [ -e "$f" ] || continue
    b=${f%.cmd}
    mv "$f" "$b.run"
    # Each job is a session of its own (ID.kill ends it, children included); the
    # subshell around it outlives it to write its status.
    (
      setsid bash "$b.run" >"$b.out" 2>&1 &
      echo $! >"$b.pid"
      wait $!
      echo $? >"$b.rc.tmp"
      mv "$b.rc.tmp" "$b.rc"
    ) &
  done
  for f in "$C"/*.kill; do
    [ -e "$f" ] || continue
    b=${f%.kill}
    rm -f "$f"
    p=$(cat "$b.pid" 2>/dev/null) && kill -9 -- "-$p" 2>/dev/null
  done
  [ -e "$C/poweroff" ] && { rm -f "$C/poweroff"; sync; echo o >/proc/sysrq-trigger; }
  sleep 0.1
done
