#!/usr/bin/env python3
"""A highly available PostgreSQL on loopback, for tests.

One etcd, three Patroni-managed PostgreSQL nodes in strict synchronous mode,
and HAProxy routing to whichever node is the primary (Patroni's REST
`GET /primary` health check). Everything listens on 127.0.0.1 only, on free
ports chosen at `up`, and lives in one directory (DIR) given by the caller:
configs, data directories, logs and pid files.

    cluster.py up              --dir DIR [--owner-pid PID] [--timeout S]
    cluster.py status          --dir DIR
    cluster.py switchover      --dir DIR [--timeout S]
    cluster.py kill-postmaster --dir DIR [--node NAME]
    cluster.py kill-node       --dir DIR [--node NAME]
    cluster.py start-node      --dir DIR --node NAME [--timeout S]
    cluster.py wait-healthy    --dir DIR --timeout S
    cluster.py down            --dir DIR

Every command prints one JSON line on stdout and exits 0 on success; on
failure it prints a message (naming what did not come up, with the tail of
the relevant logs) on stderr and exits 1.

`up` leaves the daemons running after it exits: each is started in its own
session (so a signal to the caller's process group does not reach them), with
stdin/stdout/stderr away from the caller's pipes (so a caller that reads
`up`'s stdout to EOF is not kept waiting). With `--owner-pid PID`, a watchdog
process runs `down` as soon as PID is gone, so a test that dies leaves
nothing behind. `down` stops everything it finds (pid files first, then any
leftover process whose command line or working directory is inside DIR) and
leaves no process behind.

Privileges: as root, Patroni (and so initdb and postgres) runs as the
`postgres` user (`--pg-user`), etcd and HAProxy as root, and DIR is opened up
just enough (o+x) for postgres to reach its own node directories. As any
other user, everything runs as that user.

Standard library only (PyYAML is used for the Patroni configs when it is
importable; otherwise they are written as JSON, which is valid YAML).

Health: `wait-healthy` (and `up`, and `switchover` after the switch) waits
for two things and reports both times: `writable_seconds`, until a write
committed through HAProxy (an upsert into table ha_probe of database
postgres; in strict mode it commits only once a standby has it), and
`seconds`, until Patroni has also registered a synchronous standby of that
primary in etcd. The second matters for the next fault: after every change
of leader (switchover, failover, even a crashed primary restarted in place)
Patroni takes a few seconds to name a synchronous standby again, and until it
has, strict synchronous mode promotes nobody (no replica is known to hold
every commit), so a primary lost in that window leaves the cluster without a
leader until it comes back.

Timing choices (see DCS_TIMING and patroni_config):
- ttl 10 s: a primary whose Patroni is gone (kill-node) keeps the leader key
  for up to 10 s; then the synchronous standby takes over (writes resume
  ~10 s after the kill). Smaller TTLs fail over faster but risk spurious
  failovers on a loaded 2-core CI machine.
- loop_wait 1 s: Patroni notices a crashed postmaster within ~1 s and
  restarts it in place (primary_start_timeout keeps its default, 300 s: a
  crashed primary that can restart is restarted rather than failed over).
- retry_timeout 4 s: Patroni's rule is loop_wait + 2 * retry_timeout <= ttl.
- use_slots off: with slots, the remaining standby cannot stream from a
  just-promoted primary until Patroni has created its slot there (~2 s after
  the promotion), and strict mode holds every write until it streams
  (measured: writes resumed ~12.5 s after a kill-node with slots, ~10 s
  without). wal_keep_size keeps enough WAL for a test. The production
  example (deploy/ha) keeps slots on.
- wal_retrieve_retry_interval 500 ms (default 5 s): how soon a standby
  retries a failed connection to the primary, e.g. to one still promoting.
- HAProxy checks every 500 ms, down after 2 failures, up after 1 success, and
  closes the sessions of a server marked down (on-marked-down
  shutdown-sessions), so clients never stay attached to a demoted node.
"""

import argparse
import base64
import ctypes
import json
import os
import pwd
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

try:
    import yaml  # type: ignore
except ImportError:  # JSON is valid YAML, and Patroni reads it fine.
    yaml = None

SCOPE = "cognate-ha"
NODE_NAMES = ("node1", "node2", "node3")
SUPERUSER = "postgres"
REPLICATION_USER = "replicator"
APP_USER = "cognate"
APP_DB = "cognate"
REST_USER = "patroni"

DCS_TIMING = {"ttl": 10, "loop_wait": 1, "retry_timeout": 4}

STATE_FILE = "cluster.json"
LOG_TAIL_LINES = 40
# Executables that `down`'s last sweep may kill when their working
# directory is inside DIR (shells and the like are never touched).
SWEEPABLE = ("postgres", "pg_basebackup", "pg_rewind", "pg_ctl", "initdb",
             "psql", "etcd", "haproxy", "patroni")


class HarnessError(Exception):
    """A failure to report on stderr (exit 1)."""


# --------------------------------------------------------------------------
# Processes (/proc based: works for processes that are not our children,
# and treats zombies as dead).
# --------------------------------------------------------------------------

def proc_stat(pid):
    """(state, ppid, start time) of pid, or None if there is no such process.
    The start time (clock ticks since boot) tells a recycled pid apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses.
    fields = data[data.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[19])


def alive(pid):
    """True if pid runs (a zombie, or a pid 0/None, is not alive)."""
    if not pid:
        return False
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def proc_link(pid, name):
    """Target of /proc/pid/{cwd,exe}, without a ' (deleted)' suffix."""
    try:
        target = os.readlink(f"/proc/{pid}/{name}")
    except OSError:
        return ""
    return target[:-len(" (deleted)")] if target.endswith(" (deleted)") else target


def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def ancestors_of_self():
    """Our own pid and our ancestors': never signalled by `down`."""
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        st = proc_stat(pid)
        if st is None:
            break
        pid = st[1]
    return pids


