"""Weights & Biases mirror of a run: picks the mode, starts wandb without ever hanging, and never lets a
wandb failure stop training (the run's own files in RUN_DIR are the record; this is only a view of them).

Mode (``logger.wandb``): online, offline or disabled as given; ``auto`` takes $WANDB_MODE (or
$WANDB_DISABLED) when set, else online when an API key is configured ($WANDB_API_KEY or a netrc entry for
the server), else offline. An online start that cannot reach the server within ``logger.init_timeout``
seconds falls back to offline. wandb's files go to RUN_DIR/wandb.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import sys
from pathlib import Path

ENV_MODES = {"online": "online", "run": "online", "shared": "online", "offline": "offline", "dryrun": "offline",
             "disabled": "disabled"}
DEFAULT_PROJECT = "ram"
FINISH_TIMEOUT = 120.0  # seconds to upload at the end; what is left stays on disk for `wandb sync`


def say(message: str) -> None:
    print(f"wandb: {message}", file=sys.stderr, flush=True)


def logged_in() -> bool:
    """An API key is configured for the server (env var or netrc); checked locally, no network."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    try:
        from wandb.sdk.lib.wbauth import read_netrc_auth

        return bool(read_netrc_auth(host=os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai"))
    except Exception:  # an unreadable netrc or a moved wandb internal: treat as not logged in
        return False


def resolve_mode(setting: str) -> tuple[str, str]:
    """(online | offline | disabled, why) from ``logger.wandb`` and the environment."""
    if setting != "auto":
        return setting, f"logger.wandb={setting}"
    if os.environ.get("WANDB_DISABLED", "").lower() in ("1", "true", "yes"):
        return "disabled", "WANDB_DISABLED"
    env = os.environ.get("WANDB_MODE", "").strip().lower()
    if env:
        if env not in ENV_MODES:
            raise ValueError(f"WANDB_MODE={env!r} is not one of online, offline, disabled: fix or unset it")
        return ENV_MODES[env], f"WANDB_MODE={env}"
    return ("online", "logged in") if logged_in() else ("offline", "not logged in")


def previous_id(wandb_dir: Path) -> str | None:
    """The wandb run id of an earlier start of this run (dirs are [offline-]run-<time>-<id>)."""
    runs = sorted(wandb_dir.glob("*run-*-*"), key=lambda p: p.name.split("run-", 1)[1]) if wandb_dir.is_dir() else []
    runs = [p for p in runs if p.is_dir() and not p.is_symlink()]
    return runs[-1].name.rsplit("-", 1)[1] if runs else None


class Dashboard:
    """One wandb run. A wandb error is reported in one line and never raised: after a failed log the
    dashboard goes dark (training and the run's own files carry on); a bad media file only skips itself."""

    def __init__(self, run, log_checkpoint: bool):
        self.run, self.log_checkpoint, self.dark = run, log_checkpoint, False
        self.floor = run.step  # a resumed online run already holds steps below this

    def _guard(self, what: str, fn, go_dark: bool = True) -> None:
        if self.dark:
            return
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - the dashboard must never end the run
            self.dark = go_dark
            say(f"{what} failed ({type(e).__name__}: {e})" + ("; the dashboard stops here, the run's files go on"
                                                              if go_dark else ""))

    def log(self, data: dict, step: int) -> None:
        if step >= self.floor:
            self._guard("log", lambda: self.run.log(data, step=step))

    def log_media(self, key: str, path: Path, step: int) -> None:
        import wandb

        kind = path.suffix.lower().lstrip(".")
        media = (lambda: wandb.Video(str(path), format=kind)) if kind in ("gif", "mp4", "webm", "ogg") \
            else (lambda: wandb.Image(str(path)))
        self._guard(f"log_media {path}", lambda: self.run.log({key: media()}, step=max(step, self.floor)),
                    go_dark=False)

    def finish(self, results: dict, best: Path | None) -> None:
        import wandb

        self._guard("summary", lambda: self.run.summary.update(results))
        if self.log_checkpoint and best is not None and best.is_file():
            def upload():
                artifact = wandb.Artifact(f"{self.run.id}-best", type="model", metadata=results)
                artifact.add_file(str(best), name="best.pt")
                self.run.log_artifact(artifact, aliases=["best"])
            self._guard("checkpoint artifact", upload, go_dark=False)
        sync_dir = self.run.settings.sync_dir
        try:
            self.run.finish()
        except TimeoutError:
            say(f"upload did not finish in {FINISH_TIMEOUT:.0f}s; the rest is on disk: wandb sync {sync_dir}")
        except Exception as e:  # noqa: BLE001
            say(f"finish failed ({type(e).__name__}: {e}); what was logged is on disk: wandb sync {sync_dir}")


def start(cfg, run_dir: Path, resume: bool) -> Dashboard | None:
    """A Dashboard for this run, or None when wandb is disabled (then wandb is not even imported)."""
    lc = cfg.logger
    mode, why = resolve_mode(lc.wandb)
    if mode == "disabled":
        return None
    if mode == "online" and not logged_in():  # wandb would prompt for a key and wait on the terminal
        say("online needs an API key (run `wandb login` or set WANDB_API_KEY); logging offline instead")
        mode, why = "offline", "no API key"
    try:
        import wandb
    except ImportError:
        say("not installed (pip install wandb); this run is not mirrored, its own files are complete")
        return None

    wandb_dir = Path(run_dir) / "wandb"
    wandb_dir.mkdir(parents=True, exist_ok=True)
    run_id = (previous_id(wandb_dir) if resume else None) or secrets.token_hex(4)
    kwargs = dict(dir=str(run_dir), project=lc.project or os.environ.get("WANDB_PROJECT") or DEFAULT_PROJECT,
                  entity=lc.entity or os.environ.get("WANDB_ENTITY") or None, name=Path(run_dir).name,
                  config=dataclasses.asdict(cfg), id=run_id, resume="allow")

    def init(mode: str, **more):
        settings = wandb.Settings(init_timeout=lc.init_timeout, finish_timeout=FINISH_TIMEOUT,
                                  finish_timeout_raises=True, silent=True,
                                  reinit="create_new")  # never hand back a stale run of this process
        return wandb.init(mode=mode, settings=settings, **(kwargs | more))

    try:
        if mode == "online":
            try:
                run = init("online")
            except Exception as e:  # noqa: BLE001 - no server, bad key, timeout: keep the run, go offline
                reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                say(f"online start failed ({reason[:160]}); logging offline instead")
                mode, why = "offline", "online start failed"
                run = init("offline", id=secrets.token_hex(4))  # wandb-core still holds the failed id's stream
        else:
            run = init("offline")
    except Exception as e:  # noqa: BLE001 - even offline wandb failing must not cost the run
        say(f"could not start ({type(e).__name__}: {e}); this run is not mirrored, its own files are complete")
        return None
    if mode == "offline":
        parts = sorted(wandb_dir.glob(f"offline-run-*-{run.id}"))  # a resumed run has one folder per start
        where = wandb_dir / f"offline-run-*-{run.id}" if len(parts) > 1 else run.settings.sync_dir
        say(f"offline ({why}); to upload later: wandb sync {where}")
    return Dashboard(run, lc.log_checkpoint)
