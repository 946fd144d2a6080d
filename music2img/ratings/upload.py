"""Optional copy of the answers to a Hugging Face dataset, with ``huggingface_hub``'s ``CommitScheduler``.

Off unless a dataset repo id is configured (``MUSIC2IMG_RATINGS_REPO``) together with a token
(``MUSIC2IMG_RATINGS_TOKEN``, else ``HF_TOKEN``). Each stored row is appended as one JSON line to a
file of this process's own in a local folder, under the scheduler's lock; the scheduler commits the
folder every few minutes in the background (the SQLite file itself is never uploaded while open).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .store import new_id

log = logging.getLogger(__name__)

REPO_ENV = "MUSIC2IMG_RATINGS_REPO"
TOKEN_ENVS = ("MUSIC2IMG_RATINGS_TOKEN", "HF_TOKEN")
#: Minutes between commits.
EVERY = 10.0


class Uploader:
    """Appends rows to ``folder/answers-<id>.jsonl`` and has a ``CommitScheduler`` push the folder to
    the dataset ``repo_id`` (created private if missing) under ``answers/``.

    ``scheduler_factory`` stands in for :class:`huggingface_hub.CommitScheduler` (tests pass a fake).
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        repo_id: str,
        token: str,
        *,
        every: float = EVERY,
        scheduler_factory: Callable[..., Any] | None = None,
    ):
        if scheduler_factory is None:
            from huggingface_hub import CommitScheduler as scheduler_factory
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.file = self.folder / f"answers-{new_id()}.jsonl"
        self.scheduler = scheduler_factory(
            repo_id=repo_id,
            repo_type="dataset",
            folder_path=self.folder,
            path_in_repo="answers",
            every=every,
            token=token,
            private=True,
        )

    def __call__(self, row: Mapping[str, Any]) -> None:
        """Queue one stored row for upload."""
        line = json.dumps(dict(row), sort_keys=True) + "\n"
        with self.scheduler.lock:
            with open(self.file, "a", encoding="utf-8") as f:
                f.write(line)


def uploader_from_env(
    folder: str | os.PathLike, env: Mapping[str, str] = os.environ, scheduler_factory: Callable[..., Any] | None = None
) -> Uploader | None:
    """An :class:`Uploader` when ``env`` names a repo and a token, else ``None`` (a repo without a
    token is logged and ignored: the answers stay local)."""
    repo = (env.get(REPO_ENV) or "").strip()
    if not repo:
        return None
    token = next((env[name].strip() for name in TOKEN_ENVS if (env.get(name) or "").strip()), None)
    if token is None:
        log.warning("%s is set but no token (%s): ratings are not uploaded", REPO_ENV, " or ".join(TOKEN_ENVS))
        return None
    return Uploader(folder, repo, token, scheduler_factory=scheduler_factory)
