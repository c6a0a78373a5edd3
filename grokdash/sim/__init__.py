"""The simulated Grok video API: a real HTTP server on loopback, faults included.

It is the test double of the integration tests, the backend of `grokdash --demo` and `grokdash sim`.
Standard library only for the server; nothing here imports textual.
"""

from grokdash.sim.log import RequestLog, RequestRecord
from grokdash.sim.ratelimit import RateLimit
from grokdash.sim.scenarios import SCENARIO_RULE, SCENARIOS, scenario_for
from grokdash.sim.server import API_PREFIX, SimServer
from grokdash.sim.state import Timings

__all__ = [
    "API_PREFIX",
    "SCENARIOS",
    "SCENARIO_RULE",
    "RateLimit",
    "RequestLog",
    "RequestRecord",
    "SimServer",
    "Timings",
    "scenario_for",
]
