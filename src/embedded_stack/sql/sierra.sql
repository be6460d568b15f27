-- The slice of Sierra's read-only sierra_view schema that the poller reads,
-- with Sierra's column names and types. Real Sierra exposes views; tables stand in here.
CREATE SCHEMA IF NOT EXISTS sierra_view;

CREATE TABLE IF NOT EXISTS sierra_view.record_metadata (
    id                        bigint PRIMARY KEY,
    record_type_code          char(1) NOT NULL,
    record_num                integer NOT NULL,
    creation_date_gmt         timestamptz,
    deletion_date_gmt         date,
    campus_code               varchar(5) NOT NULL DEFAULT '',
    agency_code_num           smallint NOT NULL DEFAULT 0,
    num_revisions             integer NOT NULL DEFAULT 1,
    record_last_updated_gmt   timestamptz,
    previous_last_updated_gmt timestamptz
);
CREATE INDEX IF NOT EXISTS record_metadata_creation
    ON sierra_view.record_metadata (creation_date_gmt, id);
CREATE INDEX IF NOT EXISTS record_metadata_updated
    ON sierra_view.record_metadata (record_last_updated_gmt, id);
CREATE INDEX IF NOT EXISTS record_metadata_deletion
    ON sierra_view.record_metadata (deletion_date_gmt, id);

CREATE TABLE IF NOT EXISTS sierra_view.patron_view (
    id                bigint PRIMARY KEY,
    record_type_code  char(1) NOT NULL DEFAULT 'p',
    record_num        integer NOT NULL,
    barcode           varchar(512),
    ptype_code        smallint,
    home_library_code varchar(5),
    expiration_date_gmt timestamptz,
    pcode1            char(1),
    pcode2            char(1),
    pcode3            smallint,
    pcode4            smallint,
    activity_gmt      timestamptz,
    birth_date_gmt    date,
    record_creation_date_gmt timestamptz
);

CREATE TABLE IF NOT EXISTS sierra_view.patron_record_address (
    id                             bigint PRIMARY KEY,
    patron_record_id               bigint NOT NULL,
    patron_record_address_type_id  bigint NOT NULL,
    display_order                  integer NOT NULL DEFAULT 0,
    addr1                          varchar(1000),
    addr2                          varchar(1000),
    addr3                          varchar(1000),
    village                        varchar(1000),
    city                           varchar(1000),
    region                         varchar(1000),
    postal_code                    varchar(100),
    country                        varchar(1000)
);
CREATE INDEX IF NOT EXISTS patron_record_address_patron
    ON sierra_view.patron_record_address (patron_record_id, display_order, patron_record_address_type_id);
