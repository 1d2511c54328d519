-- The sync-cli view contract (docs/crm-views.md) over the FlowFact-style schema of
-- sql/flowfact/schema.sql, for PostgreSQL. Run it in the schema that crm.schema names, after
-- schema.sql (or next to the real tables, with qualified names).
--
-- Three parts: (1) indexes change detection needs, (2) triggers that make a change of a phone,
-- Merkmal or detail row count as a change of its address/activity, (3) the read views and the
-- INSTEAD OF triggers through which sync-cli writes.

-- (1) Change detection reads (updated_at, id) and (deleted_at, kind, id) through an index.
CREATE INDEX IF NOT EXISTS ad_sync_change ON AD (GEAENDERT, ADID);
CREATE INDEX IF NOT EXISTS akt_sync_change ON AKT (GEAENDERT, AKTID);
CREATE INDEX IF NOT EXISTS dellog_sync_change
  ON DELLOG (GELOESCHT, (CASE TABELLE WHEN 'AD' THEN 'address' ELSE 'activity' END), SATZID);
CREATE INDEX IF NOT EXISTS admkm_sync_tag ON ADMKM (MERKMAL, ADID);
CREATE INDEX IF NOT EXISTS aktmkm_sync_tag ON AKTMKM (MERKMAL, AKTID);

-- (2) A phone, Merkmal or detail row that changes stamps its parent (skip if the CRM does so already).
CREATE OR REPLACE FUNCTION sync_touch_parent() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  parent text := CASE WHEN TG_OP = 'DELETE' THEN (to_jsonb(OLD) ->> TG_ARGV[1]) ELSE (to_jsonb(NEW) ->> TG_ARGV[1]) END;
BEGIN
  IF TG_ARGV[0] = 'AD' THEN
    UPDATE AD SET GEAENDERT = clock_timestamp() WHERE ADID = parent;
  ELSE
    UPDATE AKT SET GEAENDERT = clock_timestamp() WHERE AKTID = parent;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER adtel_sync_touch AFTER INSERT OR UPDATE OR DELETE ON ADTEL FOR EACH ROW EXECUTE FUNCTION sync_touch_parent('AD', 'adid');
CREATE TRIGGER admkm_sync_touch AFTER INSERT OR UPDATE OR DELETE ON ADMKM FOR EACH ROW EXECUTE FUNCTION sync_touch_parent('AD', 'adid');
CREATE TRIGGER aktdet_sync_touch AFTER UPDATE ON AKTDET FOR EACH ROW EXECUTE FUNCTION sync_touch_parent('AKT', 'aktid');
CREATE TRIGGER aktmkm_sync_touch AFTER INSERT OR UPDATE OR DELETE ON AKTMKM FOR EACH ROW EXECUTE FUNCTION sync_touch_parent('AKT', 'aktid');

-- (3) The views. version: the change stamp in microseconds, so it changes with every write.
CREATE VIEW sync_users AS
SELECT BENID AS id, KUERZEL AS login, trim(VORNAME || ' ' || NACHNAME) AS name, EMAIL AS email,
       BENMKM AS user_tag,
       NULL::text AS address_tags,          -- only the user Merkmal; add more per mailbox in config
       NULL::text AS activity_tags,
       'Termin extern'::text AS import_appointment_type, 'Aufgabe'::text AS import_task_type
FROM BEN WHERE AKTIV = 1;

CREATE VIEW sync_addresses AS
SELECT ADID AS id, FIRMA AS company, ANREDE AS salutation, TITEL AS title, VORNAME AS first_name,
       NACHNAME AS last_name, STRASSE AS street, PLZ AS postal_code, ORT AS city, LAND AS country,
       FAX AS fax, EMAIL AS email, BEMERKUNG AS note,
       CASE WHEN KATEGORIE = 'Privat' THEN 1 ELSE 0 END AS is_private,
       BESITZER AS owner_id,
       (extract(epoch FROM GEAENDERT) * 1000000)::bigint AS version,
       GEAENDERT AS updated_at
FROM AD;

CREATE VIEW sync_phones AS
SELECT ADID AS address_id, LFDNR AS position,
       concat_ws(' ', NULLIF(LANDVORWAHL, ''), NULLIF(VORWAHL, ''), RUFNUMMER) AS number,
       NOTIZ AS remark
FROM ADTEL;

CREATE VIEW sync_address_tags AS
SELECT ADID AS address_id, MERKMAL AS tag FROM ADMKM WHERE AKTIV = 1;

