#!/usr/bin/env python3
"""Reference segment counts for benches/segments.rs: the same conditions as
userdeck's POST /api/v1/segments/count, on the same demo users, by two plain
designs userdeck could have chosen instead of its typed key-value table:

  * SQLite, one row per user with every attribute in one JSON column,
    queried with json_extract / json_each;
  * DuckDB (PyPI `duckdb`), a columnar table with one typed column per
    attribute (a list column for arrays, TIMESTAMP for dates).

    segment_counts.py DEMO_DB NOW_MS [--runs 5] [--input conditions.json] [--show-sql]

The input (stdin unless --input) is {"conditions": [Condition, ...],
"nows": [ms, ...], "checks": [{"now": ms, "condition": i}, ...]}:
conditions are API.md "Conditions"; "nows" (optional) gives each condition
the instant its date rules count at (default NOW_MS), so a count can match
one a server made at that instant; "checks" (optional) asks DuckDB for
more counts at other instants, untimed. Only what the
benchmark uses is translated: all/any, and is, in, contains, gt/gte/lt/lte,
days_ago_lt/gt, days_ahead_lt. Anything else is refused, not approximated.
The semantics are userdeck's (src/server/store/conditions.rs): strings
compare case-insensitively after ASCII-only lowering, a user who lacks the
attribute never matches, days_ago_lt N means now - N days < t <= now,
days_ahead_lt N means now <= t < now + N days.

Both tables are built once from the demo database and cached next to it
(reference-<N>.db, reference-<N>.duckdb); a fingerprint of the demo's users
decides when they are stale.

Prints JSON on stdout: {"engines": [{"name", "results": [{"count",
"times_ms", "sql"}]}], "checks": [{"now", "condition", "count"}],
"notes": [...]}; progress goes to stderr.
"""

import argparse
import json
import os
import re
import sqlite3
import statistics
import sys
import time

import duckdb

DAY_MS = 86_400_000
# userdeck folds A-Z only (model::condition::fold).
ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# Bump when the layout of the cached tables changes.
LAYOUT = "1"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def quote(s):
    return "'" + s.replace("'", "''") + "'"


def ident(name):
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------------------
# The cached reference tables


def fingerprint(src, ws):
    """Changes when the demo is regenerated (its times are relative to now)."""
    n, max_id, max_created = src.execute(
        "SELECT COUNT(*), MAX(id), MAX(created) FROM users WHERE workspace_id = ?", (ws,)
    ).fetchone()
    defs = src.execute(
        "SELECT group_concat(name || ':' || type || ':' || users, ',') FROM "
        "(SELECT * FROM attribute_definitions WHERE workspace_id = ? ORDER BY name)",
        (ws,),
    ).fetchone()[0]
    return f"{LAYOUT}|{n}|{max_id}|{max_created}|{defs}"


def typed(t, value, num):
    """An attribute as a JSON value: numbers and booleans from `num`, dates as
    ms since the epoch (so json_extract compares numbers), arrays parsed."""
    if t == "string":
        return value
    if t == "number":
        return int(num) if float(num).is_integer() else num
    if t == "boolean":
        return num == 1
    if t == "date":
        return int(num)
    if t == "array":
        return json.loads(value)
    raise SystemExit(f"unknown attribute type {t!r}")


DUCK_TYPES = {
    "string": "VARCHAR",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "BIGINT",  # read as ms, stored as TIMESTAMP below
    "array": "VARCHAR[]",
}


