"""Shared helpers for the pycolonies compatibility suite.

Everything here talks to petri only through the unmodified pycolonies SDK
(`pycolonies`, `crypto`, `model` modules of pycolonies 1.0.25).
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from crypto import Crypto
from pycolonies import Colonies, ColoniesConnectionError

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
EXAMPLES = HERE / "examples"

# Values of the ColonyOS development environment (colonies-protocol.md, section 7).
DEV_COLONY_NAME = "dev"
DEV_COLONY_ID = "4787a5071856a4acf702b2ffcea422e3237a679c681314113d86139461290cf4"
DEV_COLONY_PRVKEY = "ba949fa134981372d6da62b6a56f336ab4d843b22c02a4257dcf7d0d73097514"
DEV_SERVER_ID = "039231c7644e04b6895471dd5335cf332681c54e27f81fac54f9067b3f2c0103"
DEV_SERVER_PRVKEY = "fcc79953d8a751bf41db661592dc34d30004b1a651ffa0725b03ac227641499d"
DEV_ID = "3fc05cf3df4b494e95d6a3d297a34f19938f7daa7422ab0d4f794454133341ac"
DEV_PRVKEY = "ddf7f7791208083b6a9ed975a72684f6406a269cfa36f1b1c32045c0a71fff05"
DEV_EXECUTOR_NAME = "dev-executor"
DEV_EXECUTOR_TYPE = "cli"
DEV_USER_NAME = "myuser"

WAITING, RUNNING, SUCCESSFUL, FAILED = 0, 1, 2, 3


def dev_env(port: int) -> dict[str, str]:
    """The environment a developer gets from `petri dev` on the given port."""
    return {
        "COLONIES_SERVER_HOST": "localhost",
        "COLONIES_SERVER_PORT": str(port),
        "COLONIES_SERVER_TLS": "false",
        "COLONIES_TLS": "false",
        "COLONIES_COLONY_NAME": DEV_COLONY_NAME,
        "COLONIES_COLONY_ID": DEV_COLONY_ID,
        "COLONIES_COLONY_PRVKEY": DEV_COLONY_PRVKEY,
        "COLONIES_SERVER_ID": DEV_SERVER_ID,
        "COLONIES_SERVER_PRVKEY": DEV_SERVER_PRVKEY,
        "COLONIES_ID": DEV_ID,
        "COLONIES_PRVKEY": DEV_PRVKEY,
        "COLONIES_EXECUTOR_NAME": DEV_EXECUTOR_NAME,
        "COLONIES_EXECUTOR_TYPE": DEV_EXECUTOR_TYPE,
    }


_EXPORT_RE = re.compile(r"^\s*export\s+([A-Za-z_][A-Za-z0-9_]*)=(.*?)\s*$")


def parse_exports(text: str) -> dict[str, str]:
    """Parse `export NAME=VALUE` lines (values optionally quoted)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _EXPORT_RE.match(line)
        if not m:
            continue
        value = m.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[m.group(1)] = value
    return out


def rand_suffix() -> str:
    return secrets.token_hex(4)


@dataclass
class FreshColony:
    """A colony created for one test, with one approved member executor."""

    name: str
    colonyid: str
    prvkey: str  # colony owner key
    executorname: str
    executorid: str
    executor_prvkey: str  # approved executor of type `executortype`
    executortype: str

    def example_env(self, base: dict[str, str]) -> dict[str, str]:
        """Environment for an example script that should run in this colony."""
        env = dict(base)
        env.update(
            {
                "COLONIES_COLONY_NAME": self.name,
                "COLONIES_COLONY_ID": self.colonyid,
                "COLONIES_COLONY_PRVKEY": self.prvkey,
                "COLONIES_ID": self.executorid,
                "COLONIES_PRVKEY": self.executor_prvkey,
                "COLONIES_EXECUTOR_NAME": self.executorname,
                "COLONIES_EXECUTOR_TYPE": self.executortype,
            }
        )
        return env


def production_server_key() -> tuple[str, str]:
    """A fresh server owner key and its id: `petri server start` refuses the published dev keys."""
    crypto = Crypto()
    prvkey = crypto.prvkey()
    return prvkey, crypto.id(prvkey)


