"""English training files for the offline twin of the mission study (examples/mission_offline.yaml).

    python examples/mission_offline_data.py [--shared ../shared/data] [--out xlt-results/mission-offline-data]

../shared/data has no English train split for UD-POS or XCOPA; this derives them exactly as
bench/offline_xtreme_subset.py does (its `prepare`, reused): UD-POS trains on UD English-EWT *dev*
(2,001 sentences) and selects on EWT test; XCOPA trains on the English machine translations of the
XCOPA *val* items (data-gmt) and selects on 100 of them, testing on XCOPA test (disjoint items). Target
test files are symlinked, nothing is copied into the repository (xlt-results/ is git-ignored).
SIB-200 and Tatoeba are read from ../shared/data directly.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--out", default=str(ROOT / "xlt-results" / "mission-offline-data"))
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("offline_xtreme_subset", ROOT / "bench" / "offline_xtreme_subset.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    entries = bench.prepare(Path(args.shared).resolve(), Path(args.out).resolve())
    for task in ("udpos", "xcopa"):
        print(f"{task}: {entries[task]['data_dir']}")


if __name__ == "__main__":
    main()