def build(demo, json_path, duck_path, ws, types, fp):
    t0 = time.perf_counter()
    src = sqlite3.connect(f"file:{demo}?mode=ro", uri=True)
    for p in (json_path + ".tmp", duck_path + ".tmp", duck_path + ".ndjson"):
        if os.path.exists(p):
            os.remove(p)
    dst = sqlite3.connect(json_path + ".tmp")
    dst.executescript(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE users_json (id INTEGER PRIMARY KEY, attrs TEXT NOT NULL);"
    )
    # DuckDB loads the same objects from newline-delimited JSON.
    nd = open(duck_path + ".ndjson", "w")
    # Every user, with or without attributes, in id order (the attributes'
    # primary key starts with (workspace_id, uid)).
    rows = src.execute(
        "SELECT u.id, a.name, a.type, a.value, a.num FROM users u "
        "LEFT JOIN attributes a ON a.workspace_id = u.workspace_id AND a.uid = u.id "
        "WHERE u.workspace_id = ? ORDER BY u.id",
        (ws,),
    )
    batch, uid, obj, n = [], None, {}, 0

    def flush():
        nonlocal batch, n
        if uid is None:
            return
        batch.append((uid, json.dumps(obj, separators=(",", ":"), ensure_ascii=False)))
        nd.write(json.dumps({"id": uid, **obj}, separators=(",", ":"), ensure_ascii=False))
        nd.write("\n")
        n += 1
        if len(batch) >= 10_000:
            dst.executemany("INSERT INTO users_json VALUES (?, ?)", batch)
            batch = []
            if n % 200_000 == 0:
                log(f"  {n} users ({time.perf_counter() - t0:.0f} s)")

    for id_, name, t, value, num in rows:
        if id_ != uid:
            flush()
            uid, obj = id_, {}
        if name is not None:
            obj[name] = typed(t, value, num)
    flush()
    dst.executemany("INSERT INTO users_json VALUES (?, ?)", batch)
    nd.close()
    dst.execute("INSERT INTO meta VALUES ('fingerprint', ?)", (fp,))
    dst.commit()
    dst.close()
    log(f"  users_json: {n} rows in {time.perf_counter() - t0:.0f} s")

    t1 = time.perf_counter()
    duck = duckdb.connect(duck_path + ".tmp")
    columns = {"id": "BIGINT", **{k: DUCK_TYPES[t] for k, t in types.items()}}
    spec = "{" + ", ".join(f"{quote(k)}: {quote(v)}" for k, v in columns.items()) + "}"
    select = ", ".join(
        f"epoch_ms({ident(k)}) AS {ident(k)}" if types.get(k) == "date" else ident(k)
        for k in columns
    )
    duck.execute(
        f"CREATE TABLE users AS SELECT {select} FROM read_json({quote(duck_path + '.ndjson')}, "
        f"format = 'newline_delimited', columns = {spec}) ORDER BY id"
    )
    duck.execute("CREATE TABLE meta (key VARCHAR, value VARCHAR)")
    duck.execute("INSERT INTO meta VALUES ('fingerprint', ?)", [fp])
    duck.execute("CHECKPOINT")
    duck.close()
    os.remove(duck_path + ".ndjson")
    log(f"  DuckDB table in {time.perf_counter() - t1:.0f} s")
    # Renamed last, so an interrupted build is never taken for a finished one.
    os.replace(duck_path + ".tmp", duck_path)
    os.replace(json_path + ".tmp", json_path)
    return time.perf_counter() - t0


def cached_fingerprint(json_path, duck_path):
    if not (os.path.exists(json_path) and os.path.exists(duck_path)):
        return None
    try:
        a = sqlite3.connect(json_path).execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
        d = duckdb.connect(duck_path, read_only=True)
        b = d.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
        d.close()
    except Exception:
        return None
    return a[0] if a and b and a[0] == b[0] else None


# ---------------------------------------------------------------------------
# Conditions as SQL


