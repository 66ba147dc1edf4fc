-- A login of its own for the application's user-scoped work. Until now the platform connected as
-- the owner and switched to kvalreg_app per transaction; a bug or an injected statement on such a
-- connection could RESET ROLE and be the owner again. kvalreg_app_login is a member of kvalreg_app
-- and nothing else: it owns no table, cannot bypass row-level security, cannot become the owner,
-- and has no UPDATE, DELETE or TRUNCATE on the audit trail. Its password is set by the platform
-- (embedded server: generated and kept in <data dir>/pg-app-password) or by the database
-- administrator (DATABASE_APP_URL).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kvalreg_app_login') THEN
    CREATE ROLE kvalreg_app_login LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT;
  END IF;
END $$;
GRANT kvalreg_app TO kvalreg_app_login;

-- "Everything" is for the owner's own work, which row-level security does not even consult. A
-- session under the policies cannot claim it by setting kvalreg.scope: the application role's
-- sessions see what their grants show, whatever they set.
CREATE OR REPLACE FUNCTION kvalreg_scope_all() RETURNS boolean LANGUAGE sql STABLE AS
$$ SELECT coalesce(current_setting('kvalreg.scope', true), '') = 'all'
          AND current_user NOT IN ('kvalreg_app', 'kvalreg_app_login') $$;
