"""`nmm-study`: study folders, the layout labs keep their data in (nmm/data/io/study.py; logic in
nmm.jobs.study). Read one with ``data=study data.path=DIR`` in any app.

    nmm-study init DIR                         # a commented template study in the new folder DIR
    nmm-study export DIR                       # the default synthetic cohort as a study in DIR
    nmm-study export DIR data=pyomeca          # any data option (conf/study.yaml), as overrides
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from nmm.config import compose_config
from nmm.jobs.config_check import check_config
from nmm.jobs.study import run_export, run_init

USAGE = "usage: nmm-study init DIR | nmm-study export DIR [override ...]"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if len(args) < 2 or args[0] not in ("init", "export") or (args[0] == "init" and len(args) > 2):
        print(USAGE, file=sys.stderr)
        return 2
    command, folder, overrides = args[0], args[1], args[2:]
    try:
        if command == "init":
            path = run_init(folder)
            print(
                f"template study written to {path}: add each subject's files, then check it "
                f"with nmm-check-data data=study data.path={path}"
            )
        else:
            cfg = compose_config("study", overrides)
            check_config(cfg, "study")
            path = run_export(cfg, folder)
            print(f"study written to {path}; read it with data=study data.path={path}")
    except (FileExistsError, ValueError) as exc:  # ConfigError is a ValueError
        print(f"nmm-study {command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