class Translator:
    """One condition as a WHERE clause for `users_json` (SQLite) or `users`
    (DuckDB). Literals are written inline, quoted."""

    def __init__(self, engine, types, now):
        self.engine, self.types, self.now = engine, types, now

    def node(self, c):
        for key, joiner in (("all", " AND "), ("any", " OR ")):
            if key in c:
                parts = [self.node(x) for x in c[key]]
                if not parts:
                    return "(1 = 1)" if key == "all" else "(1 = 0)"
                return "(" + joiner.join(parts) + ")"
        if "attribute" in c:
            return self.rule(c)
        raise SystemExit(f"the reference does not translate {json.dumps(c)}")

    def value(self, name):
        if self.engine == "sqlite":
            return f"json_extract(attrs, {quote('$.' + ident(name))})"
        return ident(name)

    def fold(self, expr, cs):
        if cs:
            return expr
        if self.engine == "sqlite":
            return f"lower({expr})"  # ASCII-only unless SQLite has ICU (checked in main)
        # DuckDB's lower() folds all of Unicode (the Kelvin sign becomes k);
        # userdeck folds A-Z only. translate() is exact but 40 times slower
        # than lower(), so it runs only on strings that are not pure ASCII
        # (more bytes than characters).
        return (
            f"CASE WHEN strlen({expr}) = length({expr}) THEN lower({expr}) "
            f"ELSE translate({expr}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') END"
        )

    def text(self, s, cs):
        return quote(s if cs else s.translate(ASCII_FOLD))

    def instant(self, ms):
        return str(ms) if self.engine == "sqlite" else f"epoch_ms({ms})"

    def rule(self, c):
        name, op, v = c["attribute"], c["op"], c.get("value")
        cs = bool(c.get("case_sensitive", False))
        if name not in self.types:
            raise SystemExit(f"unknown attribute {name!r} (native fields are not translated)")
        t = self.types[name]
        col = self.value(name)
        if op == "is" and t == "string":
            return f"{self.fold(col, cs)} = {self.text(v, cs)}"
        if op == "is" and t == "number":
            return f"{col} = {float(v)!r}"
        if op == "in" and t == "string" and v:
            return f"{self.fold(col, cs)} IN ({', '.join(self.text(x, cs) for x in v)})"
        if op == "in" and t == "number" and v:
            return f"{col} IN ({', '.join(repr(float(x)) for x in v)})"
        if op == "contains" and t == "array":
            want = self.text(v, cs)
            if self.engine == "sqlite":
                path = quote("$." + ident(name))
                return f"EXISTS (SELECT 1 FROM json_each(attrs, {path}) e WHERE {self.fold('e.value', cs)} = {want})"
            return f"list_contains(list_transform({col}, lambda x: {self.fold('x', cs)}), {want})"
        if op in ("gt", "gte", "lt", "lte") and t == "number":
            cmp = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
            return f"{col} {cmp} {float(v)!r}"
        if op in ("days_ago_lt", "days_ago_gt", "days_ahead_lt") and t == "date":
            span = int(v) * DAY_MS
            now = self.now
            if op == "days_ago_gt":
                return f"{col} < {self.instant(now - span)}"
            if op == "days_ago_lt":
                return f"({col} > {self.instant(now - span)} AND {col} <= {self.instant(now)})"
            return f"({col} >= {self.instant(now)} AND {col} < {self.instant(now + span)})"
        raise SystemExit(f"the reference does not translate {op!r} on a {t} attribute ({name})")


# ---------------------------------------------------------------------------


