-- vchord 0.1.0 -> 0.2.0. A 0.1.0 install always holds vchord's own types (0.1.0 had no pgvector
-- mode), so this adds what 0.2.0 has beyond them. Safe to run again: functions are replaced,
-- operators are created only where missing.
\echo Use "ALTER EXTENSION vchord UPDATE TO '0.2.0'" to load this file. \quit

CREATE OR REPLACE FUNCTION hamming_distance(bit, bit) RETURNS float8
    AS 'MODULE_PATHNAME', 'vchord_bit_hamming_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION jaccard_distance(bit, bit) RETURNS float8
    AS 'MODULE_PATHNAME', 'vchord_bit_jaccard_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
DO $bit$
BEGIN
IF pg_catalog.to_regoperator('<~>(bit,bit)') IS NULL THEN
    CREATE OPERATOR <~> (LEFTARG = bit, RIGHTARG = bit, FUNCTION = hamming_distance, COMMUTATOR = '<~>');
END IF;
IF pg_catalog.to_regoperator('<%>(bit,bit)') IS NULL THEN
    CREATE OPERATOR <%> (LEFTARG = bit, RIGHTARG = bit, FUNCTION = jaccard_distance, COMMUTATOR = '<%>');
END IF;
END
$bit$;

-- l2 is the default operator class of both indexes, as in pgvector: USING vchordrq (embedding).
-- ALTER OPERATOR CLASS cannot set DEFAULT, so the flag is set in the catalog, on vchord's own
-- classes only.
UPDATE pg_catalog.pg_opclass SET opcdefault = true
    WHERE opcname IN ('vector_l2_ops', 'halfvec_l2_ops')
      AND opcmethod IN (SELECT oid FROM pg_catalog.pg_am WHERE amname IN ('vchordrq', 'vchordg'))
      AND oid IN (SELECT objid FROM pg_catalog.pg_depend
                  WHERE classid = 'pg_catalog.pg_opclass'::pg_catalog.regclass AND deptype = 'e'
                    AND refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                    AND refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'vchord'));

-- vchord_index_info(index): access method, on-disk format (recorded and read), options, size
-- and build parameters, as jsonb.
CREATE OR REPLACE FUNCTION vchord_index_info(regclass) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'vchord_index_info' LANGUAGE C STRICT VOLATILE;

-- L1 classes for vchordrq (a 0.1.0 install has its own types, with <+>).
CREATE OR REPLACE FUNCTION _vchordrq_support_vector_l1_ops() RETURNS int4
    AS 'MODULE_PATHNAME', 'vchord_rq_support_vector_l1' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE OR REPLACE FUNCTION _vchordrq_support_halfvec_l1_ops() RETURNS int4
    AS 'MODULE_PATHNAME', 'vchord_rq_support_halfvec_l1' LANGUAGE C IMMUTABLE PARALLEL SAFE;
DO $l1$
BEGIN
IF NOT EXISTS (SELECT FROM pg_catalog.pg_opclass c JOIN pg_catalog.pg_am a ON a.oid = c.opcmethod
               WHERE a.amname = 'vchordrq' AND c.opcname = 'vector_l1_ops') THEN
    CREATE OPERATOR CLASS vector_l1_ops FOR TYPE vector USING vchordrq AS
        OPERATOR 1 <+> (vector, vector) FOR ORDER BY float_ops,
        FUNCTION 1 _vchordrq_support_vector_l1_ops();
END IF;
IF NOT EXISTS (SELECT FROM pg_catalog.pg_opclass c JOIN pg_catalog.pg_am a ON a.oid = c.opcmethod
               WHERE a.amname = 'vchordrq' AND c.opcname = 'halfvec_l1_ops') THEN
    CREATE OPERATOR CLASS halfvec_l1_ops FOR TYPE halfvec USING vchordrq AS
        OPERATOR 1 <+> (halfvec, halfvec) FOR ORDER BY float_ops,
        FUNCTION 1 _vchordrq_support_halfvec_l1_ops();
END IF;
END
$l1$;
