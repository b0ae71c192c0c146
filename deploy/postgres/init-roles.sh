#!/bin/sh
# First start of the compose PostgreSQL (docker-entrypoint-initdb.d): one LOGIN role per service,
# its password from COBRANZA_<SVC>_DB_PASSWORD. The roles get no privilege here: `cobranza db upgrade`
# (the `migrate` container, as the superuser) creates each schema owned by the NOLOGIN role
# cobranza_<svc> and grants the login SELECT/INSERT/UPDATE/DELETE in that schema only. A login is
# never a member of an owner role, so `RESET ROLE` gives it nothing more.
set -eu
for svc in ingest aging segmentation strategy notifier reconciliation reporting; do
    var="COBRANZA_$(echo "$svc" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
    eval "password=\${$var:?$var is not set}"
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
        -v role="cobranza_${svc}_login" -v password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN NOINHERIT PASSWORD %L', :'role', :'password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I PASSWORD %L', :'role', :'password') \gexec
SQL
done
