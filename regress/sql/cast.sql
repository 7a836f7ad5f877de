-- casts between arrays, vector and halfvec
CREATE EXTENSION IF NOT EXISTS vchord;

SELECT ARRAY[1,2,3]::vector, ARRAY[1.5,2.5]::real[]::vector, ARRAY[1.5,2.5]::double precision[]::vector,
       ARRAY[1.5,2.5]::numeric[]::vector;
SELECT ARRAY[1,2,3]::halfvec, ARRAY[0.5]::numeric[]::halfvec;
SELECT '[1,2,3]'::vector::real[], '[1,2]'::halfvec::real[];
SELECT '[1.5,2.25]'::vector::halfvec, '[1.5,2.25]'::halfvec::vector;
SELECT '[1,2]'::vector::halfvec(2), '[1,2]'::halfvec::vector(2);
SELECT ARRAY[1,2]::vector(3);
SELECT ARRAY[[1,2],[3,4]]::vector;
SELECT ARRAY[1,NULL,3]::vector;
SELECT '{}'::real[]::vector;
SELECT ARRAY['NaN'::float8]::vector;
SELECT ARRAY[1e300::float8]::vector;
SELECT ARRAY['Infinity'::float4]::vector;
SELECT ARRAY[1e6]::numeric[]::halfvec;
SELECT '[1e6]'::vector::halfvec;
SELECT array_fill(1, ARRAY[16001])::vector;
-- assignment casts into typed columns
CREATE TABLE c (v vector(2), h halfvec(2));
INSERT INTO c VALUES (ARRAY[1,2], ARRAY[3,4]::real[]);
INSERT INTO c VALUES ('[1,2]'::vector, '[1,2]'::vector);
SELECT * FROM c;
