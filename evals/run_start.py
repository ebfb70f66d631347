"""Opening a run directory: a new run, or (with ``--resume``) the next session of the run it
holds. Shared by the QA runner (``evals.runner``) and the tracking runner
(``evals.tracking_runner``), which differ only in what they check and write into the manifest."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from evals.provenance import Manifest, Session
from evals.run_dir import RunDir, RunDirError


def start_or_resume(
    run_dir: RunDir,
    session: Session,
    *,
    resume: bool,
    check_same_run: Callable[[Manifest], None],
    new_manifest: Callable[[], Manifest],
    pipeline_path: Path | None,
) -> frozenset[str]:
    """Write ``run_dir``'s manifest with ``session`` added and return the ids already finished.

    A started run is continued only with ``resume`` and after ``check_same_run`` accepted its
    manifest (it raises when the suite, pipeline or options differ); its results file is repaired
    first and the repairs are recorded in the session. A new run needs an empty or missing folder;
    the pipeline file, when there is one, is copied beside the results."""
    if run_dir.is_started():
        if not resume:
            raise RunDirError(f"{run_dir.path} already holds a run: pass --resume to continue it, "
                              "or choose a new --out")
        manifest = Manifest.model_validate(run_dir.read_manifest())
        check_same_run(manifest)
        state = run_dir.prepare_resume()
        session.repairs = list(state.repairs)
        manifest.sessions.append(session)
        done = state.done
    else:
        if run_dir.has_content():
            raise RunDirError(f"{run_dir.path} exists and is not empty: choose a new --out")
        manifest = new_manifest()
        run_dir.path.mkdir(parents=True, exist_ok=True)
        if pipeline_path is not None:
            shutil.copyfile(pipeline_path, run_dir.pipeline_copy_path)
        done = frozenset()
    run_dir.write_manifest(manifest.model_dump(mode="json"))
    return frozenset(done)
