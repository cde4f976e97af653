"""Compare the records of two runs folders: every result number and every kept clip score.

    python tests/compare_records.py RUNS_A/ci RUNS_B/ci

Used to check that a refactoring changes no number (the same ci runs before and after)."""
import json, sys, math
from pathlib import Path
import pandas as pd

a, b = Path(sys.argv[1]), Path(sys.argv[2])

def numbers(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from numbers(v, f"{prefix}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from numbers(v, f"{prefix}[{i}]")
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield prefix, float(obj)
    elif isinstance(obj, str):
        yield prefix, obj

total_diff = 0
for rec_a in sorted(a.rglob("record.json")):
    rel = rec_a.relative_to(a)
    rec_b = b / rel
    ra, rb = json.loads(rec_a.read_text()), json.loads(rec_b.read_text())
    na, nb = dict(numbers(ra["results"])), dict(numbers(rb["results"]))
    keys = set(na) | set(nb)
    keys = {k for k in keys if ".profile_settings." not in k}
    diffs = [k for k in sorted(keys) if na.get(k) != nb.get(k) and not (isinstance(na.get(k), float) and isinstance(nb.get(k), float) and math.isnan(na[k]) and math.isnan(nb[k]))]
    line = f"{rel.parent}: {len(ra['results'])} results, {len(keys)} values compared, {len(diffs)} differ"
    if ra.get("scores_file"):
        sa = pd.read_csv(rec_a.parent / ra["scores_file"]); sb = pd.read_csv(rec_b.parent / rb["scores_file"])
        same = sa.equals(sb)
        line += f"; kept scores: {len(sa)} rows, identical: {same}"
        total_diff += (not same)
    print(line)
    for k in diffs[:5]:
        print("   ", k, na.get(k), nb.get(k))
    total_diff += len(diffs)
print("TOTAL differing values:", total_diff)
