/// A named schema change. Migrations are append-only: once shipped, never edited or reordered.
struct Migration: Sendable {
    let name: String
    /// Rebuilds a table that others reference: SQLite checks foreign keys only when the whole
    /// migration is done (`PRAGMA foreign_key_check` before the commit), not at each step.
    var foreignKeysOff = false
    let sql: String
    /// Work after `sql` done a slice of rows at a time, then `sql` of its own.
    var batched: Batched? = nil

    /// `statements` run once per slice of `rows` rowids of `table` (?1 < rowid <= ?2), in order, then
    /// `finally`. Moving a large column out of a table this way (copy a slice, delete it) reuses the
    /// freed pages as it goes: the file does not double, and no statement journals more than a slice.
    struct Batched: Sendable {
        let table: String
        let rows: Int64
        let statements: [String]
        let finally: String
    }

    init(name: String, foreignKeysOff: Bool = false, sql: String, batched: Batched? = nil) {
        self.name = name
        self.foreignKeysOff = foreignKeysOff
        self.sql = sql
        self.batched = batched
    }

    static let all: [Migration] = [
        Migration(name: "0001_initial", sql: """
            CREATE TABLE authorities (
                id              INTEGER PRIMARY KEY,
                name            TEXT    NOT NULL,
                key_id          TEXT    NOT NULL,   -- subjectKeyIdentifier, hex
                serial          TEXT    NOT NULL,
                key_type        TEXT    NOT NULL,
                status          TEXT    NOT NULL CHECK (status IN ('active', 'next', 'retired')),
                key_encrypted   INTEGER NOT NULL CHECK (key_encrypted IN (0, 1)),
                not_before      INTEGER NOT NULL,
                not_after       INTEGER NOT NULL,
                certificate_pem TEXT    NOT NULL,
                key_pem         TEXT    NOT NULL,   -- PKCS#8; PBKDF2-SHA256 600k + AES-256 unless key_encrypted = 0
                created_at      INTEGER NOT NULL
            );
            CREATE UNIQUE INDEX authorities_one_active ON authorities (status) WHERE status = 'active';

            CREATE TABLE hosts (
                id               INTEGER PRIMARY KEY,
                name             TEXT    NOT NULL UNIQUE,
                role             TEXT    NOT NULL CHECK (role IN ('primary', 'standby')),
                pg_version       TEXT    NOT NULL,
                data_dir         TEXT    NOT NULL,
                config_dir       TEXT    NOT NULL,
                os_user          TEXT    NOT NULL,
                replication_user TEXT    NOT NULL,
                created_at       INTEGER NOT NULL
            );
            CREATE TABLE host_names (
                host_id  INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
                position INTEGER NOT NULL,
                kind     TEXT    NOT NULL CHECK (kind IN ('dns', 'ip')),
                value    TEXT    NOT NULL,
                PRIMARY KEY (host_id, kind, value)
            );

            CREATE TABLE certificates (
                authority_id    INTEGER NOT NULL REFERENCES authorities (id),
                serial          TEXT    NOT NULL,   -- uppercase hex, 20 octets
                host_id         INTEGER REFERENCES hosts (id) ON DELETE SET NULL,
                host_name       TEXT,               -- kept when the host is removed
                kind            TEXT    NOT NULL CHECK (kind IN ('server', 'client')),
                subject         TEXT    NOT NULL,
                names           TEXT    NOT NULL,   -- subjectAltName entries, one per line
                key_type        TEXT    NOT NULL,
                not_before      INTEGER NOT NULL,
                not_after       INTEGER NOT NULL,
                status          TEXT    NOT NULL CHECK (status IN ('active', 'superseded', 'revoked')),
                fingerprint     TEXT    NOT NULL,
                certificate_pem TEXT    NOT NULL,
                key_pem         TEXT,               -- PKCS#8 under the issuer's wrapping secret
                created_at      INTEGER NOT NULL,
                PRIMARY KEY (authority_id, serial)  -- a serial is never reused under one CA
            );
            CREATE INDEX certificates_by_serial ON certificates (serial);
            CREATE INDEX certificates_by_host ON certificates (host_id, kind, status);
            CREATE INDEX certificates_by_expiry ON certificates (status, not_after);

            CREATE TABLE events (
                id      INTEGER PRIMARY KEY,
                at      INTEGER NOT NULL,
                os_user TEXT    NOT NULL,
                action  TEXT    NOT NULL,
                subject TEXT    NOT NULL,
                serial  TEXT,
                detail  TEXT
            );
            """),
        Migration(name: "0002_port_revocations_crls_deployments", sql: """
            ALTER TABLE hosts ADD COLUMN port INTEGER NOT NULL DEFAULT 5432 CHECK (port BETWEEN 1 AND 65535);
            ALTER TABLE authorities ADD COLUMN crl_days INTEGER NOT NULL DEFAULT 30 CHECK (crl_days BETWEEN 1 AND 3650);

            CREATE TABLE revocations (
                authority_id INTEGER NOT NULL,
                serial       TEXT    NOT NULL,
                revoked_at   INTEGER NOT NULL,
                reason       TEXT    NOT NULL,
                PRIMARY KEY (authority_id, serial),
                FOREIGN KEY (authority_id, serial) REFERENCES certificates (authority_id, serial)
            );

            CREATE TABLE crls (
                authority_id INTEGER NOT NULL REFERENCES authorities (id),
                number       INTEGER NOT NULL,
                this_update  INTEGER NOT NULL,
                next_update  INTEGER NOT NULL,
                pem          TEXT    NOT NULL,
                PRIMARY KEY (authority_id, number)
            );

            -- What each host was last given: by 'install' from this database, or 'export' as a bundle.
            CREATE TABLE deployments (
                id            INTEGER PRIMARY KEY,
                host_name     TEXT    NOT NULL,
                at            INTEGER NOT NULL,
                via           TEXT    NOT NULL CHECK (via IN ('install', 'export')),
                trust_key_ids TEXT    NOT NULL,   -- SKIs of the CA certificates in its trust bundle, one per line
                server_serial TEXT,
                client_serial TEXT
            );
            CREATE INDEX deployments_by_host ON deployments (host_name, id);
            """),
        Migration(name: "0003_rotation_renewal", sql: """
            -- The certificate a renewal or a rotation re-issue replaced (its serial), so that
            -- "re-issued exactly once" is checkable.
            ALTER TABLE certificates ADD COLUMN replaces TEXT;
            CREATE UNIQUE INDEX certificates_one_successor ON certificates (replaces) WHERE replaces IS NOT NULL;

            -- Staged CA rotations. At most one is open (started, reissuing, reissued).
            CREATE TABLE rotations (
                id               INTEGER PRIMARY KEY,
                old_authority_id INTEGER NOT NULL REFERENCES authorities (id),
                new_authority_id INTEGER NOT NULL REFERENCES authorities (id),
                stage            TEXT    NOT NULL CHECK (stage IN ('started', 'reissuing', 'reissued', 'finished', 'aborted')),
                started_at       INTEGER NOT NULL,
                updated_at       INTEGER NOT NULL
            );

            -- Earlier certificates of an authority replaced by 'renew-ca' (same key, new validity).
            CREATE TABLE authority_certificates (
                authority_id    INTEGER NOT NULL REFERENCES authorities (id),
                certificate_pem TEXT    NOT NULL,
                replaced_at     INTEGER NOT NULL
            );
            """),
        Migration(name: "0004_row_seals", sql: """
            -- HMAC-SHA256 over the fields of a row that decide trust or paths, under a secret only a
            -- CA key can unwrap (see Seals). NULL: not sealed yet (a database from before seals, or
            -- a host not yet approved by its first issue).
            ALTER TABLE authorities ADD COLUMN seal TEXT;
            ALTER TABLE hosts ADD COLUMN seal TEXT;
            ALTER TABLE rotations ADD COLUMN seal TEXT;
            -- The seal secret, once per authority: XOR-wrapped under a key derived from that
            -- authority's private key (a one-time pad: one secret per authority and label).
            CREATE TABLE seal_keys (
                authority_id INTEGER PRIMARY KEY REFERENCES authorities (id),
                wrapped      TEXT NOT NULL,
                check_value  TEXT NOT NULL
            );
            -- One row while the rows of a database from before seals wait to be sealed by the next
            -- command that opens the CA key.
            CREATE TABLE seal_pending (pending INTEGER PRIMARY KEY CHECK (pending = 1));
            INSERT INTO seal_pending (pending) SELECT 1 WHERE EXISTS (SELECT 1 FROM authorities);
            """),
        Migration(name: "0005_fleet_deploy_probe", sql: """
            -- 'deploy': installed on the host over ssh, recorded only after the remote reported success.
            -- material_digest: SHA-256 of what the host was given (records, trust, CRLs, certificates),
            -- so a rerun knows which hosts are behind. NULL for rows from before this migration.
            CREATE TABLE deployments_0005 (
                id              INTEGER PRIMARY KEY,
                host_name       TEXT    NOT NULL,
                at              INTEGER NOT NULL,
                via             TEXT    NOT NULL CHECK (via IN ('install', 'export', 'deploy')),
                trust_key_ids   TEXT    NOT NULL,
                server_serial   TEXT,
                client_serial   TEXT,
                material_digest TEXT
            );
            INSERT INTO deployments_0005 (id, host_name, at, via, trust_key_ids, server_serial, client_serial)
                SELECT id, host_name, at, via, trust_key_ids, server_serial, client_serial FROM deployments;
            DROP TABLE deployments;
            ALTER TABLE deployments_0005 RENAME TO deployments;
            CREATE INDEX deployments_by_host ON deployments (host_name, id);

            -- The last probe of each host: what its server really served.
            CREATE TABLE probes (
                host_name     TEXT    PRIMARY KEY,
                at            INTEGER NOT NULL,
                result        TEXT    NOT NULL CHECK (result IN ('OK', 'DRIFT', 'UNTRUSTED', 'EXPIRING', 'UNREACHABLE')),
                served_serial TEXT,
                detail        TEXT    NOT NULL
            );
            """),
        Migration(name: "0006_host_key_policy", sql: """
            -- Who makes the host's private keys: 'ca' (sealed in certificates.key_pem) or 'host' (the
            -- host's requests are signed; key_pem stays NULL for its certificates). Not covered by the
            -- host's seal: it decides neither trust nor a path.
            ALTER TABLE hosts ADD COLUMN key_policy TEXT NOT NULL DEFAULT 'ca' CHECK (key_policy IN ('ca', 'host'));
            -- Set by 'renew' (new key) for a 'host' host: its next deploy asks the host for new keys.
            -- Cleared when a request of the host is signed.
            ALTER TABLE hosts ADD COLUMN rekey_requested_at INTEGER;
            """),
        Migration(name: "0007_maintain_runs", sql: """
            -- Each 'ca maintain' that ran to its end (a killed one leaves no row; the next run finishes
            -- its work): when, whether everything was done and right, and its summary line.
            CREATE TABLE maintain_runs (
                id          INTEGER PRIMARY KEY,
                started_at  INTEGER NOT NULL,
                finished_at INTEGER NOT NULL,
                ok          INTEGER NOT NULL CHECK (ok IN (0, 1)),
                summary     TEXT    NOT NULL
            );
            """),
        Migration(name: "0008_certificates_by_host_name", sql: """
            -- Every per-host question (status, assemble, list --host) asks by host name: without this
            -- index each one read the whole table (100,000 rows: a third of 'status').
            CREATE INDEX certificates_by_host_name ON certificates (host_name, status);
            """),
        Migration(name: "0009_certificates_by_authority", sql: """
            -- rotate reissue takes the active leaves of one CA in issue order, a batch at a time: without this
            -- index every batch sorted all of them again (quadratic in the number of leaves).
            CREATE INDEX certificates_by_authority ON certificates (authority_id, status, created_at, serial);
            """),
        Migration(name: "0010_certificates_listing_order", sql: """
            -- list --expiring asks for a notAfter window whatever the status, soonest first: the
            -- (status, not_after) index cannot serve that, and 100,000 rows were read for a few.
            CREATE INDEX certificates_by_not_after ON certificates (not_after, serial);
            -- list and list --json read in the order of issue: by this index SQLite streams the rows
            -- instead of sorting all of them first (memory that grew with the table).
            CREATE INDEX certificates_in_issue_order ON certificates (created_at, host_name, kind DESC, serial);
            """),
        Migration(name: "0011_certificate_material", foreignKeysOff: true, sql: """
            -- Each leaf's PEM (certificate and sealed key) in a table of its own. Inline they made
            -- 'certificates' 160 MB at 100,000 rows, two rows a page: every listing and every status
            -- change read or wrote all of it. The table is rebuilt (SQLite's twelve steps, foreign
            -- keys off and checked before the commit), because dropping the columns would leave its
            -- pages as sparse as before. The PEM moves a slice at a time (copied, then deleted from
            -- the old table, whose indexes go first), so freed pages are reused as it goes, and they
            -- are zeroed as they are freed: they held sealed keys.
            PRAGMA secure_delete = ON;
            DROP INDEX certificates_by_serial;
            DROP INDEX certificates_by_host;
            DROP INDEX certificates_by_expiry;
            DROP INDEX certificates_one_successor;
            DROP INDEX certificates_by_host_name;
            DROP INDEX certificates_by_authority;
            DROP INDEX certificates_by_not_after;
            DROP INDEX certificates_in_issue_order;
            CREATE TABLE certificates_0011 (
                authority_id INTEGER NOT NULL REFERENCES authorities (id),
                serial       TEXT    NOT NULL,   -- uppercase hex, 20 octets
                host_id      INTEGER REFERENCES hosts (id) ON DELETE SET NULL,
                host_name    TEXT,               -- kept when the host is removed
                kind         TEXT    NOT NULL CHECK (kind IN ('server', 'client')),
                subject      TEXT    NOT NULL,
                names        TEXT    NOT NULL,   -- subjectAltName entries, one per line
                key_type     TEXT    NOT NULL,
                not_before   INTEGER NOT NULL,
                not_after    INTEGER NOT NULL,
                status       TEXT    NOT NULL CHECK (status IN ('active', 'superseded', 'revoked')),
                fingerprint  TEXT    NOT NULL,
                created_at   INTEGER NOT NULL,
                replaces     TEXT,               -- the certificate a renewal or re-issue replaced
                PRIMARY KEY (authority_id, serial)  -- a serial is never reused under one CA
            );
            INSERT INTO certificates_0011 (authority_id, serial, host_id, host_name, kind, subject, names, key_type,
                                           not_before, not_after, status, fingerprint, created_at, replaces)
                SELECT authority_id, serial, host_id, host_name, kind, subject, names, key_type,
                       not_before, not_after, status, fingerprint, created_at, replaces
                FROM certificates ORDER BY rowid;
            CREATE TABLE certificate_material (
                authority_id    INTEGER NOT NULL,
                serial          TEXT    NOT NULL,
                certificate_pem TEXT    NOT NULL,
                key_pem         TEXT,               -- PKCS#8 under the issuer's wrapping secret; NULL when the host made it
                PRIMARY KEY (authority_id, serial),
                FOREIGN KEY (authority_id, serial) REFERENCES certificates (authority_id, serial)
            );
            """, batched: Batched(table: "certificates", rows: 500, statements: [
                """
                INSERT INTO certificate_material (authority_id, serial, certificate_pem, key_pem)
                    SELECT authority_id, serial, certificate_pem, key_pem FROM certificates WHERE rowid > ?1 AND rowid <= ?2 ORDER BY rowid
                """,
                "DELETE FROM certificates WHERE rowid > ?1 AND rowid <= ?2",
            ], finally: """
                DROP TABLE certificates;
                ALTER TABLE certificates_0011 RENAME TO certificates;
                CREATE INDEX certificates_by_serial ON certificates (serial);
                CREATE INDEX certificates_by_host ON certificates (host_id, kind, status);
                CREATE INDEX certificates_by_expiry ON certificates (status, not_after);
                CREATE UNIQUE INDEX certificates_one_successor ON certificates (replaces) WHERE replaces IS NOT NULL;
                CREATE INDEX certificates_by_host_name ON certificates (host_name, status);
                CREATE INDEX certificates_by_authority ON certificates (authority_id, status, created_at, serial);
                CREATE INDEX certificates_by_not_after ON certificates (not_after, serial);
                CREATE INDEX certificates_in_issue_order ON certificates (created_at, host_name, kind DESC, serial);
                """)),
    ]
}