CREATE VIEW sync_activities AS
SELECT a.AKTID AS id, CASE a.KLASSE WHEN 'T' THEN 'appointment' ELSE 'task' END AS kind,
       a.ART AS type, a.BETREFF AS subject, d.BEGINN AS start_at, d.ENDE AS end_at,
       coalesce(d.GANZTAGS, 0) AS all_day, d.ZEITZONE AS time_zone, d.FAELLIG AS due_at,
       d.ALARM_MIN AS alarm_minutes, coalesce(d.NOTIZ, '') AS note, a.ERLEDIGT AS is_done,
       a.PRIVAT AS is_private, a.BESITZER AS owner_id,
       (extract(epoch FROM a.GEAENDERT) * 1000000)::bigint AS version,
       a.GEAENDERT AS updated_at
FROM AKT a LEFT JOIN AKTDET d ON d.AKTID = a.AKTID
WHERE a.KLASSE IN ('T', 'A');              -- e-mails are not synced

CREATE VIEW sync_activity_tags AS
SELECT AKTID AS activity_id, MERKMAL AS tag FROM AKTMKM WHERE AKTIV = 1;

-- Participants are the users whose user Merkmal is on the activity.
CREATE VIEW sync_participants AS
SELECT m.AKTID AS activity_id, b.BENID AS user_id
FROM AKTMKM m JOIN BEN b ON b.BENMKM = m.MERKMAL WHERE m.AKTIV = 1;

-- This look-alike links one address per activity (AKTDET.ADID).
CREATE VIEW sync_links AS
SELECT AKTID AS activity_id, ADID AS address_id FROM AKTDET WHERE ADID IS NOT NULL;

CREATE VIEW sync_tombstones AS
SELECT CASE TABELLE WHEN 'AD' THEN 'address' ELSE 'activity' END AS kind, SATZID AS id, GELOESCHT AS deleted_at
FROM DELLOG WHERE TABELLE IN ('AD', 'AKT');

-- Writes: sync-cli writes to the views; these triggers put the values into the CRM's tables.
-- NEW.updated_at carries the database clock of the write; NEW.version is ignored (derived).
CREATE OR REPLACE FUNCTION sync_addresses_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM AD WHERE ADID = OLD.id;
    RETURN OLD;
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO AD (ADID, FIRMA, ANREDE, TITEL, VORNAME, NACHNAME, STRASSE, PLZ, ORT, LAND, FAX, EMAIL, BEMERKUNG, KATEGORIE, BESITZER, GEAENDERT)
    VALUES (NEW.id, NEW.company, NEW.salutation, NEW.title, NEW.first_name, NEW.last_name, NEW.street, NEW.postal_code, NEW.city,
            NEW.country, NEW.fax, NEW.email, NEW.note, CASE WHEN NEW.is_private = 1 THEN 'Privat' ELSE 'Geschäftlich' END,
            NEW.owner_id, coalesce(NEW.updated_at, clock_timestamp()));
  ELSE
    UPDATE AD SET FIRMA = NEW.company, ANREDE = NEW.salutation, TITEL = NEW.title, VORNAME = NEW.first_name,
      NACHNAME = NEW.last_name, STRASSE = NEW.street, PLZ = NEW.postal_code, ORT = NEW.city, LAND = NEW.country,
      FAX = NEW.fax, EMAIL = NEW.email, BEMERKUNG = NEW.note,
      KATEGORIE = CASE WHEN NEW.is_private = 1 THEN 'Privat' WHEN KATEGORIE = 'Privat' THEN 'Geschäftlich' ELSE KATEGORIE END,
      BESITZER = NEW.owner_id, GEAENDERT = coalesce(NEW.updated_at, clock_timestamp())
    WHERE ADID = OLD.id;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER sync_addresses_write INSTEAD OF INSERT OR UPDATE OR DELETE ON sync_addresses FOR EACH ROW EXECUTE FUNCTION sync_addresses_write();

CREATE OR REPLACE FUNCTION sync_phones_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM ADTEL WHERE ADID = OLD.address_id AND LFDNR = OLD.position;
    RETURN OLD;
  END IF;
  -- sync-cli writes the number exactly as the device holds it (R12): all of it into RUFNUMMER.
  INSERT INTO ADTEL (ADID, LFDNR, RUFNUMMER, NOTIZ) VALUES (NEW.address_id, NEW.position, NEW.number, coalesce(NEW.remark, ''))
  ON CONFLICT (ADID, LFDNR) DO UPDATE SET LANDVORWAHL = '', VORWAHL = '', RUFNUMMER = EXCLUDED.RUFNUMMER, NOTIZ = EXCLUDED.NOTIZ;
  RETURN NEW;
END $$;
CREATE TRIGGER sync_phones_write INSTEAD OF INSERT OR DELETE ON sync_phones FOR EACH ROW EXECUTE FUNCTION sync_phones_write();