def send(pid, sig):
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_gone(pids, timeout):
    """Wait until none of pids is alive; return those still alive."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in pids if alive(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.readline().strip())
    except (OSError, ValueError):
        return None


def verified_pid(path, marker):
    """The pid in path if it is alive and its command line mentions marker
    (guards against a recycled pid)."""
    pid = read_pid(path)
    for _ in range(40):
        if not alive(pid):
            return None
        args = cmdline(pid)
        if args:
            return pid if any(marker in a for a in args) else None
        # Empty for a moment right after fork/exec: look again.
        time.sleep(0.005)
    return None


def postmaster_pid(node):
    """The running postmaster of a node (first line of postmaster.pid)."""
    return verified_pid(os.path.join(node["data_dir"], "postmaster.pid"), node["data_dir"])


def postgres_processes(pm_pid, data_dir):
    """The postmaster and its children: child of the postmaster, or working
    directory in the data directory (every postgres process runs there, and
    keeps it after its postmaster is gone). Sessions do not help: each
    postgres child calls setsid()."""
    found = []
    for pid in all_pids():
        st = proc_stat(pid)
        if st is None or st[0] in ("Z", "X") or os.path.basename(proc_link(pid, "exe")) != "postgres":
            continue
        if pid == pm_pid or (pm_pid and st[1] == pm_pid) or proc_link(pid, "cwd") == data_dir:
            found.append(pid)
    return found


def spawn(argv, log_path, cwd, pid_path, run_as=None, env=None):
    """Start a daemon that outlives us: own session, no inherited pipes,
    output appended to log_path, pid written to pid_path."""
    kwargs = {}
    if run_as is not None:  # we are root: drop to the PostgreSQL user
        kwargs = {"user": run_as.pw_uid, "group": run_as.pw_gid,
                  "extra_groups": os.getgrouplist(run_as.pw_name, run_as.pw_gid)}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=cwd, env=env, start_new_session=True, close_fds=True, **kwargs)
    with open(pid_path, "w") as f:
        f.write(f"{proc.pid}\n")
    return proc.pid


def start_patroni(st, node):
    """Start a node's Patroni: as the PostgreSQL user when we are root
    (Patroni runs initdb and postgres, which refuse to run as root)."""
    run_as = pwd.getpwnam(st["run_user"]) if os.geteuid() == 0 else None
    env = clean_env(st, {"HOME": run_as.pw_dir, "USER": run_as.pw_name, "LOGNAME": run_as.pw_name}
                    if run_as else None)
    spawn([st["patroni"], node["config"]], node["patroni_log"], node["dir"], node["pid_file"],
          run_as=run_as, env=env)


# --------------------------------------------------------------------------
# Small helpers: ports, HTTP, psql, logs.
# --------------------------------------------------------------------------

def free_ports(count):
    """count distinct free TCP ports on 127.0.0.1, picked at random below the
    kernel's ephemeral range (32768+) so that outgoing connections made
    meanwhile (which take ephemeral ports) cannot grab them."""
    ports, rng = [], random.SystemRandom()
    for _ in range(2000):
        port = rng.randrange(20000, 32000)
        if port in ports:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise HarnessError("could not find free TCP ports on 127.0.0.1")


def http_json(method, url, body=None, auth=None, timeout=2.0):
    """(status, parsed JSON or text) of an HTTP request; (None, error) when
    the server cannot be reached."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    except (OSError, ValueError) as e:  # refused, reset, timeout
        return None, str(e)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def clean_env(st, extra=None):
    """Environment for the tools we run, without the caller's PG* (PGHOST,
    PGDATABASE... would redirect psql, initdb or pg_basebackup), PATRONI_*
    (they override Patroni's config file) and PYTHON* variables (Patroni
    runs on the system's /usr/bin/python3, not the caller's Python)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "PATRONI_", "PYTHON"))}
    env["PATH"] = f"{st['pg_bin']}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
    env.setdefault("LANG", "C.UTF-8")
    env["LC_ALL"] = "C.UTF-8"
    env.update(extra or {})
    return env


def psql(st, port, sql, user=SUPERUSER, db="postgres", timeout=5.0):
    """Run sql with psql over TCP; (ok, output). A timeout kills psql."""
    password = st["passwords"]["app" if user == APP_USER else "superuser"]
    conninfo = (f"host=127.0.0.1 port={port} user={user} dbname={db} "
                f"connect_timeout=2 application_name=cluster.py")
    argv = [os.path.join(st["pg_bin"], "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", conninfo]
    try:
        res = subprocess.run(argv, input=sql, capture_output=True, text=True, timeout=timeout,
                             env=clean_env(st, {"PGPASSWORD": password}))
    except subprocess.TimeoutExpired:
        return False, f"psql timed out after {timeout}s"
    return res.returncode == 0, (res.stdout if res.returncode == 0 else res.stderr).strip()


def tail(path, lines=LOG_TAIL_LINES):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"    (cannot read {path}: {e.strerror})"
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def log_tails(st, which):
    """The tails of the logs named in which ('etcd', 'haproxy', 'nodes')."""
    paths = []
    if "etcd" in which:
        paths.append(st["etcd"]["log"])
    if "nodes" in which:
        for n in st["nodes"]:
            paths += [n["patroni_log"], n["postgres_log"]]
    if "haproxy" in which:
        paths.append(st["haproxy"]["log"])
    return "\n".join(f"--- tail of {p} ---\n{tail(p)}" for p in paths)


def elapsed(t0):
    return round(time.monotonic() - t0, 2)


def emit(obj):
    print(json.dumps(obj), flush=True)


# --------------------------------------------------------------------------
# State (DIR/cluster.json, mode 0600: it holds the passwords).
# --------------------------------------------------------------------------

def state_path(d):
    return os.path.join(d, STATE_FILE)


def load_state(d):
    try:
        with open(state_path(d)) as f:
            return json.load(f)
    except FileNotFoundError:
        raise HarnessError(f"no cluster in {d} (missing {STATE_FILE}; run `up` first)")


def save_state(st):
    path = state_path(st["dir"])
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(st, f, indent=2)
    os.replace(path + ".tmp", path)


def node_by_name(st, name):
    for n in st["nodes"]:
        if n["name"] == name:
            return n
    raise HarnessError(f"no node named {name!r} (nodes: {', '.join(NODE_NAMES)})")


def find_pg_bin(explicit):
    if explicit:
        return explicit
    base = "/usr/lib/postgresql"
    versions = sorted((v for v in os.listdir(base) if v.isdigit()), key=int) if os.path.isdir(base) else []
    for v in reversed(versions):
        if os.path.exists(os.path.join(base, v, "bin", "postgres")):
            return os.path.join(base, v, "bin")
    found = shutil.which("postgres")
    if found:
        return os.path.dirname(found)
    raise HarnessError("PostgreSQL server binaries not found (install postgresql, or pass --pg-bin)")


def find_tool(name, explicit):
    path = explicit or shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if not path:
        raise HarnessError(f"{name} not found (apt-get install patroni etcd-server haproxy)")
    return path


# --------------------------------------------------------------------------
# Configs.
# --------------------------------------------------------------------------

def patroni_config(st, node):
    """One node's Patroni config (deploy/ha/patroni-node1.yml is the same
    shape for three hosts)."""
    pw = st["passwords"]
    return {
        "scope": SCOPE,
        "name": node["name"],
        "log": {"level": "INFO"},  # to stderr, i.e. patroni.log
        "restapi": {
            "listen": f"127.0.0.1:{node['rest_port']}",
            "connect_address": f"127.0.0.1:{node['rest_port']}",
            # Only unsafe methods (POST /switchover...) need it; GET is open.
            "authentication": {"username": REST_USER, "password": pw["rest"]},
        },
        # Patroni talks to etcd's v3 API (gRPC gateway) itself: no v2 needed.
        "etcd3": {"hosts": [f"127.0.0.1:{st['etcd']['client_port']}"], "protocol": "http"},
        "bootstrap": {
            # Written to etcd by the node that initializes the cluster; the
            # same for every node afterwards.
            "dcs": dict(DCS_TIMING, **{
                "maximum_lag_on_failover": 1048576,
                # A commit returns only when one standby has it too, and
                # without a standby writes wait rather than go async.
                "synchronous_mode": True,
                "synchronous_mode_strict": True,
                "postgresql": {
                    "use_pg_rewind": True,
                    # Off to fail over ~2.5 s faster (see the module's doc).
                    "use_slots": False,
                    "parameters": {
                        "wal_level": "replica",
                        "hot_standby": "on",
                        "wal_log_hints": "on",  # pg_rewind after a failover
                        "max_connections": 100,
                        "max_wal_senders": 10,
                        "max_replication_slots": 10,
                        "wal_keep_size": "128MB",
                        "shared_buffers": "32MB",
                        "password_encryption": "scram-sha-256",
                        # A standby whose walreceiver failed (e.g. the new
                        # primary is still promoting) retries after this,
                        # not the default 5 s: in strict mode, writes wait
                        # for that standby after a failover.
                        "wal_retrieve_retry_interval": "500ms",
                    },
                },
            }),
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"},
                       {"auth-host": "scram-sha-256"}, {"auth-local": "scram-sha-256"}],
        },
        "postgresql": {
            "listen": f"127.0.0.1:{node['pg_port']}",
            "connect_address": f"127.0.0.1:{node['pg_port']}",
            "data_dir": node["data_dir"],
            "bin_dir": st["pg_bin"],
            "pgpass": os.path.join(node["dir"], "pgpass"),
            "authentication": {
                "superuser": {"username": SUPERUSER, "password": pw["superuser"]},
                "replication": {"username": REPLICATION_USER, "password": pw["replication"]},
                # pg_rewind logs in as the superuser (no separate rewind role).
                "rewind": {"username": SUPERUSER, "password": pw["superuser"]},
            },
            # TCP only, password (SCRAM) only: no Unix socket at all, so
            # there is no socket path length or directory permission to get
            # wrong, and Patroni itself connects over 127.0.0.1.
            "pg_hba": [
                f"host replication {REPLICATION_USER} 127.0.0.1/32 scram-sha-256",
                "host all all 127.0.0.1/32 scram-sha-256",
            ],
            "parameters": {
                "unix_socket_directories": "",
                # Dynamic shared memory as files in the data directory, not
                # in /dev/shm: a SIGKILLed postmaster (kill-postmaster,
                # kill-node) cannot remove its segments, and these go away
                # with DIR.
                "dynamic_shared_memory_type": "mmap",
                "logging_collector": "on",
                "log_directory": os.path.dirname(node["postgres_log"]),
                "log_filename": os.path.basename(node["postgres_log"]),
                "log_line_prefix": "%m [%p] %q%u@%d ",
            },
            "basebackup": [{"checkpoint": "fast"}],
            # A test cluster never needs its diverged data: re-clone instead
            # of getting stuck.
            "remove_data_directory_on_rewind_failure": True,
            "remove_data_directory_on_diverged_timelines": True,
        },
        "watchdog": {"mode": "off"},
    }


def haproxy_config(st):
    servers = "\n".join(
        f"    server {n['name']} 127.0.0.1:{n['pg_port']} check port {n['rest_port']}" for n in st["nodes"])
    return f"""# Generated by cluster.py: route to the current Patroni primary.