def timed(run, sqls, runs):
    """Count of each query and the times of `runs` executions after a warm-up."""
    out = []
    for sql in sqls:
        count = run(sql)
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            c = run(sql)
            times.append((time.perf_counter() - t) * 1000)
            if c != count:
                raise SystemExit(f"the count changed between runs ({count}, then {c}): {sql}")
        out.append({"count": count, "times_ms": times, "sql": sql})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("demo_db")
    ap.add_argument("now_ms", type=int)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--input", help="the JSON input (default: stdin)")
    ap.add_argument("--show-sql", action="store_true", help="print each query on stderr")
    args = ap.parse_args()
    spec = json.load(open(args.input) if args.input else sys.stdin)
    conditions = spec["conditions"]
    nows = spec.get("nows") or [args.now_ms] * len(conditions)
    if len(nows) != len(conditions):
        raise SystemExit("give one instant in `nows` per condition")

    demo = os.path.abspath(args.demo_db)
    if not os.path.exists(demo):
        raise SystemExit(f"{demo} does not exist")
    base = os.path.basename(demo)
    stem = re.sub(r"^dashboard-", "", os.path.splitext(base)[0])
    json_path = os.path.join(os.path.dirname(demo), f"reference-{stem}.db")
    duck_path = os.path.join(os.path.dirname(demo), f"reference-{stem}.duckdb")

    src = sqlite3.connect(f"file:{demo}?mode=ro", uri=True)
    ws = src.execute("SELECT id FROM workspaces ORDER BY id LIMIT 1").fetchone()[0]
    types = dict(
        src.execute("SELECT name, type FROM attribute_definitions WHERE workspace_id = ? ORDER BY name", (ws,))
    )
    fp = fingerprint(src, ws)
    src.close()
    notes = []
    if cached_fingerprint(json_path, duck_path) != fp:
        log(f"building the reference tables {json_path} and {duck_path} (once per demo database) ...")
        secs = build(demo, json_path, duck_path, ws, types, fp)
        notes.append(f"reference tables built in {secs:.0f} s")

    # SQLite, JSON column. Same page cache as userdeck's connections (64 MiB).
    lite = sqlite3.connect(f"file:{json_path}?mode=ro", uri=True)
    lite.execute("PRAGMA cache_size = -65536")
    if lite.execute("SELECT lower('Ä') = 'Ä'").fetchone()[0] != 1:
        notes.append("this SQLite's lower() folds beyond ASCII (ICU): string counts may differ")
    lite_sql = [
        f"SELECT COUNT(*) FROM users_json WHERE {Translator('sqlite', types, now).node(c)}"
        for c, now in zip(conditions, nows)
    ]

    duck = duckdb.connect(duck_path, read_only=True)
    threads = duck.execute("SELECT current_setting('threads')").fetchone()[0]

    def duck_query(c, now):
        return f"SELECT COUNT(*) FROM users WHERE {Translator('duckdb', types, now).node(c)}"

    duck_sql = [duck_query(c, now) for c, now in zip(conditions, nows)]
    if args.show_sql:
        for s in lite_sql + duck_sql:
            log(s)

    engines = []
    sv = sqlite3.sqlite_version
    log("timing SQLite json_extract ...")
    engines.append(
        {
            "name": f"SQLite {sv}, JSON column (json_extract)",
            "results": timed(lambda s: lite.execute(s).fetchone()[0], lite_sql, args.runs),
        }
    )
    dv = duckdb.__version__
    log("timing DuckDB ...")
    run_duck = lambda s: duck.execute(s).fetchone()[0]
    engines.append(
        {
            "name": f"DuckDB {dv}, columnar ({threads} threads)",
            "results": timed(run_duck, duck_sql, args.runs),
        }
    )
    if threads != 1:
        # userdeck answers one count on one core; this is DuckDB on one too.
        duck.execute("SET threads = 1")
        engines.append(
            {"name": f"DuckDB {dv}, columnar (1 thread)", "results": timed(run_duck, duck_sql, args.runs)}
        )
        duck.execute(f"SET threads = {threads}")

    checks = []
    for ch in spec.get("checks", []):
        now, i = ch["now"], ch["condition"]
        checks.append({"now": now, "condition": i, "count": run_duck(duck_query(conditions[i], now))})

    users = lite.execute("SELECT COUNT(*) FROM users_json").fetchone()[0]
    notes.append(f"{users} users in the reference tables")
    for e in engines:
        for r in e["results"]:
            r["median_ms"] = statistics.median(r["times_ms"])
    json.dump({"engines": engines, "checks": checks, "notes": notes}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
