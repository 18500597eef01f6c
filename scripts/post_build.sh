#!/bin/sh
# trunk's post_build hook (Trunk.toml), run in the project root on the
# staging folder ($TRUNK_STAGING_DIR) before it becomes dist/. One script, in
# order, because trunk runs a stage's hooks concurrently:
#   1. 404.html: a copy of index.html. Static hosts (GitHub Pages) answer an
#      unknown path such as /attention?n=128 with it; it boots the app, whose
#      router then shows the page for that path (deep links).
#   2. sw.js: the service worker (assets/sw.js) gets the build's file list and
#      version in front of its text — FILES, every file of the build but
#      itself, relative to it; BUILD, a checksum (POSIX cksum) of those
#      files' bytes and of the worker's own text. trunk hashes the asset
#      names, so a new deploy changes both, the browser installs the new
#      worker, and that worker caches the new files and drops the old cache.
set -eu
cd "${TRUNK_STAGING_DIR:?run by trunk as a post_build hook}"

cp index.html 404.html

[ -f sw.js ] || { echo "post_build: sw.js missing (index.html copies assets/sw.js)" >&2; exit 1; }
files=$(find . -type f ! -name sw.js ! -name sw.js.tmp | sed 's|^\./||' | LC_ALL=C sort)
case "$files" in
  *'"'* | *'\'* | *' '*) echo "post_build: a file name holds a quote, a backslash or a space" >&2; exit 1 ;;
esac
# cksum on the names and the bytes of every file, in a fixed order.
build=$(
  for f in $files; do printf '%s\n' "$f"; cat "$f"; done | cat - sw.js | cksum | cut -d' ' -f1
)
{
  printf '// Written by scripts/post_build.sh for this build.\n'
  printf 'const BUILD = "%s";\n' "$build"
  printf 'const FILES = [\n'
  for f in $files; do printf '  "%s",\n' "$f"; done
  printf '];\n\n'
  cat sw.js
} > sw.js.tmp
mv sw.js.tmp sw.js