global
    maxconn 500
    log stdout format raw local0 info

defaults
    mode tcp
    log global
    option tcplog
    option dontlognull
    retries 2
    timeout connect 2s
    timeout check 1s
    timeout client 30m
    timeout server 30m

listen stats
    mode http
    bind 127.0.0.1:{st['haproxy']['stats_port']}
    stats enable
    stats uri /
    stats refresh 2s

listen primary
    bind 127.0.0.1:{st['haproxy']['port']}
    # 200 only on the node that holds the leader lock and runs as primary.
    option httpchk GET /primary
    http-check expect status 200
    default-server inter 500ms fastinter 500ms downinter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
{servers}
"""


def dump_config(obj):
    if yaml is not None:
        return yaml.safe_dump(obj, default_flow_style=False, sort_keys=False)
    return json.dumps(obj, indent=2)


# --------------------------------------------------------------------------
# Cluster view and probes.
# --------------------------------------------------------------------------

def cluster_view(st):
    """Patroni's GET /cluster from the first node that answers:
    {'leader', 'leader_state', 'sync_standby': [...], 'members': [...]}, or
    None when no Patroni answers."""
    for n in st["nodes"]:
        status, body = http_json("GET", f"http://127.0.0.1:{n['rest_port']}/cluster", timeout=1.0)
        if status == 200 and isinstance(body, dict):
            members = body.get("members", [])
            leader = next((m for m in members if m.get("role") in ("leader", "master", "primary")), None)
            return {
                "leader": leader["name"] if leader else None,
                "leader_state": leader.get("state") if leader else None,
                "sync_standby": [m["name"] for m in members if m.get("role") == "sync_standby"],
                "members": members,
            }
    return None


PROBE_TABLE = "ha_probe"  # in database postgres, created by `up`


def probe_haproxy(st, write, timeout=4.0):
    """Connect through HAProxy as the superuser; (node name, None) if it
    reached a primary that (when write) commits a write, else (None, why).

    The write is an upsert of one row of ha_probe (database postgres, not
    the application's): in strict synchronous mode its commit returns only
    once a standby has it, and a standby refuses it. (A transaction that only
    takes an xid, e.g. `SELECT txid_current()`, would not do: PostgreSQL does
    not wait for the standby when the commit record is the only WAL written.)
    """
    if write:
        sql = (f"INSERT INTO {PROBE_TABLE} VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET at = excluded.at "
               "RETURNING inet_server_port(), pg_is_in_recovery();")
    else:
        sql = "SELECT inet_server_port(), pg_is_in_recovery();"
    ok, out = psql(st, st["haproxy"]["port"], sql, timeout=timeout)
    if not ok:
        return None, out
    fields = out.split("|")
    if fields[1] != "f":
        return None, f"HAProxy routed to a standby (port {fields[0]})"
    port = int(fields[0])
    node = next((n["name"] for n in st["nodes"] if n["pg_port"] == port), f"port {port}")
    return node, None


def wait_for(what, check, timeout, st, logs, interval=0.2):
    """Poll check() -> (done, detail) until done; raise HarnessError naming
    what after timeout seconds, with the last detail and the log tails."""
    deadline = time.monotonic() + timeout
    detail = None
    while True:
        done, detail = check()
        if done:
            return detail
        if time.monotonic() >= deadline:
            raise HarnessError(f"timed out after {timeout}s waiting for {what}; last seen: {detail}\n"
                               + log_tails(st, logs))
        time.sleep(interval)


def members_summary(view):
    if view is None:
        return "no Patroni REST API answers"
    return ", ".join(f"{m['name']}={m.get('role')}/{m.get('state')}" for m in view["members"]) or "no members"


def wait_routed_writable(st, timeout, expect_node=None):
    """Wait until HAProxy reaches a writable primary (expect_node if given)."""
    def check():
        node, err = probe_haproxy(st, write=True)
        if node and (expect_node is None or node == expect_node):
            return True, node
        return False, err or f"HAProxy routes to {node}, not yet to {expect_node}"
    return wait_for("HAProxy to route to a writable primary" + (f" ({expect_node})" if expect_node else ""),
                    check, timeout, st, ("nodes", "haproxy"))


def wait_sync_standby(st, timeout, leader):
    """Wait until Patroni has registered a synchronous standby of leader in
    etcd; returns the cluster view.

    This matters: after any change of leader (switchover, failover, even a
    crashed primary restarted in place) Patroni takes a few seconds to name
    a synchronous standby again, and until it has, strict synchronous mode
    lets no replica be promoted (none is known to hold every commit): a
    primary lost in that window leaves the cluster without a leader until it
    comes back. A fault injected before this returns is not a fair test."""
    def check():
        view = cluster_view(st)
        ok = bool(view and view["leader"] == leader and view["sync_standby"])
        return ok, (view if ok else members_summary(view))
    return wait_for(f"{leader} to have a synchronous standby registered in etcd", check, timeout, st, ("nodes",))


def wait_healthy(st, timeout, expect_node=None):
    """A writable primary through HAProxy, then a synchronous standby.
    Returns (primary, seconds to writable, seconds to healthy, view)."""
    t0 = time.monotonic()
    routed = wait_routed_writable(st, timeout, expect_node)
    writable = elapsed(t0)
    view = wait_sync_standby(st, max(1.0, timeout - writable), routed)
    return routed, writable, elapsed(t0), view


# --------------------------------------------------------------------------
# Commands.
# --------------------------------------------------------------------------

def cmd_up(args):
    t0 = time.monotonic()
    os.makedirs(args.dir, exist_ok=True)
    d = os.path.realpath(args.dir)  # /proc cwd links are resolved paths
    if os.path.exists(state_path(d)):
        raise HarnessError(f"{d} already holds a cluster ({STATE_FILE}); run `down` and use a fresh directory")

    run_as = None
    if os.geteuid() == 0:
        try:
            run_as = pwd.getpwnam(args.pg_user)
        except KeyError:
            raise HarnessError(f"user {args.pg_user!r} does not exist (it comes with the postgresql package)")
        # postgres must be able to walk down to its node directories.
        os.chmod(d, os.stat(d).st_mode | 0o711)
        parent = os.path.dirname(d)
        while parent != "/":
            if not os.stat(parent).st_mode & 0o001:
                raise HarnessError(f"{parent} is not searchable by others, so user {args.pg_user} cannot reach "
                                   f"{d}: use a directory under /tmp")
            parent = os.path.dirname(parent)

    if args.owner_pid and not alive(args.owner_pid):
        raise HarnessError(f"--owner-pid {args.owner_pid} is not a running process")

    ports = free_ports(2 + 2 * len(NODE_NAMES) + 2)
    st = {
        "dir": d,
        "run_user": run_as.pw_name if run_as else pwd.getpwuid(os.geteuid()).pw_name,
        "pg_bin": find_pg_bin(args.pg_bin),
        "patroni": find_tool("patroni", args.patroni),
        "passwords": {k: secrets.token_hex(16) for k in ("superuser", "replication", "app", "rest")},
        "etcd": {"client_port": ports[0], "peer_port": ports[1], "data_dir": os.path.join(d, "etcd"),
                 "log": os.path.join(d, "etcd.log"), "pid_file": os.path.join(d, "etcd.pid")},
        "haproxy": {"port": ports[2], "stats_port": ports[3], "config": os.path.join(d, "haproxy.cfg"),
                    "log": os.path.join(d, "haproxy.log"), "pid_file": os.path.join(d, "haproxy.pid")},
        "watchdog_pid_file": os.path.join(d, "watchdog.pid"),
        "nodes": [],
    }
    etcd_bin, haproxy_bin = find_tool("etcd", args.etcd), find_tool("haproxy", args.haproxy)
    for i, name in enumerate(NODE_NAMES):
        nd = os.path.join(d, name)
        st["nodes"].append({
            "name": name, "dir": nd, "data_dir": os.path.join(nd, "data"),
            "pg_port": ports[4 + 2 * i], "rest_port": ports[5 + 2 * i],
            "config": os.path.join(nd, "patroni.yml"),
            "patroni_log": os.path.join(nd, "patroni.log"),
            "postgres_log": os.path.join(nd, "pglog", "postgresql.log"),
            "pid_file": os.path.join(nd, "patroni.pid"),
        })
    save_state(st)

    # A signal to `up` itself (e.g. the test runner's timeout) tears down
    # what was started so far.
    def on_signal(signum, _frame):
        raise HarnessError(f"interrupted by signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def remaining():
        return max(5.0, args.timeout - (time.monotonic() - t0))

    try:
        if args.owner_pid:
            owner_start = proc_stat(args.owner_pid)[2]
            spawn([sys.executable, os.path.abspath(__file__), "_watchdog", "--dir", d,
                   "--owner-pid", str(args.owner_pid), "--owner-start", str(owner_start)],
                  os.path.join(d, "watchdog.log"), d, st["watchdog_pid_file"])

        # 1. etcd: a one-member cluster on loopback.
        e = st["etcd"]
        os.makedirs(e["data_dir"], mode=0o700, exist_ok=True)
        client, peer = f"http://127.0.0.1:{e['client_port']}", f"http://127.0.0.1:{e['peer_port']}"
        spawn([etcd_bin, "--name", "etcd0", "--data-dir", os.path.join(e["data_dir"], "data"),
               "--listen-client-urls", client, "--advertise-client-urls", client,
               "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
               "--initial-cluster", f"etcd0={peer}", "--initial-cluster-state", "new",
               "--initial-cluster-token", f"{SCOPE}-{e['client_port']}",
               "--logger", "zap", "--log-outputs", "stderr"],
              e["log"], e["data_dir"], e["pid_file"], env=clean_env(st))

        def etcd_healthy():
            if not verified_pid(e["pid_file"], d):
                raise HarnessError("etcd exited during startup\n" + log_tails(st, ("etcd",)))
            status, body = http_json("GET", f"{client}/health", timeout=1.0)
            return status == 200 and isinstance(body, dict) and body.get("health") == "true", body
        wait_for(f"etcd to be healthy on {client}", etcd_healthy, 30, st, ("etcd",))

        # 2. Three Patroni nodes, started together: one initializes the
        #    cluster (initdb), the other two clone it (pg_basebackup).
        for n in st["nodes"]:
            os.makedirs(n["dir"], mode=0o700, exist_ok=True)
            with open(n["config"], "w") as f:
                f.write(f"# Generated by cluster.py for {n['name']}.\n" + dump_config(patroni_config(st, n)))
            os.chmod(n["config"], 0o600)
            if run_as:
                os.chown(n["dir"], run_as.pw_uid, run_as.pw_gid)
                os.chown(n["config"], run_as.pw_uid, run_as.pw_gid)
            start_patroni(st, n)

        # 3. HAProxy, in the foreground (no `daemon`) so its pid is ours.
        h = st["haproxy"]
        with open(h["config"], "w") as f:
            f.write(haproxy_config(st))
        spawn([haproxy_bin, "-f", h["config"]], h["log"], d, h["pid_file"], env=clean_env(st))
        time.sleep(0.3)
        if not verified_pid(h["pid_file"], d):
            raise HarnessError("HAProxy exited at startup\n" + log_tails(st, ("haproxy",)))

        # 4. A leader, a synchronous standby, and the third node replicating.
        def cluster_ready():
            for n in st["nodes"]:
                if not verified_pid(n["pid_file"], n["config"]):
                    raise HarnessError(f"Patroni on {n['name']} exited during startup\n"
                                       + log_tails(st, ("nodes",)))
            view = cluster_view(st)
            ready = (view is not None and view["leader"] and view["leader_state"] == "running"
                     and view["sync_standby"] and len(view["members"]) == len(NODE_NAMES)
                     and all(m.get("state") in ("running", "streaming") for m in view["members"]))
            return bool(ready), members_summary(view)
        wait_for("a Patroni leader, a synchronous standby and 3 running members", cluster_ready,
                 remaining(), st, ("nodes",), interval=0.5)

        # 5. The application's role and database (on the leader directly).
        view = cluster_view(st)
        leader = node_by_name(st, view["leader"])
        setup_sql = (
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_USER}') THEN "
            f"CREATE ROLE {APP_USER} LOGIN PASSWORD '{st['passwords']['app']}'; END IF; END $$;\n"
            f"SELECT 'CREATE DATABASE {APP_DB} OWNER {APP_USER}' "
            f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{APP_DB}')\\gexec\n"
            f"CREATE TABLE IF NOT EXISTS {PROBE_TABLE} (id int PRIMARY KEY, at timestamptz NOT NULL);\n")
        wait_for(f"role {APP_USER} and database {APP_DB} to be created on {leader['name']}",
                 lambda: psql(st, leader["pg_port"], setup_sql, timeout=15), 30, st, ("nodes",), interval=1)

        # 6. HAProxy reaches a writable primary, and the application's URL works.
        routed, _, _, view = wait_healthy(st, remaining())
        ok, out = psql(st, st["haproxy"]["port"], "SELECT current_user;", user=APP_USER, db=APP_DB)
        if not ok:
            raise HarnessError(f"cannot log in through HAProxy as {APP_USER} to {APP_DB}: {out}")
    except BaseException:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the cleanup finish
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        down(d, quiet=True)
        raise

    pw = st["passwords"]
    hp = st["haproxy"]["port"]
    emit({
        "url": f"postgres://{APP_USER}:{pw['app']}@127.0.0.1:{hp}/{APP_DB}",
        "multi_host_url": f"postgres://{APP_USER}:{pw['app']}@"
                          + ",".join(f"127.0.0.1:{n['pg_port']}" for n in st["nodes"])
                          + f"/{APP_DB}?target_session_attrs=read-write",
        "superuser_url": f"postgres://{SUPERUSER}:{pw['superuser']}@127.0.0.1:{hp}/postgres",
        "haproxy_port": hp,
        "haproxy_stats_url": f"http://127.0.0.1:{st['haproxy']['stats_port']}/",
        "etcd": {"url": f"http://127.0.0.1:{st['etcd']['client_port']}",
                 "peer_port": st["etcd"]["peer_port"], "pid": read_pid(st["etcd"]["pid_file"])},
        "nodes": [{"name": n["name"], "pg_port": n["pg_port"], "rest_port": n["rest_port"],
                   "data_dir": n["data_dir"], "patroni_pid": read_pid(n["pid_file"]),
                   "config": n["config"]} for n in st["nodes"]],
        "leader": routed,
        "sync_standby": view["sync_standby"],
        "watchdog_pid": read_pid(st["watchdog_pid_file"]),
        "dir": d,
        "seconds": elapsed(t0),
    })


def cmd_status(args):
    st = load_state(os.path.realpath(args.dir))
    view = cluster_view(st)
    routed, err = probe_haproxy(st, write=False, timeout=3)
    by_name = {m["name"]: m for m in (view["members"] if view else [])}
    members = []
    for n in st["nodes"]:
        m = by_name.get(n["name"], {})
        members.append({
            "name": n["name"], "role": m.get("role"), "state": m.get("state"), "lag": m.get("lag"),
            "timeline": m.get("timeline"), "pg_port": n["pg_port"], "rest_port": n["rest_port"],
            "patroni_pid": verified_pid(n["pid_file"], n["config"]), "postmaster_pid": postmaster_pid(n),
        })
    emit({
        "leader": view["leader"] if view else None,
        "sync_standby": view["sync_standby"] if view else [],
        "members": members,
        "haproxy": {"routes_to": routed, "error": err},
        "etcd_pid": verified_pid(st["etcd"]["pid_file"], st["dir"]),
        "haproxy_pid": verified_pid(st["haproxy"]["pid_file"], st["dir"]),
    })


def current_leader(st):
    view = cluster_view(st)
    if view is None or not view["leader"]:
        raise HarnessError(f"no current leader ({members_summary(view)})\n" + log_tails(st, ("nodes",)))
    return view, node_by_name(st, view["leader"])


def cmd_switchover(args):
    st = load_state(os.path.realpath(args.dir))
    t0 = time.monotonic()

    # Right after a failover the new primary may not have chosen its
    # synchronous standby yet (strict mode then accepts any standby, '*'):
    # wait for one, since only a synchronous standby may take over.
    def has_sync():
        view = cluster_view(st)
        ok = bool(view and view["leader"] and view["leader_state"] == "running" and view["sync_standby"])
        return ok, (view if ok else members_summary(view))
    view = wait_for("a leader with a synchronous standby", has_sync, args.timeout, st, ("nodes",))
    leader, candidate = node_by_name(st, view["leader"]), view["sync_standby"][0]
    t1 = time.monotonic()
    # Patroni answers once the new leader holds the lock (or after ~10 s).
    status, body = http_json("POST", f"http://127.0.0.1:{leader['rest_port']}/switchover",
                             {"leader": leader["name"], "candidate": candidate},
                             auth=(REST_USER, st["passwords"]["rest"]), timeout=30)
    if status != 200:
        raise HarnessError(f"POST /switchover to {leader['name']} failed: {status} {body}\n"
                           + log_tails(st, ("nodes",)))
    api_seconds = elapsed(t1)
    _, writable, healthy, view = wait_healthy(st, args.timeout, expect_node=candidate)
    # From the switchover request: writable_seconds to a write committed
    # through HAProxy on the new leader, seconds until it also has a
    # synchronous standby again (ready for the next fault).
    emit({"old_leader": leader["name"], "new_leader": candidate, "api_seconds": api_seconds,
          "writable_seconds": round(api_seconds + writable, 2), "seconds": round(api_seconds + healthy, 2),
          "sync_standby": view["sync_standby"], "waited_for_sync_seconds": round(t1 - t0, 2),
          "patroni": body})


def target_node(st, name):
    """The node named by --node, or else the current leader."""
    return node_by_name(st, name) if name else current_leader(st)[1]


def cmd_kill_postmaster(args):
    st = load_state(os.path.realpath(args.dir))
    node = target_node(st, args.node)
    pid = postmaster_pid(node)
    if not pid:
        raise HarnessError(f"{node['name']} has no running postmaster")
    send(pid, signal.SIGKILL)
    emit({"node": node["name"], "postmaster_pid": pid, "signal": "SIGKILL"})


def cmd_kill_node(args):
    st = load_state(os.path.realpath(args.dir))
    node = target_node(st, args.node)
    patroni_pid = verified_pid(node["pid_file"], node["config"])
    pm = postmaster_pid(node)
    pg_pids = postgres_processes(pm, node["data_dir"])
    # Patroni first, so that it cannot react (restart postgres, release the
    # leader key): the node vanishes as on a power loss, except that on
    # loopback its peers see their connections reset at once rather than
    # time out. Its leader key stays in etcd until the TTL runs out.
    if patroni_pid:
        send(patroni_pid, signal.SIGKILL)
    for pid in pg_pids:
        send(pid, signal.SIGKILL)
    emit({"node": node["name"], "patroni_pid": patroni_pid, "postmaster_pid": pm,
          "postgres_pids": pg_pids, "signal": "SIGKILL"})


def cmd_start_node(args):
    """Start a node's Patroni again (after kill-node); it rejoins as a replica."""
    st = load_state(os.path.realpath(args.dir))
    n = node_by_name(st, args.node)
    if verified_pid(n["pid_file"], n["config"]):
        raise HarnessError(f"Patroni on {n['name']} is already running")
    t0 = time.monotonic()
    start_patroni(st, n)

    def rejoined():
        view = cluster_view(st)
        m = next((m for m in (view or {}).get("members", []) if m["name"] == n["name"]), None)
        return bool(m and m.get("role") != "leader" and m.get("state") in ("running", "streaming")), \
            members_summary(view)
    wait_for(f"{n['name']} to rejoin as a running replica", rejoined, args.timeout, st, ("nodes",), 0.5)
    emit({"node": n["name"], "patroni_pid": read_pid(n["pid_file"]), "seconds": elapsed(t0)})


def cmd_wait_healthy(args):
    st = load_state(os.path.realpath(args.dir))
    routed, writable, healthy, view = wait_healthy(st, args.timeout)
    # writable_seconds: until a write committed through HAProxy; seconds:
    # until the primary also has a synchronous standby registered.
    emit({"healthy": True, "writable_seconds": writable, "seconds": healthy, "routed_to": routed,
          "leader": view["leader"], "sync_standby": view["sync_standby"]})


def our_processes(d, run_uid):
    """Every process that belongs to the cluster in d: its command line names
    a path inside d (patroni, etcd, haproxy, the postmasters, the watchdog),
    or it is a known tool whose working directory is inside d (postgres
    backends, pg_basebackup...). Never ourselves or our ancestors."""
    spare = ancestors_of_self()
    prefix = d.rstrip("/") + "/"
    found = []
    for pid in all_pids():
        if pid in spare or not alive(pid):
            continue
        try:
            if run_uid is not None and os.stat(f"/proc/{pid}").st_uid not in (run_uid, os.geteuid()):
                continue
        except OSError:
            continue
        args = cmdline(pid)
        if any(a.startswith(prefix) or a == d or ("=" + prefix) in a for a in args):
            found.append(pid)
            continue
        cwd = proc_link(pid, "cwd")
        exe = os.path.basename(proc_link(pid, "exe"))
        name = os.path.basename(args[1]) if exe.startswith("python") and len(args) > 1 else exe
        if (cwd == d or cwd.startswith(prefix)) and name in SWEEPABLE:
            found.append(pid)
    return found


def remove_stale_sysv_segment(data_dir):
    """Remove the small System V shared memory segment of a postmaster that
    was SIGKILLed and never restarted (a restarted one removes it itself).
    postmaster.pid's line 7 names it ("key shmid"); it is removed only if
    no process is attached and it belongs to the data directory's owner."""
    try:
        with open(os.path.join(data_dir, "postmaster.pid")) as f:
            key, shmid = (int(x) for x in f.read().splitlines()[6].split())
        owner = os.stat(data_dir).st_uid
        with open("/proc/sysvipc/shm") as f:
            rows = [line.split() for line in f.readlines()[1:]]
    except (OSError, IndexError, ValueError):
        return
    for row in rows:
        # key shmid perms size cpid lpid nattch uid ...
        if int(row[0]) == key and int(row[1]) == shmid and int(row[6]) == 0 and int(row[7]) == owner:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.shmctl(shmid, 0, None)  # IPC_RMID


def down(d, quiet=False):
    """Stop everything of the cluster in d, even half-started or half-dead;
    return (seconds, leftover pids). Budget: well under 20 s."""
    t0 = time.monotonic()
    d = os.path.realpath(d)
    try:
        st = load_state(d)
    except (HarnessError, ValueError):
        st = None
    run_uid = None
    if st and os.geteuid() == 0:
        try:
            run_uid = pwd.getpwnam(st["run_user"]).pw_uid
        except KeyError:
            pass
    me = os.getpid()

    def pid_of(path):
        pid = verified_pid(path, d) if path else None
        return pid if pid != me else None

    nodes = st["nodes"] if st else []
    # 1. The watchdog (unless we are it), and Patroni, hard: it must not
    #    restart postgres behind our back. Its state in etcd goes with etcd.
    watchdog = pid_of(st["watchdog_pid_file"]) if st else None
    patronis = [p for p in (pid_of(n["pid_file"]) for n in nodes) if p]
    patronis += [p for p in our_processes(d, run_uid)
                 if any(os.path.basename(a) == "patroni" for a in cmdline(p)[:2]) and p not in patronis]
    for pid in ([watchdog] if watchdog else []) + patronis:
        send(pid, signal.SIGKILL)
    wait_gone(patronis, 2)

    # 2. HAProxy and etcd: a polite TERM now, KILL later if needed.
    others = [p for p in (pid_of(st["haproxy"]["pid_file"]), pid_of(st["etcd"]["pid_file"])) if p] if st else []
    for pid in others:
        send(pid, signal.SIGTERM)

    # 3. PostgreSQL: fast shutdown (SIGINT) so that it removes its shared
    #    memory; immediate (SIGQUIT) if slow; SIGKILL as the last resort.
    postmasters = [p for p in (postmaster_pid(n) for n in nodes) if p]
    postmasters += [p for p in our_processes(d, run_uid)
                    if os.path.basename(proc_link(p, "exe")) == "postgres" and "-D" in cmdline(p)
                    and p not in postmasters]
    for pid in postmasters:
        send(pid, signal.SIGINT)
    left = wait_gone(postmasters, 8)
    for pid in left:
        send(pid, signal.SIGQUIT)
    left = wait_gone(left, 3)
    for pid in left:
        send(pid, signal.SIGKILL)

    # 4. Whatever is left (HAProxy/etcd that ignored TERM, postgres children
    #    of a killed postmaster, an orphaned pg_basebackup...): SIGKILL.
    for pid in wait_gone(others, 2):
        send(pid, signal.SIGKILL)
    leftover = []
    for _ in range(3):
        leftover = our_processes(d, run_uid)
        if not leftover:
            break
        for pid in leftover:
            send(pid, signal.SIGKILL)
        leftover = wait_gone(leftover, 2)
    for n in nodes:
        remove_stale_sysv_segment(n["data_dir"])
    if st:
        for path in [st["watchdog_pid_file"], st["haproxy"]["pid_file"], st["etcd"]["pid_file"]] + \
                [n["pid_file"] for n in nodes]:
            if os.path.exists(path):
                os.unlink(path)
    if not quiet and leftover:
        sys.stderr.write(f"cluster.py: processes still alive after down: {leftover}\n")
    return elapsed(t0), leftover


def cmd_down(args):
    seconds, leftover = down(args.dir)
    emit({"stopped": not leftover, "seconds": seconds, "leftover": leftover})
    if leftover:
        sys.exit(1)


def cmd_watchdog(args):
    """Hidden: run `down` when the owner process is gone (or recycled)."""
    while True:
        st = proc_stat(args.owner_pid)
        if st is None or st[0] in ("Z", "X") or st[2] != args.owner_start:
            print(f"{time.strftime('%F %T')} owner {args.owner_pid} is gone: tearing down", flush=True)
            seconds, leftover = down(args.dir)
            print(f"{time.strftime('%F %T')} down took {seconds}s, leftover {leftover}", flush=True)
            return
        time.sleep(0.5)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    def add(name, func, help_text, timeout=None):
        c = sub.add_parser(name, help=help_text)
        c.add_argument("--dir", required=True, help="the cluster's directory")
        if timeout is not None:
            c.add_argument("--timeout", type=float, default=timeout, help="seconds to wait before failing")
        c.set_defaults(func=func)
        return c

    up = add("up", cmd_up, "start etcd, 3 Patroni nodes and HAProxy; print URLs as JSON", 180)
    up.add_argument("--owner-pid", type=int, default=0,
                    help="tear everything down when this process exits (a watchdog checks every 0.5 s)")
    up.add_argument("--pg-user", default="postgres", help="user PostgreSQL runs as when we are root")
    up.add_argument("--pg-bin", help="PostgreSQL bin directory (default: newest /usr/lib/postgresql/N/bin)")
    up.add_argument("--patroni", help="patroni executable")
    up.add_argument("--etcd", help="etcd executable")
    up.add_argument("--haproxy", help="haproxy executable")
    add("status", cmd_status, "print the cluster state as JSON")
    add("switchover", cmd_switchover, "planned switchover to the synchronous standby", 60)
    kp = add("kill-postmaster", cmd_kill_postmaster, "SIGKILL the primary's postmaster; return at once")
    kn = add("kill-node", cmd_kill_node, "SIGKILL the primary's Patroni and postgres; return at once")
    for c in (kp, kn):
        c.add_argument("--node", help="this node (node1, node2, node3) instead of the primary")
    sn = add("start-node", cmd_start_node, "start a killed node's Patroni again", 90)
    sn.add_argument("--node", required=True, help="node name (node1, node2, node3)")
    wh = sub.add_parser("wait-healthy", help="wait until HAProxy reaches a writable primary with a sync standby")
    wh.add_argument("--dir", required=True)
    wh.add_argument("--timeout", type=float, required=True)
    wh.set_defaults(func=cmd_wait_healthy)
    add("down", cmd_down, "stop everything; leave no process behind")
    wd = sub.add_parser("_watchdog")  # internal, started by `up --owner-pid`
    wd.add_argument("--dir", required=True)
    wd.add_argument("--owner-pid", type=int, required=True)
    wd.add_argument("--owner-start", type=int, required=True)
    wd.set_defaults(func=cmd_watchdog)

    args = p.parse_args(argv)
    try:
        args.func(args)
    except HarnessError as e:
        sys.stderr.write(f"cluster.py {args.command}: error: {e}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
