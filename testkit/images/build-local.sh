#!/usr/bin/env bash
# Builds the testkit's container images from Debian packages, for machines that
# have a Docker engine but no image registry (air-gapped CI, this project's CI).
#
#   testkit/images/build-local.sh            # build what is missing
#   testkit/images/build-local.sh --force    # rebuild both
#
# It makes two images with the contract of the official ones:
#   taylordash/postgres:15   like postgres:15: POSTGRES_PASSWORD (required, or
#                            POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_USER,
#                            POSTGRES_DB, PGDATA; initdb on first start; the
#                            command "postgres [args]" (e.g. -p 54321 -c fsync=off);
#                            port 5432
#   taylordash/mosquitto:2   like eclipse-mosquitto:2: /mosquitto/config/mosquitto.conf,
#                            /mosquitto/data, /mosquitto/log; port 1883
# Use them with:
#   TAYLORDASH_TEST_PG_IMAGE=taylordash/postgres:15 TAYLORDASH_TEST_MQTT_IMAGE=taylordash/mosquitto:2
#
# How: one `debootstrap --variant=minbase` root file system with postgresql-15 and
# mosquitto (about 35 s), imported twice with `docker import` (about 7 s each),
# each with its own entrypoint. Idempotent: an existing tag is skipped.
# Needs: root, docker (a running engine), debootstrap, and the Debian mirror
# from /etc/apt (override with MIRROR=http://...).
set -euo pipefail

PG_TAG=${PG_TAG:-taylordash/postgres:15}
MQTT_TAG=${MQTT_TAG:-taylordash/mosquitto:2}
SUITE=${SUITE:-bookworm}
force=false
[ "${1:-}" = "--force" ] && force=true

die() { echo "build-local: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap needs it)"
command -v docker >/dev/null || die "docker is not installed (apt-get install docker.io)"
docker info >/dev/null 2>&1 || die "no Docker engine answers; start one (dockerd &) and try again"

need=()
for tag in "$PG_TAG" "$MQTT_TAG"; do
	if $force || ! docker image inspect "$tag" >/dev/null 2>&1; then
		need+=("$tag")
	else
		echo "build-local: $tag exists; skipping (use --force to rebuild)"
	fi
done
[ ${#need[@]} -eq 0 ] && exit 0

command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
if [ -z "${MIRROR:-}" ]; then
	MIRROR=$(grep -hoE '^URIs: *https?://[^ ]+/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | sed 's/^URIs: *//')
	[ -n "$MIRROR" ] || MIRROR=$(grep -hoE '^deb +https?://[^ ]+/debian/? ' /etc/apt/sources.list 2>/dev/null | head -1 | awk '{print $2}')
	[ -n "$MIRROR" ] || die "no Debian mirror found in /etc/apt; set MIRROR=http://deb.debian.org/debian"
fi

work=$(mktemp -d /tmp/taylordash-images.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
echo "build-local: debootstrap $SUITE from $MIRROR (about 35 s)"
start=$(date +%s)
debootstrap --variant=minbase --include=postgresql-15,mosquitto "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
	{ tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
echo "build-local: root file system ready in $(( $(date +%s) - start ))s"

# Slim down and prepare both services.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
rm -rf "$root"/etc/postgresql "$root"/var/lib/postgresql/15   # the image's PGDATA is made at first start
mkdir -p "$root"/var/lib/postgresql/data "$root"/var/run/postgresql \
	"$root"/mosquitto/config "$root"/mosquitto/data "$root"/mosquitto/log

cat >"$root"/usr/local/bin/docker-entrypoint.sh <<'SCRIPT'
#!/bin/bash
# The postgres image's entrypoint: the contract of the official image.
set -euo pipefail
PGBIN=/usr/lib/postgresql/15/bin
export PATH="$PGBIN:$PATH"
if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi
if [ "$1" != postgres ]; then exec "$@"; fi
shift
export PGDATA=${PGDATA:-/var/lib/postgresql/data}
mkdir -p "$PGDATA" /var/run/postgresql
chown -R postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	user=${POSTGRES_USER:-postgres}
	db=${POSTGRES_DB:-$user}
	auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
	if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
		echo "Error: POSTGRES_PASSWORD is not set; set it, or POSTGRES_HOST_AUTH_METHOD=trust" >&2
		exit 1
	fi
	pwfile=$(mktemp)
	printf '%s\n' "${POSTGRES_PASSWORD:-unused}" >"$pwfile"
	chown postgres "$pwfile"
	as_postgres initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
		--auth-local=trust --auth-host="$auth" --no-sync
	rm -f "$pwfile"
	echo "host all all all $auth" >>"$PGDATA/pg_hba.conf"
	# A server on the socket only, to create the database, as the official image does.
	as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
	if [ "$db" != postgres ]; then
		as_postgres psql -v ON_ERROR_STOP=1 -U "$user" -d postgres -c "CREATE DATABASE \"$db\""
	fi
	as_postgres pg_ctl -D "$PGDATA" -m fast -w stop
	echo "PostgreSQL init process complete; ready for start up."
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" -c listen_addresses='*' "$@"
SCRIPT
chmod 755 "$root"/usr/local/bin/docker-entrypoint.sh

cat >"$root"/docker-entrypoint-mosquitto.sh <<'SCRIPT'
#!/bin/sh
# The mosquitto image's entrypoint: the contract of the official image.
set -e
chown -R mosquitto:mosquitto /mosquitto/data /mosquitto/log 2>/dev/null || true
exec "$@"
SCRIPT
chmod 755 "$root"/docker-entrypoint-mosquitto.sh
printf '# Replace with your own configuration (see mosquitto.conf(5)).\n' >"$root"/mosquitto/config/mosquitto.conf

for tag in "${need[@]}"; do
	start=$(date +%s)
	case "$tag" in
	"$PG_TAG")
		tar -C "$root" -c . | docker import \
			--change 'ENV PGDATA=/var/lib/postgresql/data' \
			--change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
			--change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
			--change 'CMD ["postgres"]' \
			--change 'EXPOSE 5432' \
			--change 'LABEL org.taylordash.image=postgres' \
			- "$tag" >/dev/null
		;;
	"$MQTT_TAG")
		tar -C "$root" -c . | docker import \
			--change 'ENTRYPOINT ["/docker-entrypoint-mosquitto.sh"]' \
			--change 'CMD ["/usr/sbin/mosquitto", "-c", "/mosquitto/config/mosquitto.conf"]' \
			--change 'EXPOSE 1883' \
			--change 'LABEL org.taylordash.image=mosquitto' \
			- "$tag" >/dev/null
		;;
	esac
	echo "build-local: $tag imported in $(( $(date +%s) - start ))s"
done
