-- Push notification of CRM changes for PostgreSQL (used by the daemon: `LISTEN sync_cli_crm`).
-- Payload: "<kind>:<id>", kind = address | activity. Install it on the tables that back the
-- sync_* views (here: the embedded-shaped tables; for the FlowFact example use AD/AKT and their
-- id columns, see docs/crm-views.md). A notification is only a hint to sync now; the change
-- feed (updated_at, id) stays the source of truth, so a lost notification loses nothing.

CREATE OR REPLACE FUNCTION sync_cli_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  rec jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
  record_id text := rec ->> TG_ARGV[1];
BEGIN
  -- pg_notify folds identical payloads within one transaction into one notification.
  PERFORM pg_notify('sync_cli_crm', TG_ARGV[0] || ':' || record_id);
  RETURN NULL;
END $$;

-- Embedded-shaped tables (sql table names of src/providers/crm/tables.ts):
CREATE TRIGGER sync_cli_notify_addresses AFTER INSERT OR UPDATE OR DELETE ON sync_addresses
  FOR EACH ROW EXECUTE FUNCTION sync_cli_notify('address', 'id');
CREATE TRIGGER sync_cli_notify_activities AFTER INSERT OR UPDATE OR DELETE ON sync_activities
  FOR EACH ROW EXECUTE FUNCTION sync_cli_notify('activity', 'id');

-- FlowFact-style example (sql/flowfact/schema.sql), instead of the two above:
-- CREATE TRIGGER sync_cli_notify_ad AFTER INSERT OR UPDATE OR DELETE ON AD
--   FOR EACH ROW EXECUTE FUNCTION sync_cli_notify('address', 'adid');
-- CREATE TRIGGER sync_cli_notify_akt AFTER INSERT OR UPDATE OR DELETE ON AKT
--   FOR EACH ROW EXECUTE FUNCTION sync_cli_notify('activity', 'aktid');
