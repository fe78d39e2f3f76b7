-- The application's role owns nothing: migrations run as `hashfed_owner`, the hub as `hashfed`.
-- The audit trail refuses UPDATE and DELETE by trigger; here the role also loses TRUNCATE.
CREATE ROLE hashfed_owner NOLOGIN;
CREATE ROLE hashfed LOGIN;
GRANT CONNECT ON DATABASE hashfed TO hashfed;
GRANT USAGE ON SCHEMA public TO hashfed;
ALTER DEFAULT PRIVILEGES FOR ROLE hashfed_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO hashfed;
ALTER DEFAULT PRIVILEGES FOR ROLE hashfed_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO hashfed;
-- After migrating:
-- REVOKE UPDATE, DELETE, TRUNCATE ON accounts_auditevent FROM hashfed;
