from fabricsim.traffic.collectives.api import *  # noqa: F403  (split below)
