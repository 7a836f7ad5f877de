-- vchord 0.2.0: vector search indexes (vchordrq, vchordg) over pgvector's vector and halfvec
-- types, or over vchord's own, wire-compatible ones where pgvector is not installed.
\echo Use "CREATE EXTENSION vchord" to load this file. \quit

-- The mode is chosen here, once. With pgvector installed, vchord's operator classes are built on
-- pgvector's types and operators, and vchord depends on extension vector as a "requires" would
-- make it (so pg_dump restores vector first and DROP EXTENSION vector names vchord); pgvector's
-- schema joins this script's search path. Without pgvector, vchord creates the types itself.
DO $mode$
BEGIN
IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'vector') THEN
    PERFORM pg_catalog.set_config('search_path',
            pg_catalog.current_setting('search_path') || ', ' || pg_catalog.quote_ident(n.nspname), true)
        FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'vector';
    INSERT INTO pg_catalog.pg_depend (classid, objid, objsubid, refclassid, refobjid, refobjsubid, deptype)
        SELECT 'pg_catalog.pg_extension'::pg_catalog.regclass, c.oid, 0,
               'pg_catalog.pg_extension'::pg_catalog.regclass, v.oid, 0, 'n'
        FROM pg_catalog.pg_extension c, pg_catalog.pg_extension v
        WHERE c.extname = 'vchord' AND v.extname = 'vector';
ELSE
EXECUTE $types$
-- ==== vector ================================================================================
CREATE TYPE vector;
CREATE FUNCTION vector_in(cstring, oid, integer) RETURNS vector
    AS 'MODULE_PATHNAME', 'vchord_vector_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_out(vector) RETURNS cstring
    AS 'MODULE_PATHNAME', 'vchord_vector_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_typmod_in(cstring[]) RETURNS integer
    AS 'MODULE_PATHNAME', 'vchord_vector_typmod_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_recv(internal, oid, integer) RETURNS vector
    AS 'MODULE_PATHNAME', 'vchord_vector_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_send(vector) RETURNS bytea
    AS 'MODULE_PATHNAME', 'vchord_vector_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE vector (
    INPUT = vector_in, OUTPUT = vector_out, TYPMOD_IN = vector_typmod_in,
    RECEIVE = vector_recv, SEND = vector_send,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = int4, STORAGE = external
);

-- casts
CREATE FUNCTION vector(vector, integer, boolean) RETURNS vector
    AS 'MODULE_PATHNAME', 'vchord_vector_typmod_cast' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_vector(integer[], integer, boolean) RETURNS vector
    AS 'MODULE_PATHNAME', 'vchord_vector_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_vector(real[], integer, boolean) RETURNS vector
    AS 'MODULE_PATHNAME', 'vchord_vector_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_vector(double precision[], integer, boolean) RETURNS vector
    AS 'MODULE_PATHNAME', 'vchord_vector_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_vector(numeric[], integer, boolean) RETURNS vector
    AS 'MODULE_PATHNAME', 'vchord_vector_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_to_float4(vector, integer, boolean) RETURNS real[]
    AS 'MODULE_PATHNAME', 'vchord_vector_to_float4_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (vector AS vector) WITH FUNCTION vector(vector, integer, boolean) AS IMPLICIT;
