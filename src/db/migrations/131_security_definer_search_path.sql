-- Functions that run with the owner's rights (SECURITY DEFINER), and trigger functions (which run
-- inside the statements of whoever writes the table), read tables by name. PostgreSQL searches the
-- session's temporary schema first unless the search path names it (PostgreSQL's manual, "Writing
-- SECURITY DEFINER Functions Safely"): a session of the application's login could create a
-- temporary table called person_merge and have an owner function resolve a number to any person
-- it liked, or a temporary audit_event whose sequence then chose the ids of the real audit events
-- it wrote (audit_event_insert_defaults names the table to find its sequence). Every such function
-- now searches public first and the temporary schema last; the functions of later migrations
-- declare the same, and test/security-definer.test.ts refuses any that does not.
DO $$
DECLARE f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
           WHERE (p.prosecdef OR p.prorettype = 'trigger'::regtype) AND p.pronamespace = 'public'::regnamespace LOOP
    EXECUTE format('ALTER FUNCTION %s SET search_path = public, pg_temp', f);
  END LOOP;
END $$;
