'use strict';
// What the NFS guests of scripts/nfs.js boot from, fetched and built once into a cache
// (scripts/tooling.js's cache dir, under nfs/<kernel version>): Debian's packages
// downloaded with `apt-get download` and unpacked with `dpkg-deb -x` (nothing is
// installed on the host), the modules' index, and a small initramfs (busybox and the
// virtio/9p modules) that mounts the host's root read-only over 9p and runs
// scripts/nfs-guest.sh from it. ensure() is called under nfs.js's serialisation.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const tooling = require('./tooling');

const CACHE = path.join(tooling.cache, 'nfs');

// QEMU and the libraries its binary links (ldd, Debian 12), the NFS server and client
// tools with theirs, busybox for the initramfs, kmod for modprobe. The kernel is added
// by version (linux-image-amd64's current dependency).
const PACKAGES = [
  ...['qemu-system-x86', 'qemu-system-common', 'qemu-system-data', 'seabios', 'ipxe-qemu'],
  ...['libaio1', 'libbpf1', 'libcapstone4', 'libfdt1', 'libfuse3-3', 'libibverbs1', 'libnuma1', 'libpixman-1-0'],
  ...['libpmem1', 'librdmacm1', 'libslirp0', 'liburing2', 'libvdeplug2', 'libndctl6', 'libdaxctl1'],
  ...['libnl-3-200', 'libnl-route-3-200'],
  ...['nfs-common', 'nfs-kernel-server', 'rpcbind', 'libnfsidmap1', 'libwrap0', 'keyutils', 'libkeyutils1'],
  ...['busybox-static', 'kmod'],
];

// The initramfs's modules, in load order (kernel/ of the kernel's module tree).
const INITRD_MODULES = [
  'drivers/virtio/virtio_ring',
  'drivers/virtio/virtio',
  'drivers/virtio/virtio_pci_modern_dev',
  'drivers/virtio/virtio_pci_legacy_dev',
  'drivers/virtio/virtio_pci',
  'fs/netfs/netfs',
  'fs/fscache/fscache',
  'net/9p/9pnet',
  'net/9p/9pnet_virtio',
  'fs/9p/9p',
];

// PID 1 of the initramfs: the host's root over 9p (cache=loose: it does not change while
// the guests run), then the guest script named on the kernel command line.
const INIT = `#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in ${INITRD_MODULES.map((m) => path.basename(m)).join(' ')}; do insmod /mods/$m.ko || echo "insmod $m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /newroot || { echo "9p root mount failed"; exec sh; }
INIT=$(sed -n 's/.*fslock\\.init=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
mount --move /proc /newroot/proc; mount --move /sys /newroot/sys; mount --move /dev /newroot/dev
exec switch_root /newroot /bin/bash "$INIT"
`;

const sh = (cmd, args, opts = {}) =>
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 600_000, ...opts });

/**
 * The kernel to boot: one cached already (asking apt-cache takes seconds, and a cached
 * kernel boots offline), else linux-image-amd64's current dependency.
 */
function kernelVersion(log) {
  const cached = fs.existsSync(CACHE)
    ? fs.readdirSync(CACHE).filter((d) => fs.existsSync(path.join(CACHE, d, 'ready')))
    : [];
  if (cached.length) return cached.sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).pop();
  const ask = () => /linux-image-(\S+-amd64)/.exec(sh('apt-cache', ['depends', 'linux-image-amd64']))?.[1];
  let v;
  try {
    v = ask();
    if (!v) {
      log('apt-get update (to find the current kernel package)');
      sh('apt-get', ['update', '-qq']);
      v = ask();
    }
  } catch {}
  if (v) return v;
  throw Object.assign(new Error('cannot find the kernel package (apt-cache depends linux-image-amd64)'), {
    unavailable: true,
  });
}

function describe(dir, kernel) {
  const root = path.join(dir, 'root');
  return {
    kernelVersion: kernel,
    root,
    kernel: path.join(root, 'boot', `vmlinuz-${kernel}`),
    initrd: path.join(dir, 'initrd.gz'),
    qemu: path.join(root, 'usr/bin/qemu-system-x86_64'),
    libraryPath: [path.join(root, 'usr/lib/x86_64-linux-gnu'), path.join(root, 'lib/x86_64-linux-gnu')].join(':'),
  };
}

/** Downloads, unpacks and builds what is missing; returns the paths the guests need. */
function ensure(log) {
  const kernel = kernelVersion(log);
  const dir = path.join(CACHE, kernel);
  if (fs.existsSync(path.join(dir, 'ready'))) return describe(dir, kernel);
  const t0 = Date.now();
  const tmp = `${dir}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const debs = path.join(tmp, 'debs');
  const root = path.join(tmp, 'root');
  fs.mkdirSync(debs, { recursive: true });
  log(`downloading ${PACKAGES.length + 1} Debian packages (once, into ${CACHE})`);
  const download = () => sh('apt-get', ['download', ...PACKAGES, `linux-image-${kernel}`], { cwd: debs });
  try {
    download();
  } catch {
    sh('apt-get', ['update', '-qq']); // lists older than the archive: versions gone
    download();
  }
  for (const d of fs.readdirSync(debs)) sh('dpkg-deb', ['-x', path.join(debs, d), root]);
  fs.rmSync(debs, { recursive: true }); // ~84 MB, unpacked in root/
  const a = describe(tmp, kernel);
  const missing = sh('ldd', [a.qemu], { env: { ...process.env, LD_LIBRARY_PATH: a.libraryPath } })
    .split('\n')
    .filter((l) => /not found/.test(l));
  if (missing.length) throw new Error(`QEMU needs libraries not in PACKAGES: ${missing.join('; ')}`);
  // depmod (kmod under that name) indexes the unpacked modules; the guests' modprobe
  // reads the index from the same tree.
  const kmod = path.join(tmp, 'depmod');
  fs.symlinkSync(path.join(root, 'bin/kmod'), kmod);
  sh(kmod, ['-b', root, kernel]);
  fs.rmSync(kmod);
  buildInitrd(tmp, root, kernel);
  fs.writeFileSync(path.join(tmp, 'ready'), `${new Date().toISOString()}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  log(`guest assets ready in ${Date.now() - t0} ms`);
  return describe(dir, kernel);
}

function buildInitrd(dir, root, kernel) {
  const ird = path.join(dir, 'initrd');
  for (const d of ['bin', 'mods', 'newroot', 'proc', 'sys', 'dev'])
    fs.mkdirSync(path.join(ird, d), { recursive: true });
  fs.copyFileSync(path.join(root, 'bin/busybox'), path.join(ird, 'bin/busybox'));
  fs.chmodSync(path.join(ird, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'mount', 'insmod', 'switch_root', 'sed']) fs.symlinkSync('busybox', path.join(ird, 'bin', a));
  const mods = path.join(root, 'lib/modules', kernel, 'kernel');
  for (const m of INITRD_MODULES)
    fs.copyFileSync(path.join(mods, `${m}.ko`), path.join(ird, 'mods', `${path.basename(m)}.ko`));
  fs.writeFileSync(path.join(ird, 'init'), INIT, { mode: 0o755 });
  const busybox = path.join(root, 'bin/busybox');
  sh('sh', ['-c', `find . | "${busybox}" cpio -o -H newc 2>/dev/null | gzip -1 > ../initrd.gz`], { cwd: ird });
  fs.rmSync(ird, { recursive: true });
}

module.exports = { ensure, CACHE, PACKAGES };
