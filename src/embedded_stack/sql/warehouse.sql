-- The warehouse (Redshift) table the poller reads back: one row per obfuscated
-- patron_id, columns named as the PatronInfo record's fields. {table} is filled in
-- with a quoted identifier by the stack.
CREATE TABLE IF NOT EXISTS {table} (
    patron_id                         varchar(64) PRIMARY KEY,
    address_hash                      varchar(64),
    postal_code                       varchar(16),
    geoid                             varchar(16),
    creation_date_et                  date,
    deletion_date_et                  date,
    circ_active_date_et               date,
    ptype_code                        integer,
    pcode3                            integer,
    patron_home_library_code          varchar(16),
    initial_patron_home_library_code  varchar(16)
);
CREATE INDEX IF NOT EXISTS {index} ON {table} (address_hash);
