"""`python -m prescientd.sim`: serve the simulator (see `prescientd.sim.server.main`)."""

from prescientd.sim.server import main

if __name__ == "__main__":
    raise SystemExit(main())
