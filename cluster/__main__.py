"""python -m cluster [--replicas N] [--port P] [--address A] [--folder F]

DropMap as several replicas on one shared store behind a load balancer, on this machine (`make cluster`):

  PostgreSQL  Debian's `postgresql`, its data and Unix socket in FOLDER/pg/ (initialised on first use, as
              the `postgres` user when run as root), holding the catalog of the shared store
              (DROPMAP_STORE=ducklake:postgres:...; its data files in FOLDER/lake/). On first use the demo
              city is built into it, as `make run` builds it into the file.
  replicas    `streamlit run app.py` on 127.0.0.1, ports P+1 ... P+N (or from --replica-port on), one site
              secret for all (DROPMAP_SECRET, else data/secret.key), DROPMAP_TRUSTED_PROXIES one more than
              the environment's; the outage detector runs in the first --detector-replicas of them. Logs in
              FOLDER/logs/.
  nginx       Debian's `nginx` on port P: sticky by client address (a Streamlit session and its websocket
              stay on one replica), reports posted to the API to the first replica while it answers (the
              others stand by; --spread-writes: by client address too), X-Forwarded-For passed on, the
              static status files (DROPMAP_STATUS_DIR) served from disk at /status/ with cache headers.
              Configuration written from cluster/nginx/ into FOLDER/nginx/.

A replica that exits is started again. Ctrl-C or SIGTERM stops nginx, the replicas, then PostgreSQL; a
second Ctrl-C kills them all at once. With DROPMAP_STORE already set, no PostgreSQL is started and that
store is used as it is. FOLDER/cluster.json names the running processes. --write-nginx only writes the
balancer's configuration, for the Procfile (production). docs/SCALING.md says more.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cluster.supervisor import Cluster, Options, write_nginx_only


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cluster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = Options()
    parser.add_argument("--replicas", type=int, default=defaults.replicas, help="how many replicas (default 3)")
    parser.add_argument("--port", type=int, default=defaults.port,
                        help="the balancer's port; the replicas take the ports after it (default 8501)")
    parser.add_argument("--replica-port", type=int,
                        help="the first replica's port, the others after it (default: the one after --port)")
    parser.add_argument("--address", default=defaults.address,
                        help="the address the balancer listens on (default: every address)")
    parser.add_argument("--folder", type=Path, default=defaults.folder,
                        help="PostgreSQL's data, the store's files, nginx's configuration, the logs "
                             "(default .cache/cluster)")
    parser.add_argument("--detector-replicas", type=int, default=defaults.detector_replicas,
                        help="how many replicas run the outage detector (default 1; 0: none)")
    parser.add_argument("--spread-writes", dest="one_writer", action="store_false",
                        help="send reports posted to the API to the replicas by client address, as every other "
                             "request, instead of to the first replica while it answers (docs/SCALING.md)")
    parser.add_argument("--no-demo", dest="build_demo", action="store_false",
                        help="start a new store empty instead of building the demo city into it")
    parser.add_argument("--demo", default="", metavar="ARGS",
                        help="more arguments of `python -m ingest demo` for a new store, e.g. '--reports 30000'")
    parser.add_argument("--write-nginx", action="store_true",
                        help="only write and check the balancer's configuration into FOLDER/nginx/ for replicas run "
                             "by something else (the Procfile), print the command that starts nginx, and exit")
    parser.add_argument("--ready-seconds", type=float, default=defaults.ready_seconds,
                        help="how long a replica may take to answer after it starts (default 600)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    first = args.replica_port or args.port + 1
    if args.replicas < 1 or not 0 < args.port < 65536 or not 0 < first <= 65536 - args.replicas:
        _parser().error("--replicas must be at least 1, and --port and the replicas' ports valid")
    options = Options(replicas=args.replicas, port=args.port, replica_port=args.replica_port, address=args.address,
                      folder=args.folder, detector_replicas=args.detector_replicas, demo=args.demo.split(),
                      build_demo=args.build_demo, ready_seconds=args.ready_seconds, one_writer=args.one_writer)
    return write_nginx_only(options) if args.write_nginx else Cluster(options).run()


if __name__ == "__main__":
    sys.exit(main())
