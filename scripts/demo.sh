#!/usr/bin/env bash
# The main job on a fresh machine, in one command:
#   embedded CRM with German demo data → a local Radicale with one mailbox per demo user →
#   every user assigned → one `sync-cli run --once` → where to look.
# Re-running it syncs again (the CRM and mailboxes are kept). `bash scripts/demo.sh stop` stops
# the Radicale it started; `bash scripts/demo.sh reset` also removes the demo folder.
#
# Environment: DEMO_HOME (default ./.demo), DEMO_PORT (default 5232), DEMO_HOST (default
# 127.0.0.1; 0.0.0.0 lets a phone in the same network connect — only on a trusted network).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO_HOME=${DEMO_HOME:-$ROOT/.demo}
DEMO_PORT=${DEMO_PORT:-5232}
DEMO_HOST=${DEMO_HOST:-127.0.0.1}
RAD_DIR=$DEMO_HOME/radicale
PIDFILE=$RAD_DIR/radicale.pid
CLI=(node "$ROOT/bin/sync-cli" --home "$DEMO_HOME")

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 2; }

stop_radicale() {
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    kill "$(cat "$PIDFILE")" && say "stopped Radicale (pid $(cat "$PIDFILE"))"
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  stop) stop_radicale; exit 0 ;;
  reset) stop_radicale; rm -rf "$DEMO_HOME"; say "removed $DEMO_HOME"; exit 0 ;;
  "") ;;
  *) die "usage: bash scripts/demo.sh [stop|reset]" ;;
esac

# 1. What the demo needs: Node >= 20, the npm packages (built), Debian's radicale + htpasswd.
command -v node >/dev/null || die "Node.js >= 20 is needed (https://nodejs.org or apt-get install nodejs)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || die "Node.js >= 20 is needed, found $(node --version)"
if [ ! -d node_modules ] || [ ! -f dist/cli.js ]; then
  say "installing npm packages (npm ci) and building"
  npm ci --no-audit --no-fund
fi
missing=()
command -v radicale >/dev/null || missing+=(radicale)
command -v htpasswd >/dev/null || missing+=(apache2-utils)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} (Debian packages)"
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get install -y "${missing[@]}" >/dev/null || die "could not install ${missing[*]}: run 'sudo apt-get install ${missing[*]}'"
fi
mkdir -p "$DEMO_HOME" "$RAD_DIR"
chmod 700 "$DEMO_HOME"

# 2. The embedded CRM with demo data (kept when it exists).
if [ ! -f "$DEMO_HOME/crm.sqlite" ]; then
  say "creating the embedded CRM with demo data"
  "${CLI[@]}" crm init --demo
fi
mapfile -t LOGINS < <("${CLI[@]}" --json users list | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    for (const u of JSON.parse(s).users) console.log(u.login);
  });')
[ ${#LOGINS[@]} -gt 0 ] || die "the demo CRM has no users"

# 3. A local Radicale with one mailbox (htpasswd user) per CRM user; passwords made once.
PWFILE=$DEMO_HOME/demo-passwords.txt
if [ ! -f "$PWFILE" ]; then
  umask 077
  for login in "${LOGINS[@]}"; do printf '%s %s\n' "$login" "$(node -e 'console.log(require("crypto").randomBytes(9).toString("base64url"))')"; done > "$PWFILE"
  : > "$RAD_DIR/users"
  while read -r login pw; do htpasswd -bm "$RAD_DIR/users" "$login" "$pw" 2>/dev/null; done < "$PWFILE"
fi
cat > "$RAD_DIR/config" <<EOF
[server]
hosts = $DEMO_HOST:$DEMO_PORT
[auth]
type = htpasswd
htpasswd_filename = $RAD_DIR/users
htpasswd_encryption = md5
[rights]
type = owner_only
[storage]
filesystem_folder = $RAD_DIR/collections
[logging]
level = warning
EOF
if ! { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }; then
  say "starting Radicale on http://$DEMO_HOST:$DEMO_PORT/"
  nohup radicale --config "$RAD_DIR/config" > "$RAD_DIR/radicale.log" 2>&1 &
  echo $! > "$PIDFILE"
  for _ in $(seq 1 50); do
    curl -s -o /dev/null "http://127.0.0.1:$DEMO_PORT/" && break
    kill -0 "$(cat "$PIDFILE")" 2>/dev/null || die "Radicale did not start (port $DEMO_PORT taken? set DEMO_PORT): $(tail -5 "$RAD_DIR/radicale.log")"
    sleep 0.2
  done
fi
URL="http://127.0.0.1:$DEMO_PORT/"

# 4. Assign every CRM user its mailbox (password from the environment, once; kept in the
#    0600 file store of the demo home).
while read -r login pw; do
  if ! "${CLI[@]}" --json users list | grep -q "\"username\": \"$login\""; then
    say "assigning mailbox $URL$login/ to CRM user $login"
    DEMO_PASSWORD=$pw "${CLI[@]}" users assign "$login" --url "$URL" --username "$login" --password-env DEMO_PASSWORD --credential-store file
  fi
done < "$PWFILE"

# 5. The main job: one sync pass over every mailbox.
say "sync-cli run --once"
set +e
"${CLI[@]}" run --once
code=$?
set -e

cat <<EOF

Where to look
  CardDAV/CalDAV server : $URL  (Radicale, data in $RAD_DIR/collections)
  Mailboxes (user / password):
$(sed 's/^/    /' "$PWFILE")
  Thunderbird           : New account → "Address book / Calendar" → CardDAV/CalDAV,
                          server $URL, one of the users above.
  iPhone                : Settings → Contacts/Calendar → Accounts → Other → CardDAV / CalDAV
  Android (DAVx5)       : "Login with URL and user name", URL $URL
                          (a phone needs DEMO_HOST=0.0.0.0 and this machine's address instead of 127.0.0.1)
  The CRM               : ${CLI[*]} crm export | less
  Sync again            : ${CLI[*]} run --once        (status: ${CLI[*]} status)
  Stop Radicale         : bash scripts/demo.sh stop    (remove everything: bash scripts/demo.sh reset)
EOF
exit $code
