-- A FlowFact-style CRM schema for the worked example of docs/crm-views.md (PostgreSQL).
--
-- INVENTED: FlowFact publishes its table names (AD, ADMKM, AKT, AKTDET, AKTMKM, BEN, DELLOG) but
-- not their columns. The columns below are a plausible look-alike built from what is public
-- (every object has created/modified stamps; phones are an indexed list with a note; Merkmale
-- have a name and may belong to a user; DELLOG logs deletions for replication). ADTEL (phones)
-- is invented too. Do not read this as FlowFact's real schema.

CREATE TABLE BEN (                       -- users (Benutzer)
  BENID       varchar(20) PRIMARY KEY,
  KUERZEL     varchar(20) NOT NULL UNIQUE, -- login
  VORNAME     varchar(60) NOT NULL DEFAULT '',
  NACHNAME    varchar(60) NOT NULL DEFAULT '',
  EMAIL       varchar(120),
  BENMKM      varchar(60) NOT NULL UNIQUE, -- the user's own Merkmal ("Benutzermerkmal")
  AKTIV       smallint NOT NULL DEFAULT 1
);

CREATE TABLE AD (                        -- addresses
  ADID        varchar(40) PRIMARY KEY,
  FIRMA       varchar(120) NOT NULL DEFAULT '',
  ANREDE      varchar(30) NOT NULL DEFAULT '',
  TITEL       varchar(30) NOT NULL DEFAULT '',
  VORNAME     varchar(60) NOT NULL DEFAULT '',
  NACHNAME    varchar(60) NOT NULL DEFAULT '',
  STRASSE     varchar(120) NOT NULL DEFAULT '',
  PLZ         varchar(10) NOT NULL DEFAULT '',
  ORT         varchar(60) NOT NULL DEFAULT '',
  LAND        varchar(60) NOT NULL DEFAULT '',
  FAX         varchar(40) NOT NULL DEFAULT '',
  EMAIL       varchar(120) NOT NULL DEFAULT '',
  BEMERKUNG   text NOT NULL DEFAULT '',
  KATEGORIE   varchar(30) NOT NULL DEFAULT 'Geschäftlich', -- 'Privat' = private address (R4)
  BESITZER    varchar(20) REFERENCES BEN (BENID),
  ERSTELLT    timestamp(6) with time zone NOT NULL DEFAULT clock_timestamp(),
  GEAENDERT   timestamp(6) with time zone NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE ADTEL (                     -- phone numbers, an indexed list per address
  ADID        varchar(40) NOT NULL REFERENCES AD (ADID) ON DELETE CASCADE,
  LFDNR       integer NOT NULL,          -- position 1…n
  LANDVORWAHL varchar(6) NOT NULL DEFAULT '',
  VORWAHL     varchar(10) NOT NULL DEFAULT '',
  RUFNUMMER   varchar(30) NOT NULL,
  NOTIZ       varchar(120) NOT NULL DEFAULT '',
  PRIMARY KEY (ADID, LFDNR)
);

CREATE TABLE ADMKM (                     -- Merkmale on addresses
  ADID        varchar(40) NOT NULL REFERENCES AD (ADID) ON DELETE CASCADE,
  MERKMAL     varchar(60) NOT NULL,
  AKTIV       smallint NOT NULL DEFAULT 1,
  PRIMARY KEY (ADID, MERKMAL)
);

CREATE TABLE AKT (                       -- activities: base table
  AKTID       varchar(40) PRIMARY KEY,
  KLASSE      char(1) NOT NULL,          -- 'T' Termin (appointment), 'A' Aufgabe (task), 'E' E-Mail (not synced)
  ART         varchar(60) NOT NULL,      -- activity type, e.g. 'Termin extern'
  BETREFF     varchar(200) NOT NULL DEFAULT '',
  BESITZER    varchar(20) REFERENCES BEN (BENID),
  PRIVAT      smallint NOT NULL DEFAULT 0,
  ERLEDIGT    smallint NOT NULL DEFAULT 0,
  ERSTELLT    timestamp(6) with time zone NOT NULL DEFAULT clock_timestamp(),
  GEAENDERT   timestamp(6) with time zone NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE AKTDET (                    -- activities: details
  AKTID       varchar(40) PRIMARY KEY REFERENCES AKT (AKTID) ON DELETE CASCADE,
  BEGINN      varchar(40),               -- ISO 8601 as entered (date for all-day)
  ENDE        varchar(40),
  GANZTAGS    smallint NOT NULL DEFAULT 0,
  ZEITZONE    varchar(40),
  FAELLIG     varchar(40),
  ALARM_MIN   integer,
  NOTIZ       text NOT NULL DEFAULT '',
  ADID        varchar(40) REFERENCES AD (ADID) ON DELETE SET NULL  -- the linked address
);

CREATE TABLE AKTMKM (                    -- Merkmale on activities; user Merkmale name the participants
  AKTID       varchar(40) NOT NULL REFERENCES AKT (AKTID) ON DELETE CASCADE,
  MERKMAL     varchar(60) NOT NULL,
  AKTIV       smallint NOT NULL DEFAULT 1,
  PRIMARY KEY (AKTID, MERKMAL)
);

CREATE TABLE DELLOG (                    -- deletion log read by replication
  LOGID       bigserial PRIMARY KEY,
  TABELLE     varchar(20) NOT NULL,      -- 'AD' or 'AKT'
  SATZID      varchar(40) NOT NULL,
  GELOESCHT   timestamp(6) with time zone NOT NULL DEFAULT clock_timestamp(),
  BENID       varchar(20)
);

-- The CRM itself logs every deleted address and activity in DELLOG (what its replication reads).
CREATE FUNCTION ff_log_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO DELLOG (TABELLE, SATZID) VALUES (TG_ARGV[0], to_jsonb(OLD) ->> TG_ARGV[1]);
  RETURN OLD;
END $$;
CREATE TRIGGER ad_dellog AFTER DELETE ON AD FOR EACH ROW EXECUTE FUNCTION ff_log_delete('AD', 'adid');
CREATE TRIGGER akt_dellog AFTER DELETE ON AKT FOR EACH ROW EXECUTE FUNCTION ff_log_delete('AKT', 'aktid');
