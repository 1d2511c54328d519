#!/usr/bin/env bash
# Installs sync-cli the way a user installs a Node tool — `npm pack`, then `npm install -g` of
# the tarball into a fresh prefix — and runs it from there: --version, crm init --demo, and one
# sync of every demo user into a vdir mailbox. Used by CI; run it by hand with
#   bash scripts/install-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
npm pack --silent --pack-destination "$work" >/dev/null
tarball=$(ls "$work"/sync-cli-*.tgz)
echo "install-check: installing $(basename "$tarball") into a fresh prefix"
npm install -g --prefix "$work/prefix" --no-audit --no-fund --allow-scripts=sync-cli,better-sqlite3,unix-dgram "$tarball" >"$work/install.log" 2>&1 \
  || npm install -g --prefix "$work/prefix" --no-audit --no-fund "$tarball" >"$work/install.log" 2>&1 \
  || { cat "$work/install.log"; exit 1; }
export PATH="$work/prefix/bin:$PATH"
cd "$work"   # nothing of the checkout is used from here on
command -v sync-cli
sync-cli --version
home="$work/home"
sync-cli --home "$home" crm init --demo
for login in $(sync-cli --home "$home" users list --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).users.map(u=>u.login).join(" ")))'); do
  mkdir -p "$work/vdir/$login"
  sync-cli --home "$home" users assign "$login" --url "file://$work/vdir/$login" --username "$login" >/dev/null
done
sync-cli --home "$home" run --once --json > "$work/run.json"
node -e '
  const doc = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const bad = doc.mailboxes.filter((m) => m.state !== "success");
  const created = doc.mailboxes.reduce((n, m) => n + m.created, 0);
  if (bad.length || created === 0) { console.error("install-check: sync failed", JSON.stringify(doc)); process.exit(1); }
  console.log(`install-check: ${doc.mailboxes.length} mailboxes synced from the installed package, ${created} items created`);
' "$work/run.json"
items=$(find "$work/vdir" -name '*.vcf' -o -name '*.ics' | wc -l)
[ "$items" -gt 0 ] || { echo "install-check: no items in the vdir"; exit 1; }
echo "install-check: ok ($items files in the vdir mailboxes)"
