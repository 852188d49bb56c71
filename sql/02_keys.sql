-- Primary keys as text. Every API that names a row takes (target regclass, pk text): the key's own
-- text for a one-column key ('42', a uuid), a JSON array in key-column order for a composite key
-- ('[7, "eu"]'). These functions turn that text into a safe predicate: identifiers through %I,
-- values through %L and a cast to the column's type, never concatenated.

-- The primary-key columns of a table, in key order, with their types.
CREATE OR REPLACE FUNCTION deletion.primary_key_columns(target regclass)
RETURNS TABLE (column_name name, type_name text)
LANGUAGE sql
STABLE
ROWS 2
SET search_path = pg_catalog
AS $$
  SELECT a.attname, format_type(a.atttypid, a.atttypmod)
    FROM pg_index i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
   WHERE i.indrelid = target AND i.indisprimary
   ORDER BY k.ord
$$;
COMMENT ON FUNCTION deletion.primary_key_columns(regclass) IS 'The primary-key columns of a table in key order, with their SQL types.';

-- A WHERE-clause predicate that selects the row with the given key, for use in format('%s').
-- Errors: a table without a primary key (42P10); a composite key not given as a JSON array of the
-- right length (22023); a value that does not cast to its column's type (22P02).
CREATE OR REPLACE FUNCTION deletion.key_predicate(target regclass, pk text, alias text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  cols name[];
  types text[];
  vals text[];
  parts text[] := '{}';
  prefix text := CASE WHEN alias IS NULL THEN '' ELSE quote_ident(alias) || '.' END;
  i integer;
BEGIN
  SELECT array_agg(k.column_name), array_agg(k.type_name) INTO cols, types
    FROM deletion.primary_key_columns(target) k;
  IF cols IS NULL THEN
    RAISE EXCEPTION 'table % has no primary key', target
      USING ERRCODE = '42P10', HINT = 'the deletion engine names rows by primary key; add one';
  END IF;
  IF pk IS NULL THEN
    RAISE EXCEPTION 'no key given for table %', target USING ERRCODE = '22004';
  END IF;
  IF array_length(cols, 1) = 1 THEN
    vals := ARRAY[pk];
  ELSE
    BEGIN
      SELECT array_agg(e ORDER BY n) INTO vals FROM jsonb_array_elements_text(pk::jsonb) WITH ORDINALITY AS x(e, n);
    EXCEPTION WHEN invalid_text_representation OR invalid_parameter_value THEN
      vals := NULL;
    END;
    IF vals IS NULL OR array_length(vals, 1) IS DISTINCT FROM array_length(cols, 1) THEN
      RAISE EXCEPTION 'table % has a composite primary key (%); give the key as a JSON array of % values, not %',
                      target, array_to_string(cols, ', '), array_length(cols, 1), pk
        USING ERRCODE = '22023', HINT = format('for example ''%s''', '[' || array_to_string(array_fill('...'::text, ARRAY[array_length(cols, 1)]), ', ') || ']');
    END IF;
  END IF;
  FOR i IN 1 .. array_length(cols, 1) LOOP
    BEGIN
      EXECUTE format('SELECT %L::%s', vals[i], types[i]);
    EXCEPTION WHEN data_exception THEN
      RAISE EXCEPTION 'key value "%" does not cast to %, the type of %.%', vals[i], types[i], target, cols[i]
        USING ERRCODE = '22P02';
    END;
    parts := parts || format('%s%I = %L::%s', prefix, cols[i], vals[i], types[i]);
  END LOOP;
  RETURN array_to_string(parts, ' AND ');
END
$$;
COMMENT ON FUNCTION deletion.key_predicate(regclass, text, text) IS 'A safe WHERE predicate for the row with the given primary key (text, or a JSON array for composite keys).';

-- The primary key of a row as JSONB ({"id": 42}), from the row's JSONB image: how the audit log and
-- the trash record keys without OIDs or positional assumptions.
CREATE OR REPLACE FUNCTION deletion.key_of(target regclass, row_image jsonb)
RETURNS jsonb
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT jsonb_object_agg(k.column_name, row_image -> k.column_name)
    FROM deletion.primary_key_columns(target) k
$$;
COMMENT ON FUNCTION deletion.key_of(regclass, jsonb) IS 'The primary-key part of a row image, as a JSONB object.';

GRANT EXECUTE ON FUNCTION deletion.primary_key_columns(regclass), deletion.key_predicate(regclass, text, text),
                          deletion.key_of(regclass, jsonb)
  TO deletion_app, deletion_admin;
