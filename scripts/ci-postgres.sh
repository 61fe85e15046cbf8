#!/usr/bin/env bash
# ci-postgres.sh: install and start a local PostgreSQL for the store and
# gateway tests, idempotently, on a Debian/Ubuntu machine (run as root).
#
#   export GATEWAY_TEST_POSTGRES_DSN="$(scripts/ci-postgres.sh)"
#   go test ./...
#
# It installs the distribution's postgresql package when missing, makes sure
# a cluster exists and listens on 127.0.0.1 (port $PGPORT, default 5432),
# starts it, creates the role paygate (password "password") and the database
# paygate_test owned by it, and prints the DSN on stdout. Everything else goes
# to stderr, so the output can be captured as above. Running it again changes
# nothing. The tests create one schema per test in that database and drop it
# afterwards.
set -euo pipefail

PORT="${PGPORT:-5432}"
ROLE=paygate
PASSWORD=password
DB=paygate_test

log() { echo "ci-postgres: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
	log "run as root (it installs packages and starts the server as user postgres)"
	exit 1
fi

# The client (psql) may be installed without the server: look for the server binary.
if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
	log "installing postgresql"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq postgresql >&2
fi

VERSION="$(ls -d /usr/lib/postgresql/*/bin/postgres | awk -F/ '{print $5}' | sort -V | tail -n 1)"
CLUSTER=main

if ! pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {found=1} END {exit !found}'; then
	log "creating cluster $VERSION/$CLUSTER"
	pg_createcluster --port "$PORT" "$VERSION" "$CLUSTER" >&2
fi

# Listen on loopback only, on the chosen port. A drop-in file (Debian's
# postgresql.conf includes conf.d/) leaves the packaged file untouched.
CONFDIR="/etc/postgresql/$VERSION/$CLUSTER"
pg_conftool "$VERSION" "$CLUSTER" set port "$PORT" >&2
mkdir -p "$CONFDIR/conf.d"
printf "listen_addresses = '127.0.0.1'\n" >"$CONFDIR/conf.d/paygate-ci.conf"
chown -R postgres:postgres "$CONFDIR/conf.d"

status="$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {print $4}')"
if [ "$status" != "online" ]; then
	log "starting cluster $VERSION/$CLUSTER on 127.0.0.1:$PORT"
	pg_ctlcluster "$VERSION" "$CLUSTER" start >&2
elif ! pg_isready -q -h 127.0.0.1 -p "$PORT"; then
	# Running with other listen settings: apply ours.
	log "restarting cluster $VERSION/$CLUSTER to listen on 127.0.0.1:$PORT"
	pg_ctlcluster "$VERSION" "$CLUSTER" restart >&2
fi

for _ in $(seq 1 60); do
	if pg_isready -q -h 127.0.0.1 -p "$PORT"; then
		break
	fi
	sleep 0.5
done
if ! pg_isready -q -h 127.0.0.1 -p "$PORT"; then
	log "PostgreSQL did not become ready on 127.0.0.1:$PORT"
	exit 1
fi

as_postgres() {
	if command -v runuser >/dev/null 2>&1; then
		runuser -u postgres -- "$@"
	else
		su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
	fi
}

as_postgres psql -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -p "$PORT" -d postgres >&2 <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD';
  ELSE
    ALTER ROLE $ROLE LOGIN PASSWORD '$PASSWORD';
  END IF;
END
\$\$;
SQL

if ! as_postgres psql -tA -h /var/run/postgresql -p "$PORT" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
	log "creating database $DB"
	as_postgres createdb -h /var/run/postgresql -p "$PORT" -O "$ROLE" "$DB" >&2
fi

DSN="postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB?sslmode=disable"
# Check the DSN works over TCP with the password, as the tests will connect.
if ! PGPASSWORD="$PASSWORD" psql -q -h 127.0.0.1 -p "$PORT" -U "$ROLE" -d "$DB" -c "SELECT 1" >/dev/null; then
	log "cannot connect as $ROLE over TCP; check pg_hba.conf"
	exit 1
fi
log "ready"
echo "$DSN"