CREATE OR REPLACE FUNCTION sync_address_tags_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM ADMKM WHERE ADID = OLD.address_id AND MERKMAL = OLD.tag;
    RETURN OLD;
  END IF;
  INSERT INTO ADMKM (ADID, MERKMAL, AKTIV) VALUES (NEW.address_id, NEW.tag, 1)
  ON CONFLICT (ADID, MERKMAL) DO UPDATE SET AKTIV = 1;
  RETURN NEW;
END $$;
CREATE TRIGGER sync_address_tags_write INSTEAD OF INSERT OR DELETE ON sync_address_tags FOR EACH ROW EXECUTE FUNCTION sync_address_tags_write();

CREATE OR REPLACE FUNCTION sync_activities_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM AKT WHERE AKTID = OLD.id;
    RETURN OLD;
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO AKT (AKTID, KLASSE, ART, BETREFF, BESITZER, PRIVAT, ERLEDIGT, GEAENDERT)
    VALUES (NEW.id, CASE NEW.kind WHEN 'appointment' THEN 'T' ELSE 'A' END, NEW.type, NEW.subject, NEW.owner_id,
            NEW.is_private, NEW.is_done, coalesce(NEW.updated_at, clock_timestamp()));
    INSERT INTO AKTDET (AKTID, BEGINN, ENDE, GANZTAGS, ZEITZONE, FAELLIG, ALARM_MIN, NOTIZ)
    VALUES (NEW.id, NEW.start_at, NEW.end_at, NEW.all_day, NEW.time_zone, NEW.due_at, NEW.alarm_minutes, NEW.note);
  ELSE
    -- The type and kind never change from the device (R15).
    UPDATE AKTDET SET BEGINN = NEW.start_at, ENDE = NEW.end_at, GANZTAGS = NEW.all_day, ZEITZONE = NEW.time_zone,
      FAELLIG = NEW.due_at, ALARM_MIN = NEW.alarm_minutes, NOTIZ = NEW.note
    WHERE AKTID = OLD.id;
    UPDATE AKT SET BETREFF = NEW.subject, BESITZER = NEW.owner_id, PRIVAT = NEW.is_private, ERLEDIGT = NEW.is_done,
      GEAENDERT = coalesce(NEW.updated_at, clock_timestamp())
    WHERE AKTID = OLD.id;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER sync_activities_write INSTEAD OF INSERT OR UPDATE OR DELETE ON sync_activities FOR EACH ROW EXECUTE FUNCTION sync_activities_write();

CREATE OR REPLACE FUNCTION sync_activity_tags_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM AKTMKM WHERE AKTID = OLD.activity_id AND MERKMAL = OLD.tag;
    RETURN OLD;
  END IF;
  INSERT INTO AKTMKM (AKTID, MERKMAL, AKTIV) VALUES (NEW.activity_id, NEW.tag, 1)
  ON CONFLICT (AKTID, MERKMAL) DO UPDATE SET AKTIV = 1;
  RETURN NEW;
END $$;
CREATE TRIGGER sync_activity_tags_write INSTEAD OF INSERT OR DELETE ON sync_activity_tags FOR EACH ROW EXECUTE FUNCTION sync_activity_tags_write();

-- A participant is the user's Merkmal on the activity: adding one adds the Merkmal.
CREATE OR REPLACE FUNCTION sync_participants_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM AKTMKM WHERE AKTID = OLD.activity_id AND MERKMAL = (SELECT BENMKM FROM BEN WHERE BENID = OLD.user_id);
    RETURN OLD;
  END IF;
  INSERT INTO AKTMKM (AKTID, MERKMAL, AKTIV)
  SELECT NEW.activity_id, BENMKM, 1 FROM BEN WHERE BENID = NEW.user_id
  ON CONFLICT (AKTID, MERKMAL) DO UPDATE SET AKTIV = 1;
  RETURN NEW;
END $$;
CREATE TRIGGER sync_participants_write INSTEAD OF INSERT OR DELETE ON sync_participants FOR EACH ROW EXECUTE FUNCTION sync_participants_write();

-- One linked address per activity here: the last one written wins.
CREATE OR REPLACE FUNCTION sync_links_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    UPDATE AKTDET SET ADID = NULL WHERE AKTID = OLD.activity_id AND ADID = OLD.address_id;
    RETURN OLD;
  END IF;
  UPDATE AKTDET SET ADID = NEW.address_id WHERE AKTID = NEW.activity_id;
  RETURN NEW;
END $$;
CREATE TRIGGER sync_links_write INSTEAD OF INSERT OR DELETE ON sync_links FOR EACH ROW EXECUTE FUNCTION sync_links_write();

-- DELLOG is written by the CRM when AD/AKT rows are deleted; sync-cli's own tombstone writes are no-ops.
CREATE OR REPLACE FUNCTION sync_tombstones_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER sync_tombstones_write INSTEAD OF INSERT OR DELETE ON sync_tombstones FOR EACH ROW EXECUTE FUNCTION sync_tombstones_write();