CREATE CAST (integer[] AS vector) WITH FUNCTION array_to_vector(integer[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (real[] AS vector) WITH FUNCTION array_to_vector(real[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (double precision[] AS vector) WITH FUNCTION array_to_vector(double precision[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (numeric[] AS vector) WITH FUNCTION array_to_vector(numeric[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (vector AS real[]) WITH FUNCTION vector_to_float4(vector, integer, boolean) AS IMPLICIT;

-- functions
CREATE FUNCTION l2_distance(vector, vector) RETURNS float8
    AS 'MODULE_PATHNAME', 'vchord_vector_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION inner_product(vector, vector) RETURNS float8
    AS 'MODULE_PATHNAME', 'vchord_vector_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_negative_inner_product(vector, vector) RETURNS float8
    AS 'MODULE_PATHNAME', 'vchord_vector_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cosine_distance(vector, vector) RETURNS float8
    AS 'MODULE_PATHNAME', 'vchord_vector_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION l1_distance(vector, vector) RETURNS float8
    AS 'MODULE_PATHNAME', 'vchord_vector_l1_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_dims(vector) RETURNS integer
    AS 'MODULE_PATHNAME', 'vchord_vector_dims' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_norm(vector) RETURNS float8
    AS 'MODULE_PATHNAME', 'vchord_vector_norm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION l2_normalize(vector) RETURNS vector
    AS 'MODULE_PATHNAME', 'vchord_vector_l2_normalize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION subvector(vector, integer, integer) RETURNS vector
    AS 'MODULE_PATHNAME', 'vchord_vector_subvector' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION binary_quantize(vector) RETURNS bit
    AS 'MODULE_PATHNAME', 'vchord_vector_binary_quantize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_add(vector, vector) RETURNS vector
    AS 'MODULE_PATHNAME', 'vchord_vector_add' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_sub(vector, vector) RETURNS vector
    AS 'MODULE_PATHNAME', 'vchord_vector_sub' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_mul(vector, vector) RETURNS vector
    AS 'MODULE_PATHNAME', 'vchord_vector_mul' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_concat(vector, vector) RETURNS vector
    AS 'MODULE_PATHNAME', 'vchord_vector_concat' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_lt(vector, vector) RETURNS boolean
    AS 'MODULE_PATHNAME', 'vchord_vector_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_le(vector, vector) RETURNS boolean
    AS 'MODULE_PATHNAME', 'vchord_vector_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_eq(vector, vector) RETURNS boolean
    AS 'MODULE_PATHNAME', 'vchord_vector_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_ne(vector, vector) RETURNS boolean
    AS 'MODULE_PATHNAME', 'vchord_vector_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_ge(vector, vector) RETURNS boolean
    AS 'MODULE_PATHNAME', 'vchord_vector_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_gt(vector, vector) RETURNS boolean
    AS 'MODULE_PATHNAME', 'vchord_vector_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_cmp(vector, vector) RETURNS integer
    AS 'MODULE_PATHNAME', 'vchord_vector_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- aggregates
CREATE FUNCTION vector_accum(double precision[], vector) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'vchord_vector_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_avg(double precision[]) RETURNS vector
    AS 'MODULE_PATHNAME', 'vchord_vector_avg' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_combine(double precision[], double precision[]) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'vchord_vector_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE AGGREGATE avg(vector) (
    SFUNC = vector_accum, STYPE = double precision[], FINALFUNC = vector_avg,
    COMBINEFUNC = vector_combine, INITCOND = '{0}', PARALLEL = SAFE
);
CREATE AGGREGATE sum(vector) (
    SFUNC = vector_add, STYPE = vector, COMBINEFUNC = vector_add, PARALLEL = SAFE
);

-- operators
CREATE OPERATOR <-> (LEFTARG = vector, RIGHTARG = vector, FUNCTION = l2_distance, COMMUTATOR = '<->');
CREATE OPERATOR <#> (LEFTARG = vector, RIGHTARG = vector, FUNCTION = vector_negative_inner_product, COMMUTATOR = '<#>');
CREATE OPERATOR <=> (LEFTARG = vector, RIGHTARG = vector, FUNCTION = cosine_distance, COMMUTATOR = '<=>');
CREATE OPERATOR <+> (LEFTARG = vector, RIGHTARG = vector, FUNCTION = l1_distance, COMMUTATOR = '<+>');
CREATE OPERATOR + (LEFTARG = vector, RIGHTARG = vector, FUNCTION = vector_add, COMMUTATOR = +);
CREATE OPERATOR - (LEFTARG = vector, RIGHTARG = vector, FUNCTION = vector_sub);
CREATE OPERATOR * (LEFTARG = vector, RIGHTARG = vector, FUNCTION = vector_mul, COMMUTATOR = *);
CREATE OPERATOR || (LEFTARG = vector, RIGHTARG = vector, FUNCTION = vector_concat);
CREATE OPERATOR < (LEFTARG = vector, RIGHTARG = vector, FUNCTION = vector_lt, COMMUTATOR = >, NEGATOR = >=,
    RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (LEFTARG = vector, RIGHTARG = vector, FUNCTION = vector_le, COMMUTATOR = >=, NEGATOR = >,
    RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR = (LEFTARG = vector, RIGHTARG = vector, FUNCTION = vector_eq, COMMUTATOR = =, NEGATOR = <>,
    RESTRICT = eqsel, JOIN = eqjoinsel);
CREATE OPERATOR <> (LEFTARG = vector, RIGHTARG = vector, FUNCTION = vector_ne, COMMUTATOR = <>, NEGATOR = =,
    RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR >= (LEFTARG = vector, RIGHTARG = vector, FUNCTION = vector_ge, COMMUTATOR = <=, NEGATOR = <,
    RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR > (LEFTARG = vector, RIGHTARG = vector, FUNCTION = vector_gt, COMMUTATOR = <, NEGATOR = <=,
    RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR CLASS vector_ops DEFAULT FOR TYPE vector USING btree AS
    OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
    FUNCTION 1 vector_cmp(vector, vector);

-- ==== halfvec ================================================================================
CREATE TYPE halfvec;
CREATE FUNCTION halfvec_in(cstring, oid, integer) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'vchord_halfvec_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfvec_out(halfvec) RETURNS cstring
    AS 'MODULE_PATHNAME', 'vchord_halfvec_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfvec_typmod_in(cstring[]) RETURNS integer
    AS 'MODULE_PATHNAME', 'vchord_halfvec_typmod_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfvec_recv(internal, oid, integer) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'vchord_halfvec_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfvec_send(halfvec) RETURNS bytea
    AS 'MODULE_PATHNAME', 'vchord_halfvec_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE halfvec (
    INPUT = halfvec_in, OUTPUT = halfvec_out, TYPMOD_IN = halfvec_typmod_in,
    RECEIVE = halfvec_recv, SEND = halfvec_send,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = int4, STORAGE = external
);

-- casts
CREATE FUNCTION halfvec(halfvec, integer, boolean) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'vchord_halfvec_typmod_cast' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_halfvec(integer[], integer, boolean) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'vchord_halfvec_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_halfvec(real[], integer, boolean) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'vchord_halfvec_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_halfvec(double precision[], integer, boolean) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'vchord_halfvec_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_halfvec(numeric[], integer, boolean) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'vchord_halfvec_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfvec_to_float4(halfvec, integer, boolean) RETURNS real[]
    AS 'MODULE_PATHNAME', 'vchord_halfvec_to_float4_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (halfvec AS halfvec) WITH FUNCTION halfvec(halfvec, integer, boolean) AS IMPLICIT;
CREATE CAST (integer[] AS halfvec) WITH FUNCTION array_to_halfvec(integer[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (real[] AS halfvec) WITH FUNCTION array_to_halfvec(real[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (double precision[] AS halfvec) WITH FUNCTION array_to_halfvec(double precision[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (numeric[] AS halfvec) WITH FUNCTION array_to_halfvec(numeric[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (halfvec AS real[]) WITH FUNCTION halfvec_to_float4(halfvec, integer, boolean) AS ASSIGNMENT;

-- functions
CREATE FUNCTION l2_distance(halfvec, halfvec) RETURNS float8
    AS 'MODULE_PATHNAME', 'vchord_halfvec_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION inner_product(halfvec, halfvec) RETURNS float8
    AS 'MODULE_PATHNAME', 'vchord_halfvec_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfvec_negative_inner_product(halfvec, halfvec) RETURNS float8
    AS 'MODULE_PATHNAME', 'vchord_halfvec_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cosine_distance(halfvec, halfvec) RETURNS float8
    AS 'MODULE_PATHNAME', 'vchord_halfvec_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION l1_distance(halfvec, halfvec) RETURNS float8
    AS 'MODULE_PATHNAME', 'vchord_halfvec_l1_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_dims(halfvec) RETURNS integer
    AS 'MODULE_PATHNAME', 'vchord_halfvec_dims' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION l2_norm(halfvec) RETURNS float8
    AS 'MODULE_PATHNAME', 'vchord_halfvec_norm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION l2_normalize(halfvec) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'vchord_halfvec_l2_normalize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION subvector(halfvec, integer, integer) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'vchord_halfvec_subvector' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION binary_quantize(halfvec) RETURNS bit
    AS 'MODULE_PATHNAME', 'vchord_halfvec_binary_quantize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfvec_add(halfvec, halfvec) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'vchord_halfvec_add' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfvec_sub(halfvec, halfvec) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'vchord_halfvec_sub' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfvec_mul(halfvec, halfvec) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'vchord_halfvec_mul' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfvec_concat(halfvec, halfvec) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'vchord_halfvec_concat' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfvec_lt(halfvec, halfvec) RETURNS boolean
    AS 'MODULE_PATHNAME', 'vchord_halfvec_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfvec_le(halfvec, halfvec) RETURNS boolean
    AS 'MODULE_PATHNAME', 'vchord_halfvec_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfvec_eq(halfvec, halfvec) RETURNS boolean
    AS 'MODULE_PATHNAME', 'vchord_halfvec_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfvec_ne(halfvec, halfvec) RETURNS boolean
    AS 'MODULE_PATHNAME', 'vchord_halfvec_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfvec_ge(halfvec, halfvec) RETURNS boolean
    AS 'MODULE_PATHNAME', 'vchord_halfvec_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfvec_gt(halfvec, halfvec) RETURNS boolean
    AS 'MODULE_PATHNAME', 'vchord_halfvec_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfvec_cmp(halfvec, halfvec) RETURNS integer
    AS 'MODULE_PATHNAME', 'vchord_halfvec_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- aggregates
CREATE FUNCTION halfvec_accum(double precision[], halfvec) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'vchord_halfvec_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfvec_avg(double precision[]) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'vchord_halfvec_avg' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE AGGREGATE avg(halfvec) (
    SFUNC = halfvec_accum, STYPE = double precision[], FINALFUNC = halfvec_avg,
    COMBINEFUNC = vector_combine, INITCOND = '{0}', PARALLEL = SAFE
);
CREATE AGGREGATE sum(halfvec) (
    SFUNC = halfvec_add, STYPE = halfvec, COMBINEFUNC = halfvec_add, PARALLEL = SAFE
);

-- operators
CREATE OPERATOR <-> (LEFTARG = halfvec, RIGHTARG = halfvec, FUNCTION = l2_distance, COMMUTATOR = '<->');
CREATE OPERATOR <#> (LEFTARG = halfvec, RIGHTARG = halfvec, FUNCTION = halfvec_negative_inner_product, COMMUTATOR = '<#>');
CREATE OPERATOR <=> (LEFTARG = halfvec, RIGHTARG = halfvec, FUNCTION = cosine_distance, COMMUTATOR = '<=>');
CREATE OPERATOR <+> (LEFTARG = halfvec, RIGHTARG = halfvec, FUNCTION = l1_distance, COMMUTATOR = '<+>');
CREATE OPERATOR + (LEFTARG = halfvec, RIGHTARG = halfvec, FUNCTION = halfvec_add, COMMUTATOR = +);
CREATE OPERATOR - (LEFTARG = halfvec, RIGHTARG = halfvec, FUNCTION = halfvec_sub);
CREATE OPERATOR * (LEFTARG = halfvec, RIGHTARG = halfvec, FUNCTION = halfvec_mul, COMMUTATOR = *);
CREATE OPERATOR || (LEFTARG = halfvec, RIGHTARG = halfvec, FUNCTION = halfvec_concat);
CREATE OPERATOR < (LEFTARG = halfvec, RIGHTARG = halfvec, FUNCTION = halfvec_lt, COMMUTATOR = >, NEGATOR = >=,
    RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (LEFTARG = halfvec, RIGHTARG = halfvec, FUNCTION = halfvec_le, COMMUTATOR = >=, NEGATOR = >,
    RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR = (LEFTARG = halfvec, RIGHTARG = halfvec, FUNCTION = halfvec_eq, COMMUTATOR = =, NEGATOR = <>,
    RESTRICT = eqsel, JOIN = eqjoinsel);
CREATE OPERATOR <> (LEFTARG = halfvec, RIGHTARG = halfvec, FUNCTION = halfvec_ne, COMMUTATOR = <>, NEGATOR = =,
    RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR >= (LEFTARG = halfvec, RIGHTARG = halfvec, FUNCTION = halfvec_ge, COMMUTATOR = <=, NEGATOR = <,
    RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR > (LEFTARG = halfvec, RIGHTARG = halfvec, FUNCTION = halfvec_gt, COMMUTATOR = <, NEGATOR = <=,
    RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR CLASS halfvec_ops DEFAULT FOR TYPE halfvec USING btree AS
    OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
    FUNCTION 1 halfvec_cmp(halfvec, halfvec);

-- ==== vector <-> halfvec ==================================================================
CREATE FUNCTION vector_to_halfvec(vector, integer, boolean) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'vchord_vector_to_halfvec' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfvec_to_vector(halfvec, integer, boolean) RETURNS vector
    AS 'MODULE_PATHNAME', 'vchord_halfvec_to_vector' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (vector AS halfvec) WITH FUNCTION vector_to_halfvec(vector, integer, boolean) AS IMPLICIT;
CREATE CAST (halfvec AS vector) WITH FUNCTION halfvec_to_vector(halfvec, integer, boolean) AS ASSIGNMENT;

-- ==== bit: pgvector's distances ==============================================================
CREATE FUNCTION hamming_distance(bit, bit) RETURNS float8
    AS 'MODULE_PATHNAME', 'vchord_bit_hamming_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION jaccard_distance(bit, bit) RETURNS float8
    AS 'MODULE_PATHNAME', 'vchord_bit_jaccard_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OPERATOR <~> (LEFTARG = bit, RIGHTARG = bit, FUNCTION = hamming_distance, COMMUTATOR = '<~>');
CREATE OPERATOR <%> (LEFTARG = bit, RIGHTARG = bit, FUNCTION = jaccard_distance, COMMUTATOR = '<%>');
$types$;
END IF;
END
$mode$;

-- ---- vchordrq: IVF + RaBitQ ------------------------------------------------------------
CREATE FUNCTION vchordrq_amhandler(internal) RETURNS index_am_handler
    AS 'MODULE_PATHNAME', 'vchord_rq_amhandler' LANGUAGE C;
CREATE ACCESS METHOD vchordrq TYPE INDEX HANDLER vchordrq_amhandler;
COMMENT ON ACCESS METHOD vchordrq IS 'vchord IVF index with RaBitQ codes and exact rerank';

CREATE FUNCTION _vchordrq_support_vector_l2_ops() RETURNS int4
    AS 'MODULE_PATHNAME', 'vchord_rq_support_vector_l2' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION _vchordrq_support_vector_ip_ops() RETURNS int4
    AS 'MODULE_PATHNAME', 'vchord_rq_support_vector_ip' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION _vchordrq_support_vector_cosine_ops() RETURNS int4
    AS 'MODULE_PATHNAME', 'vchord_rq_support_vector_cosine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION _vchordrq_support_halfvec_l2_ops() RETURNS int4
    AS 'MODULE_PATHNAME', 'vchord_rq_support_halfvec_l2' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION _vchordrq_support_halfvec_ip_ops() RETURNS int4
    AS 'MODULE_PATHNAME', 'vchord_rq_support_halfvec_ip' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION _vchordrq_support_halfvec_cosine_ops() RETURNS int4
    AS 'MODULE_PATHNAME', 'vchord_rq_support_halfvec_cosine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION _vchordrq_support_vector_l1_ops() RETURNS int4
    AS 'MODULE_PATHNAME', 'vchord_rq_support_vector_l1' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION _vchordrq_support_halfvec_l1_ops() RETURNS int4
    AS 'MODULE_PATHNAME', 'vchord_rq_support_halfvec_l1' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OPERATOR CLASS vector_l2_ops DEFAULT FOR TYPE vector USING vchordrq AS
    OPERATOR 1 <-> (vector, vector) FOR ORDER BY float_ops,
    FUNCTION 1 _vchordrq_support_vector_l2_ops();
CREATE OPERATOR CLASS vector_ip_ops FOR TYPE vector USING vchordrq AS
    OPERATOR 1 <#> (vector, vector) FOR ORDER BY float_ops,
    FUNCTION 1 _vchordrq_support_vector_ip_ops();
CREATE OPERATOR CLASS vector_cosine_ops FOR TYPE vector USING vchordrq AS
    OPERATOR 1 <=> (vector, vector) FOR ORDER BY float_ops,
    FUNCTION 1 _vchordrq_support_vector_cosine_ops();

-- L1 (<+>) came with pgvector 0.7.0: over an older pgvector the class is left out.
DO $l1$
BEGIN
IF pg_catalog.to_regoperator('<+>(vector,vector)') IS NOT NULL THEN
EXECUTE $class$
CREATE OPERATOR CLASS vector_l1_ops FOR TYPE vector USING vchordrq AS
    OPERATOR 1 <+> (vector, vector) FOR ORDER BY float_ops,
    FUNCTION 1 _vchordrq_support_vector_l1_ops();
$class$;
END IF;
END
$l1$;

CREATE FUNCTION vchordrq_prewarm(regclass) RETURNS text
    AS 'MODULE_PATHNAME', 'vchord_rq_prewarm' LANGUAGE C STRICT VOLATILE;
CREATE FUNCTION vchordrq_verify(regclass) RETURNS text[]
    AS 'MODULE_PATHNAME', 'vchord_rq_verify' LANGUAGE C STRICT VOLATILE;

-- ---- vchordg: graph + RaBitQ, with label filters ----------------------------------------
CREATE FUNCTION vchordg_amhandler(internal) RETURNS index_am_handler
    AS 'MODULE_PATHNAME', 'vchord_g_amhandler' LANGUAGE C;
CREATE ACCESS METHOD vchordg TYPE INDEX HANDLER vchordg_amhandler;
COMMENT ON ACCESS METHOD vchordg IS 'vchord graph index with RaBitQ codes, exact rerank and label filters';

-- The vector opclasses share vchordrq's support functions (element type and metric).
CREATE OPERATOR CLASS vector_l2_ops DEFAULT FOR TYPE vector USING vchordg AS
    OPERATOR 1 <-> (vector, vector) FOR ORDER BY float_ops,
    FUNCTION 1 _vchordrq_support_vector_l2_ops();
CREATE OPERATOR CLASS vector_ip_ops FOR TYPE vector USING vchordg AS
    OPERATOR 1 <#> (vector, vector) FOR ORDER BY float_ops,
    FUNCTION 1 _vchordrq_support_vector_ip_ops();
CREATE OPERATOR CLASS vector_cosine_ops FOR TYPE vector USING vchordg AS
    OPERATOR 1 <=> (vector, vector) FOR ORDER BY float_ops,
    FUNCTION 1 _vchordrq_support_vector_cosine_ops();

-- Labels: a smallint[] second column, filtered with && (overlap).
CREATE FUNCTION _vchordg_support_labels() RETURNS int4
    AS 'MODULE_PATHNAME', 'vchord_g_support_labels' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE OPERATOR CLASS vchordg_label_ops DEFAULT FOR TYPE smallint[] USING vchordg AS
    OPERATOR 2 && (anyarray, anyarray),
    FUNCTION 1 _vchordg_support_labels();

CREATE FUNCTION vchordg_prewarm(regclass) RETURNS text
    AS 'MODULE_PATHNAME', 'vchord_g_prewarm' LANGUAGE C STRICT VOLATILE;
CREATE FUNCTION vchordg_verify(regclass) RETURNS text[]
    AS 'MODULE_PATHNAME', 'vchord_g_verify' LANGUAGE C STRICT VOLATILE;

-- vchord_index_info(index): access method, on-disk format (recorded and read), options, size
-- and build parameters, as jsonb.
CREATE FUNCTION vchord_index_info(regclass) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'vchord_index_info' LANGUAGE C STRICT VOLATILE;

-- halfvec came with pgvector 0.7.0: over an older pgvector the halfvec classes are left out.
DO $halfvec$
BEGIN
IF pg_catalog.to_regtype('halfvec') IS NOT NULL THEN
EXECUTE $classes$
CREATE OPERATOR CLASS halfvec_l2_ops DEFAULT FOR TYPE halfvec USING vchordrq AS
    OPERATOR 1 <-> (halfvec, halfvec) FOR ORDER BY float_ops,
    FUNCTION 1 _vchordrq_support_halfvec_l2_ops();
CREATE OPERATOR CLASS halfvec_ip_ops FOR TYPE halfvec USING vchordrq AS
    OPERATOR 1 <#> (halfvec, halfvec) FOR ORDER BY float_ops,
    FUNCTION 1 _vchordrq_support_halfvec_ip_ops();
CREATE OPERATOR CLASS halfvec_cosine_ops FOR TYPE halfvec USING vchordrq AS
    OPERATOR 1 <=> (halfvec, halfvec) FOR ORDER BY float_ops,
    FUNCTION 1 _vchordrq_support_halfvec_cosine_ops();
CREATE OPERATOR CLASS halfvec_l1_ops FOR TYPE halfvec USING vchordrq AS
    OPERATOR 1 <+> (halfvec, halfvec) FOR ORDER BY float_ops,
    FUNCTION 1 _vchordrq_support_halfvec_l1_ops();
CREATE OPERATOR CLASS halfvec_l2_ops DEFAULT FOR TYPE halfvec USING vchordg AS
    OPERATOR 1 <-> (halfvec, halfvec) FOR ORDER BY float_ops,
    FUNCTION 1 _vchordrq_support_halfvec_l2_ops();
CREATE OPERATOR CLASS halfvec_ip_ops FOR TYPE halfvec USING vchordg AS
    OPERATOR 1 <#> (halfvec, halfvec) FOR ORDER BY float_ops,
    FUNCTION 1 _vchordrq_support_halfvec_ip_ops();
CREATE OPERATOR CLASS halfvec_cosine_ops FOR TYPE halfvec USING vchordg AS
    OPERATOR 1 <=> (halfvec, halfvec) FOR ORDER BY float_ops,
    FUNCTION 1 _vchordrq_support_halfvec_cosine_ops();
$classes$;
END IF;
END
$halfvec$;
