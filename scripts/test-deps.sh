#!/usr/bin/env bash
# What the tests need from Debian beyond `npm ci`: native HDF5 tools and h5py (interop tests),
# chromium (the web page test, driven by playwright-core) and a C compiler (the merge bench's
# native peer, whose self-check a unit test runs). Run before the tests by `npm test` (pretest)
# and by .ci/run.
# Installs whatever is missing with apt-get when it can (root, apt-get present); otherwise, or with
# DAQ_TEST_DEPS=check, names what is missing and the command that installs it, and exits 1.
set -euo pipefail

need=()
command -v h5dump >/dev/null 2>&1 || need+=(hdf5-tools)
/usr/bin/python3 -c 'import h5py, numpy' >/dev/null 2>&1 || need+=(python3-h5py python3-numpy)
[ -x /usr/bin/chromium ] || need+=(chromium)
printf '#include <stdio.h>\nint main(void){return 0;}\n' | cc -x c -o /dev/null - >/dev/null 2>&1 || need+=(gcc libc6-dev)
[ ${#need[@]} -eq 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${need[*]}"
if [ "${DAQ_TEST_DEPS:-install}" != check ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: installing Debian packages the tests need: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
    echo "test-deps: '$cmd' failed (see apt-get's message above)" >&2
    exit 1
  fi
  exit 0
fi
echo "test-deps: the tests need Debian packages that are missing: ${need[*]}" >&2
echo "test-deps: install them with: sudo $cmd" >&2
exit 1
