-- halfvec: the same surface with f16 elements.
CREATE EXTENSION IF NOT EXISTS vchord;

SELECT '[1,2.5,-3]'::halfvec, '[0.1]'::halfvec AS rounded_to_half, '[65504,-65504]'::halfvec;
SELECT '[65505]'::halfvec;
SELECT '[1e10]'::halfvec;
SELECT '[NaN]'::halfvec;
SELECT '[inf]'::halfvec;
SELECT '[1,2'::halfvec;
SELECT '[]'::halfvec;
SELECT '[1,2]'::halfvec(3);
SELECT '[1]'::halfvec(16001);

CREATE TABLE h (id int, v halfvec(3));
INSERT INTO h VALUES (1, '[1,2,3]'), (2, '[4,5,6]'), (3, NULL);
INSERT INTO h VALUES (4, '[1,2]');
SELECT '[1,2,3]'::halfvec <-> '[3,2,1]' AS l2, '[1,2,3]'::halfvec <#> '[3,2,1]' AS neg_ip,
       '[1,2,3]'::halfvec <=> '[3,2,1]' AS cosine, '[1,2,3]'::halfvec <+> '[3,2,1]' AS l1;
SELECT cosine_distance('[0,0]'::halfvec, '[1,1]') AS zero_vector_is_nan;
SELECT '[1,2]'::halfvec <-> '[1]';
SELECT '[1,2]'::halfvec + '[3,4]', '[1,2]'::halfvec - '[3,4]', '[1,2]'::halfvec * '[3,4]', '[1]'::halfvec || '[2]';
SELECT '[60000]'::halfvec + '[60000]';
SELECT vector_dims('[1,2,3]'::halfvec), l2_norm('[3,4]'::halfvec), l2_normalize('[3,4]'::halfvec);
SELECT subvector('[1,2,3,4]'::halfvec, 2, 2), binary_quantize('[1,-1,2]'::halfvec);
SELECT v FROM h ORDER BY v DESC NULLS LAST;
SELECT avg(v), sum(v) FROM h;
SELECT halfvec_send('[1,-2.5]'::halfvec);
COPY h TO '/tmp/vchord_regress_h.bin' (FORMAT binary);
CREATE TABLE h2 (LIKE h);
COPY h2 FROM '/tmp/vchord_regress_h.bin' (FORMAT binary);
SELECT count(*) FROM h JOIN h2 USING (id) WHERE h.v = h2.v;