def with_server_key(colonies: Colonies, prvkey: str) -> Colonies:
    """Remembers the server owner key of a broker that does not use the dev key (see `server_key`)."""
    colonies.petri_server_prvkey = prvkey
    return colonies


def server_key(colonies: Colonies) -> str:
    """The server owner key of the broker `colonies` talks to: the dev key unless set with `with_server_key`."""
    return getattr(colonies, "petri_server_prvkey", DEV_SERVER_PRVKEY)


def create_colony(colonies: Colonies, prefix: str = "pytest", executortype: str = "cli",
                  name: str | None = None) -> FreshColony:
    """Create a colony with the server key and add + approve one member executor."""
    crypto = Crypto()
    colony_prvkey = crypto.prvkey()
    colonyid = crypto.id(colony_prvkey)
    name = name or f"{prefix}-{rand_suffix()}"
    colonies.add_colony({"colonyid": colonyid, "name": name}, server_key(colonies))

    executor_prvkey = crypto.prvkey()
    executorid = crypto.id(executor_prvkey)
    executorname = f"member-{rand_suffix()}"
    colonies.add_executor(
        {
            "executorname": executorname,
            "executorid": executorid,
            "colonyname": name,
            "executortype": executortype,
        },
        colony_prvkey,
    )
    colonies.approve_executor(name, executorname, colony_prvkey)
    return FreshColony(name, colonyid, colony_prvkey, executorname, executorid, executor_prvkey, executortype)


def delete_colony(colonies: Colonies, colony: FreshColony) -> None:
    try:
        colonies.del_colony(colony.name, server_key(colonies))
    except ColoniesConnectionError:
        pass


def poll(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    """Call predicate() until it returns a truthy value; fail after `timeout` seconds.

    Returns the truthy value. Exceptions from predicate propagate.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")
        time.sleep(interval)


class BackgroundScript:
    """An example script (usually an executor) running as a background subprocess."""

    def __init__(self, script: str, args: list[str], env: dict[str, str], log_dir: Path):
        self.script = script
        self.args = list(args)
        path = EXAMPLES / script
        stem = Path(script).stem + ("-" + "-".join(self.args) if self.args else "")
        self.log_path = log_dir / f"{stem}-{rand_suffix()}.log"
        self._log = open(self.log_path, "wb")
        full_env = dict(env)
        full_env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(path), *self.args],
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=str(EXAMPLES),
        )

    @property
    def name(self) -> str:
        return " ".join([self.script, *self.args])

    def running(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 5.0) -> int | None:
        """Terminate; kill if it has not exited after `timeout` seconds."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    pass
        self._log.close()
        return self.proc.returncode

    def describe(self) -> str:
        rc = self.proc.poll()
        state = "running" if rc is None else f"exited with {rc}"
        return f"----- {self.name} ({state}) -----\n{self.output()}"


def run_example(script: str, env: dict[str, str], args: list[str] | None = None, timeout: float = 90.0,
                background: list[BackgroundScript] | None = None) -> subprocess.CompletedProcess:
    """Run an example script to completion; fail the test (with all output) if it errors or times out."""
    full_env = dict(env)
    full_env["PYTHONUNBUFFERED"] = "1"
    cmd = [sys.executable, "-u", str(EXAMPLES / script), *(args or [])]

    def context() -> str:
        return "\n".join(b.describe() for b in (background or []))

    try:
        res = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL, cwd=str(EXAMPLES))
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        raise AssertionError(
            f"{script} did not finish within {timeout}s\n--- stdout ---\n{out}\n--- stderr ---\n{err}\n{context()}"
        ) from None
    if res.returncode != 0:
        raise AssertionError(
            f"{script} exited with {res.returncode}\n--- stdout ---\n{res.stdout}\n--- stderr ---\n{res.stderr}\n"
            f"{context()}"
        )
    return res


def stop_processes(procs: list[subprocess.Popen], logs=(), timeout: float = 10.0) -> None:
    """Terminate every process, kill those still running after `timeout` seconds, close the logs."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
    for log in logs:
        log.close()


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "script printed nothing"
    return lines[-1].strip()
