#!/bin/sh
# Starts MariaDB; on an empty data directory first creates the system tables, the database and
# its user. The password comes from a file (a swarm secret): it never appears on a command line.
#   MARIADB_DATABASE       default wordpress
#   MARIADB_USER           default wordpress
#   MARIADB_PASSWORD_FILE  default /run/secrets/db_password
set -eu
database="${MARIADB_DATABASE:-wordpress}"
user="${MARIADB_USER:-wordpress}"
password_file="${MARIADB_PASSWORD_FILE:-/run/secrets/db_password}"
datadir=/var/lib/mysql

install -d -o mysql -g mysql -m 0755 /run/mysqld
chown mysql:mysql "$datadir"
if [ ! -d "$datadir/mysql" ]; then
  if [ ! -r "$password_file" ]; then
    echo "dockfleet-mariadb: the password file $password_file is missing: give the service the db_password secret" >&2
    exit 1
  fi
  echo "dockfleet-mariadb: empty $datadir: creating the system tables and database $database" >&2
  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db --auth-root-authentication-method=socket >/dev/null
  # SQL string literal: backslashes and quotes escaped.
  password="$(sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g" "$password_file")"
  mariadbd --user=mysql --datadir="$datadir" --bootstrap --skip-networking <<SQL
FLUSH PRIVILEGES;
CREATE DATABASE IF NOT EXISTS \`$database\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$user'@'%' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON \`$database\`.* TO '$user'@'%';
FLUSH PRIVILEGES;
SQL
fi
exec mariadbd --user=mysql --datadir="$datadir" --bind-address=0.0.0.0 --skip-name-resolve "$@"
