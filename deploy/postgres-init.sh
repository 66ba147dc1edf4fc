#!/bin/sh
# Runs once, when the PostgreSQL container creates its cluster (docker-entrypoint-initdb.d): the
# platform's confined login, with its password, before the platform's migrations grant it the
# kvalreg_app role (migration 010 creates the login only when it does not exist).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v pw="$KVALREG_APP_PASSWORD" <<'SQL'
CREATE ROLE kvalreg_app_login LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD :'pw';
SQL
