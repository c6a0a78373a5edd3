"""`grokdash --demo`: the simulator in this process, sample tasks in every state, a throwaway database."""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from grokdash.sim import SimServer, Timings
from grokdash.store import TaskStore

DEMO_KEY = "demo-key"
DEMO_INTERVAL = 2.0
DEMO_TIMINGS = Timings(queued_seconds=8, processing_seconds=40)

# (id, label, model, seconds since it was created, video length): ids that start with a simulator
# scenario name show that behaviour (see `grokdash sim --help`).
SAMPLES = (
    ("sunset-bay-4k", "sunset over the bay", "grok_video3", 900, 10),
    ("cat-astronaut", "cat in a space suit", "grok_video3_pro", 2400, 10),
    ("city-drone-01", "drone over the city", "grok_video3_max", 20, 16),
    ("ocean-waves", "waves, slow motion", "grok_video3_stable", 12, 10),
    ("forest-walk", "walk through a forest", "grok_video3", 3, 6),
    ("neon-street", None, "grok_video3", 0, 12),
    ("fail-dragon-flight", "dragon flight", "grok_video3_max", 70, 20),
    ("unknown-robot-dance", "robot dance", "grok_video3", 60, 10),
    ("wrapped-garden", "garden in bloom", "grok_video3", 25, 10),
    ("flaky-mountain", "mountain sunrise", "grok_video3", 30, 10),
    ("expire-old-clip", "clip from last week", "grok_video3", 1200, 10),
    ("notfound-typo", "a mistyped id", None, 0, None),
)


@dataclass
class Demo:
    """A running simulator and a database that both vanish when the demo is closed."""

    sim: SimServer
    folder: Path
    store: TaskStore

    @property
    def base_url(self) -> str:
        return self.sim.base_url

    def close(self) -> None:
        self.sim.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_demo(now: float | None = None) -> Demo:
    now = time.time() if now is None else now
    sim = SimServer(key=DEMO_KEY, timings=DEMO_TIMINGS).start()
    folder = Path(tempfile.mkdtemp(prefix="grokdash-demo-"))
    store = TaskStore(folder / "tasks.json")
    for task_id, _label, model, age, duration in SAMPLES:
        if model is not None:
            sim.add_task(task_id, model=model, created=now - age, duration=duration)
    for task_id, label, *_ in SAMPLES:
        store.add([task_id], label=label)
    return Demo(sim=sim, folder=folder, store=store)
