-- Functions that run with the owner's rights (SECURITY DEFINER) read tables by name. PostgreSQL
-- searches the session's temporary schema first unless the search path names it (PostgreSQL's
-- manual, "Writing SECURITY DEFINER Functions Safely"): a session of the application's login could
-- create a temporary table called person_merge or npr_episode and have an owner function read or
-- write it instead of the real one (say, to keep an opted-out patient's NPR episodes from being
-- removed). Every such function now searches public first and the temporary schema last; the
-- functions of later migrations declare the same, and test/security-definer.test.ts refuses any
-- that does not.
DO $$
DECLARE f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_proc p WHERE p.prosecdef AND p.pronamespace = 'public'::regnamespace LOOP
    EXECUTE format('ALTER FUNCTION %s SET search_path = public, pg_temp', f);
  END LOOP;
END $$;
